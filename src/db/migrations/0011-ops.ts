import { sql, type Kysely } from 'kysely';

/**
 * Running it for real (issue 13): indexes only, no new tables.
 *  - case_sla_*_breached_open: open SLA breaches, counted by every /metrics scrape and
 *    `casegate status` (partial: only clocks that breached; the first-response clock stops at
 *    cases.first_response_at, 0010, the resolution clock at case_sla.res_done_at);
 *  - blobs are content-addressed and shared: before `casegate purge` deletes a file it checks that
 *    no remaining row names it (messages.raw_sha256, receipts.raw_sha256, attachments.sha256);
 *  - rows of one case that purge deletes: receipts.case_id, job_claims.case_id.
 * Portable DDL (SQLite now, PostgreSQL later).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('case_sla_fr_breached_open')
    .on('case_sla')
    .column('case_id')
    .where(sql.ref('fr_breached_at'), 'is not', null)
    .execute();
  await db.schema
    .createIndex('case_sla_res_breached_open')
    .on('case_sla')
    .column('case_id')
    .where((eb) => eb.and([eb(sql.ref('res_breached_at'), 'is not', null), eb(sql.ref('res_done_at'), 'is', null)]))
    .execute();
  await db.schema.createIndex('messages_raw_sha256').on('messages').column('raw_sha256').where(sql.ref('raw_sha256'), 'is not', null).execute();
  await db.schema.createIndex('receipts_raw_sha256').on('receipts').column('raw_sha256').execute();
  await db.schema.createIndex('attachments_sha256').on('attachments').column('sha256').execute();
  await db.schema.createIndex('receipts_case').on('receipts').column('case_id').where(sql.ref('case_id'), 'is not', null).execute();
  await db.schema.createIndex('job_claims_case').on('job_claims').column('case_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const i of ['job_claims_case', 'receipts_case', 'attachments_sha256', 'receipts_raw_sha256', 'messages_raw_sha256', 'case_sla_res_breached_open', 'case_sla_fr_breached_open']) {
    await db.schema.dropIndex(i).execute();
  }
}
