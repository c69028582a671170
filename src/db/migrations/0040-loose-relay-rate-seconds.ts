import { sql, type Kysely } from 'kysely';

/**
 * A relay's per-minute budget in whole seconds instead of a slot per unit (mail-out/relay-rate.ts;
 * 0039 made relay_rate_slots: maxPerMinute rows per relay, written at the first start — 100,000
 * rows, and as many row updates a minute, for a relay that takes 100,000 a minute — keyed by the
 * relay's name in each daemon's configuration, so two daemons that named one relay differently
 * each had a whole budget). relay_rate_seconds holds, per relay budget (host:port and login,
 * mail-out/relays.ts relayBudgetKey), each whole second room was taken in and how many recipients:
 * at most about 61 rows a relay whatever its limit. A second counts for 60 s. Taking room is one
 * short transaction under the budget's lock (PostgreSQL: an advisory lock; SQLite: its write lock).
 * The last minute's room of relay_rate_slots is not carried over (its keys are names, not
 * budgets): a daemon of the previous version still running has no table to count in and waits
 * (its takes fail and its rows stay queued) until it is upgraded, never sending over the limit.
 * Not copied by `migrate-data` (like leases: it belongs to running daemons).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('relay_rate_seconds')
    .addColumn('relay', 'text', (c) => c.notNull())
    .addColumn('second', 'text', (c) => c.notNull())
    .addColumn('used', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('relay_rate_seconds_pk', ['relay', 'second'])
    .execute();
  await db.schema.dropTable('relay_rate_slots').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('relay_rate_slots')
    .addColumn('relay', 'text', (c) => c.notNull())
    .addColumn('slot', 'integer', (c) => c.notNull())
    .addColumn('used_at', 'text', (c) => c.notNull().defaultTo(''))
    .addPrimaryKeyConstraint('relay_rate_slots_pk', ['relay', 'slot'])
    .execute();
  await sql`create index relay_rate_slots_free on relay_rate_slots (relay, used_at, slot)`.execute(db);
  await db.schema.dropTable('relay_rate_seconds').execute();
}
