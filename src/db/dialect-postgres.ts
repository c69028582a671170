import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type pg from 'pg';
import { Kysely, PostgresAdapter, PostgresDialect, PostgresIntrospector, sql, type DatabaseIntrospector, type DialectAdapter, type DatabaseMetadata, type PostgresDialectConfig, type RawBuilder, type SchemaMetadata, type TableMetadata } from 'kysely';
import { nulFree } from './nul-free.js';
import { DEFAULT_NAMED_PER_CONNECTION, namedStatementPool } from './pg-named-statements.js';
import { silentWatch } from './pg-silent-watch.js';

/**
 * The PostgreSQL connection pool (the `pg` driver under Kysely's PostgresDialect).
 *
 *  - `database.url` (postgres://user@host:port/db); the password from `database.password` (which
 *    may be "${ENV}" in the config file) or the standard PG* variables / ~/.pgpass that pg reads.
 *  - `database.schema`: casegate's tables live in this schema (search_path), created when missing;
 *    several casegate instances (or the test suite's environments) can share one database.
 *  - int8 (count(*), sums) and numeric come back as JS numbers, like SQLite's: the repos stay identical.
 *  - `lock_timeout` = database.busyTimeoutMs: a write that waits longer for a row or advisory lock
 *    fails with 55P03, which is transient (the message is retried), like SQLITE_BUSY.
 *  - An idle connection the server dropped (restart, failover) is reported, never thrown: the pool
 *    opens a new one for the next query.
 *  - TCP keepalive probes a silent connection after 10 s: a server that vanished (host lost,
 *    partition) fails the query waiting on it within about 20 s (ETIMEDOUT, transient).
 *  - A query without an answer for 5 s whose server session is idle (its connection went silent:
 *    a dropped NAT flow, a proxy that keeps the socket) ends that session and closes the
 *    connection within about 7 s (db/pg-silent-watch.ts): the pool opens a new one.
 */

export interface PostgresTarget {
  readonly url: string;
  readonly password?: string | undefined;
  readonly schema: string;
  readonly poolSize: number;
  readonly lockTimeoutMs: number;
  /** Named (server-side prepared) statements (db/pg-named-statements.ts); default true. */
  readonly preparedStatements?: boolean;
  /** application_name seen in pg_stat_activity. */
  readonly applicationName?: string;
  /** Called when an idle pooled connection fails (e.g. the server restarted). */
  readonly onIdleError?: (err: Error) => void;
  /** Called when a connection went silent under a query and was closed (db/pg-silent-watch.ts). */
  readonly onSilent?: (info: { pid: number; state: string; waitedMs: number }) => void;
  /**
   * How long migrating waits for another process's migration (default an hour: a daemon starting
   * beside one that migrates). A one-shot command — `casegate ingest` above all, which the MTA
   * retries on exit 75 — waits lockTimeoutMs, like any other lock.
   */
  readonly migrationLockWaitMs?: number;
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** pg (CommonJS) is loaded on first use: commands on SQLite — the MTA pipe above all — never pay for it. */
let pgModule: typeof pg | null = null;
function loadPg(): typeof pg {
  pgModule ??= createRequire(import.meta.url)('pg') as typeof pg;
  return pgModule;
}

function typeParsers(driver: typeof pg): pg.CustomTypesConfig {
  return {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
      if (oid === INT8_OID || oid === NUMERIC_OID) return (v: string) => Number(v);
      return driver.types.getTypeParser(oid, format ?? 'text');
    }) as pg.CustomTypesConfig['getTypeParser'],
  };
}

/** Double-quote an identifier for the search_path option. */
function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** See createPostgresPool: the error reaches whoever uses the client; nothing to do here. */
function noteLostConnection(): void {}

/** Silence on a connection after which TCP keepalive starts probing the server. */
export const KEEPALIVE_IDLE_MS = 10_000;

/** A query without an answer for this long is checked for a silent connection (db/pg-silent-watch.ts). */
export const SILENCE_CHECK_MS = 5_000;

/**
 * The URL with `database.password` as its `password` parameter. node-postgres lays what it parses
 * from the connection string over the other settings, its (empty) password included: a `password`
 * given beside a URL without one was dropped, and a server asking for it refused every connection
 * ("SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string"). The parameter is read
 * before the URL's own password, so database.password wins over it, as documented.
 */
function withPassword(url: string, password: string): string {
  const hash = url.indexOf('#');
  const [base, fragment] = hash === -1 ? [url, ''] : [url.slice(0, hash), url.slice(hash)];
  return `${base}${base.includes('?') ? '&' : '?'}password=${encodeURIComponent(password)}${fragment}`;
}

