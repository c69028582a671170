import type SQLite from 'better-sqlite3';
import {
  CompiledQuery,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
  type DatabaseMetadata,
  type SchemaMetadata,
  type TableMetadata,
  sql,
} from 'kysely';
import { nulFree } from './nul-free.js';
import { Memo } from '../memo.js';

/**
 * The SQLite dialect of casegate (the only place that knows SQLite's locking rules; repos use
 * plain Kysely, so a PostgreSQL dialect can sit beside this one).
 *
 * Every write takes the database's write lock up front, and waiting for it never blocks the event
 * loop:
 *  - A read-write transaction starts with `BEGIN IMMEDIATE`. A deferred `BEGIN` that reads first
 *    and writes later fails with SQLITE_BUSY as soon as another process committed in between (WAL
 *    snapshot), whatever the busy timeout: that made inbound mail fail after ~19 ms.
 *  - better-sqlite3's own busy handler sleeps inside the event loop, so it is kept very short
 *    (SYNC_BUSY_TIMEOUT_MS). When the lock is taken, BEGIN IMMEDIATE is retried after an
 *    asynchronous pause (5 ms, doubling up to 100 ms) until `lockWaitMs` (database.busyTimeoutMs)
 *    has passed; then the SQLITE_BUSY surfaces (the pipeline's outcome becomes `retry`).
 *  - While it waits, the connection is free for others (reads never need the write lock in WAL
 *    mode), so a CLI command holding the lock delays writes, not the daemon.
 *  - A write statement outside a transaction (autocommit) is wrapped the same way:
 *    BEGIN IMMEDIATE (waiting asynchronously), the statement, COMMIT.
 *  - `db.transaction().setAccessMode('read only')` starts a deferred transaction (no lock).
 */

/** better-sqlite3's synchronous busy timeout: the longest the event loop may block on one lock attempt. */
export const SYNC_BUSY_TIMEOUT_MS = 10;
const RETRY_MIN_MS = 5;
const RETRY_MAX_MS = 100;
/** The longest a writer waiting for another process's lock goes without trying it (its pause, then one try). */
export const LOCK_POLL_MAX_MS = RETRY_MAX_MS + SYNC_BUSY_TIMEOUT_MS;
/** Prepared statements kept per connection (by SQL text). */
const STATEMENT_CACHE_SIZE = 1000;

export interface CasegateSqliteConfig {
  readonly database: SQLite.Database;
  /** How long a write waits for a lock held by another process before SQLITE_BUSY surfaces. */
  readonly lockWaitMs: number;
  /** Told after every COMMIT (the background checkpointer, sqlite-checkpointer.ts). */
  readonly onCommit?: () => void;
  /** Awaited before the connection closes. */
  readonly beforeClose?: () => Promise<void>;
  /** The only tables `db.introspection.getTables()` reports (when they exist): the migrator's. */
  readonly introspectedTables?: readonly string[];
}

/** The error when the write lock could not be had within lockWaitMs (code SQLITE_BUSY: transient). */
export class DatabaseBusyError extends Error {
  override readonly name = 'DatabaseBusyError';
  readonly code = 'SQLITE_BUSY';
  constructor(waitedMs: number, cause: unknown) {
    super(`database is locked by another process (waited ${waitedMs} ms for the write lock)`, { cause });
  }
}

/**
 * Kysely's SQLite adapter says SQLite has no transactional DDL, so its migrator ran each statement
 * on its own and took no lock (it assumes one connection). Two processes opening a new or older
 * database at once — the daemon and an MTA's `casegate ingest`, or two commands — then ran the same
 * migrations side by side, and all but one failed ("table "leases" already exists"; a status command
 * with a stack trace). SQLite does run DDL in transactions: with this the migrator runs each
 * migration in a transaction under the write lock (BEGIN IMMEDIATE) and reads what is applied
 * inside it, so a migration that fails leaves nothing of itself behind; the lock of the whole run
 * (migration-lock.ts) makes a second process wait, find everything applied and do nothing.
 */
class MigratingSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

export class CasegateSqliteDialect implements Dialect {
  constructor(private readonly config: CasegateSqliteConfig) {}

  createDriver(): Driver {
    return new ImmediateSqliteDriver(this.config);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new MigratingSqliteAdapter();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    const tables = this.config.introspectedTables;
    return tables === undefined ? new SqliteIntrospector(db) : new NamedTablesIntrospector(db, tables);
  }
}

/**
 * Kysely's migrator asks whether its own two tables exist three times for every migration it runs
 * (each runs on its own: database.ts). Kysely's introspector reads every table with all its
 * columns for that, which made a new database's migrations five times slower; this one looks up
 * only the tables it is given, by name.
 */
