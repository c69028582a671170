import { sql, type Kysely } from 'kysely';
import { subjectKey } from '../../cases/subject-key.js';
import { isPostgres } from '../dialect.js';

/**
 * A forward of a customer's own message (stages/thread.ts, forwarded-copy) is matched to her cases
 * of the forwarded subject, and by the forwarded message's Date:
 *  - messages_from_sent: with 0035 only her cases of that subject opened around that Date were
 *    searched, so a later reply in an old case (an "Invoice" case she answered weeks after it
 *    opened, among 20+ of that subject) was never found. This index holds inbound messages by
 *    sender and Date: the look-up reads her messages of those few hours, whatever case they are on
 *    and however long her history. One entry per inbound message with a Date (not our own mail).
 *  - cases.subject_key: 0035 compared lower(subject), which SQLite folds in ASCII only ("Заказ" was
 *    not "ЗАКАЗ", "Rückgabe" not "RÜCKGABE") and PostgreSQL by its locale. The key is computed in
 *    TypeScript (cases/subject-key.ts), the same on both; every existing case gets it here, in one
 *    pass over the table (measured at 1,000,000 cases: bench/subject-key-backfill.ts), and
 *    cases_requester_subject is rebuilt on it. It depends on subjectKey as it is now: changing
 *    that function needs a migration recomputing the column.
 */
interface Tables {
  cases: { id: number; subject: string; subject_key: string | null };
}

/** Cases read per statement while the keys are computed (PostgreSQL). */
const READ = 10_000;

export async function up(raw: Kysely<unknown>): Promise<void> {
  const db = raw as Kysely<Tables>;
  await sql`create index messages_from_sent on messages (from_address, sent_at) where direction = 'in' and sent_at is not null`.execute(db);
  await db.schema.dropIndex('cases_requester_subject').execute();
  await db.schema.alterTable('cases').addColumn('subject_key', 'text').execute();
  if (isPostgres(db)) await fillKeysPostgres(db);
  // SQLite: one pass over the table, each key computed by subjectKey (casegate_subject_key is
  // registered on every connection, db/database.ts). Only the new column is written: SQLite touches
  // no index that does not hold it. At 1,000,000 cases 12 s; a statement per 100 cases (the first
  // version of this migration) was 25 s.
  else await sql`update cases set subject_key = casegate_subject_key(subject)`.execute(db);
  await sql`create index cases_requester_subject on cases (requester_address, subject_key, created_at, id)`.execute(db);
}

/**
 * PostgreSQL writes a new version of every row it updates, and each new version that does not fit
 * beside the old one (every case: the pages are full) adds an entry to each of the cases' 20-odd
 * indexes — in key orders unrelated to the id's, so at 1,000,000 cases those inserts went to
 * indexes larger than the server's cache: an UPDATE per 100 cases took 445 s (250,000 cases: 61 s),
 * and left the table twice its size until a vacuum. Instead the column is set by rewriting the
 * table once (ALTER COLUMN … TYPE … USING): every index is built again from the new rows, sorted,
 * with its name and definition, and the table keeps its size.
 *  - A subject of ASCII characters only (most): subjectKey is its ASCII lower case (NFKC leaves
 *    ASCII as it is; upper then lower case changes only A–Z), which translate() writes in the
 *    rewrite itself — the same on any locale (lower() would follow the database's).
 *  - The others: their keys, computed here, go into a helper table that a helper function reads
 *    in the rewrite. Both helpers are dropped before the migration commits.
 */
async function fillKeysPostgres(db: Kysely<Tables>): Promise<void> {
  // A new database: nothing to fill, and no rewrite (it would build every index of cases again).
  if ((await db.selectFrom('cases').select('id').limit(1).execute()).length === 0) return;
  const schema = (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]!.s;
  const keys = sql.id(schema, 'casegate_0038_subject_keys');
  const keyOf = sql.id(schema, 'casegate_0038_subject_key');
  // Any character outside U+0001–U+007F (text holds no U+0000); chr() keeps the pattern free of escapes.
  const notAscii = sql<boolean>`subject ~ ('[^' || chr(1) || '-' || chr(127) || ']')`;
  await sql`create unlogged table ${keys} (id integer primary key, subject_key text not null)`.execute(db);
  for (let after = 0; ; ) {
    const rows = await db.selectFrom('cases').select(['id', 'subject']).where('id', '>', after).where(notAscii).orderBy('id').limit(READ).execute();
    if (rows.length === 0) break;
    await sql`insert into ${keys} (id, subject_key) select * from unnest(${rows.map((r) => r.id)}::integer[], ${rows.map((r) => subjectKey(r.subject))}::text[])`.execute(db);
    after = rows.at(-1)!.id;
  }
  // The function body names the table with its schema: it does not depend on the search_path.
  const body = sql`select subject_key from ${keys} where id = $1`.compile(db).sql;
  await sql`create function ${keyOf}(integer) returns text language sql stable as ${sql.lit(body)}`.execute(db);
  // The rewrite builds every index of cases: with more memory for its sorts (never less than the server's).
  await sql`select set_config('maintenance_work_mem', '262144', true) from pg_settings where name = 'maintenance_work_mem' and setting::bigint < 262144`.execute(db);
  await sql`alter table cases alter column subject_key type text
            using case when ${notAscii} then ${keyOf}(id) else translate(subject, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') end`.execute(db);
  await sql`drop function ${keyOf}(integer)`.execute(db);
  await sql`drop table ${keys}`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('cases_requester_subject').execute();
  await db.schema.alterTable('cases').dropColumn('subject_key').execute();
  await sql`create index cases_requester_subject on cases (requester_address, lower(subject), created_at, id)`.execute(db);
  await db.schema.dropIndex('messages_from_sent').execute();
}
