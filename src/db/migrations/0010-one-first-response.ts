import { sql, type Kysely } from 'kysely';

/**
 * One record of the first response (integration of issues 10 and 11): cases.first_response_at
 * (0007, written by the case lifecycle) is the fact; case_sla keeps only what the SLA clocks derive
 * from it (fr_business_sec, fr_met). case_sla.fr_done_at (0009) goes:
 *  - its values move to cases.first_response_at where that is still empty;
 *  - cases_first_response: the report's range over first responses;
 *  - case_participants_case (case_id, id): a case's participants in order without a sort (every
 *    reply to the customer reads them).
 * Portable DDL (SQLite ≥ 3.35 drops columns; PostgreSQL too).
 */
/** The columns this migration reads and writes (the schema as it stands between 0009 and 0010). */
interface Tables {
  cases: { id: number; first_response_at: string | null };
  case_sla: { case_id: number; fr_done_at: string | null };
}

export async function up(raw: Kysely<unknown>): Promise<void> {
  const db = raw as Kysely<Tables>;
  await db
    .updateTable('cases')
    .set({ first_response_at: (eb) => eb.selectFrom('case_sla').select('case_sla.fr_done_at').whereRef('case_sla.case_id', '=', 'cases.id') })
    .where('first_response_at', 'is', null)
    .where((eb) => eb.exists(eb.selectFrom('case_sla').select('case_sla.case_id').whereRef('case_sla.case_id', '=', 'cases.id').where('case_sla.fr_done_at', 'is not', null)))
    .execute();
  await db.schema.dropIndex('case_sla_fr_done').execute();
  await db.schema.alterTable('case_sla').dropColumn('fr_done_at').execute();
  await db.schema.createIndex('cases_first_response').on('cases').column('first_response_at').where(sql.ref('first_response_at'), 'is not', null).execute();
  await db.schema.createIndex('case_participants_case').on('case_participants').columns(['case_id', 'id']).execute();
}

export async function down(raw: Kysely<unknown>): Promise<void> {
  const db = raw as Kysely<Tables>;
  await db.schema.dropIndex('case_participants_case').execute();
  await db.schema.dropIndex('cases_first_response').execute();
  await db.schema.alterTable('case_sla').addColumn('fr_done_at', 'text').execute();
  await db
    .updateTable('case_sla')
    .set({ fr_done_at: (eb) => eb.selectFrom('cases').select('cases.first_response_at').whereRef('cases.id', '=', 'case_sla.case_id') })
    .execute();
  await db.schema.createIndex('case_sla_fr_done').on('case_sla').column('fr_done_at').where(sql.ref('fr_done_at'), 'is not', null).execute();
}
