import { networkInterfaces } from 'node:os';
import { PassThrough } from 'node:stream';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { AppContext } from '../context.js';
import { isDiskFull, reportDiskFullRetry } from '../ops/disk-space.js';
import { runPipeline } from '../pipeline/run-pipeline.js';
import { RefusedError, type Outcome } from '../pipeline/types.js';
import { SizeLimitError } from '../storage/blob-store.js';
import { peerUid, uidsOf } from './peer-user.js';

/** An SMTP error reply (smtp-server reads responseCode). */
function reply(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

export interface SmtpListener {
  readonly host: string;
  readonly port: number;
  /**
   * Take the listener settings of a reloaded configuration that need no new socket (hostname,
   * maxMessageBytes, maxClients, maxClientsPerIp, maxSessionSeconds, trustXForwardFrom): new sessions use them. host/port need a new listener (reload.ts).
   */
  applyConfig(): void;
  /**
   * Stop: no new connections; idle sessions get `421` at once; a session whose message is being
   * committed gets its answer and then `421`; whatever is left after STOP_GRACE_MS is cut.
   */
  close(): Promise<void>;
}

/** What a log line of a message that never reached the pipeline says about it. */
function envelopeOf(session: SMTPServerSession): { client: string; from: string | null; to: string[] } {
  const from = session.envelope.mailFrom;
  return { client: session.remoteAddress, from: from === false ? null : from.address, to: session.envelope.rcptTo.map((r) => r.address) };
}

/** Recipients of one message: RFC 5321's minimum (4.5.3.1.8). More get 452 and the sending MTA sends them in another transaction. */
const MAX_RECIPIENTS = 100;
/**
 * Recipients we do not serve that one session may try (Postfix's smtpd_hard_error_limit): the
 * next one gets 421 and the session ends, so a dictionary attack learns 20 addresses a connection.
 */
const MAX_REFUSED_RECIPIENTS = 20;
/** At most one "too many connections" warning per client address in this long. */
const CROWD_WARN_MS = 60_000;

/** smtp-server's useXForward: the trusted addresses, or off (an empty list would trust nobody anyway). */
function xForward(trusted: readonly string[]): string[] | false {
  return trusted.length > 0 ? [...trusted] : false;
}

/** How long close() lets messages in flight finish before their sessions are cut (421). */
const STOP_GRACE_MS = 8_000;

/**
 * The embedded SMTP listener for our support addresses. 250 only after the outcome is committed;
 * 550 for recipients we do not serve; 552 above the size limit; 554 for a message refused by a
 * limit (mime.maxParts: nothing is kept, the sender's MTA reports it); 451 on transient failure (the
 * sending MTA retries). No relaying, no AUTH: it accepts mail for our mailboxes only.
 */
export async function startSmtpListener(ctx: AppContext): Promise<SmtpListener> {
  let cfg = ctx.config.listener;
  const log = ctx.log.child({ component: 'smtp-listener' });
  /** Sessions whose DATA is being taken and committed right now (by session id). */
  const busy = new Set<string>();
  let closing = false;
  /** Recipients refused so far in each session (the session object is smtp-server's, one per connection). */
  const refused = new WeakMap<SMTPServerSession, number>();
  /** When each crowding client address was last warned about (pruned as it grows). */
  const crowdWarned = new Map<string, number>();
  /** Each session's deadline (listener.maxSessionSeconds), by session id; cleared when it closes. */
  const deadlines = new Map<string, NodeJS.Timeout>();
  /** Sessions whose message came in whole and is being committed: a deadline waits for their answer. */
  const committing = new Set<string>();
  const armDeadline = (session: SMTPServerSession, ms: number): void => {
    const timer = setTimeout(() => {
      if (committing.has(session.id)) {
        armDeadline(session, 5_000);
        return;
      }
      deadlines.delete(session.id);
      for (const conn of server.connections) {
        if (conn.id !== session.id) continue;
        log.warn({ ...envelopeOf(session), seconds: cfg.maxSessionSeconds }, 'SMTP session longer than listener.maxSessionSeconds: ended with 421 (a message in transfer is not kept; the sending MTA retries)');
        conn.send(421, `4.4.2 ${cfg.hostname} Session too long, closing connection`);
        conn.close();
      }
    }, ms);
    timer.unref();
    deadlines.set(session.id, timer);
  };
  const goodbye = (id: string): void => {
    for (const conn of server.connections) {
      if (conn.id !== id) continue;
      conn.send(421, `${cfg.hostname} Service shutting down, please try again later`);
      conn.close();
    }
  };
  const server = new SMTPServer({
    name: cfg.hostname,
    banner: 'casegate',
    size: cfg.maxMessageBytes,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    maxClients: cfg.maxClients,
    maxRecipients: MAX_RECIPIENTS,
    useXForward: xForward(cfg.trustXForwardFrom),
    // The client's name from DNS is used nowhere; looking it up would only delay each greeting.
    disableReverseLookup: true,
    logger: false,
    socketTimeout: 120_000,
    closeTimeout: STOP_GRACE_MS,
    onConnect(session, callback) {
      // One client address gets at most maxClientsPerIp of the maxClients slots: a flood or a
      // slow client from one address cannot lock every other sender out.
      const ip = session.remoteAddress;
      // A process of this machine: only the users of listener.localUsers (your MTA) may hand in mail.
      if (cfg.localUsers.length > 0 && isThisMachine(ip)) {
        const uid = peerUid(session);
        if (uid === null || !uidsOf(cfg.localUsers).has(uid)) {
          log.warn({ client: ip, port: session.remotePort, uid }, 'a local process that is not one of listener.localUsers connected: refused with 421');
          callback(reply(421, `4.7.1 ${cfg.hostname} Not accepted from this local user`));
          return;
        }
      }
      // The MTA in front that we trust (its XFORWARD) is every sender at once: not limited.
      if (cfg.trustXForwardFrom.includes(ip)) {
        armDeadline(session, cfg.maxSessionSeconds * 1000);
        callback();
        return;
      }
      let fromIp = 0;
      for (const conn of server.connections) if (conn.remoteAddress === ip) fromIp += 1;
      if (fromIp > cfg.maxClientsPerIp) {
        const now = Date.now();
        if ((crowdWarned.get(ip) ?? 0) < now - CROWD_WARN_MS) {
          if (crowdWarned.size > 1000) crowdWarned.clear();
          crowdWarned.set(ip, now);
          log.warn({ client: ip, limit: cfg.maxClientsPerIp }, 'too many connections from one client address: refused with 421 (listener.maxClientsPerIp; said once a minute per address)');
        }
        callback(reply(421, `4.7.0 ${cfg.hostname} Too many connections from ${ip}, try again later`));
        return;
      }
      // A client that trickles its commands or its message (a byte every minute: never idle long
      // enough for the socket's timeout) cannot hold a slot for ever.
      armDeadline(session, cfg.maxSessionSeconds * 1000);
      callback();
    },
    onClose(session) {
      clearTimeout(deadlines.get(session.id));
      deadlines.delete(session.id);
      committing.delete(session.id);
    },
    onRcptTo(address, session, callback) {
      if (ctx.mailboxes.byAddress(address.address) === null) {
        const count = (refused.get(session) ?? 0) + 1;
        refused.set(session, count);
        if (count > MAX_REFUSED_RECIPIENTS) {
          log.warn({ ...envelopeOf(session), refused: count - 1 }, `more than ${MAX_REFUSED_RECIPIENTS} unknown recipients in one session: ended with 421`);
          callback(reply(421, `4.7.0 ${cfg.hostname} Too many unknown recipients, closing connection`));
          return;
        }
        callback(reply(550, `5.1.1 <${address.address.replace(/[^\x21-\x7e]/g, '?')}>: no such mailbox here`));
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      busy.add(session.id);
      const answer: typeof callback = (err, message) => {
        busy.delete(session.id);
        committing.delete(session.id);
        callback(err, message);
        // Stopping: this session has its answer; end it instead of waiting for its next command.
        if (closing) setImmediate(() => goodbye(session.id));
      };
      handleData(ctx, stream, session, () => committing.add(session.id)).then(
        (outcome) => {
          if (outcome.kind === 'retry') answer(outcome.diskFull === true ? reply(452, '4.3.1 Insufficient system storage, please retry later') : reply(451, '4.3.0 Temporary failure, please retry'));
          else if (outcome.kind === 'stored') answer(null, `2.0.0 Stored in case ${outcome.caseNumber}`);
          else answer(null, `2.0.0 Accepted (${outcome.kind})`);
        },
        (err: unknown) => {
          if (err instanceof ClientGoneError) {
            // No one to answer; nothing was kept. One line, so the operator sees the attempt.
            log.warn({ ...envelopeOf(session), bytes: err.bytes }, `${err.message}: nothing kept (the sending MTA retries)`);
            answer(reply(451, '4.3.0 Temporary failure, please retry'));
            return;
          }
          if (err instanceof SizeLimitError) {
            log.warn({ ...envelopeOf(session), limit: cfg.maxMessageBytes }, 'message over listener.maxMessageBytes: refused with 552, nothing kept');
            answer(reply(552, `5.3.4 Message too big (limit ${cfg.maxMessageBytes} bytes)`));
            return;
          }
          if (err instanceof RefusedError) {
            answer(reply(554, `5.6.0 Message refused: ${err.message}`));
            return;
          }
          if (isDiskFull(err)) {
            // Not even spooled: the sending MTA keeps it (RFC 3463 4.3.1: mail system full).
            void reportDiskFullRetry(ctx, { channel: 'smtp', mailbox: ctx.mailboxes.pick(session.envelope.rcptTo.map((r) => r.address.toLowerCase())).name }, err).finally(() =>
              answer(reply(452, '4.3.1 Insufficient system storage, please retry later')),
            );
            return;
          }
          log.error({ err }, 'could not take message; answered 451');
          answer(reply(451, '4.3.0 Temporary failure, please retry'));
        },
      );
    },
  });
  let bound = false;
  server.on('error', (err: Error & { remoteAddress?: string; code?: string }) => {
    // A client's own connection failing (a reset, a broken pipe) is the client's business, not
    // ours: an info line (a message it was sending has its own warning). Anything else, error —
    // except a failed bind, which the start reports as one line (cli/program.ts), not a stack.
    if (typeof err.remoteAddress === 'string') log.info({ client: err.remoteAddress, code: err.code, reason: err.message }, 'smtp client connection failed');
    else if (bound) log.error({ err }, 'smtp listener error');
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (err: Error): void => reject(Object.assign(err, { configKeys: 'listener.host / listener.port' }));
    server.once('error', failed);
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', failed);
      bound = true;
      resolve();
    });
  });
  const addr = server.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : cfg.port;
  log.info({ host: cfg.host, port }, 'smtp listener ready');
  const host = cfg.host;
  return {
    host,
    port,
    applyConfig() {
      cfg = ctx.config.listener;
      // smtp-server reads these options for every new session.
      Object.assign(server.options, { name: cfg.hostname, size: cfg.maxMessageBytes, maxClients: cfg.maxClients, useXForward: xForward(cfg.trustXForwardFrom) });
      // maxClientsPerIp and maxSessionSeconds are read from cfg at each connection.
    },
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        server.close(() => resolve());
        let idle = 0;
        for (const conn of [...server.connections]) {
          if (busy.has(conn.id)) continue;
          idle += 1;
          goodbye(conn.id);
        }
        log.info({ idleClosed: idle, inFlight: busy.size }, 'smtp listener stopping: idle sessions closed with 421');
      }),
  };
}

