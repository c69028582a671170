import SQLite from 'better-sqlite3';
import { createPostgresPool, type PostgresTarget } from './dialect-postgres.js';
import { ensurePrivateFile } from '../storage/private-files.js';

/**
 * The migration lock, held by the process that upgrades the database from before its first
 * migration until after its last. Each migration is a transaction of its own (committed when it is
 * done: a failed or killed upgrade resumes from the one it stopped at); this lock keeps every other
 * process out for the whole run, so none begins a migration in between — the next one, under an
 * MTA's time limit, or one of its own — and none that waits for it sees anything before the run ends:
 * it then reads what is applied again and finds nothing left to do. The operating system (SQLite)
 * or the server (PostgreSQL) drops it when its process dies, however it dies.
 *
 *  - SQLite: a write transaction on a small file beside the database (`<database>.migrate-lock`),
 *    like the daemon's instance lock (instance-lock.ts): SQLite holds an fcntl lock on it, which
 *    the kernel releases with the process. The database's own write lock is free between two
 *    migrations, so it cannot be the lock of the whole run.
 *  - PostgreSQL: an advisory transaction lock of the schema (migrationLockKey), taken in a
 *    transaction of its own on a connection of its own, idle until the run ends. A transaction
 *    lock, not a session lock: behind a pooler that hands out server connections per transaction a
 *    session lock could be released on another server session and missed (dialect-postgres.ts).
 *    One per schema: casegate used Kysely's one id for the whole database, so the upgrade of one
 *    instance (minutes at a year of mail) held up every other instance sharing the database
 *    (`database.schema`) that had a migration to run — its piped mail exited 75 until it ended.
 *    (A casegate of an earlier version takes that id instead; it has nothing left to migrate on a
 *    database this version migrates, having known fewer migrations.)
 */
export interface MigrationLock {
  /** Throws when the lock was lost (its PostgreSQL session ended): no migration may start without it. */
  check(): void;
  release(): Promise<void>;
}

/** The advisory lock of a schema's migrations: (Kysely's id's upper half, FNV-1a of the schema name), the two-int form. */
export function migrationLockKey(schema: string): readonly [number, number] {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(schema, 'utf8')) h = Math.imul(h ^ byte, 0x01000193);
  return [897169763, h | 0];
}

/** The lock could not be had within the wait (code as SQLite's and PostgreSQL's own: MigrationFailed names the wait). */
export class MigrationLockBusy extends Error {
  override readonly name = 'MigrationLockBusy';
  readonly code = 'SQLITE_BUSY';
  constructor(waitedMs: number, where: string) {
    super(`another process holds the migration lock (${where}); waited ${waitedMs} ms`);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `<database>.migrate-lock`: the file whose write lock is the migration lock of an SQLite database. */
export function migrationLockPath(dbPath: string): string {
  return `${dbPath}.migrate-lock`;
}

/** SQLite: take the lock, waiting (asynchronously, polling) up to waitMs for another process's run. */
export async function acquireSqliteMigrationLock(dbPath: string, waitMs: number): Promise<MigrationLock> {
  if (dbPath === ':memory:') return { check: () => undefined, release: async () => undefined };
  const path = migrationLockPath(dbPath);
  ensurePrivateFile(path);
  const started = performance.now();
  let delay = 5;
  let lock: SQLite.Database;
  for (;;) {
    // A connection per attempt: in EXCLUSIVE locking mode a connection keeps every file lock it got,
    // also the shared lock of an attempt that failed — two waiters then blocked each other (and the
    // next run) until both gave up, seen with four processes racing to migrate a new database.
    const attempt = new SQLite(path, { timeout: 0 });
    try {
      attempt.pragma('locking_mode = EXCLUSIVE');
      attempt.exec('BEGIN EXCLUSIVE');
      attempt.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER)');
      lock = attempt;
      break;
    } catch (err) {
      attempt.close();
      const code = (err as { code?: unknown } | null)?.code;
      if (code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') throw err;
      const waited = performance.now() - started;
      if (waited >= waitMs) throw new MigrationLockBusy(Math.round(waited), path);
      await sleep(Math.min(delay, Math.max(1, waitMs - waited)));
      delay = Math.min(delay * 2, 100);
    }
  }
  return {
    check: () => undefined,
    release: async () => {
      try {
        lock.exec('ROLLBACK');
      } finally {
        lock.close();
      }
    },
  };
}

/**
 * PostgreSQL: take the lock on a connection of its own (a pool of one, apart from the database's:
 * a pool of two would otherwise have one left for the migrations), waiting up to waitMs.
 */
export async function acquirePostgresMigrationLock(target: PostgresTarget, waitMs: number): Promise<MigrationLock> {
  const pool = createPostgresPool({ ...target, poolSize: 1, applicationName: `${target.applicationName ?? 'casegate'} (migration lock)` });
  let lost: Error | null = null;
  let client;
  try {
    client = await pool.connect();
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  const held = client;
  held.on('error', (err: Error) => {
    lost ??= err;
  });
  held.on('end', () => {
    lost ??= new Error('its connection ended');
  });
  try {
    await held.query('begin');
    // Idle in its transaction for as long as the upgrade takes: a DBA's idle-in-transaction
    // timeout for the role would end the session, and the lock with it, in the middle of the run.
    await held.query(`select set_config('idle_in_transaction_session_timeout', '0', true)`);
    // A process killed while it waits for another's run leaves no session waiting in the queue (PostgreSQL 14+).
    await held.query(`select set_config('client_connection_check_interval', '1000', true) where current_setting('server_version_num')::int >= 140000`);
    // The wait for another process's run is bounded by lock_timeout (waitMs), not by a statement_timeout the DBA gave the role.
    await held.query(`select set_config('statement_timeout', '0', true)`);
    await held.query(`select set_config('lock_timeout', $1, true)`, [String(Math.max(1, Math.round(waitMs)))]);
    await held.query('select pg_advisory_xact_lock($1::int, $2::int)', [...migrationLockKey(target.schema)]);
  } catch (err) {
    held.release(true);
    await pool.end().catch(() => undefined);
    throw err;
  }
  return {
    check: () => {
      if (lost !== null) throw new Error(`the migration lock was lost: ${lost.message}`);
    },
    release: async () => {
      try {
        if (lost === null) await held.query('rollback');
      } finally {
        held.release(lost !== null);
        await pool.end().catch(() => undefined);
      }
    },
  };
}
