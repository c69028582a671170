import type { IncomingMessage } from 'node:http';

/** Request and response shapes of the web server's route table (server.ts), and form parsing. */

export interface WebRequest {
  readonly method: string;
  readonly path: string;
  /** Named groups of the route's pattern. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  /** The url-encoded form body (POST); rejects with HttpError 413/415. */
  form(): Promise<URLSearchParams>;
  /** Whether the client prefers text/plain to HTML. */
  readonly wantsText: boolean;
}

export interface WebResponse {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

export type Handler = (req: WebRequest) => Promise<WebResponse>;

export interface Route {
  readonly method: 'GET' | 'POST';
  /** Matched against the path (no query); named groups become params. */
  readonly pattern: RegExp;
  /** Short name for logs (and metrics later). */
  readonly name: string;
  readonly handler: Handler;
  /**
   * Polled by machines (a load balancer's health check, a Prometheus scrape): a 200 answer is
   * logged at debug, not info — one info line per probe every few seconds was most of an idle
   * daemon's log. Any other answer is logged as usual.
   */
  readonly quiet?: boolean;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export function readForm(req: IncomingMessage, maxBytes: number): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return Promise.reject(new HttpError(415, 'forms must be sent as application/x-www-form-urlencoded'));
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > maxBytes) return Promise.reject(new HttpError(413, 'form too large'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        reject(new HttpError(413, 'form too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

/**
 * `to` (a path of ours, e.g. /c/<link>) relative to the page at `from` (the request's path): what
 * forms and redirects use, because a reverse proxy may serve us under a path of its own
 * (web.baseUrl https://support.example.com/casegate) that we never see — an absolute path would
 * leave it.
 */
export function relativeUrl(from: string, to: string): string {
  const dir = from.split('/').slice(0, -1);
  const target = to.split('/');
  let same = 0;
  while (same < dir.length && same < target.length - 1 && dir[same] === target[same]) same++;
  const rel = '../'.repeat(dir.length - same) + target.slice(same).join('/');
  return rel === '' || rel.startsWith('?') ? `./${rel}` : rel;
}

export function redirect(location: string): WebResponse {
  return { status: 303, headers: { Location: location } };
}

export function json(status: number, value: unknown): WebResponse {
  return { status, headers: { 'Content-Type': 'application/json; charset=utf-8' }, body: JSON.stringify(value) + '\n' };
}
