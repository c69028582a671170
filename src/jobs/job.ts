import type { AppContext } from '../context.js';
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
 * Work through what is due, batch by batch, one item (one transaction) at a time. An item that
 * fails is logged and left for the next run; an item seen twice in one run ends the run (it did
 * not advance), so a run always ends.
 */
export async function sweep<T>(j: JobContext, fetch: () => Promise<T[]>, idOf: (t: T) => number, handle: (t: T) => Promise<number>): Promise<JobResult> {
  const seen = new Set<number>();
  let processed = 0;
  let sent = 0;
  while (!j.stopping()) {
    const batch = await fetch();
    const fresh = batch.filter((t) => !seen.has(idOf(t)));
    if (fresh.length === 0) break;
    for (const t of fresh) {
      if (j.stopping()) break;
      seen.add(idOf(t));
      try {
        sent += await handle(t);
        processed += 1;
      } catch (err) {
        j.log.warn({ err, caseId: idOf(t) }, 'job item failed; it is tried again with the next run');
      }
    }
    if (sent > 0) j.ctx.outboxSignal.wake();
    if (batch.length < BATCH) break;
  }
  return { processed, sent };
}
