/**
 * The wait for the relay's answer after the final "." of an email, apart from the wait for every
 * other reply. nodemailer has one idle limit for the whole session (socketTimeout); RFC 5321
 * (4.5.3.2) gives the end of DATA 10 minutes and the commands 2–5, and Postfix's client does the
 * same (smtp_data_done_timeout 600 s). One value cannot serve both: 60 s everywhere gave up on
 * relays behind a slow milter that had queued the email (resent: a duplicate), 600 s everywhere let a
 * relay that hangs at MAIL FROM hold a connection for 10 minutes.
 *
 * So the pool's connections get `socketTimeout` = outgoing.smtp.commandTimeoutSeconds, and while a
 * connection waits for the answer to the final "." (from the end of the message's bytes to that
 * answer) its socket's idle limit is `replyTimeout` (outgoing.smtp.replyTimeoutSeconds). nodemailer
 * has no option for it: this wraps its SMTPConnection's send stream (the one place that knows the
 * message has been written), checked at install so a nodemailer without it fails loudly at start.
 * Loaded by the transport (main thread) and by the MIME thread (mime-worker.ts), whose pools are
 * made from the same options.
 *
 * The same hook knows which connections wait for that answer, and for which Message-ID: a stop
 * closes every other session at once and gives these up to outgoing.smtp.stopWaitSeconds
 * (closePool), and a session that ended after the final "." without an answer — closed by the stop,
 * timed out, cut by the relay — marks its email `answerLost` (answerWasLost): the relay may have
 * taken it (RFC 5321 4.5.3.2.6, RFC 1047), which the outbox records before sending it again.
 */
import type { EventEmitter } from 'node:events';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';

/** The pool option carrying the wait after the final "." (ms); nodemailer passes unknown options through to its connections. */
export interface ReplyWaitOption {
  readonly replyTimeout?: number;
}

type StreamCallback = (err: Error | null, str?: string) => void;

interface ConnectionInternals {
  readonly options: { readonly socketTimeout?: number; readonly replyTimeout?: number };
  readonly _socket?: { setTimeout(ms: number): unknown; readonly destroyed?: boolean } | null;
  _createSendStream(callback: StreamCallback): EventEmitter;
  once(event: 'end', listener: () => void): unknown;
  removeListener(event: 'end', listener: () => void): unknown;
}

/** Connections (of this thread) whose email's final "." is written and whose answer has not come: → that email's Message-ID ('' when not seen). */
const awaiting = new Map<ConnectionInternals, string>();
/** Message-IDs whose session ended after the final "." without an answer, until the sender asks (answerWasLost). */
const unanswered = new Set<string>();
/** The Message-ID header is looked for in the message's first bytes only. */
const HEADER_SCAN_LIMIT = 64 * 1024;

let installed = false;

/** Make SMTPConnection wait `replyTimeout` for the answer to the final "." when its options have one. Idempotent. */
export function installReplyWait(): void {
  if (installed) return;
  const proto = SMTPConnection.prototype as unknown as ConnectionInternals;
  const original = proto._createSendStream as ConnectionInternals['_createSendStream'] | undefined;
  if (typeof original !== 'function') throw new Error('nodemailer changed: SMTPConnection has no _createSendStream (src/mail-out/smtp-reply-wait.ts)');
  installed = true;
  proto._createSendStream = function (this: ConnectionInternals, callback: StreamCallback): EventEmitter {
    const wait = this.options.replyTimeout;
    if (wait === undefined) return original.call(this, callback);
    const setIdle = (ms: number): void => {
      const socket = this._socket;
      if (socket && socket.destroyed !== true) socket.setTimeout(ms);
    };
    let messageId = '';
    // The session ended (closed, timed out, cut) while the answer was awaited: the relay may have the email.
    const onEnd = (): void => {
      if (!awaiting.has(this)) return;
      awaiting.delete(this);
      if (messageId !== '') {
        if (unanswered.size >= 10_000) unanswered.clear();
        unanswered.add(messageId);
      }
    };
    const stream = original.call(this, (err, str) => {
      // The answer came (or the session failed): the commands' limit again for the next email.
      awaiting.delete(this);
      this.removeListener('end', onEnd);
      setIdle(this.options.socketTimeout ?? 600_000);
      callback(err, str);
    });
    const head = headerWatcher((id) => (messageId = id));
    stream.on('data', head);
    // The final "." is written: from now on the relay may think as long as replyTimeout.
    stream.once('end', () => {
      stream.removeListener('data', head);
      awaiting.set(this, messageId);
      this.once('end', onEnd);
      setIdle(wait);
    });
    return stream;
  };
}

/** A 'data' listener reading the Message-ID from the header of the message's bytes (it stops at the empty line). */
function headerWatcher(found: (id: string) => void): (chunk: Buffer | string) => void {
  let text = '';
  let done = false;
  return (chunk) => {
    if (done) return;
    text += typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    const header = end === -1 ? text : text.slice(0, end);
    const id = /^message-id:[ \t]*(?:\r\n[ \t]+)?<([^>\r\n]+)>/im.exec(header);
    if (id !== null) found(id[1]!);
    if (id !== null || end !== -1 || text.length > HEADER_SCAN_LIMIT) {
      done = true;
      text = '';
    }
  };
}

/**
 * True (once) when the email with this Message-ID (with or without <>) was written up to its final
 * "." and its session ended without the relay's answer: the relay may have taken it.
 */
export function answerWasLost(messageId: string | undefined): boolean {
  if (messageId === undefined) return false;
  return unanswered.delete(messageId.trim().replace(/^<|>$/g, ''));
}

/** How a pool is closed: see closePool. */
export type PoolClose = 'finish' | 'answers' | 'now';

interface PoolInternals {
  close(options?: { force?: boolean }): void;
  readonly _connections?: readonly { readonly connection?: unknown; close(): void }[];
}

/**
 * Close a nodemailer pool (an SMTP transporter's `transporter`):
 *  - 'finish': nodemailer's close — emails waiting for a connection fail, idle connections close,
 *    a session in progress finishes its email;
 *  - 'answers': as 'finish', and every session that has not written its final "." is closed now
 *    (the relay cannot have taken that email): only those waiting for the answer to it go on;
 *  - 'now': every connection is closed, the ones waiting for an answer too.
 */
export function closePool(pool: unknown, how: PoolClose): void {
  const p = pool as PoolInternals;
  if (how === 'now') return p.close({ force: true });
  p.close();
  if (how !== 'answers') return;
  for (const resource of [...(p._connections ?? [])]) {
    if (!awaiting.has(resource.connection as ConnectionInternals)) resource.close();
  }
}
