import { sql, type Kysely } from 'kysely';

/**
 * Indexes whose plans do not depend on statistics (issue 12; casegate gathers none on SQLite,
 * see docs/operating.md).
 *  - cases_spam_number (spam, number) led with a column whose one value, 0, is nearly every case:
 *    without statistics, and with the sampled ones `PRAGMA optimize` writes (analysis_limit: the
 *    first 2,000 keys, all spam = 0, recorded as "1,961 rows a value"), SQLite planned `spam = ?`
 *    on it — every non-spam case ever — for the open-case counts of every /metrics scrape and
 *    `casegate status`, and for the report's counts (1 M messages: the 7-day report 0.16 s with
 *    full statistics, 1.4 s with sampled ones, 3.3 s with none; status 1.2–1.5 s with none).
 *    Now a partial index of the suspected spam alone: `cases list --spam` walks it newest first; a
 *    query about the other cases cannot use it. The default list (spam = 0, newest first) walks
 *    the case numbers and skips the few spam cases. One index entry less for every case stored.
 *  - receipts_quarantine_waiting: what waits in the quarantine (`casegate quarantine list`,
 *    every /metrics scrape). receipts_outcome (outcome=?) read every quarantined receipt ever —
 *    and with a full ANALYZE (outcome = ? is "500,000 rows") SQLite scanned all receipts instead.
 *    Its key repeats the condition's columns: two equalities outrank receipts_outcome's one under
 *    any statistics (a partial index with no constraint of its own is costed as a whole-table
 *    walk without them), and the count reads the index alone.
 * Plain SQL, both dialects; the queries state each condition in the same words, as literals.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`drop index cases_spam_number`.execute(db);
  await sql`create index cases_spam on cases (number) where spam = 1`.execute(db);
  await sql`create index receipts_quarantine_waiting on receipts (outcome, retried_as, received_at) where outcome = 'quarantined' and retried_as is null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index receipts_quarantine_waiting`.execute(db);
  await sql`drop index cases_spam`.execute(db);
  await sql`create index cases_spam_number on cases (spam, number)`.execute(db);
}
