import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, sql, type Migration, type MigrationProvider } from 'kysely';
import * as m0001 from './migrations/0001-initial.js';
import * as m0002 from './migrations/0002-routing-escalation.js';
import * as m0003 from './migrations/0003-outbox-claims.js';
import * as m0004 from './migrations/0004-content-digest.js';
import * as m0005 from './migrations/0005-suspected-spam.js';
import * as m0006 from './migrations/0006-hot-path-indexes.js';
import * as m0007 from './migrations/0007-agent-work.js';
import * as m0009 from './migrations/0009-sla-jobs-web.js';
import * as m0010 from './migrations/0010-one-first-response.js';
import * as m0011 from './migrations/0011-ops.js';
import * as m0013 from './migrations/0013-cluster.js';
import * as m0014 from './migrations/0014-outbox-claimed.js';
import * as m0015 from './migrations/0015-sender-auth.js';
import * as m0016 from './migrations/0016-notify-index.js';
import * as m0017 from './migrations/0017-outbox-pending-recipients.js';
import * as m0018 from './migrations/0018-survey-opt-out.js';
import * as m0019 from './migrations/0019-case-number-floor.js';
import * as m0020 from './migrations/0020-outbox-sent-bodies.js';
import * as m0021 from './migrations/0021-message-search.js';
import * as m0022 from './migrations/0022-links-recipient-copies.js';
import * as m0023 from './migrations/0023-case-merge.js';
import * as m0024 from './migrations/0024-unanswered-cases.js';
import * as m0025 from './migrations/0025-search-words.js';
import * as m0026 from './migrations/0026-search2-requester-domain.js';
import * as m0027 from './migrations/0027-resend-copies.js';
import * as m0028 from './migrations/0028-resend-case-rate.js';
import * as m0029 from './migrations/0029-leftovers-message-failures.js';
import * as m0030 from './migrations/0030-pgperf2-priority-list.js';
import * as m0031 from './migrations/0031-pgperf2-purge-foreign-keys.js';
import * as m0032 from './migrations/0032-pgperf3-open-cases.js';
import * as m0033 from './migrations/0033-stats-few-valued.js';
import * as m0034 from './migrations/0034-sla-queue-stretches.js';
import * as m0035 from './migrations/0035-intake-forward-subject.js';
import * as m0036 from './migrations/0036-sla-missed-targets.js';
import * as m0037 from './migrations/0037-metrics-sla-breach-counter.js';
import * as m0038 from './migrations/0038-intake-forward-lookup.js';
import * as m0039 from './migrations/0039-relay-rate-slots.js';
import * as m0040 from './migrations/0040-loose-relay-rate-seconds.js';
import type { Database } from './schema.js';
import type { Config } from '../config/schema.js';
import type { ResolvedPaths } from '../config/load.js';
import { CasegateSqliteDialect, SYNC_BUSY_TIMEOUT_MS } from './sqlite-dialect.js';
import { BackgroundCheckpointer } from './sqlite-checkpointer.js';
import { syncWalOf } from './commit-sync.js';
import { ensureSchema, openPostgres, redactUrl, type PostgresTarget } from './dialect-postgres.js';
import { isPostgres } from './dialect.js';
import { checkSessionSettings, explainOpenError } from './open-error.js';
import { acquirePostgresMigrationLock, acquireSqliteMigrationLock, type MigrationLock } from './migration-lock.js';
import { createPrivateDir, ensurePrivateFile, tightenIfExists } from '../storage/private-files.js';
import { subjectKey } from '../cases/subject-key.js';

export type Db = Kysely<Database>;

