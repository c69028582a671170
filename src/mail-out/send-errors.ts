import type { Config } from '../config/schema.js';
import { tlsFailureHint } from '../config/tls-mode-hints.js';

/**
 * The one list of send errors (DESIGN §5, after nodemailer's central error codes): what went
 * wrong, and what the outbox does about it.
 *
 * | class      | recognised by                                                        | decision          |
 * |------------|----------------------------------------------------------------------|-------------------|
 * | auth       | EAUTH/ENOAUTH/EOAUTH2; reply 530, 534, 535, 538; a 5.7.x "relay      | pause the transport |
 * |            | access denied" (the relay does not accept us as a client)            |                   |
 * | tls        | ETLS/EREQUIRETLS; certificate errors (CERT_*, ERR_TLS_*, self-signed) | pause the transport |
 * | connection | ECONNECTION/ESOCKET/ETIMEDOUT/EDNS/EPROXY/EPROTOCOL, ECONNREFUSED …,  | pause the transport |
 * |            | reply 421; for the file transport: disk full, read-only, no access   |                   |
 * | sender     | EENVELOPE with a 5xx to MAIL FROM (not 552 / 5.3.4, a size limit),   | hold the sender   |
 * |            | or "Sender address rejected" to every RCPT TO (Postfix's delayed     |                   |
 * |            | reject): "sender not owned by user"; a 5xx "SendAsDenied" / "not a   |                   |
 * |            | verified Sender Identity" at any step (Microsoft 365, SendGrid: DATA)|                   |
 * | message    | a 5xx saying the relay's sending quota or rate is used up            | retry             |
 * |            | (SubmissionQuotaExceeded, 5.4.5 sending limit): it heals             |                   |
 * | recipient  | EENVELOPE (RCPT TO refused; a 4xx to MAIL FROM)                      | 5xx: fail this email; 4xx: retry |
 * | message    | EMESSAGE/ESTREAM, any other SMTP reply (DATA refused, too big, …)    | 5xx: fail this email; 4xx: retry |
 * | unknown    | anything else                                                         | retry             |
 *
 * "Hold the sender": the relay refuses the From address itself (the login may not send as it; a
 * configuration fault of that mailbox, not of the email): every email of that sender would fail
 * the same way, and the others go through. Its emails wait (none is marked failed), the admin is
 * alerted once, one of them probes the sender now and then, and an all-clear follows when the
 * relay takes it (sender-holds.ts).
 * "Pause the transport" means the transport, not the email, is broken: every queued email
 * would fail the same way. Nothing is marked failed; sending stops, the admin is alerted, the
 * relay is probed, and sending resumes when the probe succeeds. "Retry" is per email, with
 * backoff (outgoing.retry), until outgoing.retry.giveUpHours.
 */

export type SendErrorClass = 'auth' | 'tls' | 'connection' | 'sender' | 'recipient' | 'message' | 'unknown';
export type SendDecision = 'retry' | 'pause' | 'hold' | 'fail';

export interface ClassifiedSendError {
  readonly errorClass: SendErrorClass;
  readonly decision: SendDecision;
  /** The SMTP reply code when the server answered. */
  readonly responseCode: number | null;
  /** One line for logs, the outbox row and `casegate status`. */
  readonly summary: string;
}

const AUTH_CODES = new Set(['EAUTH', 'ENOAUTH', 'EOAUTH2']);
const AUTH_REPLIES = new Set([530, 534, 535, 538]);
const TLS_CODES = new Set(['ETLS', 'EREQUIRETLS']);
const TLS_SYSTEM_CODE = /^(CERT_|ERR_TLS_|ERR_SSL_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|UNABLE_TO_(GET|VERIFY|DECRYPT)_|HOSTNAME_MISMATCH$)/;
const CONNECTION_CODES = new Set([
  'ECONNECTION',
  'ESOCKET',
  'ETIMEDOUT',
  'EDNS',
  'EPROXY',
  'EPROTOCOL',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  // The file transport: the disk, not the email, is the problem.
  'ENOSPC',
  'EDQUOT',
  'EROFS',
  'EACCES',
  'EPERM',
  'EIO',
  'EMFILE',
  'ENFILE',
]);
/** A MAIL FROM refused for the email's size (SIZE=…): about the email, not the sender. */
const SIZE_REFUSAL = /\b552\b|\b5\.3\.4\b|\bsize\b/i;
/** Postfix's wording for a sender restriction (reject_sender_login_mismatch, check_sender_access …). */
const SENDER_REJECTED = /sender address rejected/i;

