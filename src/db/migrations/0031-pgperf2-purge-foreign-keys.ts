import { sql, type Kysely } from 'kysely';

/**
 * Deleting a receipt (purge, retention, erasure) checks the rows that may name it: messages.receipt_id,
 * receipts.duplicate_of and receipts.retried_as (a case: cases.linked_case_id). None of them had an index, so every deleted
 * receipt read all messages and all receipts: at 1,000,000 messages one batch of purge's
 * `delete from receipts` ran for 16–18 minutes (PostgreSQL; SQLite with foreign keys the same),
 * and `purge --closed-before 90d` (190,000 cases) did not end in 70 minutes. Partial indexes:
 * most rows name nothing.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index messages_receipt on messages (receipt_id) where receipt_id is not null`.execute(db);
  await sql`create index receipts_duplicate_of on receipts (duplicate_of) where duplicate_of is not null`.execute(db);
  await sql`create index receipts_retried_as on receipts (retried_as) where retried_as is not null`.execute(db);
  await sql`create index cases_linked on cases (linked_case_id) where linked_case_id is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const name of ['cases_linked', 'receipts_retried_as', 'receipts_duplicate_of', 'messages_receipt']) await db.schema.dropIndex(name).execute();
}
