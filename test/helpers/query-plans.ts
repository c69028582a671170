/**
 * Query plans of the statements the code really runs: a Kysely over the same SQLite file that
 * records every compiled query, then EXPLAIN QUERY PLAN of each, judged by one rule — a statement
 * on a hot path must not SCAN a table that grows with history, nor SEARCH it by an equality on
 * few-valued columns alone (a scan in disguise), nor sort in a temporary B-tree. Plans are judged
 * under each set of statistics a production file can carry (STATS_REGIMES): none, what
 * `PRAGMA optimize` samples, what a full ANALYZE finds.
 */
import { readFileSync } from 'node:fs';
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

/**
 * Columns of growing tables with few distinct values, one of which holds (nearly) the whole
 * history: spam = 0, kind = 'case', status = 'closed' / 'sent', outcome = 'stored' … An index
 * SEARCH whose only constraints are equalities on these reads that share of the history — every
 * non-spam case ever opened for `(spam=?)` — however small the plan makes it look. It is what
 * SQLite chooses when its statistics say such an equality is selective: `PRAGMA optimize` samples
 * the first rows of each index (analysis_limit) and records `spam=?` as ~2,000 rows of 250,000.
 * A partial index is exempt: its WHERE is what bounds it (the open cases, the unanswered ones).
 */
export const FEW_VALUED: Readonly<Record<string, ReadonlySet<string>>> = {
  cases: new Set(['spam', 'kind', 'status', 'escalated', 'escalation_level', 'priority', 'queue', 'mailbox']),
  // outbox.status is not among them: the hot paths ask for the queue ('queued', 'failed': what waits
  // to be sent or for an operator), the history's values ('sent' …) only with a time range.
  outbox: new Set(['kind']),
  receipts: new Set(['outcome', 'is_primary', 'mailbox', 'channel']),
  events: new Set(['type']),
  messages: new Set(['direction', 'automated', 'spam']),
};

/** An index of the schema: its table and whether it is partial (has a WHERE). */
export interface IndexInfo {
  readonly table: string;
  readonly partial: boolean;
}

/** Every index of the file by name (plan lines name a table by its alias, an index by its name). */
export function indexesOf(path: string): Map<string, IndexInfo> {
  const conn = new SQLite(path, { readonly: true });
  try {
    const rows = conn.prepare("select name, tbl_name, sql from sqlite_master where type = 'index'").all() as { name: string; tbl_name: string; sql: string | null }[];
    return new Map(rows.map((r) => [r.name, { table: r.tbl_name, partial: r.sql !== null && / where /i.test(r.sql) }]));
  } finally {
    conn.close();
  }
}

/** One row of sqlite_stat1. */
export interface Stat1Row {
  readonly tbl: string;
  readonly idx: string | null;
  readonly stat: string;
}

/**
 * The statistics a production file can carry, each a regime the plans must fit under. `none`: casegate
 * never gathers statistics (a file as migrations leave it). `sampled` and `full`: sqlite_stat1 of a
 * 1,000,000-message file (bench/seed-scale.ts) after `PRAGMA optimize` (its default analysis_limit
 * of 2,000 rows an index: low-cardinality leading columns look selective) and after a full ANALYZE
 * (their real spread) — what an operator gets by following SQLite's advice or by running ANALYZE.
 */
export const STATS_REGIMES: readonly { readonly name: 'none' | 'sampled' | 'full'; readonly rows: readonly Stat1Row[] | null }[] = [
  { name: 'none', rows: null },
  { name: 'sampled', rows: JSON.parse(readFileSync(new URL('../fixtures/plans/stat1-1m-sampled.json', import.meta.url), 'utf8')) as Stat1Row[] },
  { name: 'full', rows: JSON.parse(readFileSync(new URL('../fixtures/plans/stat1-1m-full.json', import.meta.url), 'utf8')) as Stat1Row[] },
];

/**
 * Give the file at `path` these statistics (none: no sqlite_stat1 rows). Connections opened
 * afterwards plan with them (SQLite loads sqlite_stat1 with the schema).
 */
