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
}

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
    const stream = original.call(this, (err, str) => {
      // The answer came (or the session failed): the commands' limit again for the next email.
      setIdle(this.options.socketTimeout ?? 600_000);
      callback(err, str);
    });
    // The final "." is written: from now on the relay may think as long as replyTimeout.
    stream.once('end', () => setIdle(wait));
    return stream;
  };
}
