import { addEvent } from '../db/repos/events.js';
import { markFailed, markRetry, markSent, markSuppressed, releaseRow } from '../db/repos/outbox.js';
import type { Db } from '../db/database.js';
import type { OutboxRow } from '../db/schema.js';
import type { Logger } from '../log.js';

/** What became of one row; written by writeOutcome, logged by logOutcome. */
export type Outcome =
  | { readonly kind: 'sent'; readonly attempts: number; readonly at: string; readonly response: string; readonly signedBy: string | null }
  | { readonly kind: 'retry'; readonly attempts: number; readonly nextAt: string; readonly error: string }
  | { readonly kind: 'failed'; readonly attempts: number; readonly error: string; readonly why: string }
  /** Back to the queue untried (transport paused, or stopping): due as soon as sending resumes. */
  | { readonly kind: 'released'; readonly attempts: number; readonly error: string | null }
  | { readonly kind: 'suppressed'; readonly reason: string };

/** An outcome the database has not taken yet (locked): kept in memory and written again with backoff. */
export interface Unrecorded {
  readonly row: OutboxRow;
  readonly outcome: Outcome;
  readonly since: string;
  failures: number;
  lastError: string;
}


/** Write what became of one row (in the caller's transaction); `delayed`: it waited in memory for the database. */
export async function writeOutcome(trx: Db, row: OutboxRow, o: Outcome, delayed: Unrecorded | null, at: string): Promise<void> {
  switch (o.kind) {
    case 'sent':
      await markSent(trx, row.id, o.attempts, o.at);
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
      return;
    case 'retry':
      await markRetry(trx, row.id, o.attempts, o.nextAt, o.error);
      return;
    case 'released':
      await releaseRow(trx, row.id, o.attempts, o.error);
      return;
    case 'failed':
      await markFailed(trx, row.id, o.attempts, o.error);
      await addEvent(trx, { caseId: row.case_id, type: 'email.failed', actor: 'system', reason: `${row.kind} to ${row.to_address}: ${o.why}: ${o.error}`, data: { outboxId: row.id }, at });
      return;
    case 'suppressed':
      await markSuppressed(trx, row.id, o.reason);
      await addEvent(trx, { caseId: row.case_id, type: 'email.suppressed', actor: 'system', reason: `${row.kind} to ${row.to_address}: ${o.reason}`, data: { outboxId: row.id }, at });
      return;
  }
}

/** The one log line per decision about an email. */
export function logOutcome(log: Logger, row: OutboxRow, o: Outcome): void {
  const base = { kind: row.kind, to: row.to_address };
  switch (o.kind) {
    case 'sent':
      log.info({ ...base, attempts: o.attempts, response: o.response.slice(0, 200), dkim: o.signedBy ?? 'unsigned' }, 'email sent');
      return;
    case 'retry':
      log.warn({ ...base, attempts: o.attempts, retryAt: o.nextAt, error: o.error }, 'email send failed temporarily; will retry');
      return;
    case 'released':
      if (o.error !== null) log.warn({ ...base, attempts: o.attempts, error: o.error }, 'email not sent: transport paused; sent when it works again');
      return;
    case 'failed':
      log.error({ ...base, attempts: o.attempts, error: o.error }, `email failed (${o.why})`);
      return;
    case 'suppressed':
      log.warn(base, `email not sent: ${o.reason}`);
      return;
  }
}
