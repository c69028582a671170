import { addEvent } from '../db/repos/events.js';
import { markFailed, markPartlySent, markRetry, markSent, markSuppressed, releaseRow } from '../db/repos/outbox.js';
import type { Db } from '../db/database.js';
import type { OutboxRow } from '../db/schema.js';
import type { Logger } from '../log.js';
import { pendingRecipientsOf } from './outbox-mail.js';
import type { RefusedRecipient } from './send-errors.js';

/** What became of one row; written by writeOutcome, logged by logOutcome. */
export type Outcome =
  /** `refused`: recipients the relay refused for good (5xx at RCPT TO, or still refused at give-up) while the others got it. */
  | { readonly kind: 'sent'; readonly attempts: number; readonly at: string; readonly response: string; readonly signedBy: string | null; readonly refused?: readonly RefusedRecipient[] }
  /**
   * The relay took it for some recipients and refused `deferred` for now (4xx at RCPT TO): the row
   * stays queued, its next attempts go to them alone (pending_rcpt_json), the same message again.
   */
  | {
      readonly kind: 'partly-sent';
      readonly attempts: number;
      readonly at: string;
      readonly nextAt: string;
      readonly deferred: readonly RefusedRecipient[];
      readonly refused: readonly RefusedRecipient[];
    }
  | { readonly kind: 'retry'; readonly attempts: number; readonly nextAt: string; readonly error: string }
  | { readonly kind: 'failed'; readonly attempts: number; readonly error: string; readonly why: string }
  /** Back to the queue untried (transport paused, or stopping): due as soon as sending resumes; `reason` when it is something else (the log line). */
  | { readonly kind: 'released'; readonly attempts: number; readonly error: string | null; readonly reason?: string }
  /**
   * Back to the queue: the relay refuses its sender at MAIL FROM (`error`), or that sender is held
   * (null: not tried). Not failed; it goes once the relay takes the sender (sender-holds.ts).
   */
  | { readonly kind: 'held'; readonly attempts: number; readonly error: string | null; readonly sender: string }
  | { readonly kind: 'suppressed'; readonly reason: string }
  /**
   * Written up to its final "." and the relay's answer did not come before the daemon had to stop
   * (outgoing.smtp.stopWaitSeconds): the relay may have taken it. Due at once, sent again at the next
   * start with the same Message-ID — a possible duplicate rather than a possibly lost email
   * (RFC 5321 4.5.3.2.6 and 6.1, RFC 1047) — and an `email.unanswered` event on the case says so.
   */
  | { readonly kind: 'unanswered'; readonly attempts: number; readonly at: string; readonly error: string };

/** When a row that failed for now is tried again (backoff), or null once `giveUpHours` have passed since it was queued. */
export function nextAttemptAt(
  retry: { readonly baseSeconds: number; readonly maxSeconds: number; readonly giveUpHours: number },
  row: Pick<OutboxRow, 'queued_at' | 'created_at'>,
  attempts: number,
  now: Date,
): string | null {
  const ageHours = (now.getTime() - new Date(row.queued_at ?? row.created_at).getTime()) / 3_600_000;
  if (ageHours >= retry.giveUpHours) return null;
  const delayS = Math.min(retry.baseSeconds * 2 ** (attempts - 1), retry.maxSeconds);
  return new Date(now.getTime() + delayS * 1000).toISOString();
}

/** An outcome the database has not taken yet (locked): kept in memory and written again with backoff. */
export interface Unrecorded {
  readonly row: OutboxRow;
  readonly outcome: Outcome;
  readonly since: string;
  failures: number;
  lastError: string;
}


/**
 * Write what became of one row (in the caller's transaction); `delayed`: it waited in memory for the
 * database. True when written; false when the row is no longer this sender's (its claim lapsed and
 * another sender took it over — outbox.ts claimedWrite): that sender decides its fate. "sent" and
 * "partly-sent" are always written: the relay did accept it (for some recipients at least).
 */