/** The static, ordered list of migrations: a new one is a new file and a new line here. */
const MIGRATIONS: Record<string, Migration> = {
  '0001-initial': m0001,
  '0002-routing-escalation': m0002,
  '0003-outbox-claims': m0003,
  '0004-content-digest': m0004,
  '0005-suspected-spam': m0005,
  '0006-hot-path-indexes': m0006,
  '0007-agent-work': m0007,
  '0009-sla-jobs-web': m0009,
  '0010-one-first-response': m0010,
  '0011-ops': m0011,
  '0013-cluster': m0013,
  '0014-outbox-claimed': m0014,
  '0015-sender-auth': m0015,
  '0016-notify-index': m0016,
  '0017-outbox-pending-recipients': m0017,
  '0018-survey-opt-out': m0018,
  '0019-case-number-floor': m0019,
  '0020-outbox-sent-bodies': m0020,
  '0021-message-search': m0021,
  '0022-links-recipient-copies': m0022,
  '0023-case-merge': m0023,
  '0024-unanswered-cases': m0024,
  '0025-search-words': m0025,
  '0026-search2-requester-domain': m0026,
  '0027-resend-copies': m0027,
  '0028-resend-case-rate': m0028,
  '0029-leftovers-message-failures': m0029,
  '0030-pgperf2-priority-list': m0030,
  '0031-pgperf2-purge-foreign-keys': m0031,
  '0032-pgperf3-open-cases': m0032,
  '0033-stats-few-valued': m0033,
  '0034-sla-queue-stretches': m0034,
  '0035-intake-forward-subject': m0035,
  '0036-sla-missed-targets': m0036,
  '0037-metrics-sla-breach-counter': m0037,
  '0038-intake-forward-lookup': m0038,
  '0039-relay-rate-slots': m0039,
  '0040-loose-relay-rate-seconds': m0040,
};

/** What a long upgrade reports while it runs (the daemon logs it, `casegate migrate` prints it). */
export type MigrationProgress =
  /** Migrations are pending: they start once this process holds the migration lock. */
  | { readonly kind: 'pending'; readonly pending: readonly string[] }
  /** One migration is done and committed (a later failure or kill leaves it applied: the next run resumes after it). */
  | { readonly kind: 'applied'; readonly migration: string; readonly ms: number }
  /** Every `heartbeatMs` while one migration runs (PostgreSQL; SQLite's statements hold the event loop). */
  | { readonly kind: 'running'; readonly migration: string; readonly seconds: number };

export interface MigrateOptions {
  readonly onProgress?: (p: MigrationProgress) => void;
  /** How often `running` is reported (default 30 s). */
  readonly heartbeatMs?: number;
}

/** One line for a person (the log's message, `casegate migrate`'s output). */
export function describeProgress(p: MigrationProgress): string {
  switch (p.kind) {
    case 'pending':
      return `migrating the database: ${p.pending.length} migration(s) to apply (${p.pending.join(', ')}); mail waits meanwhile and is retried; each is committed when done: an interrupted one is rolled back, and the next run resumes with it`;
    case 'applied':
      return `migration ${p.migration} done in ${(p.ms / 1000).toFixed(1)} s`;
    case 'running':
      return `migration ${p.migration} still running (${p.seconds} s)`;
  }
}

/** The migrations, each telling `current` when it starts and `onProgress` when it is done. */
class StaticMigrationProvider implements MigrationProvider {
  current: { readonly name: string; readonly started: number } | null = null;
  constructor(private readonly onProgress?: (p: MigrationProgress) => void) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    const report = this.onProgress;
    if (report === undefined) return MIGRATIONS;
    return Object.fromEntries(
      Object.entries(MIGRATIONS).map(([name, m]) => [
        name,
        {
          ...m,
          up: async (db: Kysely<unknown>): Promise<void> => {
            const started = performance.now();
            this.current = { name, started };
            try {
              await m.up(db);
            } finally {
              this.current = null;
            }
            report({ kind: 'applied', migration: name, ms: Math.round(performance.now() - started) });
          },
        },
      ]),
    );
  }
}

export interface OpenDbOptions {
  readonly path: string;
  /** ms a write waits (asynchronously) for a lock held by another process (the CLI next to the daemon). */
  readonly busyTimeoutMs?: number;
  /**
   * The daemon: WAL checkpoints in a worker thread instead of inside COMMITs on the event loop
   * (sqlite-checkpointer.ts); called once if that fails and the connection checkpoints itself again.
   */
  readonly backgroundCheckpoints?: { readonly onFailure: (reason: string) => void };
}

/** Where the data lives: the embedded SQLite file (default) or a PostgreSQL database shared by several daemons. */
export type DatabaseTarget = ({ readonly kind: 'sqlite' } & OpenDbOptions) | ({ readonly kind: 'postgres' } & PostgresTarget);

/** Kysely's migrator's tables: which migrations ran, and its lock. */
const MIGRATION_TABLE = 'casegate_migrations';
const MIGRATION_LOCK_TABLE = 'casegate_migrations_lock';

