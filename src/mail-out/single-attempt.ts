import type Mail from 'nodemailer/lib/mailer/index.js';
import type { Attempt } from './copies-attempt.js';
import { isTemporaryRefusal, type RefusedRecipient } from './send-errors.js';
import type { SentMessage } from './transport.js';

/** What sending a row as one email (every reader in one SMTP transaction) needs from the worker. */
export interface SingleSender {
  readonly attempts: number;
  /** The email, ready to send; throws when it cannot be built (a permanent failure). */
  build(): Promise<Mail.Options>;
  /** Room within the relay's maxPerMinute for this transaction's recipients (relay-rate.ts): waits; false: sending stops meanwhile. */
  turn(): Promise<boolean>;
  send(options: Mail.Options): Promise<SentMessage>;
  /** What a send that threw means (the worker's classification: pause, hold, fail, retry). */
  failure(err: unknown): Attempt;
  /** When the row is tried again, or null: give up (outgoing.retry). */
  nextAt(): string | null;
  now(): string;
}

/**
 * Send a row as one email (the counterpart of copies-attempt.ts for rows without per-reader
 * copies). The relay may take it for some recipients and refuse others for now (4xx at RCPT TO):
 * `partly-sent`, and the next attempts go to those alone — nobody is dropped unsaid; once the
 * retries are used up it is `sent` with the refusals named.
 */
export async function sendSingle(s: SingleSender): Promise<Attempt> {
  let options: Mail.Options;
  try {
    options = await s.build();
  } catch (err) {
    return { outcome: { kind: 'failed', attempts: s.attempts, error: `cannot build the message: ${(err as Error).message}`.slice(0, 500), why: 'permanent failure' }, transport: null };
  }
  // Untried, back to the queue as it was: sending stopped while it waited for the relay's per-minute room.
  if (!(await s.turn())) return { outcome: { kind: 'released', attempts: s.attempts - 1, error: null }, transport: null };
  let sent: SentMessage;
  try {
    sent = await s.send(options);
  } catch (err) {
    return s.failure(err);
  }
  const at = s.now();
  const refused: readonly RefusedRecipient[] = sent.refused ?? [];
  const deferred = refused.filter(isTemporaryRefusal);
  if (deferred.length > 0) {
    const nextAt = s.nextAt();
    if (nextAt !== null) return { outcome: { kind: 'partly-sent', attempts: s.attempts, at, nextAt, deferred, refused: refused.filter((r) => !isTemporaryRefusal(r)) }, transport: 'works' };
  }
  return { outcome: { kind: 'sent', attempts: s.attempts, at, response: sent.response, signedBy: sent.signedBy ?? null, ...(refused.length > 0 ? { refused } : {}) }, transport: 'works' };
}
