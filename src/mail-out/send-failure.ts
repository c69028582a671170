import type { Config } from '../config/schema.js';
import type { OutboxRow } from '../db/schema.js';
import type { Attempt } from './copies-attempt.js';
import { nextAttemptAt } from './outbox-outcome.js';
import { classifySendError, relaySettingsOf, type ClassifiedSendError, type SendErrorClass } from './send-errors.js';
import { answerLostIn } from './transport.js';

/** The email whose send threw, as the outbox worker knows it. */
export interface FailedSend {
  readonly row: OutboxRow;
  /** This attempt's number (row.attempts + 1). */
  readonly attempts: number;
  /** Its From address, lower case (sender-holds.ts). */
  readonly sender: string;
  /** The send was a held sender's probe (sender-holds.ts). */
  readonly probe: boolean;
  /** The worker is stopping: it closed the transport under sends in flight. */
  readonly stopping: boolean;
}

export interface SendFailureDecision {
  readonly attempt: Attempt;
  /** The transport must pause (a rejected login, TLS, a relay away): the worker begins the pause. */
  readonly pause: ClassifiedSendError | null;
  /** The failure's class for the metrics; null for what a stop caused (no failure of the relay). */
  readonly counted: SendErrorClass | null;
}

/**
 * What a send that threw means for the email (send-errors.ts classifies the error): released
 * untried, recorded as unanswered, a pause of the transport, the sender's emails held, failed, or
 * retried with backoff. The one home of that decision; the outbox worker applies it.
 */
export function sendFailure(err: unknown, outgoing: Config['outgoing'], now: Date, f: FailedSend, relay: { readonly port: number; readonly secure: boolean; readonly key?: string } | undefined = relaySettingsOf(outgoing)): SendFailureDecision {
  const { row, attempts, sender } = f;
  const c = classifySendError(err, relay);
  const decided = (attempt: Attempt, pause: ClassifiedSendError | null = null): SendFailureDecision => ({ attempt, pause, counted: c.errorClass });
  // The stop closed the transport under it. Past its final ".", the relay may have it: recorded, sent again at the next start.
  if (f.stopping && answerLostIn(err)) return { attempt: { outcome: { kind: 'unanswered', attempts, at: now.toISOString(), error: c.summary }, transport: null }, pause: null, counted: null };
  // Not yet at its final ".": nothing was delivered, back to the queue as it was (not a transport failure).
  if (f.stopping && (c.errorClass === 'connection' || c.errorClass === 'unknown')) return { attempt: { outcome: { kind: 'released', attempts: row.attempts, error: null }, transport: null }, pause: null, counted: null };
  let pause: ClassifiedSendError | null = null;
  if (c.decision === 'pause') {
    pause = c;
    // A rejected login or TLS fails before any email: this one waits for the transport like the
    // rest; so does one whose connection the stop closed under it.
    if (c.errorClass !== 'connection' || f.stopping) return decided({ outcome: { kind: 'released', attempts, error: c.summary }, transport: c }, pause);
    // A cut connection or a timeout may be this email's doing (the relay drops it after its final
    // "."), and the relay may have taken it all the same: it waits out a backoff like a 4xx and
    // is given up after giveUpHours — never sent again at each resume, about once a second.
  }
  // The relay refuses the sender, not this email: it waits with the sender's others (the transport works).
  if (c.decision === 'hold') return decided({ outcome: { kind: 'held', attempts, error: c.summary, sender }, transport: 'works', senderRefused: c }, pause);
  // The relay answered and refused this one email: the transport works.
  if (c.decision === 'fail') return decided({ outcome: { kind: 'failed', attempts, error: c.summary, why: `permanent failure (${c.errorClass})` }, transport: 'works' }, pause);
  // A held sender's probe (sender-holds.ts): held emails are never given up, their age does not count.
  const next = nextAttemptAt(outgoing.retry, f.probe ? { queued_at: now.toISOString(), created_at: row.created_at } : row, attempts, now);
  // Written up to its final "." and no answer came (timed out, cut): said so, for whoever explains a duplicate.
  const error = answerLostIn(err) ? `no answer to the final "." (${c.summary}): the relay may have taken it; sent again with the same Message-ID`.slice(0, 500) : c.summary;
  if (next === null) return decided({ outcome: { kind: 'failed', attempts, error, why: `gave up after ${outgoing.retry.giveUpHours} h` }, transport: c }, pause);
  return decided({ outcome: { kind: 'retry', attempts, nextAt: next, error }, transport: c }, pause);
}