/** The PostgreSQL schema of each open PostgreSQL database (migrateToLatest creates it), the database as logs name it, and its target (the migration lock's connection). */
const schemas = new WeakMap<Db, { readonly schema: string; readonly described: string; readonly target: PostgresTarget }>();
/** Each open SQLite database's file and write-lock wait (the migration lock beside it). */
const sqliteFiles = new WeakMap<Db, { readonly path: string; readonly waitMs: number }>();
/** How long migrating waits for another process's migration on PostgreSQL by default (Kysely's own value). */
const MIGRATION_LOCK_WAIT_MS = 60 * 60 * 1000;

/** The target of a loaded configuration (database.* keys). */
export function databaseTarget(
  config: Config,
  paths: Pick<ResolvedPaths, 'dbPath'>,
  opts: Pick<PostgresTarget, 'applicationName' | 'onIdleError' | 'onSilent'> & Pick<OpenDbOptions, 'backgroundCheckpoints'> & { readonly shortMigrationWait?: boolean } = {},
): DatabaseTarget {
  const d = config.database;
  if (d.driver === 'postgres') {
    const { backgroundCheckpoints: _sqliteOnly, shortMigrationWait, ...pg } = opts;
    return {
      kind: 'postgres', url: d.url!, password: d.password, schema: d.schema, poolSize: d.poolSize, preparedStatements: d.preparedStatements, lockTimeoutMs: d.busyTimeoutMs,
      ...(shortMigrationWait === true ? { migrationLockWaitMs: d.busyTimeoutMs } : {}),
      ...pg,
    };
  }
  return { kind: 'sqlite', path: paths.dbPath, busyTimeoutMs: d.busyTimeoutMs, ...(opts.backgroundCheckpoints !== undefined ? { backgroundCheckpoints: opts.backgroundCheckpoints } : {}) };
}

/** For log lines and `casegate status`: the SQLite path, or the PostgreSQL URL without its password (and the schema). */
export function describeTarget(t: DatabaseTarget): string {
  return t.kind === 'sqlite' ? t.path : `${redactUrl(t.url)} (schema ${t.schema})`;
}

export function openDatabase(opts: OpenDbOptions | DatabaseTarget): Db {
  if ('kind' in opts && opts.kind === 'postgres') {
    const db = openPostgres<Database>(opts, [MIGRATION_TABLE, MIGRATION_LOCK_TABLE]);
    schemas.set(db, { schema: opts.schema, described: describeTarget(opts), target: opts });
    return db;
  }
  const db = openSqlite(opts);
  sqliteFiles.set(db, { path: opts.path, waitMs: opts.busyTimeoutMs ?? 5000 });
  return db;
}

/** SQLite: the WAL file is truncated back to this size when it starts over (journal_size_limit). */
export const WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024;

/**
 * casegate's own SQL functions on a SQLite connection (migrations use them; they are not part of
 * the schema): casegate_subject_key(subject) is subjectKey, so that migration 0038 fills every
 * case's key in one UPDATE, computed in TypeScript. A connection opened otherwise (a test's own
 * better-sqlite3 handle) that runs the migrations needs them too.
 */
export function registerSqliteFunctions(sqlite: SQLite.Database): void {
  sqlite.function('casegate_subject_key', { deterministic: true }, (subject: unknown) => (typeof subject === 'string' ? subjectKey(subject) : null));
}

function openSqlite(opts: OpenDbOptions): Db {
  if (opts.path !== ':memory:') {
    // 0600 whatever the umask: SQLite gives the -wal and -shm files the database file's mode.
    createPrivateDir(dirname(opts.path));
    ensurePrivateFile(opts.path);
    for (const side of ['-wal', '-shm']) tightenIfExists(opts.path + side);
  }
  const sqlite = new SQLite(opts.path, { timeout: SYNC_BUSY_TIMEOUT_MS });
  // Switching to WAL needs the write lock once (a new file); later opens find it set.
  sqlite.pragma('journal_mode = WAL');
  // NORMAL: a COMMIT does not wait for the disk; what a channel acknowledges waits for
  // commitsDurable (commit-sync.ts: one fdatasync of the WAL for every commit before it).
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  // SQLite's default page cache is 2 MB: with a year of history (1 M messages, 2 GB) the upper
  // levels of the hot indexes no longer fit and every lookup goes back to the file (npm run bench,
  // history phase). 16 MB keeps them; it fills only as pages are used.
  sqlite.pragma('cache_size = -16000');
  // The WAL file keeps the size of the largest burst it ever held (an import, a large purge, a
  // backlog of job mail: 50 MB in a 25-minute soak) unless told otherwise: once a checkpoint has
  // copied it and a writer starts it over, it is truncated to this size.
  sqlite.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
  registerSqliteFunctions(sqlite);
  const checkpointer = opts.backgroundCheckpoints !== undefined && opts.path !== ':memory:' ? new BackgroundCheckpointer(sqlite, opts.path, opts.backgroundCheckpoints.onFailure) : null;
  const db = new Kysely<Database>({
    dialect: new CasegateSqliteDialect({
      database: sqlite,
      lockWaitMs: opts.busyTimeoutMs ?? 5000,
      introspectedTables: [MIGRATION_TABLE, MIGRATION_LOCK_TABLE],
      ...(checkpointer !== null ? { onCommit: () => checkpointer.committed(), beforeClose: () => checkpointer.close() } : {}),
    }),
  });
  if (opts.path !== ':memory:') syncWalOf(db, `${opts.path}-wal`);
  return db;
}

