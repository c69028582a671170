/**
 * Statements on the message path, built and compiled by Kysely once and then run with each call's
 * values (Kysely's "splitting build, compile and execute" recipe, with the values left open).
 *
 * Kysely builds a tree of frozen nodes and compiles it to SQL on every call; for the twenty-odd
 * statements a new message runs, that was about a tenth of the daemon's CPU (`npm run bench`'s
 * profile, issue 12), for SQL text that never changes. Here a statement is built once with
 * placeholders where the values go, compiled, and remembered by a key naming everything that
 * shapes its SQL (which columns an INSERT writes, how many keys an IN list has); a call then only
 * puts its values in the placeholders' places and runs the compiled query through the same
 * Kysely (so a transaction's connection, the dialect's driver and result handling are unchanged).
 * Repeating the SQL text as the same string also lets the SQLite driver find its prepared
 * statement without hashing the text again.
 *
 * Compiled SQL differs between the backends ("?" against "$1"), so it is remembered per dialect
 * adapter (one per Kysely instance, shared by its transactions).
 */
import { CompiledQuery, type Compilable, type Insertable, type Kysely, type QueryResult } from 'kysely';
import type { Database } from './schema.js';
import { Memo } from '../memo.js';

type Q = Kysely<Database>;

/** A value the statement is built with that stands for the call's argument number `index`. */
class Placeholder {
  constructor(readonly index: number) {}
}

const placeholders: Placeholder[] = [];
function placeholdersFor(count: number): readonly Placeholder[] {
  while (placeholders.length < count) placeholders.push(new Placeholder(placeholders.length));
  return placeholders.slice(0, count);
}

/** A compiled statement: its SQL and, per parameter, the argument it takes (or the constant the builder put there). */
interface Prepared {
  readonly sql: string;
  readonly slots: readonly (number | { readonly constant: unknown })[];
}

const preparedByAdapter = new WeakMap<object, Memo<string, Prepared>>();
/** Keys include column lists: bounded in practice, but never let a bug grow the map without end. */
const MAX_PER_ADAPTER = 2_000;

function prepare(db: Q, key: string, arity: number, build: (db: Q, values: readonly unknown[]) => Compilable<unknown>): Prepared {
  const adapter = db.getExecutor().adapter;
  let known = preparedByAdapter.get(adapter);
  if (known === undefined) {
    known = new Memo(MAX_PER_ADAPTER);
    preparedByAdapter.set(adapter, known);
  }
  return known.get(key, () => {
    const compiled = build(db, placeholdersFor(arity)).compile();
    const slots = compiled.parameters.map((p) => (p instanceof Placeholder ? p.index : { constant: p }));
    const used = new Set(slots.filter((s): s is number => typeof s === 'number'));
    if (used.size !== arity) {
      // A value the builder looked at (rather than passing it through as a parameter) would be
      // frozen into the SQL: refuse, so such a statement is never cached with the wrong value.
      throw new Error(`prepared statement "${key}": ${arity} values given, ${used.size} became parameters`);
    }
    return { sql: compiled.sql, slots };
  });
}

/**
 * Run the statement `build` makes, built and compiled once per `key` (and backend). `build` gets
 * stand-ins for `values` and must pass each one to Kysely as a value (a parameter), never look at
 * it; `key` must name everything else its SQL depends on.
 */
export async function runPrepared<R>(db: Q, key: string, values: readonly unknown[], build: (db: Q, values: readonly unknown[]) => Compilable<R>): Promise<QueryResult<R>> {
  const p = prepare(db, key, values.length, build);
  const parameters = p.slots.map((s) => (typeof s === 'number' ? values[s] : s.constant));
  return db.executeQuery<R>(CompiledQuery.raw(p.sql, parameters) as CompiledQuery<R>);
}

/** The first row of a prepared statement (RETURNING or SELECT), or an error naming the statement. */
export async function firstRowPrepared<R>(db: Q, key: string, values: readonly unknown[], build: (db: Q, values: readonly unknown[]) => Compilable<R>): Promise<R> {
  const row = (await runPrepared(db, key, values, build)).rows[0];
  if (row === undefined) throw new Error(`prepared statement "${key}" returned no row`);
  return row;
}

/** The defined columns of a row to insert, in a stable order, with their values (Kysely skips undefined ones too). */
export function rowColumns<T extends object>(row: T): { readonly columns: readonly (keyof T & string)[]; readonly values: readonly unknown[] } {
  const columns: (keyof T & string)[] = [];
  const values: unknown[] = [];
  for (const [k, v] of Object.entries(row)) {
    if (v === undefined) continue;
    columns.push(k as keyof T & string);
    values.push(v);
  }
  return { columns, values };
}

/** The row of placeholders for an INSERT's `values(…)`: column → its stand-in. */
export function placeholderRow(columns: readonly string[], stand: readonly unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  columns.forEach((c, i) => {
    out[c] = stand[i];
  });
  return out;
}

/** Tables whose rows are inserted on the message path and answered with their new id. */
type IdTable = 'messages' | 'outbox' | 'receipts';

/** INSERT one row (its defined columns) and return its id; prepared once per table and column set. */
export async function insertReturningId<T extends IdTable>(db: Q, table: T, row: Insertable<Database[T]>): Promise<number> {
  const { columns, values } = rowColumns(row);
  const inserted = await firstRowPrepared(
    db,
    `${table}.insert:${columns.join(',')}`,
    values,
    (q, p) => q.insertInto(table).values(placeholderRow(columns, p) as never).returning('id') as unknown as Compilable<{ id: number }>,
  );
  return inserted.id;
}
