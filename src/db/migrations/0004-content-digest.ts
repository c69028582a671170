import type { Kysely } from 'kysely';

/**
 * Message-ID collisions (issue 9): receipts.content_digest records what the message said (sender,
 * subject, date, normalised body), so a different message reusing a stored Message-ID is recognised
 * as new instead of being dropped as a duplicate. Older receipts keep null (compared by sender and
 * subject instead). The dedupe lookup stays the receipts_dedupe_primary index.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('receipts').addColumn('content_digest', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('receipts').dropColumn('content_digest').execute();
}
