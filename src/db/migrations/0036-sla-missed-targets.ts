import type { Kysely } from 'kysely';

/**
 * A target missed stays missed (cases/sla-clock.ts): when a case's priority changes, a first
 * response or resolution target it had already missed under the old priority keeps the instant it
 * was missed at, whatever the new priority's targets. Until now the new priority re-measured the
 * case from its opening: a late case lowered from normal to low was on time again, its breach
 * alerted and listed in the report while the same report counted the target met. Null: not
 * recorded missed by a change of priority (a move records its own in moves_json, 0034).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('case_sla').addColumn('fr_missed_at', 'text').execute();
  await db.schema.alterTable('case_sla').addColumn('res_missed_at', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('case_sla').dropColumn('res_missed_at').execute();
  await db.schema.alterTable('case_sla').dropColumn('fr_missed_at').execute();
}
