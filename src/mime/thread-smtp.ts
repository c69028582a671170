/**
 * Outgoing SMTP on the daemon's MIME thread: the settings of the pool it sends through (plain data,
 * they cross the thread boundary; the thread keeps one pool per settings, mime-worker.ts), and a
 * send error as it crosses back with every field send-errors.ts classifies by. No value imports:
 * the outbox worker reads MimeThreadLost from here without loading the MIME code.
 *
 * Why there: sending an email is a dialogue of about five round trips with the relay. On the main
 * thread each reply waits for the event loop, which during a backlog runs the pipeline's commits
 * for several messages per turn; the relay's replies then waited 10–20 ms each and confirmations
 * fell seconds behind intake. On the MIME thread, which builds the email anyway, the dialogue
 * runs beside the commits, and the main thread neither handles the SMTP replies nor writes the
 * socket (docs/performance.md).
 */
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type { RefusedRecipient } from '../mail-out/send-errors.js';

/** A pool's settings: `key` names them (equal settings, one pool). */
export interface ThreadSmtp {
  readonly key: string;
  readonly options: SMTPPool.Options & { readonly replyTimeout?: number };
}

/** nodemailer's limits for connecting and for the greeting (each); the pools' options carry them. */
export const SMTP_CONNECT_TIMEOUT_MS = 30_000;
export const SMTP_GREETING_TIMEOUT_MS = 30_000;
/** Silent steps of a session a send may go through besides the final answer (EHLO, STARTTLS, EHLO, AUTH ×2, MAIL, RCPT, DATA). */
const SESSION_STEPS = 8;

/**
 * A send's overall limit on the MIME thread, derived from the pool's own limits (connect, greeting,
 * each silent step, the wait after the final "." — smtp-reply-wait.ts) so that a slow relay always
 * ends in nodemailer's error first: the thread is restarted past it, under every send it carries.
 */
export function sendDeadlineMs(options: SMTPPool.Options & { readonly replyTimeout?: number }): number {
  const command = options.socketTimeout ?? 600_000;
  return (options.connectionTimeout ?? 120_000) + (options.greetingTimeout ?? 30_000) + SESSION_STEPS * command + (options.replyTimeout ?? command);
}

/** What a send the relay took carries across: its reply, and the recipients it refused meanwhile. */
export interface ThreadSent {
  readonly response: string;
  readonly refused: readonly RefusedRecipient[];
  /** Whether the relay's EHLO answer offered DSN (RFC 3461); absent: nodemailer did not say. */
  readonly offersDsn?: boolean;
}

/** What a failed send carries across: what classifySendError reads, and what the log shows. */
export interface WireSendError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly originalCode?: string;
  readonly causeCode?: string;
  readonly responseCode?: number;
  readonly response?: string;
  readonly command?: string;
  /** Written up to the final "." and no answer came (smtp-reply-wait.ts): the relay may have the email. */
  readonly answerLost?: boolean;
}

export function sendErrorOf(err: unknown): WireSendError {
  const e = (err ?? {}) as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const causeCode = str((e['cause'] as Record<string, unknown> | undefined)?.['code']);
  const fields: Record<string, string | number | undefined> = {
    code: str(e['code']),
    originalCode: str(e['originalCode']),
    causeCode,
    responseCode: typeof e['responseCode'] === 'number' ? e['responseCode'] : undefined,
    response: str(e['response']),
    command: str(e['command']),
  };
  const out: Record<string, string | number> = { name: str(e['name']) ?? 'Error', message: str(e['message']) ?? String(err) };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  return (e['answerLost'] === true ? { ...out, answerLost: true } : out) as unknown as WireSendError;
}

/** The error the main thread sees: the same fields on an Error (the cause's code as a cause). */
export function sendErrorFrom(w: WireSendError): Error {
  const { causeCode, ...rest } = w;
  const err = Object.assign(new Error(w.message), rest);
  if (causeCode !== undefined) Object.assign(err, { cause: { code: causeCode } });
  return err;
}

/** The MIME thread went away while it was sending an email: the caller sends it again itself. */
export class MimeThreadLost extends Error {
  override readonly name = 'MimeThreadLost';
}
