import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface SinkMessage {
  readonly envelopeFrom: string | null;
  readonly envelopeTo: string[];
  /** The ENVID given with MAIL FROM (RFC 3461), else null. */
  readonly envid: string | null;
  readonly raw: Buffer;
  readonly parsed: ParsedMail;
}

export interface SinkOptions {
  /** Listen on this port (e.g. to come back on the port a daemon is configured with); default random. */
  readonly port?: number;
  /**
   * Record each message (it counts as delivered: a relay has committed it), then wait this long
   * before answering 250 — the window in which the sender does not know yet. Changeable later.
   */
  readonly acceptDelayMs?: number;
  /** Require AUTH with these credentials (offered over plain text, like a test relay). */
  readonly auth?: { readonly user: string; readonly pass: string; readonly xoauth2?: boolean };
  /** Listen on this address (default 127.0.0.1; '0.0.0.0' to be reached at the machine's own address, not loopback). */
  readonly host?: string;
  /** Offer STARTTLS with smtp-server's built-in self-signed certificate. */
  readonly starttls?: boolean;
  /** Offer the DSN extension (RFC 3461: ENVID, RET, NOTIFY), as Postfix does; smtp-server hides it by default. */
  readonly dsn?: boolean;
}

export interface SmtpSink {
  readonly port: number;
  readonly messages: SinkMessage[];
  /** Reply with this code to the next n DATA commands (e.g. 451 or 550). */
  failNext(code: number, times?: number): void;
  /**
   * Cut the connection, without an answer, after the final '.' of each message whose raw text
   * matches (null: stop) — the relay may or may not have taken it; the sender cannot know.
   */
  dropAfterData(match: RegExp | null): void;
  /** Refuse RCPT TO for this address with this code (e.g. 550 or 452) until told otherwise (null: accept it again). */
  refuseRecipient(address: string, code: number | null): void;
  /**
   * Messages whose raw text matches are recorded (delivered: the relay has committed them) and
   * answered 250 only after `ms` — a relay behind a slow milter (null: stop).
   */
  answerLater(match: RegExp | null, ms?: number): void;
  /** Refuse MAIL FROM for this sender with this code (e.g. 553 "sender not owned by user"; null: accept it again). */
  refuseSender(address: string, code: number | null): void;
  /** Answer MAIL FROM for this sender only after `ms` (a relay hanging mid-session; null: at once again). */
  stallSender(address: string, ms: number | null): void;
  /** MAIL FROM commands seen so far, per sender (lower-case). */
  readonly mailFroms: Map<string, number>;
  /** Stop failing DATA commands. */
  stopFailing(): void;
  setAcceptDelay(ms: number): void;
  /** With `auth`: whether correct credentials are accepted (false: every login gets 535, as if the password changed). */
  acceptLogins(ok: boolean): void;
  /** Logins attempted so far (with `auth`). */
  readonly logins: { readonly ok: number; readonly rejected: number };
  /** DATA commands seen so far (accepted, refused or still waiting for their answer). */
  readonly dataCommands: () => number;
  /** Client connections open now (a pooled sender keeps its idle ones open). */
  readonly openSessions: () => number;
  /** How often each Message-ID arrived. */
  countsByMessageId(): Map<string, number>;
  waitFor(count: number, timeoutMs?: number): Promise<SinkMessage[]>;
  close(): Promise<void>;
}

