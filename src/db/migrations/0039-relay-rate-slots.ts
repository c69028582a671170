import { sql, type Kysely } from 'kysely';

/**
 * A relay's maxPerMinute shared by every daemon of the database (mail-out/relay-rate.ts; until
 * now each daemon counted in its own memory, so two daemons on one PostgreSQL sent up to twice the
 * relay's limit in a minute). relay_rate_slots holds, per relay, one row per recipient the relay
 * takes in a minute (slot 0 … maxPerMinute − 1, written by the daemon when it starts): used_at is
 * when it was last handed to a recipient, '' never. A slot is free once used_at is 60 s old. Taking
 * room is one UPDATE of free slots (PostgreSQL: FOR UPDATE SKIP LOCKED, so two daemons never take
 * the same slot; SQLite: under its write lock). A daemon that dies holding room leaves nothing to
 * clean: its slots are free a minute after it took them.
 *  - relay_rate_slots_free (relay, used_at, slot): the free slots, oldest first, and when the next frees.
 * Not copied by `migrate-data` (like leases: it belongs to running daemons).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('relay_rate_slots')
    .addColumn('relay', 'text', (c) => c.notNull())
    .addColumn('slot', 'integer', (c) => c.notNull())
    .addColumn('used_at', 'text', (c) => c.notNull().defaultTo(''))
    .addPrimaryKeyConstraint('relay_rate_slots_pk', ['relay', 'slot'])
    .execute();
  await sql`create index relay_rate_slots_free on relay_rate_slots (relay, used_at, slot)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('relay_rate_slots').execute();
}
