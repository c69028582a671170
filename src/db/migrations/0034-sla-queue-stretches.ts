import type { Kysely } from 'kysely';

/**
 * The SLA clocks of a case moved between queues (cases/sla-clock.ts, cases/sla-state.ts): each
 * queue's stretch is measured in that queue's calendar, not the whole life of the case in the
 * calendar of the queue it is in now. `moves_json` lists the stretches before the last move:
 * JSON [{ to, calendar, frMissedAt?, resMissedAt? }] — until `to` the case was measured in
 * `calendar`; a target already missed by then keeps the instant it was missed at. '[]' for a case
 * never moved (every case before this migration: measured as before).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('case_sla').addColumn('moves_json', 'text', (c) => c.notNull().defaultTo('[]')).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('case_sla').dropColumn('moves_json').execute();
}
