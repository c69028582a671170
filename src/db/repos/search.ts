import { sql, type Expression, type Kysely, type RawBuilder, type SqlBool } from 'kysely';
import type { SearchText } from '../../cases/search-text.js';
import { ftsDocument, quoteLexeme, tsvectorDocument, type SearchItem } from '../../cases/search-terms.js';
import { isPostgres } from '../dialect.js';
import { UNNAMED } from '../pg-named-statements.js';
import type { Database } from '../schema.js';

type Q = Kysely<Database>;

/**
 * The message search index (migration 0025) as queries. The words are made in JavaScript
 * (cases/search-terms.ts) and stored as they are: SQLite's contentless FTS5 table messages_fts
 * (tokenizer `ascii`: it splits on the spaces between the words and changes nothing else),
 * PostgreSQL's table message_search (a tsvector written out word by word, a GIN index). So both
 * backends hold the same words whatever the cluster's locale, and find the same messages.
 *
 * Indexed: the messages people wrote (every inbound message, agents' replies and notes) —
 * subject, visible text (its first SEARCH_TEXT_CHARS characters), sender name and address, and
 * the names of the files that came with it. casegate's own emails repeat the customer's words and
 * template text, and would double the index.
 */

/** Characters of a message's visible text that are searched. */
export const SEARCH_TEXT_CHARS = 100_000;

interface Indexed {
  readonly id: number;
  readonly direction: string;
  readonly author: string | null;
  readonly subject: string;
  readonly visible_text: string;
  readonly from_name: string;
  readonly from_address: string;
}

const searched = (m: Pick<Indexed, 'direction' | 'author'>): boolean => m.direction === 'in' || m.author !== null;
/** At most this much text is read at a time by rebuildSearchIndex (a message longer than this alone). */
export const REBUILD_MAX_CHARS = 4_000_000;
/** `searched` as an SQL condition on messages. */
const SEARCHED = sql.raw(`(direction = 'in' or author is not null)`);

const partsOf = (m: Indexed, files: readonly string[]): string[] => [m.subject, m.visible_text.slice(0, SEARCH_TEXT_CHARS), m.from_name, m.from_address, ...files];

/** Writes the index rows of these messages (replacing what was there). */
async function writeIndex(db: Kysely<unknown>, docs: readonly { id: number; parts: readonly string[] }[]): Promise<void> {
  if (docs.length === 0) return;
  if (isPostgres(db)) {
    for (let i = 0; i < docs.length; i += 500) {
      const rows = docs.slice(i, i + 500).map((d) => sql`(${d.id}, ${tsvectorDocument(d.parts)}::tsvector)`);
      await sql`insert into message_search (message_id, words) values ${sql.join(rows)} on conflict (message_id) do update set words = excluded.words`.execute(db);
    }
    return;
  }
  await sql`delete from messages_fts where rowid in (${sql.join(docs.map((d) => d.id))})`.execute(db);
  for (let i = 0; i < docs.length; i += 200) {
    const rows = docs.slice(i, i + 200).map((d) => sql`(${d.id}, ${ftsDocument(d.parts)})`);
    await sql`insert into messages_fts (rowid, words) values ${sql.join(rows)}`.execute(db);
  }
}

/** File names of these messages' attachments, by message. */
async function fileNames(db: Kysely<unknown>, ids: readonly number[]): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  if (ids.length === 0) return out;
  const rows = await sql<{ message_row_id: number; filename: string }>`select message_row_id, filename from attachments where message_row_id in (${sql.join(ids)}) order by id`.execute(db);
  for (const r of rows.rows) out.set(r.message_row_id, [...(out.get(r.message_row_id) ?? []), r.filename]);
  return out;
}

const COLUMNS = sql.raw('id, direction, author, subject, visible_text, from_name, from_address');

/**
 * Indexes these messages anew from what is stored (after their text or attachments changed);
 * a message that is not searched gets no index row.
 */
export async function reindexMessages(db: Q | Kysely<unknown>, ids: readonly number[]): Promise<void> {
  const u = db as Kysely<unknown>;
  if (ids.length === 0) return;
  if (isPostgres(u)) await sql`delete from message_search where message_id in (${sql.join(ids)})`.execute(u);
  else await sql`delete from messages_fts where rowid in (${sql.join(ids)})`.execute(u);
  const rows = (await sql<Indexed>`select ${COLUMNS} from messages where id in (${sql.join(ids)})`.execute(u)).rows.filter(searched);
  const files = await fileNames(u, rows.map((m) => m.id));
  await writeIndex(u, rows.map((m) => ({ id: m.id, parts: partsOf(m, files.get(m.id) ?? []) })));
}