/** The settings of every casegate connection (the pool's and the silence check's). */
export function clientConfig(t: PostgresTarget, driver: typeof pg): pg.ClientConfig {
  return {
    connectionString: t.password !== undefined && t.password !== '' ? withPassword(t.url, t.password) : t.url,
    // A server that does not answer: give up (transient) instead of hanging the pipeline.
    connectionTimeoutMillis: 10_000,
    application_name: t.applicationName ?? 'casegate',
    options: `-c search_path=${quoteIdent(t.schema)} -c lock_timeout=${Math.max(1, Math.round(t.lockTimeoutMs))}`,
    types: typeParsers(driver),
    // A server that vanished mid-query (its host lost, a partition, a failover that moved the
    // name but not the old connections) answers nothing, not even a reset. TCP keepalive notices,
    // but pg's default (no initial delay) leaves it to the kernel's, 2 hours: a query in flight —
    // the outbox's claim, a lease renewal, a job — waited that long, and the outbox sent nothing
    // meanwhile. Probed after 10 s of silence (Node sends a probe a second, ten of them): such a
    // query fails (ETIMEDOUT, transient) within about 20 s and the pool opens a new connection.
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS,
  };
}

/**
 * The application_name of one pooled connection: casegate's, and a token of its own
 * (`casegate #1f2e3d4c5b6a`). The silence check (db/pg-silent-watch.ts) finds the connection's
 * server session by it — also behind PgBouncer, whose process ids are its own but which passes
 * each client's application_name on to the server connection serving it.
 */
export function sessionName(client: pg.ClientBase): string | null {
  const name = (client as unknown as { connectionParameters?: { application_name?: unknown } }).connectionParameters?.application_name;
  return typeof name === 'string' && SESSION_TOKEN.test(name) ? name : null;
}

const SESSION_TOKEN = / #[0-9a-f]{12}$/;

export function createPostgresPool(t: PostgresTarget): pg.Pool {
  const driver = loadPg();
  const base = clientConfig(t, driver);
  class TokenClient extends driver.Client {
    constructor() {
      super({ ...base, application_name: `${base.application_name ?? 'casegate'} #${randomBytes(6).toString('hex')}` });
    }
  }
  const pool = new driver.Pool({ ...base, max: t.poolSize, idleTimeoutMillis: 30_000, Client: TokenClient });
  pool.on('error', (err) => t.onIdleError?.(err));
  // pg-pool listens for errors of idle clients only: a client that is checked out (a transaction
  // between two statements, a query being built) and loses its server (a restart, a failover,
  // pg_terminate_backend) emits 'error' with no listener — an uncaught exception that ends the
  // daemon. Its holder learns of it anyway (the statement in flight, or the next one, fails with
  // a transient error and the message goes to retry), and the pool discards the dead client when
  // it comes back; so each client gets a listener of its own for its whole life.
  pool.on('connect', (client) => {
    client.on('error', noteLostConnection);
  });
  return pool;
}

/** Which of these tables exist in the current schema (exported for the query-plan test). */
export function namedTablesQuery(tables: readonly string[]): RawBuilder<{ name: string; schema: string; kind: string }> {
  return sql<{ name: string; schema: string; kind: string }>`
    select c.relname as name, n.nspname as schema, c.relkind as kind
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = current_schema() and c.relname in (${sql.join(tables)}) and c.relkind in ('r', 'p', 'v')`;
}

/**
 * Kysely's migrator asks the introspector whether its own two tables exist, three or four times a
 * run. Kysely's own introspector lists every table of every schema with all its columns; even a list
 * of one schema's tables scans all of pg_class, which has no index on the schema. In a database
 * shared by many schemas (several instances; the test suite's PostgreSQL pass creates about 350)
 * that took 25 ms a call and a quarter of the pass's statement time. This one answers only about the
 * tables it is given, looked up by name and schema (pg_class's index on both).
 */
