import type Mail from 'nodemailer/lib/mailer/index.js';
import type { OutboxRow } from '../db/schema.js';
import { copyRecipientsOf } from './outbox-mail.js';
import type { Outcome } from './outbox-outcome.js';
import { isTemporaryRefusal, type ClassifiedSendError, type RefusedRecipient } from './send-errors.js';
import type { SentMessage } from './transport.js';

/** Why an email nobody got went to nobody: every reader it still had to go to was taken off the case meanwhile. */
export const TAKEN_OFF = 'every reader it was still to go to was taken off the case before it went';

/** An outcome, and what it says about the transport ('works', a failure, or nothing). */
export interface Attempt {
  readonly outcome: Outcome;
  readonly transport: 'works' | ClassifiedSendError | null;
  /** The relay refused the email's sender at MAIL FROM (sender-holds.ts). */
  readonly senderRefused?: ClassifiedSendError;
}

/** What sending one row's copies needs from the worker. */
export interface CopySender {
  readonly attempts: number;
  /** The copy for one reader, ready to send (their body, the same headers, to them alone). */
  build(address: string): Promise<Mail.Options>;
  /** Room for one more transaction within the relay's maxPerMinute (relay-rate.ts): waits; false: sending stops meanwhile. */
  turn(): Promise<boolean>;
  send(options: Mail.Options): Promise<SentMessage>;
  /** What a send that threw means (the worker's classification: pause, hold, fail, retry). */
  failure(err: unknown): Attempt;
  /** The relay took a copy: `pending` still wait for theirs (written at once; false: the claim is gone). */
  progress(pending: readonly string[], at: string): Promise<boolean>;
  /**
   * Whether this reader was taken off the case since the email was written (`#uncc` while the row
   * was claimed, waiting its turn): asked right before their copy goes; true: it never goes.
   */
  takenOff(address: string): Promise<boolean>;
  /** Sending stops (transport paused, daemon stopping): the copies not tried yet wait. */
  stopping(): boolean;
  /** When the row is tried again, or null: give up (outgoing.retry). */
  nextAt(): string | null;
  now(): string;
}

/**
 * Send a row written as per-recipient copies (compose.ts, outbox.copies_json): each reader's copy
 * in its own SMTP transaction, one after another. The relay's answer decides per reader — taken
 * (recorded at once, so a crash never sends it again), refused for good (named on the case like
 * a refused Cc), or refused for now (tried again later with the others left) — and a broken
 * transport or a refused sender stops the round: who has not got theirs waits. The row's outcome
 * is what the whole round came to: `sent` once every reader got theirs or was refused for good,
 * `partly-sent` while some still wait, or — nobody got it — the first copy's own outcome.
 */