/**
 * The whole index from the stored messages, in batches by id (migration 0025; `migrate-data`,
 * whose source has no PostgreSQL index to copy). Returns how many messages it indexed.
 */
export async function rebuildSearchIndex(db: Q | Kysely<unknown>, batch = 2000, maxChars = REBUILD_MAX_CHARS): Promise<number> {
  const u = db as Kysely<unknown>;
  let after = 0;
  let count = 0;
  for (;;) {
    // Only what is indexed is read: the searched messages, their text as far as it is indexed, and
    // at most maxChars of it at a time. Migration 0025 rebuilds a year of history through here, in
    // the daemon or a piped ingest (192 MB heap): 2,000 messages' whole texts (up to 200,000
    // characters each, casegate's own emails too) ran it out of memory — and the next start again.
    const sizes = (
      await sql<{ id: number; chars: number }>`select id, length(substr(visible_text, 1, ${sql.lit(SEARCH_TEXT_CHARS)})) as chars
        from messages where id > ${after} and ${SEARCHED} order by id limit ${batch}`.execute(u)
    ).rows;
    if (sizes.length === 0) return count;
    for (let i = 0; i < sizes.length; ) {
      let j = i + 1;
      for (let chars = Number(sizes[i]!.chars); j < sizes.length && chars + Number(sizes[j]!.chars) <= maxChars; j++) chars += Number(sizes[j]!.chars);
      const ids = sizes.slice(i, j).map((m) => Number(m.id));
      const rows = (
        await sql<Indexed>`select id, direction, author, subject, substr(visible_text, 1, ${sql.lit(SEARCH_TEXT_CHARS)}) as visible_text, from_name, from_address
          from messages where id in (${sql.join(ids)})`.execute(u)
      ).rows.map((m) => ({ ...m, id: Number(m.id) }));
      const files = await fileNames(u, ids);
      await writeIndex(u, rows.map((m) => ({ id: m.id, parts: partsOf(m, files.get(m.id) ?? []) })));
      count += rows.length;
      i = j;
    }
    after = Number(sizes[sizes.length - 1]!.id);
  }
}

/** FTS5: "a b c" for words in a row, * after it when the last is the start of a word. */
const ftsItem = (i: SearchItem): string => `"${i.words.join(' ')}"${i.prefix ? '*' : ''}`;

/** tsquery: 'a' <-> 'b' <-> 'c':*. */
const tsItem = (i: SearchItem): string => `(${i.words.map((w, k) => `${quoteLexeme(w)}${i.prefix && k === i.words.length - 1 ? ':*' : ''}`).join(' <-> ')})`;

/** Ids of the messages that contain every item (`all`) or one of them (`any`), as a subquery. */
function matchingMessageIds(db: Q, list: readonly SearchItem[], mode: 'all' | 'any'): RawBuilder<number> {
  if (isPostgres(db)) {
    const query = list.map(tsItem).join(mode === 'all' ? ' & ' : ' | ');
    return sql<number>`select message_id from message_search where words @@ ${query}::tsquery`;
  }
  const query = list.map(ftsItem).join(mode === 'all' ? ' ' : ' OR ');
  return sql<number>`select rowid from messages_fts where messages_fts match ${query}`;
}

/**
 * PostgreSQL: an item that at most this many messages contain drives the search. Its message ids
 * are read from the GIN index first (LIMIT-bounded, so a common word costs no more than this many
 * rows), and only the cases they belong to are checked for the other items.
 */
export const FEW_MATCHES = 2000;

/**
 * PostgreSQL: how many messages contain the word (the item as a whole word), as the planner
 * estimates it from the index's statistics (nothing read): from its most common words, and a
 * floor for any other word (`floorOf`).
 */
async function estimatedMatches(db: Q, item: SearchItem): Promise<number> {
  const { rows } = await sql<{ 'QUERY PLAN': { Plan: { 'Plan Rows': number } }[] }>`explain (format json) select message_id from message_search where words @@ ${tsItem({ ...item, prefix: false })}::tsquery ${sql.raw(UNNAMED)}`.execute(db);
  return Number(rows[0]?.['QUERY PLAN'][0]?.Plan['Plan Rows'] ?? 0);
}

