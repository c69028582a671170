import type { Kysely } from 'kysely';

/**
 * Suspected spam (issue 9 item 8): cases.spam marks a case opened by mail our MX called spam
 * (kept out of the default case list until marked ham); messages.spam marks each such message.
 * The index serves the default list (spam = 0, newest first).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('cases').addColumn('spam', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('messages').addColumn('spam', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.createIndex('cases_spam_number').on('cases').columns(['spam', 'number']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('cases_spam_number').execute();
  await db.schema.alterTable('messages').dropColumn('spam').execute();
  await db.schema.alterTable('cases').dropColumn('spam').execute();
}
