import { sql, type Kysely } from 'kysely';

/**
 * `cases list --requester @domain`: the cases of every address of a domain, newest first. The
 * domain part of an address is what follows its last @ (a quoted local part may hold an @), so
 * the filter compared the end of every case's requester_address with "@domain" and read through
 * all cases (100 ms for a rare domain at 250,000 cases). This index holds "@domain" per case, made
 * by an expression both backends have (rtrim strips, from the right, every character other than @,
 * which leaves the address up to its last @), with the case number after it, so a list for one
 * domain reads that domain's newest cases and stops at --limit. repos/cases.ts REQUESTER_DOMAIN
 * must be this expression, word for word, for SQLite to use the index.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index cases_requester_domain on cases (substr(requester_address, length(rtrim(requester_address, replace(requester_address, '@', '')))), number)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('cases_requester_domain').execute();
}
