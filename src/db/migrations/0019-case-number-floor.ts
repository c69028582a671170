import { sql, type Kysely } from 'kysely';

/**
 * counters: named high-water marks that must survive the rows they count. One so far,
 * `case-number`: the highest case number ever handed out (SQLite; PostgreSQL has case_number_seq).
 * Case numbers were max(number) + 1, so purging the newest case (an erasure, a retention run that
 * took every case) gave its number to the next customer — whose case the purged customer's signed
 * references and links then reached. Seeded with the highest number of the cases left and of the
 * case numbers earlier purges recorded in their audit events.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('counters')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', 'bigint', (c) => c.notNull())
    .execute();
  let highest = Number((await sql<{ n: string | number | null }>`select max(number) as n from cases`.execute(db)).rows[0]?.n ?? 0);
  const purges = await sql<{ data_json: string }>`select data_json from events where type in ('purge.closed-before', 'purge.erasure')`.execute(db);
  for (const row of purges.rows) {
    let numbers: unknown;
    try {
      numbers = (JSON.parse(row.data_json) as { caseNumbers?: unknown }).caseNumbers;
    } catch {
      continue;
    }
    if (Array.isArray(numbers)) for (const n of numbers) if (typeof n === 'number' && Number.isSafeInteger(n) && n > highest) highest = n;
  }
  if (highest > 0) await sql`insert into counters (name, value) values ('case-number', ${highest})`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('counters').execute();
}