class NamedTablesIntrospector implements DatabaseIntrospector {
  readonly #db: Kysely<unknown>;
  readonly #inner: PostgresIntrospector;
  readonly #tables: readonly string[];
  constructor(db: Kysely<unknown>, tables: readonly string[]) {
    this.#db = db;
    this.#inner = new PostgresIntrospector(db);
    this.#tables = tables;
  }
  getSchemas(): Promise<SchemaMetadata[]> {
    return this.#inner.getSchemas();
  }
  async getTables(): Promise<TableMetadata[]> {
    if (this.#tables.length === 0) return [];
    const r = await namedTablesQuery(this.#tables).execute(this.#db);
    return r.rows.map((row) => ({ name: row.name, schema: row.schema, isView: row.kind === 'v', columns: [] }));
  }
  async getMetadata(): Promise<DatabaseMetadata> {
    return { tables: await this.getTables() };
  }
}

/**
 * Each migration runs in a transaction of its own (database.ts); the lock of the whole run is held
 * apart (migration-lock.ts). Kysely's migrator opens that transaction with its own BEGIN; here a
 * transaction is opened just before it (BEGIN keeps one server connection until the end, also
 * behind a pooler that hands out server connections per transaction) so that its settings apply
 * to the migration: Kysely's BEGIN then only draws a warning (a transaction is in progress) and
 * its COMMIT or ROLLBACK ends the whole.
 */
class MigrationSettingsPostgresAdapter extends PostgresAdapter {
  override async acquireMigrationLock(db: Kysely<unknown>): Promise<void> {
    await sql`begin`.execute(db);
    // A migrating process that dies (kill -9, OOM, the MTA's time limit on an ingest) leaves its
    // server session running the statement it sent — 0025's index over a year of mail: minutes —
    // with every table the migration altered locked, before anything rolls back and the next
    // process may resume. PostgreSQL 14+ checks the client's socket every second during a
    // statement and ends the session as soon as it is gone.
    await sql`select set_config('client_connection_check_interval', '1000', true) where current_setting('server_version_num')::int >= 140000`.execute(db);
    // A statement_timeout the DBA gave casegate's role (or the database) is for its queries, not
    // for an upgrade: at 1 M messages 0025's index takes minutes, and under a timeout of one
    // minute every start failed and rolled back — casegate could never run the new version.
    // Waits for locks stay bounded by lock_timeout (database.busyTimeoutMs).
    await sql`select set_config('statement_timeout', '0', true)`.execute(db);
    // Likewise an idle-in-transaction timeout: a migration that works in JavaScript between its
    // statements (0025 makes the search words of every message) is idle meanwhile.
    await sql`select set_config('idle_in_transaction_session_timeout', '0', true)`.execute(db);
  }

  override async releaseMigrationLock(db: Kysely<unknown>): Promise<void> {
    // Normally a no-op (the migrator's COMMIT or ROLLBACK ended the transaction: a warning);
    // ends it when the migrator never got to its own.
    await sql`rollback`.execute(db);
  }
}

class CasegatePostgresDialect extends PostgresDialect {
  readonly #tables: readonly string[];
  constructor(config: PostgresDialectConfig, tables: readonly string[]) {
    super(config);
    this.#tables = tables;
  }
  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new NamedTablesIntrospector(db, this.#tables);
  }
  override createAdapter(): DialectAdapter {
    return new MigrationSettingsPostgresAdapter();
  }
}

/** `introspectedTables`: the only tables `db.introspection.getTables()` reports (when they exist): the migrator's. */
export function openPostgres<DB>(t: PostgresTarget, introspectedTables: readonly string[]): Kysely<DB> {
  // Every query's parameters pass through nulFree (db/nul-free.ts). (The driver's other form of
  // query, with a cursor, serves streaming, which needs a cursor class in the dialect's
  // configuration; casegate configures none.)
  const driver = loadPg();
  let silentAt = Number.NEGATIVE_INFINITY;
  const watch = silentWatch({
    afterMs: SILENCE_CHECK_MS,
    sessionName,
    connect: async () => {
      const c = new driver.Client({ ...clientConfig(t, driver), application_name: `${t.applicationName ?? 'casegate'} (silence check)` });
      await c.connect();
      return c;
    },
    onSilent: (info) => {
      silentAt = performance.now();
      t.onSilent?.(info);
    },
  });
  const pool = namedStatementPool(createPostgresPool(t), { enabled: t.preparedStatements ?? true, perConnection: DEFAULT_NAMED_PER_CONNECTION, watch, silentAt: () => silentAt, poolSize: t.poolSize }, nulFree);
  return new Kysely<DB>({ dialect: new CasegatePostgresDialect({ pool }, introspectedTables) });
}

/**
 * Create the configured schema when missing (before migrating); a concurrent creator is fine.
 * An existing schema is left alone without asking for it: `create schema if not exists` needs the
 * CREATE privilege on the database even when the schema is there, and a role that owns a schema a
 * DBA made for it (and no more) is how many run an application.
 */
export async function ensureSchema(db: Kysely<unknown>, schema: string): Promise<void> {
  const found = await sql<{ n: number }>`select count(*) as n from pg_namespace where nspname = ${schema}`.execute(db);
  if (Number(found.rows[0]?.n ?? 0) > 0) return;
  try {
    await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
  } catch (err) {
    // Two daemons starting at once: "duplicate key value violates unique constraint pg_namespace…".
    const code = (err as { code?: unknown }).code;
    if (code !== '23505' && code !== '42P06') throw err;
  }
}

/** Split `postgres://…/db` into what pg needs and a version without the password (for logs). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    // libpq and pg also take the password (and the client key's passphrase) as a parameter.
    for (const k of [...u.searchParams.keys()]) if (/password/i.test(k)) u.searchParams.set(k, '***');
    return u.toString();
  } catch {
    return 'postgres://(unparsable url)';
  }
}
