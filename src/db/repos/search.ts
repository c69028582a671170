import { sql, type Expression, type Kysely, type RawBuilder, type SqlBool } from 'kysely';
import type { SearchText } from '../../cases/search-text.js';
import { isPostgres } from '../dialect.js';
import { LATIN_FOLD, POSTGRES_SEARCH_VECTOR, SEARCHED_MESSAGES, SEARCH_TEXT_CHARS } from '../migrations/0021-message-search.js';
import type { Database } from '../schema.js';

type Q = Kysely<Database>;

/**
 * The message search index (migration 0021) as queries. Words and phrase parts are runs of letters
 * and digits (cases/search-text.ts), so they need no escaping in either query language; they are
 * passed as bound parameters all the same.
 */

/** One thing to find: a word (as the start of a word) or words in a row. */
type Item = readonly string[];

const itemsOf = (s: SearchText): Item[] => [...s.words.map((w) => [w]), ...s.phrases];

/** FTS5: "word"* for a word's start, "a b c" for words in a row. */
const ftsItem = (i: Item): string => (i.length === 1 ? `"${i[0]}"*` : `"${i.join(' ')}"`);

/** tsquery: 'word':* and ('a' <-> 'b'). */
const tsItem = (i: Item): string => (i.length === 1 ? `'${i[0]}':*` : `(${i.map((w) => `'${w}'`).join(' <-> ')})`);

/** Ids of the messages that contain every item (`all`) or one of them (`any`), as a subquery. */
function matchingMessageIds(db: Q, list: readonly Item[], mode: 'all' | 'any'): RawBuilder<number> {
  if (isPostgres(db)) {
    // The query's words lose their accents as the indexed text did (migration 0021).
    const query = list.map(tsItem).join(mode === 'all' ? ' & ' : ' | ');
    return sql<number>`select id from messages where ${sql.raw(SEARCHED_MESSAGES)} and ${sql.raw(POSTGRES_SEARCH_VECTOR)} @@ to_tsquery('simple'::regconfig, translate(${query}, ${LATIN_FOLD.from}, ${LATIN_FOLD.to}))`;
  }
  const query = list.map(ftsItem).join(mode === 'all' ? ' ' : ' OR ');
  return sql<number>`select rowid from messages_fts where messages_fts match ${query}`;
}

/**
 * A condition on `cases`: every word and phrase occurs in one of its messages (not necessarily the
 * same one: "printer toner" finds the case whose first message names the printer and a reply the toner).
 */
export function caseMatches(db: Q, s: SearchText): Expression<SqlBool> {
  const each = itemsOf(s).map((item) => sql<SqlBool>`cases.id in (select case_id from messages where id in (${matchingMessageIds(db, [item], 'all')}))`);
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
 * Per case, the newest message that contains every word and phrase, else (they are spread over its
 * messages) the newest that contains one of them; with its text as indexed.
 */
export async function newestHits(db: Q, caseIds: readonly number[], s: SearchText): Promise<Map<number, SearchHit>> {
  const out = new Map<number, SearchHit>();
  if (caseIds.length === 0) return out;
  const list = itemsOf(s);
  const newest = async (ids: readonly number[], mode: 'all' | 'any'): Promise<number[]> =>
    ids.length === 0
      ? []
      : (
          await db
            .selectFrom('messages')
            .select(['messages.case_id', (eb) => eb.fn.max('messages.id').as('id')])
            .where('messages.case_id', 'in', [...ids])
            .where(sql<SqlBool>`messages.id in (${matchingMessageIds(db, list, mode)})`)
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