/** PostgreSQL: the estimate of a word the index has no statistics for (upper case: never indexed). */
const floorOf = (db: Q, like: SearchItem): Promise<number> => estimatedMatches(db, { ...like, words: ['NOSUCHWORD'], prefix: false });

/** PostgreSQL: the ids of the messages that contain the item, or null when more than `cap` do. */
async function matchesUpTo(db: Q, item: SearchItem, cap: number): Promise<number[] | null> {
  // A prefix gets a fixed estimate, so PostgreSQL reads its whole GIN entry even for LIMIT rows (80 ms
  // for a word in every message at 1 M). The word itself has statistics: when it alone is common, so is the prefix.
  if (item.prefix && (await matchesUpTo(db, { ...item, prefix: false }, cap)) === null) return null;
  // Unnamed: a generic plan (for any tsquery) read message_search from the start.
  const { rows } = await sql<{ message_id: number }>`select message_id from message_search where words @@ ${tsItem(item)}::tsquery limit ${cap + 1} ${sql.raw(UNNAMED)}`.execute(db);
  return rows.length > cap ? null : rows.map((r) => Number(r.message_id));
}

/** PostgreSQL: the ids of the messages that contain the item, or null when more than `FEW_MATCHES` do. */
const fewMatches = (db: Q, item: SearchItem): Promise<number[] | null> => matchesUpTo(db, item, FEW_MATCHES);

/**
 * PostgreSQL, every item common: an item that at most `drivingMatches` messages contain can still
 * drive the search (its cases, walked in list order and probed for the others) when the newest
 * cases did not give the list, and each other item is a word in at least `drivingRatio` times as
 * many messages (drivenWalk). Reading 30,000 ids and their cases takes 50–250 ms at 1 M messages.
 * An object so that tests on a small history can scale it down.
 */
export const DRIVING = { drivingMatches: 30_000, drivingRatio: 10 };

/** PostgreSQL: the cases of these messages (unnamed: the ids are this search's own). */
async function casesOfMessages(db: Q, ids: readonly number[]): Promise<number[]> {
  if (ids.length === 0) return [];
  // A join with the array (estimated small): one key lookup per message, never a scan of messages.
  const { rows } = await sql<{ case_id: number }>`select distinct m.case_id from unnest(${[...ids]}::int8[]) u(id) join messages m on m.id = u.id ${sql.raw(UNNAMED)}`.execute(db);
  return rows.map((r) => Number(r.case_id));
}

/**
 * PostgreSQL: the walk driven by the items that at most DRIVING.drivingMatches messages contain (the
 * cases that have them all, in list order), the others probed case by case. Only when each other
 * item is, by the index's statistics, a word in at least DRIVING.drivingRatio times as many messages: the
 * walk probes each driving case until the list is full, about 80 µs a case at 1 M messages, so it
 * wins when nearly every driving case has the other words ("problem 12": 4.5 s → 1 s) and loses
 * when they share few cases ("screenshot 1", 25,000 and 222,000 messages: 1.2–2 s → 3 s, so
 * that keeps the search over all cases). null: not driven.
 */
async function drivenWalk(db: Q, s: SearchText): Promise<CaseWalk | null> {
  const floor = await floorOf(db, s.items[0]!);
  const sized: { item: SearchItem; estimate: number }[] = [];
  for (const item of s.items) sized.push({ item, estimate: await estimatedMatches(db, item) });
  // Common by the statistics: far above the estimate of any word without them.
  const common = sized.filter((x) => x.estimate > DRIVING.drivingMatches && x.estimate > 2 * floor);
  const rest = sized.filter((x) => !common.includes(x));
  if (common.length === 0 || rest.length === 0) return null;
  const few: number[][] = [];
  for (const x of rest) {
    const ids = await matchesUpTo(db, x.item, DRIVING.drivingMatches);
    if (ids === null) return null;
    few.push(ids);
  }
  const most = Math.max(...few.map((ids) => ids.length));
  if (common.some((x) => x.estimate < DRIVING.drivingRatio * most)) return null;
  let cases: number[] = [];
  for (const [k, ids] of few.sort((a, b) => a.length - b.length).entries()) {
    const of = await casesOfMessages(db, ids);
    if (k === 0) cases = of;
    else {
      const has = new Set(of);
      cases = cases.filter((id) => has.has(id));
    }
    if (cases.length === 0) break;
  }
  return { cases, window: null, probe: sql<SqlBool>`(${sql.join(common.map((x) => caseHas(x.item, true)), sql` and `)})` };
}

