import { connect, type Socket } from 'node:net';

/**
 * A raw SMTP session (what a sending MTA or a monitoring probe does), to time each reply and to
 * see what the server says on its own (a 421 at shutdown).
 */
export interface SmtpSession {
  /** Send one command; resolves with the complete (possibly multi-line) reply and how long it took. */
  command(line: string, timeoutMs?: number): Promise<{ reply: string; ms: number }>;
  /** Every complete reply received, in order (the greeting first). */
  readonly replies: string[];
  /** Resolves when the server closed the connection (Date.now() then). */
  readonly closed: Promise<number>;
  /** Send bytes as they are, without waiting for a reply (part of a message, a client that stalls). */
  write(data: string | Buffer): void;
  close(): void;
  /** Abort the connection with a TCP reset (a crashed client, a middlebox giving up). */
  reset(): void;
}

/** `localAddress`: the client's own address (any of 127.0.0.0/8 works on Linux: a second client IP). */
export async function openSmtpSession(port: number, host = '127.0.0.1', localAddress?: string): Promise<SmtpSession> {
  const socket: Socket = connect({ port, host, ...(localAddress !== undefined ? { localAddress } : {}) });
  const replies: string[] = [];
  let buffer = '';
  let current: string[] = [];
  let waiter: ((reply: string) => void) | null = null;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      current.push(line);
      if (/^\d{3}( |$)/.test(line)) {
        const reply = current.join('\n');
        current = [];
        replies.push(reply);
        const w = waiter;
        waiter = null;
        w?.(reply);
      }
    }
  });
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    const check = (): void => {
      if (replies.length > 0) resolve();
      else setTimeout(check, 5);
    };
    check();
  });
  return {
    replies,
    closed,
    command(line, timeoutMs = 10_000) {
      const started = performance.now();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no reply to ${line} within ${timeoutMs} ms`)), timeoutMs);
        waiter = (reply) => {
          clearTimeout(timer);
          resolve({ reply, ms: performance.now() - started });
        };
        socket.write(`${line}\r\n`);
      });
    },
    write(data) {
      socket.write(data);
    },
    close() {
      socket.destroy();
    },
    reset() {
      socket.resetAndDestroy();
    },
  };
}
