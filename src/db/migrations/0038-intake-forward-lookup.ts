import { sql, type Kysely } from 'kysely';
import { subjectKey } from '../../cases/subject-key.js';

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
 *    TypeScript (cases/subject-key.ts), the same on both; every existing case gets it here, in
 *    batches by id (measured at 1,000,000 cases: bench/subject-key-backfill.ts), and
 *    cases_requester_subject is rebuilt on it. It depends on subjectKey as it is now: changing
 *    that function needs a migration recomputing the column.
 */
interface Tables {
  cases: { id: number; subject: string; subject_key: string | null };
}

/**
 * Cases read per batch; each batch is written in statements of WRITE rows (3 parameters a row). A
 * CASE over the ids, by their primary key: SQLite ran UPDATE … FROM (VALUES …) as a scan of every
 * case per statement, and a correlated VALUES look-up reads all WRITE rows per case.
 */
const READ = 10_000;
const WRITE = 100;

export async function up(raw: Kysely<unknown>): Promise<void> {
  const db = raw as Kysely<Tables>;
  await sql`create index messages_from_sent on messages (from_address, sent_at) where direction = 'in' and sent_at is not null`.execute(db);
  await db.schema.dropIndex('cases_requester_subject').execute();
  await db.schema.alterTable('cases').addColumn('subject_key', 'text').execute();
  for (let after = 0; ; ) {
    const rows = await db.selectFrom('cases').select(['id', 'subject']).where('id', '>', after).orderBy('id').limit(READ).execute();
    if (rows.length === 0) break;
    for (let i = 0; i < rows.length; i += WRITE) {
      const part = rows.slice(i, i + WRITE);
      const keys = sql.join(part.map((r) => sql`when ${r.id} then cast(${subjectKey(r.subject)} as text)`), sql` `);
      await sql`update cases set subject_key = case id ${keys} end where id in (${sql.join(part.map((r) => r.id))})`.execute(db);
    }
    after = rows.at(-1)!.id;
  }
  await sql`create index cases_requester_subject on cases (requester_address, subject_key, created_at, id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('cases_requester_subject').execute();
  await db.schema.alterTable('cases').dropColumn('subject_key').execute();
  await sql`create index cases_requester_subject on cases (requester_address, lower(subject), created_at, id)`.execute(db);
  await db.schema.dropIndex('messages_from_sent').execute();
}