/** The client closed the connection (or timed out) before the final dot: there is no message to keep. */
class ClientGoneError extends Error {
  constructor(readonly bytes: number) {
    super(`the client closed the connection before the end of its message (${bytes} bytes received)`);
    this.name = 'ClientGoneError';
  }
}

async function handleData(ctx: AppContext, stream: SMTPServerDataStream, session: SMTPServerSession, received: () => void): Promise<Outcome> {
  const arrivedMs = performance.now();
  const limit = ctx.config.listener.maxMessageBytes;
  // Keep reading the client's data even past the limit (the protocol needs the final dot),
  // but stop writing it anywhere.
  const pass = new PassThrough();
  let size = 0;
  let exceeded = false;
  // A client that goes away mid-message (or times out): smtp-server destroys the stream with an
  // error (only when it has a listener) and 'end' never comes. The half message is dropped —
  // its blob write given up, its temp file removed — and the sending MTA, which got no 250, retries.
  const ended = new Promise<void>((resolve, reject) => {
    stream.once('end', resolve);
    stream.once('close', () => reject(new ClientGoneError(size)));
  });
  stream.on('error', () => undefined);
  stream.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (exceeded) return;
    if (size > limit) {
      exceeded = true;
      pass.destroy(new SizeLimitError(limit));
      return;
    }
    if (!pass.write(chunk)) {
      stream.pause();
      pass.once('drain', () => stream.resume());
    }
  });
  stream.once('end', () => {
    if (!exceeded) pass.end();
  });
  ended.catch((err: unknown) => pass.destroy(err as Error));
  const stored = ctx.blobs.put(pass).catch((err: unknown) => {
    stream.resume();
    throw err;
  });
  const [result, whole] = await Promise.allSettled([stored, ended]);
  if (whole.status === 'rejected') throw whole.reason;
  if (exceeded || stream.sizeExceeded) throw new SizeLimitError(limit);
  if (result.status === 'rejected') throw result.reason;
  const blob = result.value;
  received();
  const recipients = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
  const mailFrom = session.envelope.mailFrom;
  const mailbox = ctx.mailboxes.pick(recipients);
  return runPipeline(ctx, {
    channel: 'smtp',
    mailbox,
    envelopeFrom: mailFrom === false ? null : mailFrom.address.toLowerCase(),
    envelopeTo: recipients,
    receivedAt: ctx.clock.now(),
    raw: blob,
    client: { ip: session.remoteAddress, helo: session.hostNameAppearsAs ?? null },
    arrivedMs,
  });
}

/** Whether a client address is this machine's own (loopback, or one of its interfaces' addresses). */
function isThisMachine(ip: string): boolean {
  const a = ip.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  if (a === '::1' || /^127\./.test(a)) return true;
  return Object.values(networkInterfaces()).some((list) => (list ?? []).some((i) => i.address.toLowerCase() === a));
}
