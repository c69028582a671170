import type { Kysely } from 'kysely';

/**
 * Messages whose pipeline ended in `retry` because a stage ran out of time on them (pipeline/
 * give-up.ts): one row per raw message (its SHA-256: the same bytes each time IMAP offers it or the
 * sending MTA tries again), with the attempts that counted. A message that fails this way again
 * and again while the same stage works for other mail is quarantined instead of offered for ever.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('message_failures')
    .addColumn('raw_sha256', 'text', (c) => c.primaryKey())
    .addColumn('mailbox', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('stage', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('strikes', 'integer', (c) => c.notNull())
    .addColumn('first_failed_at', 'text', (c) => c.notNull())
    .addColumn('last_failed_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('message_failures_last').on('message_failures').column('last_failed_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('message_failures').execute();
}
