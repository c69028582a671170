import { sql, type Kysely } from 'kysely';

/**
 * Merging cases (`casegate cases merge`, src/cases/case-merge.ts): `cases.merged_into` is the case
 * a merged case continues as (null: not merged). Its messages, outgoing mail, participants and tags
 * moved there; the row stays, closed, so its number is never used again and mail that names it
 * (a signed reference, the subject tag) threads into the case it continues as. The partial index
 * holds only merged cases (few): a merge re-points the cases merged into the one it merges, and a
 * purge lets go of the cases merged into those it deletes. No foreign key: SQLite cannot drop a
 * column that has one (down), and the merge and the purge keep it right (repos/case-merge.ts, purge.ts).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('cases').addColumn('merged_into', 'integer').execute();
  await sql`create index cases_merged_into on cases (merged_into) where merged_into is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('cases_merged_into').execute();
  await db.schema.alterTable('cases').dropColumn('merged_into').execute();
}
