import { sql, type Kysely } from 'kysely';
import { idColumn } from '../dialect.js';

/**
 * Promises kept in business time (issue 11):
 *  - case_sla: the SLA clocks of a case (one row per case with a policy): first response and
 *    resolution with their warn/due times, pauses, flags (warned, breached, met) and the next time
 *    a job must look at it; the pending follow-up and the critical "no update" watch;
 *  - job_runs: when each scheduled job last ran (catch-up at start);
 *  - job_claims: one row per thing a job sent (reminder, alert, survey, report), written in the same
 *    transaction as its outbox row: a restart or a crash never sends it twice;
 *  - survey_responses: the customer's rating and comment per case;
 *  - link_revocations: revoked signed links (one link, or every link of a case issued before a time);
 *  - indexes for the jobs' and the report's queries.
 * Portable DDL (SQLite and PostgreSQL, see ../dialect.ts).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('case_sla')
    .addColumn('case_id', 'integer', (c) => c.primaryKey().references('cases.id'))
    .addColumn('policy', 'text', (c) => c.notNull())
    .addColumn('calendar', 'text', (c) => c.notNull())
    .addColumn('coverage', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('fr_target_min', 'integer')
    .addColumn('fr_warn_at', 'text')
    .addColumn('fr_due_at', 'text')
    .addColumn('fr_done_at', 'text')
    .addColumn('fr_business_sec', 'integer')
    .addColumn('fr_met', 'integer')
    .addColumn('fr_warned_at', 'text')
    .addColumn('fr_breached_at', 'text')
    .addColumn('res_target_min', 'integer')
    .addColumn('res_pauses_json', 'text', (c) => c.notNull())
    .addColumn('res_warn_at', 'text')
    .addColumn('res_due_at', 'text')
    .addColumn('res_done_at', 'text')
    .addColumn('res_business_sec', 'integer')
    .addColumn('res_met', 'integer')
    .addColumn('res_warned_at', 'text')
    .addColumn('res_breached_at', 'text')
    .addColumn('next_check_at', 'text')
    .addColumn('pending_since', 'text')
    .addColumn('pending_next_at', 'text')
    .addColumn('pending_reminders', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_update_at', 'text', (c) => c.notNull())
    .addColumn('stale_check_at', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  // Jobs: "what is due now" — each a range scan over rows that still need attention.
  await db.schema.createIndex('case_sla_next_check').on('case_sla').column('next_check_at').where(sql.ref('next_check_at'), 'is not', null).execute();
  await db.schema.createIndex('case_sla_pending_next').on('case_sla').column('pending_next_at').where(sql.ref('pending_next_at'), 'is not', null).execute();
  await db.schema.createIndex('case_sla_stale_check').on('case_sla').column('stale_check_at').where(sql.ref('stale_check_at'), 'is not', null).execute();
  // Report: clocks that stopped in a period.
  await db.schema.createIndex('case_sla_fr_done').on('case_sla').column('fr_done_at').where(sql.ref('fr_done_at'), 'is not', null).execute();
  await db.schema.createIndex('case_sla_res_done').on('case_sla').column('res_done_at').where(sql.ref('res_done_at'), 'is not', null).execute();

  await db.schema
    .createTable('job_runs')
    .addColumn('job', 'text', (c) => c.primaryKey())
    .addColumn('last_started_at', 'text', (c) => c.notNull())
    .addColumn('last_finished_at', 'text')
    .addColumn('last_error', 'text')
    .addColumn('runs', 'integer', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('job_claims')
    .addColumn('id', 'integer', idColumn(db))
    .addColumn('job', 'text', (c) => c.notNull())
    /** 0 for claims not about one case (reports). */
    .addColumn('case_id', 'integer', (c) => c.notNull())
    .addColumn('claim_key', 'text', (c) => c.notNull())
    .addColumn('outbox_id', 'integer')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('job_claims_unique', ['job', 'case_id', 'claim_key'])
    .execute();

  await db.schema
    .createTable('survey_responses')
    .addColumn('case_id', 'integer', (c) => c.primaryKey().references('cases.id'))
    .addColumn('rating', 'integer')
    .addColumn('comment', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('rated_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('survey_responses_rated').on('survey_responses').column('rated_at').where(sql.ref('rated_at'), 'is not', null).execute();

  await db.schema
    .createTable('link_revocations')
    .addColumn('id', 'integer', idColumn(db))
    .addColumn('case_id', 'integer', (c) => c.notNull().references('cases.id'))
    /** One revoked link (its signature), or null: every link of the case issued before revoked_before. */
    .addColumn('link_sig', 'text')
    .addColumn('revoked_before', 'text')
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('link_revocations_case').on('link_revocations').column('case_id').execute();

  // Cases: opened/resolved/closed in a period, resolved → closed, backlog by status and priority.
  await db.schema.createIndex('cases_created').on('cases').column('created_at').execute();
  await db.schema.createIndex('cases_resolved').on('cases').columns(['status', 'resolved_at']).execute();
  await db.schema.createIndex('cases_resolved_at').on('cases').column('resolved_at').where(sql.ref('resolved_at'), 'is not', null).execute();
  await db.schema.createIndex('cases_closed_at').on('cases').column('closed_at').where(sql.ref('closed_at'), 'is not', null).execute();
  await db.schema.createIndex('cases_status_priority').on('cases').columns(['status', 'priority', 'created_at']).execute();
  // Events of a type in a period (escalations, breaches, reopenings).
  await db.schema.createIndex('events_type_time').on('events').columns(['type', 'created_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const i of ['events_type_time', 'cases_status_priority', 'cases_closed_at', 'cases_resolved_at', 'cases_resolved', 'cases_created']) await db.schema.dropIndex(i).execute();
  for (const t of ['link_revocations', 'survey_responses', 'job_claims', 'job_runs', 'case_sla']) await db.schema.dropTable(t).execute();
}