/**
 * The relay refuses the sender itself: a 5xx to MAIL FROM (but for a size limit), or — Postfix's
 * default smtpd_delay_reject=yes answers its sender restrictions at RCPT TO — "Sender address
 * rejected" to every recipient (nodemailer: all recipients refused).
 */
function isSenderRefusal(command: unknown, text: string): boolean {
  if (command === 'MAIL FROM') return !SIZE_REFUSAL.test(text);
  return SENDER_REJECTED.test(text);
}
const RELAY_DENIED = /relay(ing)?\s+(access\s+)?(denied|not permitted|prohibited)/i;
/**
 * The relay's login may not send as this From, said at the end of DATA (where Microsoft 365 and
 * SendGrid say it, not at MAIL FROM): "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException",
 * "550 The from address does not match a verified Sender Identity". About the sender, not the email.
 */
const SEND_AS_DENIED = /SendAsDenied|permissions? to send as|not (allowed|authori[sz]ed|permitted) to send (as|on behalf)|does not match a verified Sender Identity/i;
/**
 * The relay's sending quota or rate is used up for now, said with a 5xx: Microsoft 365 "554 5.2.0
 * …SubmissionQuotaExceededException", Gmail "550 5.4.5 Daily user sending limit exceeded". It heals
 * (the next hour or day): retried with backoff, never failed for it. A recipient's full mailbox
 * ("552 5.2.2 … over quota") is not this.
 */
const SENDING_QUOTA = /SubmissionQuotaExceeded|RecipientRateLimitExceeded|MessageRateLimitExceeded|sending (quota|limit)|\b5\.4\.5\b|rate limit(ed)?\b.{0,20}exceeded|exceeded .{0,30}rate limit|too many messages/i;

interface ErrorFields {
  code?: unknown;
  originalCode?: unknown;
  responseCode?: unknown;
  response?: unknown;
  message?: unknown;
  cause?: unknown;
  /** nodemailer: the command the reply answered ('MAIL FROM', 'RCPT TO', 'DATA' …). */
  command?: unknown;
}

/** nodemailer: every 5xx is permanent except 503 (bad sequence: a new session may succeed). */
function isPermanentReply(code: number | null): boolean {
  return code !== null && code >= 500 && code < 600 && code !== 503;
}

function summarize(e: ErrorFields, code: string | null, responseCode: number | null): string {
  const message = typeof e.message === 'string' ? e.message : String(e);
  const head = [code, responseCode !== null && !message.includes(String(responseCode)) ? String(responseCode) : null].filter((x) => x !== null).join(' ');
  return `${head !== '' ? `${head}: ` : ''}${message.split('\n')[0]!}`.slice(0, 500);
}

/** The relay's port and TLS mode, which a TLS failure's hint names (none for the file transport). */
export function relaySettingsOf(out: Config['outgoing']): { port: number; secure: boolean } | undefined {
  return out.transport === 'smtp' && out.smtp !== undefined ? { port: out.smtp.port, secure: out.smtp.secure } : undefined;
}

/**
 * `relay`: the settings of the SMTP relay the error came from; a failure caused by its TLS mode
 * or certificate then names the setting to change (tls-mode-hints.ts) before the library's words.
 */