/** A case's messages contain the item (a probe of that case's messages by key). */
const caseHas = (i: SearchItem, fence: boolean): RawBuilder<SqlBool> =>
  sql<SqlBool>`exists (select 1 from messages m join message_search ms on ms.message_id = m.id where m.case_id = cases.id and ms.words @@ ${tsItem(i)}::tsquery${sql.raw(fence ? ' offset 0' : '')})`;

/**
 * PostgreSQL, every item common: the first cases of the list (newest, or most urgent) are tried
 * first, at most this many of them (at least this many per case asked for, within the bounds below).
 */
export const NEWEST_WINDOW = { perCase: 40, min: 2_000, max: 10_000 } as const;

/**
 * PostgreSQL: a search answered by walking cases in the list's order (its filters and sort) and
 * probing each one's messages, a few at a time, until the list is full.
 */
export interface CaseWalk {
  /** Only these cases (null: every case of the list's filters). */
  readonly cases: readonly number[] | null;
  /** At most the first this many of them; null: all. */
  readonly window: number | null;
  /** What each walked case must have, as fenced per-case probes; null: every case walked matches. */
  readonly probe: Expression<SqlBool> | null;
}

/** The condition on `cases` of a search (see caseMatches). */
export interface CaseMatch {
  /** The condition (made when asked: it may probe the index). */
  readonly where: () => Promise<Expression<SqlBool>>;
  /**
   * Every item is common (PostgreSQL): walks to try first, in order (made when asked; null: does
   * not apply). A walk that gives the list, or that walked every case it names, is the answer;
   * else the next one is tried, and then `where` over all cases.
   */
  readonly walks?: readonly (() => Promise<CaseWalk | null>)[];
}

/**
 * A condition on `cases`: every word and phrase occurs in one of its messages (not necessarily the
 * same one: "printer toner" finds the case whose first message names the printer and a reply the toner).
 *
 * PostgreSQL gives a tsquery with a prefix a fixed estimate, so for every search it walked all
 * cases newest first and probed each one's messages (1.7 s at 1,000,000 messages for a word
 * nobody wrote). So the rarest item, when few messages contain it, drives the query: its cases
 * only, each probed for the other items by its messages.
 *
 * When every item is common, the planner (with the same fixed estimates) read every message of
 * the most common item into a hash and sorted all matching cases: 1.2–2.2 s at 1 M messages for
 * "export csv", two words in nearly every message. So the first walk takes the list's first cases
 * (the window: `limit` × 40, 2,000 to 10,000 cases, in the list's order: newest or most urgent
 * first) and probes each one's messages, the probes fenced (`offset 0`) so they stay probes: under
 * 10 ms when matches are dense. When the window does not fill the list (common words that share
 * few cases, or none of the newest: "problem 12" took 3–5 s at 1 M), the second walk is driven by
 * the items that at most DRIVING.drivingMatches messages contain: their cases (the intersection), in list
 * order, each probed for the items in more messages. Only when every item is in more messages
 * than that does the search over all cases run as before. One common item alone keeps its plan
 * (30 ms at 1 M).
 */
export async function caseMatches(db: Q, s: SearchText, limit = 50): Promise<CaseMatch> {
  if (isPostgres(db)) {
    let rarest: { item: SearchItem; ids: number[] } | null = null;
    for (const item of s.items) {
      const ids = await fewMatches(db, item);
      if (ids !== null && (rarest === null || ids.length < rarest.ids.length)) rarest = { item, ids };
      if (ids?.length === 0) return { where: async () => sql<SqlBool>`false` };
    }
    if (rarest !== null) {
      // The ids as literals, not a parameter: a named statement's generic plan (for any array) walked every case again.
      const ids = sql.raw(rarest.ids.map((id) => String(Math.trunc(id))).join(', '));
      const drive = sql<SqlBool>`cases.id in (select case_id from messages where id in (${ids}))`;
      const others = s.items.filter((i) => i !== rarest.item).map((i) => caseHas(i, false));
      // Unnamed (the statement's text is this search's own): no named-statement slot for it.
      const where = sql<SqlBool>`(${sql.raw(UNNAMED)} ${sql.join([drive, ...others], sql` and `)})`;
      return { where: async () => where };
    }
    if (s.items.length > 1) {
      const window = Math.min(NEWEST_WINDOW.max, Math.max(NEWEST_WINDOW.min, NEWEST_WINDOW.perCase * limit));
      const all = sql<SqlBool>`(${sql.join(s.items.map((i) => caseHas(i, true)), sql` and `)})`;
      return { where: async () => inAll(db, s), walks: [async () => ({ cases: null, window, probe: all }), () => drivenWalk(db, s)] };
    }
  }
  return { where: async () => inAll(db, s) };
}

