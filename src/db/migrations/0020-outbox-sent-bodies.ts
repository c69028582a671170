import { sql, type Kysely } from 'kysely';

/**
 * Retention of sent emails' rendered bodies (jobs.sentBodies, src/jobs/sent-bodies.ts):
 *
 *  - outbox.body_dropped_at: when the job emptied the row's text and html (null: the body is
 *    there). The row itself stays — recipients, Message-ID, status, times, errors — for threading,
 *    dedupe, bounce matching and the record of what was sent when.
 *  - outbox_sent_bodies: the job's index, partial, holding only sent rows that still have their
 *    body, by (status, sent_at): the job reads the oldest of them, and a row leaves the index once dropped,
 *    so it stays as small as the retention window. Its condition names literals, which is how both
 *    SQLite and PostgreSQL match a partial index.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('outbox').addColumn('body_dropped_at', 'text').execute();
  await sql`create index outbox_sent_bodies on outbox (status, sent_at) where status = 'sent' and body_dropped_at is null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('outbox_sent_bodies').execute();
  await db.schema.alterTable('outbox').dropColumn('body_dropped_at').execute();
}
