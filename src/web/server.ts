import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { AppContext } from '../context.js';
import { isLoopback } from '../config/schema.js';
import { HttpError, readForm, type Route, type WebRequest, type WebResponse } from './http.js';
import { noticePage } from './link-access.js';
import { caseRoutes } from './routes/case-page.js';
import { healthRoutes } from './routes/health.js';
import { surveyRoutes } from './routes/survey-page.js';

/**
 * The small built-in web server (node:http; web.host, 127.0.0.1 by default; behind a reverse proxy
 * in production): the customer's case page, the survey, /healthz. Server-rendered HTML from the
 * template engine, no JavaScript. One route table: add routes with `routes.push(...)` before
 * start, or `addRoute` later (/metrics …). Every response is private (no-store), not for search
 * engines (X-Robots-Tag) and under a strict Content-Security-Policy; one log line per request.
 */

export interface WebServer {
  readonly port: number;
  readonly server: Server;
  addRoute(route: Route): void;
  close(): Promise<void>;
}

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  // same-origin: links never leak the signed URL to other sites, and our own form posts keep their Origin.
  'Referrer-Policy': 'same-origin',
  'Cache-Control': 'no-store',
  // A case link a customer pastes somewhere public is crawled: no page of ours is indexed or
  // archived — the text/plain answers and a customised page layout without the robots meta too.
  'X-Robots-Tag': 'noindex, nofollow, noarchive',
};

/**
 * The path as logged: signed links stay out of the log. The segment after /c/ or /s/, and any
 * segment holding a link's signature (24 hex digits) wherever it stands — a request for
 * //c/<link> parses as host "c" and path /<link>.
 */
function loggedPath(pathname: string): string {
  return pathname.replace(/\/(c|s)\/[^/]+/, '/$1/…').replace(/[^/]*[0-9a-f]{24}[^/]*/gi, '…');
}

export function defaultRoutes(ctx: AppContext): Route[] {
  return [...healthRoutes(ctx), ...caseRoutes(ctx), ...surveyRoutes(ctx)];
}

function wantsText(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const a = accept.toLowerCase();
  return a.includes('text/plain') && !a.includes('text/html');
}

/** Where a server listens: the customer web server (web.host/port) or the ops listener (ops.host/port). */
export interface Bind {
  readonly host: string;
  readonly port: number;
  /** Log component: web | ops. */
  readonly component: string;
  /**
   * Answer only requests whose Host names this machine's loopback (localhost, 127.0.0.1, [::1]):
   * the ops listener on a loopback address. A web page in a browser on this host could otherwise
   * read /healthz and /metrics through a name of its own that resolves to 127.0.0.1 (DNS rebinding).
   */
  readonly loopbackHostOnly?: boolean;
}

/** The host of a Host header (`name:port`, `[v6]:port`): whether it names the loopback. */
function loopbackHostHeader(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = /^\[([^\]]*)\](?::\d*)?$/.exec(host)?.[1] ?? host.replace(/:\d*$/, '');
  return isLoopback(name);
}

/**
 * How long close() lets requests in flight finish (a reply from the case page runs the whole
 * pipeline) before it cuts the connections that are left: well inside the daemon's stop
 * deadline (cli/daemon.ts).
 */
const CLOSE_GRACE_MS = 5_000;

export async function startWebServer(ctx: AppContext, routes: Route[] = defaultRoutes(ctx), bind?: Bind): Promise<WebServer> {
  const cfg = { host: bind?.host ?? ctx.config.web.host, port: bind?.port ?? ctx.config.web.port, get maxBodyBytes() { return ctx.config.web.maxBodyBytes; } };
  const log = ctx.log.child({ component: bind?.component ?? 'web' });
  let closing = false;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const text = wantsText(req.headers.accept);
    let response: WebResponse;
    let routeName = 'none';
    let quiet = false;
    try {
      if (bind?.loopbackHostOnly === true && !loopbackHostHeader(req.headers.host)) {
        throw new HttpError(403, `refused: this listener is on a loopback address and answers only requests for localhost, 127.0.0.1 or [::1] (Host: ${JSON.stringify(req.headers.host ?? '')})`);
      }
      const candidates = routes.filter((r) => r.pattern.test(url.pathname));
      const route = candidates.find((r) => r.method === method);
      if (route === undefined) {
        response = candidates.length > 0 ? { status: 405, headers: { Allow: [...new Set(candidates.map((r) => r.method))].join(', '), 'Content-Type': 'text/plain; charset=utf-8' }, body: 'method not allowed\n' } : noticePage(ctx, 'not-found', 404, text);
      } else {
        routeName = route.name;
        quiet = route.quiet === true;
        const params = (route.pattern.exec(url.pathname)?.groups ?? {}) as Record<string, string>;
        const request: WebRequest = { method, path: url.pathname, params, query: url.searchParams, headers: req.headers, wantsText: text, form: () => readForm(req, cfg.maxBodyBytes) };
        response = await route.handler(request);
      }
    } catch (err) {
      if (err instanceof HttpError) {
        response = { status: err.status, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: `${err.message}\n` };
      } else {
        log.error({ err, path: loggedPath(url.pathname) }, 'web request failed');
        response = noticePage(ctx, 'error', 500, text);
      }
    }
    // Stopping: the connection ends with this answer.
    const headers = { ...SECURITY_HEADERS, ...(response.headers ?? {}), ...(closing ? { Connection: 'close' } : {}) };
    res.writeHead(response.status, headers);
    res.end(req.method === 'HEAD' ? undefined : (response.body ?? ''));
    ctx.telemetry.webRequest({ server: bind?.component ?? 'web', route: routeName, status: response.status });
    // Signed tokens stay out of the log.
    log[quiet && response.status === 200 ? 'debug' : 'info']({ method: req.method, route: routeName, path: loggedPath(url.pathname), status: response.status, ms: Math.round(performance.now() - started) }, 'web request');
  }

  // Each open connection and how many of its requests are unanswered: close() ends the ones with
  // none at once. Node's closeIdleConnections() leaves a socket a browser opened ahead of need
  // (Chromium preconnects) and never sent a request on, and close() then waited out the grace.
  const inFlight = new Map<Socket, number>();
  const server = createServer((req, res) => {
    inFlight.set(req.socket, (inFlight.get(req.socket) ?? 0) + 1);
    res.once('close', () => {
      const requests = inFlight.get(req.socket);
      if (requests !== undefined) inFlight.set(req.socket, requests - 1);
    });
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'web response failed');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.on('connection', (socket: Socket) => {
    inFlight.set(socket, 0);
    socket.once('close', () => inFlight.delete(socket));
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    // A port in use names the keys that chose it (`casegate start` prints them: cli/program.ts).
    const failed = (err: Error): void => reject(Object.assign(err, { configKeys: `${bind?.component ?? 'web'}.host / ${bind?.component ?? 'web'}.port` }));
    server.once('error', failed);
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ host: cfg.host, port, routes: routes.map((r) => `${r.method} ${r.name}`) }, `${bind?.component ?? 'web'} server listening`);
  return {
    port,
    server,
    addRoute: (route) => routes.push(route),
    // Stop taking requests; the ones in flight (a reply the customer sent, in the pipeline) finish
    // and are answered before this resolves, so the daemon closes the database after them.
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        server.close(() => {
          clearTimeout(cut);
          resolve();
        });
        server.closeIdleConnections();
        for (const [socket, requests] of inFlight) if (requests === 0) socket.destroy();
      }),
  };
}
