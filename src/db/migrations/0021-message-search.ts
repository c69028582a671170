import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../dialect.js';

/**
 * Full-text search over messages (`casegate cases list --search`, src/db/repos/search.ts): subject,
 * visible text (its first SEARCH_TEXT_CHARS characters), sender name and address of the messages
 * people wrote — every inbound message, agents' replies and notes (SEARCHED_MESSAGES). casegate's
 * own emails (confirmations, reminders …) repeat the customer's words and template text, and
 * would double the index. Words are runs of letters and digits on both backends; an address
 * or a file name is several words ("bob@customer.example": bob, customer, example).
 *
 *  - SQLite: a contentless FTS5 table (rowid = messages.id; unicode61, accents folded) that triggers
 *    keep in step with every insert, update and delete of a message.
 *  - PostgreSQL: a GIN index on the same text as a tsvector ('simple': lower case, no stemming, so a
 *    word in any language is found as written); the characters that PostgreSQL's parser joins into
 *    one address, host or file token become spaces first, so both backends split text alike, and
 *    Latin letters lose their accents (translate, LATIN_FOLD) as FTS5's remove_diacritics does.
 *
 * The text is capped: PostgreSQL refuses a tsvector over 1 MB (the insert, and with it the message,
 * would fail), and 100,000 characters hold any message a person wrote.
 */
export const SEARCH_TEXT_CHARS = 100_000;

/** Which messages are indexed, as an SQL condition on `messages` (a query must repeat it for PostgreSQL's partial index). */
export const SEARCHED_MESSAGES = `(direction = 'in' or author is not null)`;

/**
 * Builds nothing any more: migration 0025 replaced this index by one of words made in JavaScript,
 * and drops this one first. Built here, it cost an upgrade from a version before 0021 the whole
 * index for nothing — on PostgreSQL at 1,000,000 messages 6 to 10 minutes with the tables locked
 * (mail waiting) before 0025 threw it away. A database that ran it keeps it until 0025 drops it.
 */
export async function up(): Promise<void> {
  // superseded by 0025-search-words
}

/** The index this migration built (0025's `down` builds it again when going back below 0025). */
export async function buildIndex(db: Kysely<unknown>): Promise<void> {
  if (isPostgres(db)) {
    await sql`create index messages_search on messages using gin (${sql.raw(POSTGRES_SEARCH_VECTOR)}) where ${sql.raw(SEARCHED_MESSAGES)}`.execute(db);
    return;
  }
  await sql`create virtual table messages_fts using fts5(subject, body, from_name, from_address, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2')`.execute(db);
  const values = sql.raw(`new.id, new.subject, substr(new.visible_text, 1, ${SEARCH_TEXT_CHARS}), new.from_name, new.from_address`);
  const when = sql.raw(SEARCHED_MESSAGES.replace(/\b(direction|author)\b/g, 'new.$1'));
  await sql`create trigger messages_fts_insert after insert on messages when ${when} begin
    insert into messages_fts (rowid, subject, body, from_name, from_address) values (${values});
  end`.execute(db);
  await sql`create trigger messages_fts_delete after delete on messages begin
    delete from messages_fts where rowid = old.id;
  end`.execute(db);
  await sql`create trigger messages_fts_update after update of subject, visible_text, from_name, from_address, direction, author on messages begin
    delete from messages_fts where rowid = old.id;
  end`.execute(db);
  await sql`create trigger messages_fts_reinsert after update of subject, visible_text, from_name, from_address, direction, author on messages when ${when} begin
    insert into messages_fts (rowid, subject, body, from_name, from_address) values (${values});
  end`.execute(db);
  await sql`insert into messages_fts (rowid, subject, body, from_name, from_address)
    select id, subject, substr(visible_text, 1, ${sql.raw(String(SEARCH_TEXT_CHARS))}), from_name, from_address from messages where ${sql.raw(SEARCHED_MESSAGES)}`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (isPostgres(db)) {
    await sql`drop index if exists messages_search`.execute(db);
    return;
  }
  for (const t of ['insert', 'delete', 'update', 'reinsert']) await sql`drop trigger if exists ${sql.raw(`messages_fts_${t}`)}`.execute(db);
  await sql`drop table if exists messages_fts`.execute(db);
}

/**
 * Latin letters with accents → without (é → e, Ł stays: it has no decomposition), from their
 * canonical decompositions, which Unicode never changes: the same two strings on every Node version.
 */
function latinFold(): { from: string; to: string } {
  let from = '';
  let to = '';
  for (const [first, last] of [[0xc0, 0x24f], [0x1e00, 0x1eff]] as const) {
    for (let c = first; c <= last; c++) {
      const ch = String.fromCodePoint(c);
      const base = ch.normalize('NFD').replace(/\p{M}+/gu, '');
      if (base.length === 1 && base !== ch && /[A-Za-z]/.test(base)) {
        from += ch;
        to += base;
      }
    }
  }
  return { from, to };
}

export const LATIN_FOLD = latinFold();

/** PostgreSQL: `text` (an SQL expression) with the accents of Latin letters removed. */
export const postgresFold = (text: string): string => `translate(${text}, '${LATIN_FOLD.from}', '${LATIN_FOLD.to}')`;

/**
 * The indexed expression; a query must repeat it word for word for PostgreSQL to use the index.
 * Constant text only (no parameters): it is part of the index definition.
 */
export const POSTGRES_SEARCH_VECTOR = `to_tsvector('simple'::regconfig, ${postgresFold(
  `regexp_replace(left(coalesce(subject, '') || ' ' || coalesce(visible_text, ''), ${SEARCH_TEXT_CHARS}) || ' ' || coalesce(from_name, '') || ' ' || coalesce(from_address, ''), '[@./:_+-]+', ' ', 'g')`,
)})`;
