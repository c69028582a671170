import { sql, type Kysely } from 'kysely';
import { createCaseNumberSequence, isPostgres } from '../dialect.js';

/**
 * Several daemons on one PostgreSQL database (issue 15):
 *  - leases: work only one daemon may do at a time (reading an IMAP mailbox), held by one daemon
 *    until expires_at and renewed while it works; a dead daemon's lease lapses and another takes it;
 *  - job_runs.last_slot / runner / lease_until: each scheduled time of a job is claimed by one
 *    daemon (the conditional update is the claim); a run in progress is not started again
 *    elsewhere until its lease lapses;
 *  - case_number_seq (PostgreSQL only): case numbers from a sequence, never twice across daemons
 *    (SQLite keeps max + 1 under its single write lock).
 * Portable DDL (see ../dialect.ts).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('acquired_at', 'text', (c) => c.notNull())
    .addColumn('renewed_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.alterTable('job_runs').addColumn('last_slot', 'text').execute();
  await db.schema.alterTable('job_runs').addColumn('runner', 'text').execute();
  await db.schema.alterTable('job_runs').addColumn('lease_until', 'text').execute();
  await createCaseNumberSequence(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (isPostgres(db)) await sql`drop sequence if exists case_number_seq`.execute(db);
  for (const column of ['lease_until', 'runner', 'last_slot']) await db.schema.alterTable('job_runs').dropColumn(column).execute();
  await db.schema.dropTable('leases').execute();
}
