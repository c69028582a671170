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

/** PostgreSQL: the ids of the messages that contain the item, or null when more than `FEW_MATCHES` do. */
async function fewMatches(db: Q, item: SearchItem): Promise<number[] | null> {
  // A prefix gets a fixed estimate, so PostgreSQL reads its whole GIN entry even for LIMIT rows (80 ms
  // for a word in every message at 1 M). The word itself has statistics: when it alone is common, so is the prefix.
  if (item.prefix && (await fewMatches(db, { ...item, prefix: false })) === null) return null;
  // Unnamed: a generic plan (for any tsquery) read message_search from the start.
  const { rows } = await sql<{ message_id: number }>`select message_id from message_search where words @@ ${tsItem(item)}::tsquery limit ${FEW_MATCHES + 1} ${sql.raw(UNNAMED)}`.execute(db);
  return rows.length > FEW_MATCHES ? null : rows.map((r) => Number(r.message_id));
}

/** A case's messages contain the item (a probe of that case's messages by key). */
const caseHas = (i: SearchItem, fence: boolean): RawBuilder<SqlBool> =>
  sql<SqlBool>`exists (select 1 from messages m join message_search ms on ms.message_id = m.id where m.case_id = cases.id and ms.words @@ ${tsItem(i)}::tsquery${sql.raw(fence ? ' offset 0' : '')})`;

/**
 * PostgreSQL, every item common: the newest cases are tried first, at most this many of them
 * (at least this many per case asked for, within the bounds below).
 */
export const NEWEST_WINDOW = { perCase: 40, min: 2_000, max: 10_000 } as const;

/** The condition on `cases` of a search (see caseMatches). */
export interface CaseMatch {
  /** The condition (made when asked: it may probe the index). */
  readonly where: () => Promise<Expression<SqlBool>>;
  /**
   * Every item is common (PostgreSQL): the same search among the newest cases only, which is
   * walked newest first and stops at the limit. When it gives the limit, those are the newest
   * matches; when fewer, `where` is asked for, over all cases.
   */
  readonly newest?: Expression<SqlBool>;
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
 * "export csv", two words in nearly every message. So `newest` walks the newest cases (the
 * window: `limit` × 40, 2,000 to 10,000 cases) and probes each one's messages, the probes fenced
 * (`offset 0`) so they stay probes: under 10 ms when matches are dense, at most about 60 ms of
 * probes otherwise, and then the search over all cases as before. One common item alone keeps its
 * plan (30 ms at 1 M).
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
      const walk = sql<SqlBool>`(${sql.join(s.items.map((i) => caseHas(i, true)), sql` and `)})`;
      const edge = await sql<{ number: number }>`select number from cases order by number desc offset ${window - 1} limit 1`.execute(db);
      const from = edge.rows[0]?.number;
      // Fewer cases than the window: the walk is bounded by them all.
      if (from === undefined) return { where: async () => walk };
      // The number as a literal: a generic plan for any number would not know the window is small.
      return { where: async () => inAll(db, s), newest: sql<SqlBool>`(${sql.raw(UNNAMED)} cases.number >= ${sql.raw(String(Math.trunc(Number(from))))} and ${walk})` };
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
