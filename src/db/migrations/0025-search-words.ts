import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../dialect.js';
import { rebuildSearchIndex } from '../repos/search.js';
import * as m0021 from './0021-message-search.js';

/**
 * The message search index holds words made in JavaScript (cases/search-terms.ts, repos/search.ts)
 * instead of each backend's own tokenizer. Before, PostgreSQL lower-cased with the cluster's
 * LC_CTYPE (a C-locale cluster found "Müller" only as written, Cyrillic and Greek likewise), and
 * neither backend found a word inside a run of Chinese or Japanese (支払い in 請求書の支払い): both
 * split text alike only for ASCII. Now both store the same folded words, with bigrams for the
 * scripts written without spaces.
 *
 *  - SQLite: messages_fts again, one column, tokenizer `ascii` (splits on spaces only); triggers
 *    drop a message's row when it is deleted or its text changes (the code writes it anew).
 *  - PostgreSQL: the table message_search (message_id, words tsvector) with a GIN index, instead of
 *    the expression index of 0021; its rows go with their message (on delete cascade).
 *
 * The index is rebuilt from the stored messages.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await m0021.down(db);
  if (isPostgres(db)) {
    await sql`create table message_search (message_id integer primary key references messages (id) on delete cascade, words tsvector not null)`.execute(db);
    await rebuildSearchIndex(db);
    await sql`create index message_search_words on message_search using gin (words)`.execute(db);
    return;
  }
  await sql`create virtual table messages_fts using fts5(words, content='', contentless_delete=1, tokenize='ascii')`.execute(db);
  await sql`create trigger messages_fts_delete after delete on messages begin
    delete from messages_fts where rowid = old.id;
  end`.execute(db);
  await sql`create trigger messages_fts_update after update of subject, visible_text, from_name, from_address, direction, author on messages begin
    delete from messages_fts where rowid = old.id;
  end`.execute(db);
  await rebuildSearchIndex(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (isPostgres(db)) await sql`drop table if exists message_search`.execute(db);
  else {
    for (const t of ['delete', 'update']) await sql`drop trigger if exists ${sql.raw(`messages_fts_${t}`)}`.execute(db);
    await sql`drop table if exists messages_fts`.execute(db);
  }
  await m0021.buildIndex(db);
}