export interface MigrateResult {
  readonly applied: string[];
}

/**
 * Bring the schema up to date; throws with the failing migration's name. On PostgreSQL a refusal
 * the admin fixes on the server (privileges, authentication, no such database) or a server that
 * does not answer is a DatabaseOpenError saying what to do (db/open-error.ts).
 */
export async function migrateToLatest(db: Db, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const pg = isPostgres(db) ? schemas.get(db) : undefined;
  if (pg === undefined) return migrate(db, undefined, opts);
  try {
    await ensureSchema(db as Kysely<unknown>, pg.schema);
  } catch (err) {
    throw await explainOpenError(db as Kysely<unknown>, err, { ...pg, step: 'schema' });
  }
  // Behind a pooler that dropped casegate's search_path and lock_timeout: refused (db/open-error.ts).
  await checkSessionSettings(db as Kysely<unknown>, pg);
  try {
    return await migrate(db, pg.schema, opts);
  } catch (err) {
    const failed = err instanceof MigrationFailed ? err : null;
    const cause = failed !== null ? failed.cause : err;
    const explained = await explainOpenError(db as Kysely<unknown>, cause, { ...pg, step: 'migrate', ...(failed !== null ? { prefix: `${failed.what} failed: ` } : {}) });
    throw explained === cause ? err : explained;
  }
}

/**
 * Tests and benches of an upgrade: the schema exactly as it stood after migration `last` (an old
 * version's database), to fill with history and then bring up to date with migrateToLatest.
 */
export async function migrateTo(db: Db, last: string): Promise<void> {
  const pg = isPostgres(db) ? schemas.get(db) : undefined;
  if (pg !== undefined) await ensureSchema(db as Kysely<unknown>, pg.schema);
  const lock = await migrationLock(db);
  try {
    const result = await migratorFor(db, pg?.schema, new StaticMigrationProvider()).migrateTo(last);
    if (result.error !== undefined) throw new MigrationFailed(result.results?.find((r) => r.status === 'Error')?.migrationName, result.error);
  } finally {
    await lock.release();
  }
}

/** The lock of a whole run (migration-lock.ts), waiting as long as this database's target says. */
async function migrationLock(db: Db): Promise<MigrationLock> {
  const pg = schemas.get(db);
  if (pg !== undefined) return acquirePostgresMigrationLock(pg.target, pg.target.migrationLockWaitMs ?? MIGRATION_LOCK_WAIT_MS);
  const file = sqliteFiles.get(db);
  return file === undefined ? { check: () => undefined, release: async () => undefined } : acquireSqliteMigrationLock(file.path, file.waitMs);
}

/**
 * `casegate migrate --dry-run`: the migrations an upgrade would apply, in order, without applying
 * any, taking no lock and creating nothing. Throws DatabaseTooNew like migrateToLatest.
 */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const executed = new Set(await executedMigrations(db, schemas.get(db)?.schema));
  const unknown = [...executed].filter((name) => !(name in MIGRATIONS)).sort();
  if (unknown.length > 0) throw new DatabaseTooNew(unknown);
  return Object.keys(MIGRATIONS).filter((name) => !executed.has(name));
}

/** The names in the migration table; none when it is not there yet (a new database). */
async function executedMigrations(db: Db, schema: string | undefined): Promise<string[]> {
  const table = schema !== undefined ? sql.id(schema, MIGRATION_TABLE) : sql.id(MIGRATION_TABLE);
  try {
    return (await sql<{ name: string }>`select name from ${table}`.execute(db)).rows.map((r) => r.name);
  } catch (err) {
    // One statement instead of the migrator's two (does the table exist, then read it): every command opens the database.
    const code = (err as { code?: unknown } | null)?.code;
    if (code === '42P01' || code === '3F000' || (code === 'SQLITE_ERROR' && /no such table/.test((err as Error).message))) return [];
    throw err;
  }
}