class NamedTablesIntrospector implements DatabaseIntrospector {
  constructor(
    private readonly db: Kysely<unknown>,
    private readonly tables: readonly string[],
  ) {}
  async getSchemas(): Promise<SchemaMetadata[]> {
    return [];
  }
  async getTables(): Promise<TableMetadata[]> {
    if (this.tables.length === 0) return [];
    const { rows } = await sql<{ name: string; type: string }>`select name, type from sqlite_master where type in ('table', 'view') and name in (${sql.join(this.tables)})`.execute(this.db);
    return rows.map((r) => ({ name: r.name, isView: r.type === 'view', columns: [] }));
  }
  async getMetadata(): Promise<DatabaseMetadata> {
    return { tables: await this.getTables() };
  }
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || (typeof code === 'string' && code.startsWith('SQLITE_BUSY_'));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One connection (SQLite has one writer anyway), handed out under a mutex like Kysely's own driver. */
class ImmediateSqliteDriver implements Driver {
  readonly #db: SQLite.Database;
  readonly #lockWaitMs: number;
  readonly #mutex = new Mutex();
  readonly #connection: ImmediateSqliteConnection;
  readonly #onCommit: () => void;
  readonly #beforeClose: (() => Promise<void>) | undefined;

  constructor(config: CasegateSqliteConfig) {
    this.#db = config.database;
    this.#lockWaitMs = config.lockWaitMs;
    this.#onCommit = config.onCommit ?? ((): void => undefined);
    this.#beforeClose = config.beforeClose;
    this.#db.pragma(`busy_timeout = ${SYNC_BUSY_TIMEOUT_MS}`);
    this.#connection = new ImmediateSqliteConnection(this.#db, (begin) => this.#takeWriteLock(begin), this.#onCommit);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#mutex.lock();
    return this.#connection;
  }

  async beginTransaction(_connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    if (settings.accessMode === 'read only') {
      this.#db.exec('BEGIN');
      return;
    }
    await this.#takeWriteLock('BEGIN IMMEDIATE');
  }

  async commitTransaction(): Promise<void> {
    this.#db.exec('COMMIT');
    this.#onCommit();
  }

  async rollbackTransaction(): Promise<void> {
    if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quoteId(name)}`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to ${quoteId(name)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release ${quoteId(name)}`));
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.unlock();
  }

  async destroy(): Promise<void> {
    await this.#beforeClose?.();
    this.#db.close();
  }

  /**
   * Run `begin` (BEGIN IMMEDIATE) until it gets the write lock. Called with the connection held;
   * between attempts the connection is given back so others can use it, and taken again before
   * the next attempt. Throws DatabaseBusyError after lockWaitMs.
   */
  async #takeWriteLock(begin: string): Promise<void> {
    const started = performance.now();
    let delay = RETRY_MIN_MS;
    for (;;) {
      try {
        this.#db.exec(begin);
        return;
      } catch (err) {
        if (!isBusy(err)) throw err;
        const waited = performance.now() - started;
        if (waited >= this.#lockWaitMs) throw new DatabaseBusyError(Math.round(waited), err);
        this.#mutex.unlock();
        try {
          await sleep(Math.min(delay, Math.max(1, this.#lockWaitMs - waited)));
        } finally {
          await this.#mutex.lock();
        }
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }
}

function quoteId(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

class ImmediateSqliteConnection implements DatabaseConnection {
  readonly #db: SQLite.Database;
  readonly #takeWriteLock: (begin: string) => Promise<void>;
  readonly #onCommit: () => void;
  readonly #cache = new Memo<string, SQLite.Statement>(STATEMENT_CACHE_SIZE);

  constructor(db: SQLite.Database, takeWriteLock: (begin: string) => Promise<void>, onCommit: () => void) {
    this.#db = db;
    this.#takeWriteLock = takeWriteLock;
    this.#onCommit = onCommit;
  }

  /** Kysely prepares every query anew; better-sqlite3 statements are reusable: cache them (bounded). */
  #prepare(sql: string): SQLite.Statement {
    return this.#cache.get(sql, () => this.#db.prepare(sql));
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const stmt = this.#prepare(compiledQuery.sql);
    const params = nulFree(compiledQuery.parameters) as unknown[];
    if (stmt.readonly || this.#db.inTransaction) return run<R>(stmt, params);
    // An autocommit write: take the lock the same way a transaction does.
    await this.#takeWriteLock('BEGIN IMMEDIATE');
    try {
      const result = run<R>(stmt, params);
      this.#db.exec('COMMIT');
      this.#onCommit();
      return result;
    } catch (err) {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    const stmt = this.#prepare(compiledQuery.sql);
    if (!stmt.reader) throw new Error('only queries that return rows can be streamed');
    for (const row of stmt.iterate(...(nulFree(compiledQuery.parameters) as unknown[]))) {
      yield { rows: [row as R] };
    }
  }
}

function run<R>(stmt: SQLite.Statement, params: unknown[]): QueryResult<R> {
  if (stmt.reader) return { rows: stmt.all(...params) as R[] };
  const { changes, lastInsertRowid } = stmt.run(...params);
  return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
}

/** Kysely's single-connection mutex, with unlock usable while waiting for the write lock. */
class Mutex {
  #promise: Promise<void> | undefined;
  #resolve: (() => void) | undefined;

  async lock(): Promise<void> {
    while (this.#promise !== undefined) await this.#promise;
    this.#promise = new Promise<void>((resolve) => {
      this.#resolve = resolve;
    });
  }

  unlock(): void {
    const resolve = this.#resolve;
    this.#promise = undefined;
    this.#resolve = undefined;
    resolve?.();
  }
}
