import { sql, type Kysely } from 'kysely';

/**
 * Flat cost at any history size (issue 12): an index for every hot query that had none, and
 * shapes the listings can walk in order. test/unit/query-plans.test.ts keeps them honest.
 *
 *  (messages_outbox — marking an outgoing email sent updates its thread entry by outbox_id, was a
 *   scan of every stored message: 5.4 s at 200,000 — comes from 0003.)
 *  - outbox_case: the outbox rows of a case (case view).
 *  - cases_status_number: cases of one status, newest first (listing).
 *  - cases_owner_list replaces cases_owner (owner, status): an agent's cases, newest first.
 *  - cases_first_response_due / cases_resolution_due: the SLA jobs find due cases by their stored
 *    due times (DESIGN §3). Partial: cases without a running clock are not in them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('outbox_case').on('outbox').columns(['case_id', 'id']).execute();
  await db.schema.createIndex('cases_status_number').on('cases').columns(['status', 'number']).execute();
  await db.schema.dropIndex('cases_owner').execute();
  await db.schema.createIndex('cases_owner_list').on('cases').columns(['owner', 'status', 'number']).execute();
  await db.schema.createIndex('cases_first_response_due').on('cases').column('first_response_due_at').where(sql.ref('first_response_due_at'), 'is not', null).execute();
  await db.schema.createIndex('cases_resolution_due').on('cases').column('resolution_due_at').where(sql.ref('resolution_due_at'), 'is not', null).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const name of ['cases_resolution_due', 'cases_first_response_due', 'cases_owner_list', 'cases_status_number', 'outbox_case']) {
    await db.schema.dropIndex(name).execute();
  }
  await db.schema.createIndex('cases_owner').on('cases').columns(['owner', 'status']).execute();
}
