import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

/**
 * Table-at-a-time copying for `casegate migrate-data` (SQLite → PostgreSQL): read a batch in
 * primary-key order, write it with an upsert by primary key (a second run updates what it copied
 * before and adds what is new), count. The tables and their keys are listed in src/db/migrate-data.ts.
 */

type Row = Record<string, unknown>;
/** The copy works on any table of the schema by name. */
type AnyDb = Kysely<Record<string, Row>>;
const loose = (db: Kysely<Database>): AnyDb => db as unknown as AnyDb;

/** Up to `limit` rows after `after` (the last key of the previous batch; null for the first), by key. */
export async function readBatch(db: Kysely<Database>, table: string, key: readonly string[], after: Row | null, limit: number): Promise<Row[]> {
  let q = loose(db).selectFrom(table).selectAll();
  if (after !== null) {
    // Row-value comparison written out: (a > x) or (a = x and b > y) …
    q = q.where((eb) =>
      eb.or(
        key.map((col, i) =>
          eb.and([...key.slice(0, i).map((prev) => eb(eb.ref(prev), '=', after[prev] as never)), eb(eb.ref(col), '>', after[col] as never)]),
        ),
      ),
    );
  }
  for (const col of key) q = q.orderBy(col);
  return (await q.limit(limit).execute()) as Row[];
}

/** Insert rows, or update the row with the same key: safe to run again. */
export async function upsertRows(db: Kysely<Database>, table: string, key: readonly string[], rows: readonly Row[]): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]!);
  const rest = columns.filter((c) => !key.includes(c));
  await loose(db)
    .insertInto(table)
    .values(rows.map((r) => ({ ...r })))
    .onConflict((oc) => {
      const target = oc.columns(key as string[]);
      if (rest.length === 0) return target.doNothing();
      return target.doUpdateSet((eb) => Object.fromEntries(rest.map((c) => [c, eb.ref(`excluded.${c}`)])));
    })
    .execute();
}

/** Set `column` of the row with key `id` (deferred self-references, e.g. receipts.retried_as). */
export async function setColumn(db: Kysely<Database>, table: string, column: string, id: unknown, value: unknown): Promise<void> {
  await loose(db)
    .updateTable(table)
    .set({ [column]: value })
    .where('id', '=', id as never)
    .execute();
}

export async function countRows(db: Kysely<Database>, table: string): Promise<number> {
  const row = await loose(db)
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}