export function setStats(path: string, rows: readonly Stat1Row[] | null): void {
  const conn = new SQLite(path);
  try {
    conn.pragma('busy_timeout = 5000');
    // sqlite_stat1 cannot be created by name: ANALYZE creates it (on a test's small file, milliseconds).
    if (conn.prepare("select 1 from sqlite_master where name = 'sqlite_stat1'").get() === undefined) conn.exec('analyze');
    const indexes = new Set((conn.prepare("select name from sqlite_master where type in ('index', 'table')").all() as { name: string }[]).map((r) => r.name));
    // better-sqlite3 is built with SQLITE_ENABLE_STAT4: ANALYZE also samples key values into
    // sqlite_stat4, which the planner prefers to sqlite_stat1 — the test file's own would mix in.
    const stat4 = conn.prepare("select 1 from sqlite_master where name = 'sqlite_stat4'").get() !== undefined;
    conn.transaction(() => {
      conn.exec('delete from sqlite_stat1');
      if (stat4) conn.exec('delete from sqlite_stat4');
      const insert = conn.prepare('insert into sqlite_stat1 (tbl, idx, stat) values (?, ?, ?)');
      for (const r of rows ?? []) if (indexes.has(r.tbl) && (r.idx === null || indexes.has(r.idx))) insert.run(r.tbl, r.idx, r.stat);
    })();
  } finally {
    conn.close();
  }
}

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
  /** Write these statistics to the file and explain with them from now on (setStats). */
  useStats(rows: readonly Stat1Row[] | null): void;
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
  // PLANS_DB=<a data directory's casegate.db of the same schema> explains every statement on that
  // file (a seeded 1 M-message one: its own statistics) instead of the test's.
  const explainPath = process.env['PLANS_DB'] ?? path;
  let explainDb!: SQLite.Database;
  // Foreign keys make SQLite add, to an INSERT … RETURNING plan, scans of the tables that
  // reference the new row; they run only when the row itself violates a foreign key (OP_FkIfZero
  // skips them otherwise), so an INSERT is explained without them. UPDATE and DELETE keep them:
  // there the child scans are real.
  let explainNoFk!: SQLite.Database;
  const open = (): void => {
    explainDb = new SQLite(explainPath, { readonly: true });
    explainDb.pragma('foreign_keys = ON');
    explainNoFk = new SQLite(explainPath, { readonly: true });
    explainNoFk.pragma('foreign_keys = OFF');
  };
  open();
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
    useStats(rows) {
      if (explainPath !== path) return;
      explainDb.close();
      explainNoFk.close();
      setStats(path, rows);
      open();
    },
    async close() {
      await db.destroy();
      explainDb.close();
      explainNoFk.close();
    },
  };
}

/**
 * What is wrong with a plan, or [] when it fits: SCAN of a growing table, temporary B-tree, and —
 * given the file's indexes — a SEARCH of a growing table by equalities on FEW_VALUED columns alone.
 * `allow` accepts plan lines that are known to be bounded (each use says why).
 */
export function planProblems(plan: readonly string[], allow?: RegExp, indexes?: ReadonlyMap<string, IndexInfo>): string[] {
  const out: string[] = [];
  for (const line of plan) {
    if (allow?.test(line)) continue;
    const scan = /^SCAN (\w+)/.exec(line);
    if (scan !== null && GROWING_TABLES.has(scan[1]!)) out.push(line);
    if (/USE TEMP B-TREE/.test(line)) out.push(line);
    const few = indexes === undefined ? null : fewValuedSearch(line, indexes);
    if (few !== null) out.push(`${line} — ${few}`);
  }
  return out;
}

/** Why a SEARCH line reads a share of the history (its only constraints: equalities on FEW_VALUED columns), or null. */
export function fewValuedSearch(line: string, indexes: ReadonlyMap<string, IndexInfo>): string | null {
  const m = /^SEARCH \w+ USING (?:COVERING )?INDEX (\w+) \((.*)\)$/.exec(line);
  if (m === null) return null;
  const index = indexes.get(m[1]!);
  if (index === undefined || index.partial || !GROWING_TABLES.has(index.table)) return null;
  const few = FEW_VALUED[index.table];
  const terms = m[2]!.split(' AND ');
  const eq = terms.map((t) => /^(\w+)=\?$/.exec(t)?.[1]);
  if (few === undefined || !eq.every((c) => c !== undefined && few.has(c))) return null;
  return `equality on few-valued column(s) only (${eq.join(', ')}): reads every row of ${index.table} with that value, a share of the history`;
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
