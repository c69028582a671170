import { sql, type Kysely } from 'kysely';

/**
 * Outbox without duplicates and outages people can see (issue 8):
 *  - outbox.claimed_by / claim_expires_at: the sender that holds a row (one UPDATE … RETURNING
 *    claims it; PostgreSQL later adds FOR UPDATE SKIP LOCKED), so two passes never hold one row;
 *  - outbox.queued_at: when the row (last) entered the queue — `outbox retry` restarts it, and the
 *    give-up age and "oldest queued" count from it;
 *  - outbox.last_attempt_at: when it was last handed to the transport;
 *  - messages_outbox: the thread entry of an outbox row is found by index when it is sent;
 *  - transport_health: the outgoing transport's state (ok, failing, paused), last error and its
 *    class, failing since, alerted — shown by `casegate status`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('outbox').addColumn('claimed_by', 'text').execute();
  await db.schema.alterTable('outbox').addColumn('claim_expires_at', 'text').execute();
  await db.schema.alterTable('outbox').addColumn('last_attempt_at', 'text').execute();
  await db.schema.alterTable('outbox').addColumn('queued_at', 'text').execute();
  await sql`UPDATE outbox SET queued_at = created_at`.execute(db);
  await db.schema.createIndex('outbox_queued').on('outbox').columns(['status', 'queued_at']).execute();
  // markSent updates the thread entry of the row: by outbox_id, once per email sent.
  await db.schema.createIndex('messages_outbox').on('messages').column('outbox_id').where(sql.ref('outbox_id'), 'is not', null).execute();

  await db.schema
    .createTable('transport_health')
    .addColumn('transport', 'text', (c) => c.primaryKey())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('last_error', 'text')
    .addColumn('last_error_class', 'text')
    .addColumn('last_error_at', 'text')
    .addColumn('last_success_at', 'text')
    .addColumn('failing_since', 'text')
    .addColumn('paused_since', 'text')
    .addColumn('alerted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('transport_health').execute();
  await db.schema.dropIndex('messages_outbox').execute();
  await db.schema.dropIndex('outbox_queued').execute();
  for (const column of ['queued_at', 'last_attempt_at', 'claim_expires_at', 'claimed_by']) {
    await db.schema.alterTable('outbox').dropColumn(column).execute();
  }
}