/** The database was migrated by a newer version of casegate: this one refuses to use it. */
export class DatabaseTooNew extends Error {
  override readonly name = 'DatabaseTooNew';
  constructor(readonly unknown: readonly string[]) {
    super(
      `the database was upgraded by a newer version of casegate (migration(s) ${unknown.join(', ')}, unknown to this one); this version does not work on it. ` +
        'Run the newer version, or go back through the backup taken before that upgrade (docs/operating.md#upgrades)',
    );
  }
}

/** A migration's error, with its name (the cause is the server's error). */
class MigrationFailed extends Error {
  /** `migration <name>`, the wait for another process's migration, or the migrator's own tables (created before the first migration runs). */
  readonly what: string;
  constructor(migration: string | undefined, cause: unknown, committed: readonly string[] = []) {
    // Before any migration ran: the lock (another process migrating) or the migrator's own tables.
    const code = (cause as { code?: unknown } | null)?.code;
    const locked = code === '55P03' || code === 'SQLITE_BUSY';
    const what = migration !== undefined ? `migration ${migration}` : locked ? 'waiting for another process that migrates the database' : 'creating the migration tables';
    // The ones before it stay applied: the admin knows the next run resumes, not starts over.
    const kept = committed.length > 0 ? ` (${committed.length} migration(s) before it, up to ${committed.at(-1)}, are applied and stay; the next run resumes with ${migration ?? 'the next one'})` : '';
    super(`${what} failed: ${cause instanceof Error ? cause.message : String(cause)}${kept}`, { cause });
    this.what = what;
  }
}

function migratorFor(db: Db, schema: string | undefined, provider: MigrationProvider): Migrator {
  return new Migrator({
    db,
    provider,
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
    // PostgreSQL: the migration tables of this schema, not a namesake in another one.
    ...(schema !== undefined ? { migrationTableSchema: schema } : {}),
  });
}

async function migrate(db: Db, schema: string | undefined, opts: MigrateOptions): Promise<MigrateResult> {
  const provider = new StaticMigrationProvider(opts.onProgress);
  const migrator = migratorFor(db, schema, provider);
  // Up to date (the common case): decided by reading, so a command never waits for the lock
  // another process holds just to find nothing to do.
  // A newer casegate upgraded this database (a package rolled back, a host not upgraded with the
  // others): this version does not know its tables and columns — it would write rows without what
  // the newer code reads, or fail on every query it changed. Refused before anything runs.
  const pending = await pendingMigrations(db);
  if (pending.length === 0) return { applied: [] };
  // A year of history takes minutes (0025 indexes every message): say what runs, so nobody takes
  // a silent upgrade for a hung one and kills it.
  opts.onProgress?.({ kind: 'pending', pending });
  const heartbeat =
    opts.onProgress === undefined
      ? undefined
      : setInterval(() => {
          const now = provider.current;
          if (now !== null) opts.onProgress?.({ kind: 'running', migration: now.name, seconds: Math.round((performance.now() - now.started) / 1000) });
        }, opts.heartbeatMs ?? 30_000);
  const applied: string[] = [];
  try {
    let lock: MigrationLock;
    try {
      lock = await migrationLock(db);
    } catch (err) {
      throw new MigrationFailed(undefined, err);
    }
    try {
      // One migration per transaction, each committed when done: at 1,000,000 messages on
      // PostgreSQL the locks an early migration takes (cases, messages, outbox …) were held
      // through the last one's minutes, and a failure or kill at the end threw all of it away.
      // Each step reads what is applied inside its transaction; the lock keeps others out between steps.
      // A new database: nothing to keep from a half-done run, and its migrations take milliseconds —
      // in one transaction they cost a third of the statements (behind a busy pooler, a third of the wait).
      const fresh = pending.length === Object.keys(MIGRATIONS).length;
      for (;;) {
        lock.check();
        const result = fresh ? await migrator.migrateToLatest() : await migrator.migrateUp();
        if (result.error !== undefined) throw new MigrationFailed(result.results?.find((r) => r.status === 'Error')?.migrationName, result.error, applied);
        const done = (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
        applied.push(...done);
        if (done.length === 0 || fresh) break;
      }
    } finally {
      await lock.release();
    }
  } finally {
    clearInterval(heartbeat);
  }
  return { applied };
}