export function classifySendError(err: unknown, relay?: { readonly port: number; readonly secure: boolean; readonly key?: string }): ClassifiedSendError {
  const e = (err ?? {}) as ErrorFields;
  const code = typeof e.code === 'string' ? e.code : null;
  const original = typeof e.originalCode === 'string' ? e.originalCode : null;
  const causeCode = typeof (e.cause as ErrorFields | undefined)?.code === 'string' ? ((e.cause as ErrorFields).code as string) : null;
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : null;
  const text = `${typeof e.message === 'string' ? e.message : ''} ${typeof e.response === 'string' ? e.response : ''}`;
  const hint = relay === undefined ? null : tlsFailureHint('smtp', relay.key ?? 'outgoing.smtp', err, relay.secure, relay.port);
  const summary = hint === null ? summarize(e, code, responseCode) : `${hint} (${summarize(e, code, responseCode)})`.slice(0, 500);
  const out = (errorClass: SendErrorClass, decision: SendDecision): ClassifiedSendError => ({ errorClass, decision, responseCode, summary });

  if ((code !== null && AUTH_CODES.has(code)) || (responseCode !== null && AUTH_REPLIES.has(responseCode))) return out('auth', 'pause');
  if (isPermanentReply(responseCode) && RELAY_DENIED.test(text)) return out('auth', 'pause');
  const systemCodes = [code, original, causeCode].filter((c): c is string => c !== null);
  if ((code !== null && TLS_CODES.has(code)) || systemCodes.some((c) => TLS_SYSTEM_CODE.test(c)) || (code === 'ESOCKET' && /certificate|self[- ]signed|\bTLS\b|\bSSL\b/i.test(text))) {
    return out('tls', 'pause');
  }
  if (responseCode === 421 || systemCodes.some((c) => CONNECTION_CODES.has(c))) return out('connection', 'pause');
  if (isPermanentReply(responseCode) && SENDING_QUOTA.test(text)) return out('message', 'retry');
  if (code === 'EENVELOPE' && isPermanentReply(responseCode) && isSenderRefusal(e.command, text)) return out('sender', 'hold');
  if (isPermanentReply(responseCode) && SEND_AS_DENIED.test(text)) return out('sender', 'hold');
  if (code === 'EENVELOPE') return out('recipient', responseCode === null || isPermanentReply(responseCode) ? 'fail' : 'retry');
  if (code === 'EMESSAGE' || code === 'ESTREAM') return out('message', responseCode === null || isPermanentReply(responseCode) ? 'fail' : 'retry');
  if (responseCode !== null) return out('message', isPermanentReply(responseCode) ? 'fail' : 'retry');
  return out('unknown', 'retry');
}

/** Classes that pause the whole transport (they are about the relay, not one email). */
export function isTransportClass(c: SendErrorClass): boolean {
  return c === 'auth' || c === 'tls' || c === 'connection';
}

/**
 * A recipient the relay refused (its reply to RCPT TO) while it took the email for the others: the
 * send succeeded, so no error says so — nodemailer lists them in the send's `rejectedErrors`.
 */
export interface RefusedRecipient {
  readonly address: string;
  /** The reply code; null when the relay's reply had none. */
  readonly code: number | null;
  /** The relay's reply, one line. */
  readonly response: string;
}

/** The refused recipients of a successful send (nodemailer's `rejected` / `rejectedErrors`), lower-case; [] when none. */
export function refusedRecipientsOf(info: unknown): RefusedRecipient[] {
  const i = (info ?? {}) as { rejected?: unknown; rejectedErrors?: unknown };
  const out = new Map<string, RefusedRecipient>();
  for (const e of Array.isArray(i.rejectedErrors) ? (i.rejectedErrors as ErrorFields[]) : []) {
    const address = (e as { recipient?: unknown }).recipient;
    if (typeof address !== 'string') continue;
    const code = typeof e.responseCode === 'number' ? e.responseCode : null;
    const response = (typeof e.response === 'string' ? e.response : typeof e.message === 'string' ? e.message : '').split('\n')[0]!.slice(0, 300);
    out.set(address.toLowerCase(), { address: address.toLowerCase(), code, response });
  }
  for (const a of Array.isArray(i.rejected) ? (i.rejected as unknown[]) : []) {
    if (typeof a === 'string' && !out.has(a.toLowerCase())) out.set(a.toLowerCase(), { address: a.toLowerCase(), code: null, response: 'refused' });
  }
  return [...out.values()];
}

/**
 * Whether the relay offers DSN (RFC 3461), from the EHLO lines nodemailer hands back with a send
 * (`info.ehlo`); undefined when it did not (an older nodemailer, a session without EHLO). Only a
 * relay that offers it takes our envelope id (ENVID) and writes it back into its reports.
 */
export function offersDsn(info: unknown): boolean | undefined {
  const ehlo = (info as { ehlo?: unknown } | null)?.ehlo;
  if (!Array.isArray(ehlo)) return undefined;
  return ehlo.some((line) => typeof line === 'string' && /^DSN\b/i.test(line.trim()));
}

/** A refusal that may heal (4xx, or no code): the recipient is tried again; 5xx is final. */
export function isTemporaryRefusal(r: RefusedRecipient): boolean {
  return r.code === null || !isPermanentReply(r.code);
}