export async function writeOutcome(trx: Db, row: OutboxRow, o: Outcome, delayed: Unrecorded | null, at: string): Promise<boolean> {
  const owner = row.claimed_by;
  switch (o.kind) {
    case 'sent':
      await markSent(trx, row.id, o.attempts, o.at);
      if (o.refused !== undefined && o.refused.length > 0) {
        await addEvent(trx, {
          caseId: row.case_id,
          type: 'email.recipient-refused',
          actor: 'system',
          reason: `${row.kind} ${recipientsText(row)}: not delivered to ${refusalsText(o.refused)}`.slice(0, 1000),
          data: { outboxId: row.id, refused: o.refused.map((r) => r.address) },
          at,
        });
      }
      if (delayed !== null) {
        await addEvent(trx, {
          caseId: row.case_id,
          type: 'email.record-delayed',
          actor: 'system',
          reason: `${row.kind} to ${row.to_address}: accepted by the relay at ${o.at}; recording it failed ${delayed.failures} time(s) (${delayed.lastError}) until ${at}; not sent again`,
          data: { outboxId: row.id, acceptedAt: o.at, failedWrites: delayed.failures },
          at,
        });
      }
      return true;
    case 'retry':
      return markRetry(trx, row.id, owner, o.attempts, o.nextAt, o.error);
    case 'partly-sent': {
      const error = `refused for now: ${refusalsText(o.deferred)}`.slice(0, 500);
      await markPartlySent(trx, row.id, { attempts: o.attempts, at: o.at, nextAt: o.nextAt, pending: o.deferred.map((r) => r.address), error });
      const final = o.refused.length > 0 ? `; not delivered to ${refusalsText(o.refused)}` : '';
      await addEvent(trx, {
        caseId: row.case_id,
        type: 'email.partly-sent',
        actor: 'system',
        reason: `${row.kind} ${recipientsText(row)}: ${error}; tried again for them alone at ${o.nextAt}${final}`.slice(0, 1000),
        data: { outboxId: row.id, deferred: o.deferred.map((r) => r.address), refused: o.refused.map((r) => r.address) },
        at,
      });
      return true;
    }
    case 'released':
    case 'held':
      return releaseRow(trx, row.id, owner, o.attempts, o.error);
    case 'failed':
      if (!(await markFailed(trx, row.id, owner, o.attempts, o.error))) return false;
      await addEvent(trx, { caseId: row.case_id, type: 'email.failed', actor: 'system', reason: `${row.kind} ${recipientsText(row)}: ${o.why}: ${o.error}`, data: { outboxId: row.id }, at });
      return true;
    case 'unanswered': {
      const error = `stopped before the relay answered the final "." (${o.error}): it may have taken the email; sent again at the next start, same Message-ID`.slice(0, 500);
      if (!(await markRetry(trx, row.id, owner, o.attempts, o.at, error))) return false;
      await addEvent(trx, {
        caseId: row.case_id,
        type: 'email.unanswered',
        actor: 'system',
        reason: `${row.kind} ${recipientsText(row)}: the daemon stopped before the relay answered the end of the email (${o.at}); the relay may have taken it, so it is sent again (same Message-ID): the recipient may get it twice`.slice(0, 1000),
        data: { outboxId: row.id, messageId: row.message_id },
        at,
      });
      return true;
    }
    case 'suppressed':
      if (!(await markSuppressed(trx, row.id, owner, o.reason))) return false;
      await addEvent(trx, { caseId: row.case_id, type: 'email.suppressed', actor: 'system', reason: `${row.kind} to ${row.to_address}: ${o.reason}`, data: { outboxId: row.id }, at });
      return true;
  }
}

/** The one log line per decision about an email. */
export function logOutcome(log: Logger, row: OutboxRow, o: Outcome): void {
  const base = { kind: row.kind, to: row.to_address };
  switch (o.kind) {
    case 'sent':
      if (o.refused !== undefined && o.refused.length > 0) {
        log.error({ ...base, attempts: o.attempts, response: o.response.slice(0, 200), dkim: o.signedBy ?? 'unsigned', refused: o.refused }, `email sent, but the relay refused ${refusalsText(o.refused)}`);
      } else log.info({ ...base, attempts: o.attempts, response: o.response.slice(0, 200), dkim: o.signedBy ?? 'unsigned' }, 'email sent');
      return;
    case 'partly-sent':
      log.warn({ ...base, attempts: o.attempts, retryAt: o.nextAt, deferred: o.deferred, refused: o.refused }, `email sent to some recipients; the relay refused ${refusalsText([...o.deferred, ...o.refused])}; retrying the ones refused for now`);
      return;
    case 'retry':
      log.warn({ ...base, attempts: o.attempts, retryAt: o.nextAt, error: o.error }, 'email send failed temporarily; will retry');
      return;
    case 'released':
      if (o.error !== null) log.warn({ ...base, attempts: o.attempts, error: o.error }, `email not sent: ${o.reason ?? 'transport paused; sent when it works again'}`);
      return;
    case 'held':
      if (o.error !== null) log.warn({ ...base, attempts: o.attempts, sender: o.sender, error: o.error }, `email not sent: the relay refuses its sender ${o.sender}; held with that sender's other emails until the relay takes it`);
      return;
    case 'failed':
      log.error({ ...base, attempts: o.attempts, error: o.error }, `email failed (${o.why})`);
      return;
    case 'suppressed':
      log.warn(base, `email not sent: ${o.reason}`);
      return;
    case 'unanswered':
      log.warn({ ...base, attempts: o.attempts, error: o.error }, 'stopped before the relay answered the final "." of this email: it may have taken it; sent again at the next start (same Message-ID, the recipient may get it twice)');
      return;
  }
}

/** "to a@x" — or, when only some recipients are left to send it to, "to b@y (the others have it)". */
function recipientsText(row: OutboxRow): string {
  const pending = pendingRecipientsOf(row);
  return pending === null ? `to ${row.to_address}` : `to ${pending.join(', ')} (the others have it)`;
}

function refusalsText(refused: readonly RefusedRecipient[]): string {
  return refused.map((r) => `${r.address} (${r.response})`).join('; ');
}
