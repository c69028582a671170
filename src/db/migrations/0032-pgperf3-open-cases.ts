import { sql, type Kysely } from 'kysely';

/**
 * The open cases alone (not closed, not feedback, not suspected spam), with what their counts need:
 * `casegate status` and every /metrics scrape count them by status and priority, the report's
 * backlog by queue, status, priority and age. Until now each read every open case's row after the
 * status index (kind and spam are not in it): 0.5–1.1 s at 1,000,000 messages (25,000 cases not
 * closed), SQLite and PostgreSQL alike. A partial index holds only the backlog, so its size follows
 * the work waiting, not the history, and the counts read it alone. The queries state its
 * condition in the same words (src/db/repos/ops.ts OPEN_CASE, literals). kind and spam are among
 * its columns too, though constant in it: SQLite reads an index alone only when it holds every
 * column a query names.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index cases_open on cases (status, priority, queue, created_at, kind, spam) where kind = 'case' and spam = 0 and status <> 'closed'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('cases_open').execute();
}
