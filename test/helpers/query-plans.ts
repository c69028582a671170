/**
 * Query plans of the statements the code really runs: a Kysely over the same SQLite file that
 * records every compiled query, then EXPLAIN QUERY PLAN of each, judged by one rule — a statement
 * on a hot path must not SCAN a table that grows with history nor sort in a temporary B-tree.
 */
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, type CompiledQuery } from 'kysely';
import type { Database } from '../../src/db/schema.js';

/** Tables whose size grows with every message, case or email (history); the rest stay small. */
export const GROWING_TABLES: ReadonlySet<string> = new Set([
  'cases',
  'case_participants',
  'case_tags',
  'messages',
  'message_search',
  'attachments',
  'events',
  'receipts',
  'outbox',
  'address_status',
]);

export interface Captured {
  readonly sql: string;
  readonly parameters: readonly unknown[];
}

export interface CapturingDb {
  readonly db: Kysely<Database>;
  /** Everything executed so far (in order). */
  readonly queries: Captured[];
  /** Run `fn` and return the statements it executed. */
  during(fn: () => Promise<unknown>): Promise<Captured[]>;
  explain(q: Captured): string[];
  close(): Promise<void>;
}

/** A second connection to the database file whose Kysely records every query it runs. */
export function capturingDb(path: string): CapturingDb {
  const sqlite = new SQLite(path);
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const queries: Captured[] = [];
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: sqlite }),
    log(event) {
      const q: CompiledQuery = event.query;
      queries.push({ sql: q.sql, parameters: q.parameters });
    },
  });
  const explainDb = new SQLite(path, { readonly: true });
  explainDb.pragma('foreign_keys = ON');
  // Foreign keys make SQLite add, to an INSERT … RETURNING plan, scans of the tables that
  // reference the new row; they run only when the row itself violates a foreign key (OP_FkIfZero
  // skips them otherwise), so an INSERT is explained without them. UPDATE and DELETE keep them:
  // there the child scans are real.
  const explainNoFk = new SQLite(path, { readonly: true });
  explainNoFk.pragma('foreign_keys = OFF');
  return {
    db,
    queries,
    async during(fn) {
      const start = queries.length;
      await fn();
      return queries.slice(start);
    },
    explain(q) {
      if (/^\s*(begin|commit|rollback|savepoint|release)\b/i.test(q.sql)) return [];
      const conn = /^\s*insert\b/i.test(q.sql) ? explainNoFk : explainDb;
      const rows = conn.prepare(`explain query plan ${q.sql}`).all(...(q.parameters as unknown[])) as { detail: string }[];
      return rows.map((r) => r.detail);
    },
    async close() {
      await db.destroy();
      explainDb.close();
      explainNoFk.close();
    },
  };
}

/**
 * What is wrong with a plan, or [] when it fits: SCAN of a growing table, temporary B-tree.
 * `allow` accepts plan lines that are known to be bounded (each use says why).
 */
export function planProblems(plan: readonly string[], allow?: RegExp): string[] {
  const out: string[] = [];
  for (const line of plan) {
    if (allow?.test(line)) continue;
    const scan = /^SCAN (\w+)/.exec(line);
    if (scan !== null && GROWING_TABLES.has(scan[1]!)) out.push(line);
    if (/USE TEMP B-TREE/.test(line)) out.push(line);
  }
  return out;
}

/**
 * Columns that a partial index tests against a constant (`… WHERE "is_primary" = 1`). A statement
 * comparing such a column with a bound parameter (`"is_primary" = ?`) is re-prepared by SQLite on
 * every call (it must check whether the index applies to the value bound): the comparison has to be
 * written as a literal.
 */
export function partialIndexValueColumns(path: string): Set<string> {
  const conn = new SQLite(path, { readonly: true });
  try {
    const rows = conn.prepare("select sql from sqlite_master where type = 'index' and sql like '% where %'").all() as { sql: string }[];
    const out = new Set<string>();
    for (const { sql } of rows) {
      const where = sql.slice(sql.toLowerCase().lastIndexOf(' where ') + 7);
      for (const m of where.matchAll(/"(\w+)"\s*=\s*(?:\d|')/g)) out.add(m[1]!);
    }
    return out;
  } finally {
    conn.close();
  }
}

/** The `"column" = ?` comparisons of a statement on columns of `partialIndexValueColumns`. */
export function boundPartialIndexTerms(sql: string, columns: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const m of sql.matchAll(/"(\w+)"\s*=\s*\?/g)) if (columns.has(m[1]!)) out.push(m[0]);
  return out;
}

/** The distinct statements (by SQL text) of a list, in first-seen order. */
export function distinct(list: readonly Captured[]): Captured[] {
  const seen = new Map<string, Captured>();
  for (const q of list) if (!seen.has(q.sql)) seen.set(q.sql, q);
  return [...seen.values()];
}
