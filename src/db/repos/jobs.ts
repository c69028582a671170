import type { Kysely, Selectable } from 'kysely';
import type { Database, JobClaimsTable, JobRunsTable } from '../schema.js';

type Q = Kysely<Database>;

export type JobRunRow = Selectable<JobRunsTable>;
export type JobClaimRow = Selectable<JobClaimsTable>;

export async function jobRun(db: Q, job: string): Promise<JobRunRow | undefined> {
  return db.selectFrom('job_runs').selectAll().where('job', '=', job).executeTakeFirst();
}

export async function jobRuns(db: Q): Promise<JobRunRow[]> {
  return db.selectFrom('job_runs').selectAll().orderBy('job').execute();
}

export async function recordJobStart(db: Q, job: string, at: string): Promise<void> {
  await db
    .insertInto('job_runs')
    .values({ job, last_started_at: at, last_finished_at: null, last_error: null, runs: 1 })
    .onConflict((oc) => oc.column('job').doUpdateSet((eb) => ({ last_started_at: at, runs: eb('job_runs.runs', '+', 1) })))
    .execute();
}

/** The run ended (its lease too). With `runner`: only when that daemon's run is still the recorded one. */
export async function recordJobEnd(db: Q, job: string, at: string, error: string | null, runner?: string): Promise<void> {
  let q = db.updateTable('job_runs').set({ last_finished_at: at, last_error: error, lease_until: null }).where('job', '=', job);
  if (runner !== undefined) q = q.where('runner', '=', runner);
  await q.execute();
}

export interface SlotClaim {
  readonly job: string;
  /** The scheduled time this run stands for (ISO). */
  readonly slot: string;
  readonly runner: string;
  readonly now: string;
  /** Until when the run counts as running (renewed while it runs); null: no lease (SQLite, one daemon). */
  readonly leaseUntil: string | null;
  /** Run the slot again when it was claimed before (its run was interrupted). */
  readonly again: boolean;
}

/**
 * Claim one scheduled time of a job for this daemon: true when it may run. Across all daemons on
 * the database each slot is claimed once (a later slot only), and never while another daemon's run
 * of the job still holds its lease. One statement: the conditional upsert is the claim.
 */
export async function claimJobSlot(db: Q, c: SlotClaim): Promise<boolean> {
  const row = await db
    .insertInto('job_runs')
    .values({ job: c.job, last_started_at: c.now, last_finished_at: null, last_error: null, runs: 1, last_slot: c.slot, runner: c.runner, lease_until: c.leaseUntil })
    .onConflict((oc) =>
      oc
        .column('job')
        .doUpdateSet((eb) => ({ last_started_at: c.now, runs: eb('job_runs.runs', '+', 1), last_slot: c.slot, runner: c.runner, lease_until: c.leaseUntil }))
        .where((eb) =>
          eb.and([
            eb.or([eb('job_runs.last_slot', 'is', null), eb('job_runs.last_slot', c.again ? '<=' : '<', c.slot)]),
            eb.or([eb('job_runs.lease_until', 'is', null), eb('job_runs.lease_until', '<=', c.now)]),
          ]),
        ),
    )
    .returning('job')
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * The wall clock went back (an NTP step, a restored VM): slots claimed "in the future" of the new
 * time would refuse every claim until the clock caught up with them. Forget those claims (not the
 * items the runs sent: those stay claimed one by one).
 */
export async function forgetFutureSlots(db: Q, job: string, now: string): Promise<void> {
  await db.updateTable('job_runs').set({ last_slot: null }).where('job', '=', job).where('last_slot', '>', now).execute();
}

/** A run in progress extends its lease (false: another daemon took the job over meanwhile). */
export async function renewJobLease(db: Q, job: string, runner: string, until: string): Promise<boolean> {
  const r = await db.updateTable('job_runs').set({ lease_until: until }).where('job', '=', job).where('runner', '=', runner).where('lease_until', 'is not', null).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/**
 * Claim one thing a job sends (a reminder, an alert, a survey, a report), in the transaction that
 * writes its outbox row: the id when this call claimed it, null when it was claimed before.
 */
export async function claim(db: Q, job: string, caseId: number, key: string, at: string): Promise<number | null> {
  const row = await db
    .insertInto('job_claims')
    .values({ job, case_id: caseId, claim_key: key, outbox_id: null, created_at: at })
    .onConflict((oc) => oc.columns(['job', 'case_id', 'claim_key']).doNothing())
    .returning('id')
    .executeTakeFirst();
  return row?.id ?? null;
}

export async function setClaimOutbox(db: Q, claimId: number, outboxId: number): Promise<void> {
  await db.updateTable('job_claims').set({ outbox_id: outboxId }).where('id', '=', claimId).execute();
}

/** The greatest claim key of a job's claims not about a case (the daily report's start with the day they report, ISO): null without any. */
export async function lastClaimKey(db: Q, job: string): Promise<string | null> {
  const row = await db.selectFrom('job_claims').select((eb) => eb.fn.max('claim_key').as('key')).where('job', '=', job).where('case_id', '=', 0).executeTakeFirst();
  return row?.key ?? null;
}

/** Claims of `job` not yet turned into an email (outbox_id null), oldest first: the SLA alerts a sweep staged for its digests. */
export async function unsentClaims(db: Q, job: string): Promise<JobClaimRow[]> {
  return db.selectFrom('job_claims').selectAll().where('job', '=', job).where('outbox_id', 'is', null).orderBy('id').execute();
}

/** Take staged claims for sending: deletes them and returns those this call deleted (another run that took them first gets none). */
export async function takeClaims(db: Q, ids: readonly number[]): Promise<JobClaimRow[]> {
  if (ids.length === 0) return [];
  return db.deleteFrom('job_claims').where('id', 'in', [...ids]).where('outbox_id', 'is', null).returningAll().execute();
}

export async function claimsOf(db: Q, job?: string): Promise<JobClaimRow[]> {
  let q = db.selectFrom('job_claims').selectAll();
  if (job !== undefined) q = q.where('job', '=', job);
  return q.orderBy('id').execute();
}

/** counters row: when the last `casegate restore` ran (epoch ms), for the jobs' emails (compose.ts queueEmail `dueAt`). */
const RESTORE_FENCE_COUNTER = 'restore-fence';

/** A restore (without --send-queued) records its time: job emails for items due before it are held (the lost instance may have sent them). */
export async function setRestoreFence(db: Q, atMs: number): Promise<void> {
  await db
    .insertInto('counters')
    .values({ name: RESTORE_FENCE_COUNTER, value: atMs })
    .onConflict((oc) => oc.column('name').doUpdateSet({ value: atMs }))
    .execute();
}

/** When the last restore ran (ISO), or null. */
export async function restoreFence(db: Q): Promise<string | null> {
  const row = await db.selectFrom('counters').select('value').where('name', '=', RESTORE_FENCE_COUNTER).executeTakeFirst();
  return row === undefined ? null : new Date(Number(row.value)).toISOString();
}
