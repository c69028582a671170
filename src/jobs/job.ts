import type { AppContext } from '../context.js';
import { LOCK_POLL_MAX_MS } from '../db/sqlite-dialect.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';

/** The contract of a scheduled job (src/jobs/registry.ts lists them). */

export interface JobContext {
  readonly ctx: AppContext;
  /** The time of this run (ctx.clock). */
  readonly now: Date;
  readonly log: Logger;
  /** True once the daemon is stopping: finish the current item, then return. */
  stopping(): boolean;
}

export interface JobResult {
  /** Items looked at. */
  readonly processed: number;
  /** Emails queued (alerts, reminders, surveys, reports). */
  readonly sent: number;
}

export type JobConfigKey = Exclude<keyof Config['jobs'], 'enabled' | 'timezone'>;

export interface JobDefinition {
  /** kebab-case name: logs, job_runs, job_claims. */
  readonly name: string;
  /** Its settings under jobs.<key> (enabled, schedule, knobs). */
  readonly configKey: JobConfigKey;
  /** Run at the first start ever (no job_runs row): sweeps yes, the daily report no. */
  readonly runOnFirstStart: boolean;
  run(j: JobContext): Promise<JobResult>;
}

export const BATCH = 200;

/**
 * Items handled at once. SQLite has one writer: one at a time. PostgreSQL: each item is a
 * transaction of a dozen short statements, much of its time round trips to the server; four at
 * once overlap them (a 600-item catch-up on one 2-core machine with the server: ~15 % faster; more
 * with the server a network hop away) and leave most of the pool (database.poolSize) to mail.
 */
export function itemsAtOnce(ctx: AppContext): number {
  const db = ctx.config.database;
  return db.driver === 'postgres' ? Math.max(1, Math.min(4, Math.floor(db.poolSize / 2))) : 1;
}

/**
 * SQLite: after holding the write lock this long with items back to back, a sweep pauses for
 * LOCK_GAP_MS — longer than another process's writer goes between two tries of the lock — so a
 * CLI reply or `casegate ingest` waiting for it gets in (the gaps between two items are too short
 * for it: an SLA alert wave of 354 items in 10 s made a `casegate cases reply` fail after its
 * 5 s, database.busyTimeoutMs). About a tenth of a long sweep's time; nothing for a short one.
 */
export const SQLITE_HOLD_MS = 1_000;
export const LOCK_GAP_MS = LOCK_POLL_MAX_MS + 40;

/**
 * Work through what is due, batch by batch, each item in its own transaction (itemsAtOnce of
 * them at a time). An item that fails is logged and left for the next run; an item seen twice in
 * one run ends the run (it did not advance), so a run always ends. Stopping lets the items in
 * hand finish and starts no more.
 */
export async function sweep<T>(j: JobContext, fetch: () => Promise<T[]>, idOf: (t: T) => number, handle: (t: T) => Promise<number>): Promise<JobResult> {
  const seen = new Set<number>();
  const lanes = itemsAtOnce(j.ctx);
  const shareLock = j.ctx.config.database.driver !== 'postgres';
  let heldSince = performance.now();
  let processed = 0;
  let sent = 0;
  while (!j.stopping()) {
    const batch = await fetch();
    const fresh = batch.filter((t) => !seen.has(idOf(t)));
    if (fresh.length === 0) break;
    let next = 0;
    const lane = async (): Promise<void> => {
      for (let t = fresh[next++]; t !== undefined && !j.stopping(); t = fresh[next++]) {
        seen.add(idOf(t));
        try {
          // Not `sent += await …`: that reads `sent` before the await and loses the other lanes' counts.
          const queued = await handle(t);
          sent += queued;
          processed += 1;
        } catch (err) {
          j.log.warn({ err, caseId: idOf(t) }, 'job item failed; it is tried again with the next run');
        }
        if (shareLock && performance.now() - heldSince >= SQLITE_HOLD_MS) {
          await new Promise((r) => setTimeout(r, LOCK_GAP_MS));
          heldSince = performance.now();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(lanes, fresh.length) }, lane));
    if (sent > 0) j.ctx.outboxSignal.wake();
    if (batch.length < BATCH) break;
  }
  return { processed, sent };
}