/** Each item's cases as a set (the plan that is best when one common item is the whole search). */
function inAll(db: Q, s: SearchText): RawBuilder<SqlBool> {
  const each = s.items.map((item) => sql<SqlBool>`cases.id in (select case_id from messages where id in (${matchingMessageIds(db, [item], 'all')}))`);
  return sql<SqlBool>`(${sql.join(each, sql` and `)})`;
}

export interface SearchHit {
  readonly caseId: number;
  readonly messageId: number;
  readonly subject: string;
  readonly text: string;
  readonly fromAddress: string;
  readonly createdAt: string;
}

/**
 * PostgreSQL: the message contains every item (`all`) or one of them (`any`), probed by its key
 * (fenced, `offset 0`, so it stays a probe). The cases are at most a list's worth, so their
 * messages are few; matching them against the GIN index instead read every message of a common
 * word (500–900 ms at 1,000,000 messages for "export csv", after the list itself took 30–90 ms).
 */
function messageHas(list: readonly SearchItem[], mode: 'all' | 'any'): RawBuilder<SqlBool> {
  const query = list.map(tsItem).join(mode === 'all' ? ' & ' : ' | ');
  return sql<SqlBool>`exists (select 1 from message_search ms where ms.message_id = messages.id and ms.words @@ ${query}::tsquery offset 0)`;
}

/**
 * Per case, the newest message that contains every word and phrase, else (they are spread over its
 * messages) the newest that contains one of them; with its text as indexed.
 */
export async function newestHits(db: Q, caseIds: readonly number[], s: SearchText): Promise<Map<number, SearchHit>> {
  const out = new Map<number, SearchHit>();
  if (caseIds.length === 0) return out;
  const list = s.items;
  const newest = async (ids: readonly number[], mode: 'all' | 'any'): Promise<number[]> =>
    ids.length === 0
      ? []
      : (
          await db
            .selectFrom('messages')
            .select(['messages.case_id', (eb) => eb.fn.max('messages.id').as('id')])
            .where('messages.case_id', 'in', [...ids])
            .where(isPostgres(db) ? messageHas(list, mode) : sql<SqlBool>`messages.id in (${matchingMessageIds(db, list, mode)})`)
            .groupBy('messages.case_id')
            .execute()
        ).map((r) => Number(r.id));
  const all = await newest(caseIds, 'all');
  const rowsOf = async (ids: number[]) =>
    ids.length === 0
      ? []
      : db
          .selectFrom('messages')
          .select(['id', 'case_id', 'subject', 'from_address', 'created_at', sql<string>`substr(visible_text, 1, ${SEARCH_TEXT_CHARS})`.as('text')])
          .where('id', 'in', ids)
          .execute();
  for (const r of await rowsOf(all)) out.set(r.case_id, { caseId: r.case_id, messageId: r.id, subject: r.subject, text: r.text, fromAddress: r.from_address, createdAt: r.created_at });
  const rest = caseIds.filter((id) => !out.has(id));
  for (const r of await rowsOf(await newest(rest, 'any'))) out.set(r.case_id, { caseId: r.case_id, messageId: r.id, subject: r.subject, text: r.text, fromAddress: r.from_address, createdAt: r.created_at });
  return out;
}

/** Indexes a message just stored (its attachments, stored after it, index it anew: reindexMessages). */
export async function indexNewMessage(db: Q, id: number, m: Omit<Indexed, 'id'>): Promise<void> {
  if (searched(m)) await writeIndex(db as Kysely<unknown>, [{ id, parts: partsOf({ ...m, id }, []) }]);
}

/**
 * SQLite: rewrites the search index without the words of deleted messages. FTS5 marks a deleted
 * message's row and keeps its words in the index until their segment is merged, so an erased
 * customer's words would stay in the file (unfindable, but readable). 3 s at 1,000,000 messages.
 * PostgreSQL removes an index entry when VACUUM cleans its row (autovacuum).
 */
export async function compactSearchIndex(db: Q): Promise<void> {
  if (isPostgres(db)) return;
  await sql`insert into messages_fts (messages_fts) values ('optimize')`.execute(db);
}
