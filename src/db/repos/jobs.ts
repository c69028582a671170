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

export async function recordJobEnd(db: Q, job: string, at: string, error: string | null): Promise<void> {
  await db.updateTable('job_runs').set({ last_finished_at: at, last_error: error }).where('job', '=', job).execute();
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

export async function claimsOf(db: Q, job?: string): Promise<JobClaimRow[]> {
  let q = db.selectFrom('job_claims').selectAll();
  if (job !== undefined) q = q.where('job', '=', job);
  return q.orderBy('id').execute();
}