export async function sendCopies(row: OutboxRow, s: CopySender): Promise<Attempt> {
  const readers = copyRecipientsOf(row);
  // Earlier attempts delivered copies already (the list shrinks only when the relay took one).
  let someGotIt = row.pending_rcpt_json !== null;
  let left = [...readers];
  const refused: RefusedRecipient[] = [];
  const deferred: RefusedRecipient[] = [];
  let last: SentMessage | null = null;
  let stop: Attempt | null = null;
  let cut = false;
  let dropped = 0;
  for (const address of readers) {
    if (s.stopping()) {
      cut = true;
      break;
    }
    if (await s.takenOff(address)) {
      // Off the case: no longer waited for (written down at once when the others have theirs).
      left = left.filter((a) => a !== address);
      dropped += 1;
      if (someGotIt && !(await s.progress([...left, ...deferred.map((r) => r.address)], s.now()))) return { outcome: { kind: 'released', attempts: row.attempts, error: 'the claim lapsed while its copies were sent', reason: 'another sender holds the row now and sends the copies left' }, transport: 'works' };
      continue;
    }
    let options: Mail.Options;
    try {
      options = await s.build(address);
    } catch (err) {
      if (someGotIt) {
        refused.push({ address, code: null, response: `cannot build the message: ${(err as Error).message}`.slice(0, 300) });
        left = left.filter((a) => a !== address);
        continue;
      }
      return { outcome: { kind: 'failed', attempts: s.attempts, error: `cannot build the message: ${(err as Error).message}`.slice(0, 500), why: 'permanent failure' }, transport: null };
    }
    // The relay's per-minute limit counts this transaction: it waits its turn (the row stays claimed).
    if (!(await s.turn()) || s.stopping()) {
      cut = true;
      break;
    }
    try {
      const sent = await s.send(options);
      last = sent;
      someGotIt = true;
      left = left.filter((a) => a !== address);
      // One envelope recipient: a refusal is normally thrown, but a relay may still list it.
      for (const r of sent.refused ?? []) (isTemporaryRefusal(r) ? deferred : refused).push(r);
      // The claim lapsed and another sender holds the row now: it decides the rest (a claimed write of ours changes nothing).
      if (!(await s.progress([...left, ...deferred.map((r) => r.address)], s.now()))) return { outcome: { kind: 'released', attempts: row.attempts, error: 'the claim lapsed while its copies were sent', reason: 'another sender holds the row now and sends the copies left' }, transport: 'works' };
    } catch (err) {
      const a = s.failure(err);
      const o = a.outcome;
      if (o.kind === 'failed' && a.transport === 'works') {
        // The relay refused this reader's copy for good (5xx at RCPT TO or after DATA): the others still get theirs.
        refused.push(relaysWords(err, address, o.error));
        left = left.filter((x) => x !== address);
        continue;
      }
      if (o.kind === 'retry' && a.transport !== null && a.transport !== 'works' && a.transport.errorClass === 'recipient') {
        // Refused for now at RCPT TO (4xx): this reader waits; the others go on.
        deferred.push(relaysWords(err, address, o.error));
        left = left.filter((x) => x !== address);
        continue;
      }
      // A broken transport, a refused sender, a give-up, a connection cut: the round ends here.
      stop = a;
      break;
    }
  }
  const at = s.now();
  // `left`: not tried (the round ended early).
  const waiting = [...deferred, ...left.map((address) => ({ address, code: null, response: 'not sent yet' }))];
  if (!someGotIt) {
    if (stop !== null) return stop;
    if (dropped === readers.length) return { outcome: { kind: 'suppressed', reason: TAKEN_OFF }, transport: null };
    if (waiting.length > 0) {
      const nextAt = s.nextAt();
      if (nextAt !== null) return { outcome: { kind: 'retry', attempts: s.attempts, nextAt, error: waiting.map((r) => `${r.address} (${r.response})`).join('; ').slice(0, 500) }, transport: 'works' };
    }
    return { outcome: { kind: 'failed', attempts: s.attempts, error: [...refused, ...waiting].map((r) => `${r.address} (${r.response})`).join('; ').slice(0, 500), why: 'every copy refused' }, transport: 'works' };
  }
  // Nothing reached the relay this round (every reader left was taken off the case): it says nothing of the transport.
  const transport = stop?.transport ?? (last !== null || refused.length > 0 || deferred.length > 0 ? 'works' : null);
  if (waiting.length > 0) {
    // Untried because sending paused or the daemon stops: due as soon as sending goes on; else backoff.
    const nextAt = cut || (stop !== null && stop.outcome.kind === 'released') ? at : s.nextAt();
    if (nextAt !== null) return { outcome: { kind: 'partly-sent', attempts: s.attempts, at, nextAt, deferred: waiting, refused }, transport, ...(stop?.senderRefused !== undefined ? { senderRefused: stop.senderRefused } : {}) };
    refused.push(...waiting);
  }
  return { outcome: { kind: 'sent', attempts: s.attempts, at, response: last?.response ?? '', signedBy: last?.signedBy ?? null, ...(refused.length > 0 ? { refused } : {}) }, transport };
}

/**
 * A copy the relay refused: at RCPT TO (its one recipient) in the relay's own words and code, as
 * a refused reader of one email to all is named (send-errors.ts refusedRecipientsOf); else what
 * the send's failure says.
 */
function relaysWords(err: unknown, address: string, otherwise: string): RefusedRecipient {
  const e = (err ?? {}) as { command?: unknown; response?: unknown; responseCode?: unknown };
  if (e.command !== 'RCPT TO' || typeof e.response !== 'string' || e.response === '') return { address, code: null, response: otherwise };
  return { address, code: typeof e.responseCode === 'number' ? e.responseCode : null, response: e.response.split('\n')[0]!.slice(0, 300) };
}
