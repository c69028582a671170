import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../dialect.js';

/**
 * `cases list` sorted by priority (its default): the most urgent level first, then the higher
 * escalation level, then the newest case. The levels' order comes from the configuration, so the
 * list sorted every case by a CASE over lower(priority): 0.6–1 s at 250,000 cases on PostgreSQL.
 * repos/cases.ts lists one level at a time instead, and cases_priority_list gives each level's
 * cases in the list's order, so each statement stops at --limit. lower(priority) must be written
 * so, word for word, in repos/cases.ts (PRIORITY) for SQLite to use the index.
 *
 * PostgreSQL: messages_id_case gives the case of a message without reading the message's row
 * (an index-only scan): a search driven by a word in up to 30,000 messages reads their cases
 * (repos/search.ts drivenWalk), 1–1.2 s at 1 M messages from the rows, 0.2 s from this index.
 * SQLite finds a row by its id in the table itself.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index cases_priority_list on cases (lower(priority), escalation_level, number)`.execute(db);
  if (isPostgres(db)) await sql`create index messages_id_case on messages (id, case_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (isPostgres(db)) await db.schema.dropIndex('messages_id_case').execute();
  await db.schema.dropIndex('cases_priority_list').execute();
}