/** A real SMTP server on a loopback port that records what it receives, and fails on purpose when told to. */
export async function startSmtpSink(opts: SinkOptions = {}): Promise<SmtpSink> {
  const messages: SinkMessage[] = [];
  let failures: { code: number; times: number } | null = null;
  let acceptDelayMs = opts.acceptDelayMs ?? 0;
  let loginsOk = true;
  const logins = { ok: 0, rejected: 0 };
  const waiters: (() => void)[] = [];
  let dataCommands = 0;
  let openSessions = 0;
  const refusedRcpt = new Map<string, number>();
  let dropMatch: RegExp | null = null;
  let late: { match: RegExp; ms: number } | null = null;
  const refusedSenders = new Map<string, number>();
  const stalledSenders = new Map<string, number>();
  const mailFroms = new Map<string, number>();
  const server = new SMTPServer({
    onConnect(_session, callback) {
      openSessions += 1;
      callback();
    },
    onClose() {
      openSessions -= 1;
    },
    authOptional: opts.auth === undefined,
    hideDSN: opts.dsn !== true,
    // With auth.xoauth2: only AUTH XOAUTH2 (Microsoft 365, Google), `pass` is the access token it wants.
    ...(opts.auth?.xoauth2 === true ? { authMethods: ['XOAUTH2'] } : {}),
    allowInsecureAuth: true,
    disabledCommands: [...(opts.auth === undefined ? ['AUTH'] : []), ...(opts.starttls === true ? [] : ['STARTTLS'])],
    logger: false,
    onAuth(auth, _session, callback) {
      const secret = auth.method === 'XOAUTH2' ? auth.accessToken : auth.password;
      const good = opts.auth !== undefined && loginsOk && auth.username === opts.auth.user && secret === opts.auth.pass;
      if (!good) {
        logins.rejected += 1;
        // XOAUTH2 as Microsoft 365 and Gmail refuse a token: a 334 with the error as JSON, then 535 (the client may try a renewed token).
        if (auth.method === 'XOAUTH2') return callback(null, { data: { status: '401', schemes: 'bearer', scope: 'https://outlook.office.com/SMTP.Send' } });
        callback(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
        return;
      }
      logins.ok += 1;
      callback(null, { user: auth.username });
    },
    onMailFrom(address, _session, callback) {
      const from = address.address.toLowerCase();
      mailFroms.set(from, (mailFroms.get(from) ?? 0) + 1);
      const answer = (): void => {
        const code = refusedSenders.get(from);
        if (code === undefined) return callback();
        callback(Object.assign(new Error(code >= 500 ? `5.7.1 <${address.address}>: Sender address rejected: not owned by user` : `4.7.1 <${address.address}>: Sender address rejected: try later`), { responseCode: code }));
      };
      const stall = stalledSenders.get(from);
      if (stall === undefined) answer();
      else setTimeout(answer, stall);
    },
    onRcptTo(address, _session, callback) {
      const code = refusedRcpt.get(address.address.toLowerCase());
      if (code === undefined) return callback();
      callback(Object.assign(new Error(code >= 500 ? '5.1.1 <' + address.address + '>: Recipient address rejected: User unknown' : '4.2.2 <' + address.address + '>: Mailbox full, try later'), { responseCode: code }));
    },
    onData(stream, session, callback) {
      dataCommands += 1;
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (dropMatch !== null && dropMatch.test(Buffer.concat(chunks).toString('latin1'))) {
          for (const conn of server.connections as Set<{ session?: { id?: string }; _socket?: { destroy(): void } }>) if (conn.session?.id === session.id) conn._socket?.destroy();
          return;
        }
        if (failures !== null && failures.times > 0) {
          failures.times -= 1;
          const code = failures.code;
          callback(Object.assign(new Error(code >= 500 ? '5.1.1 rejected by sink' : '4.3.0 try later'), { responseCode: code }));
          return;
        }
        const raw = Buffer.concat(chunks);
        simpleParser(raw).then((parsed) => {
          messages.push({
            envelopeFrom: session.envelope.mailFrom === false ? null : session.envelope.mailFrom.address,
            envelopeTo: session.envelope.rcptTo.map((r) => r.address),
            envid: (session.envelope as { dsn?: { envid?: string | null } }).dsn?.envid ?? null,
            raw,
            parsed,
          });
          waiters.splice(0).forEach((w) => w());
          const delay = late !== null && late.match.test(raw.toString('latin1')) ? late.ms : acceptDelayMs;
          if (delay > 0) setTimeout(() => callback(), delay);
          else callback();
        }, callback);
      });
    },
  });
  // A client killed mid-session (kill -9 tests) resets its connection: that is expected, not a failure.
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    port,
    messages,
    logins,
    dataCommands: () => dataCommands,
    openSessions: () => openSessions,
    failNext(code, times = 1) {
      failures = { code, times };
    },
    dropAfterData(match) {
      dropMatch = match;
    },
    refuseRecipient(address, code) {
      if (code === null) refusedRcpt.delete(address.toLowerCase());
      else refusedRcpt.set(address.toLowerCase(), code);
    },
    answerLater(match, ms = 0) {
      late = match === null ? null : { match, ms };
    },
    refuseSender(address, code) {
      if (code === null) refusedSenders.delete(address.toLowerCase());
      else refusedSenders.set(address.toLowerCase(), code);
    },
    stallSender(address, ms) {
      if (ms === null) stalledSenders.delete(address.toLowerCase());
      else stalledSenders.set(address.toLowerCase(), ms);
    },
    mailFroms,
    stopFailing() {
      failures = null;
    },
    setAcceptDelay(ms) {
      acceptDelayMs = ms;
    },
    acceptLogins(ok) {
      loginsOk = ok;
    },
    countsByMessageId() {
      const counts = new Map<string, number>();
      for (const m of messages) {
        const id = m.parsed.messageId ?? '(none)';
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      return counts;
    },
    async waitFor(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        if (Date.now() > deadline) throw new Error(`sink: expected ${count} messages, got ${messages.length}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
      return messages;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Don't wait for clients that keep their session open (a pooled daemon transport).
        for (const conn of server.connections) conn.close();
      }),
  };
}
