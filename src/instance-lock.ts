import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { createPrivateDir, ensurePrivateFile, PRIVATE_FILE_MODE } from './storage/private-files.js';

/**
 * One daemon per database (SQLite backend): an exclusive lock that the operating system drops
 * when the process ends, however it ends (kill -9 included), so there is never a stale lock.
 *
 * The lock is a small SQLite file beside the database (`<database>.lock`) opened with
 * `locking_mode = EXCLUSIVE` and a write transaction held for the life of the process: SQLite
 * holds an fcntl lock on it, which the kernel releases with the process. A second daemon (or a
 * second start in the same process) gets SQLITE_BUSY at once. Beside it, `<database>.pid` names
 * the holder for the error message; it is informational only (a leftover one is simply overwritten).
 *
 * One-shot commands (ingest, cases, status, outbox …) never take it: they work beside a running
 * daemon. (The PostgreSQL backend will replace this with leases so several daemons share work.)
 */

export class InstanceLockedError extends Error {
  override readonly name = 'InstanceLockedError';
  constructor(
    readonly database: string,
    readonly holderPid: number | null,
    readonly lockPath: string,
  ) {
    super(
      `another casegate daemon${holderPid !== null ? ` (PID ${holderPid})` : ''} is already running on ${database}; not starting. ` +
        `Stop it first${holderPid !== null ? ` (kill ${holderPid})` : ''}, or give this one its own dataDir / database.path. Lock: ${lockPath}`,
    );
  }
}

export interface InstanceLock {
  readonly lockPath: string;
  readonly pidPath: string;
  release(): void;
}

export function lockPathsFor(dbPath: string): { lockPath: string; pidPath: string } {
  return { lockPath: `${dbPath}.lock`, pidPath: `${dbPath}.pid` };
}

/** Read the holder's PID from the pid file (null when missing or unreadable). */
export function readHolderPid(pidPath: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(pidPath, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Whether a process with this PID exists (EPERM: it does, under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Take the lock or throw InstanceLockedError naming the holder. */
export function acquireInstanceLock(dbPath: string): InstanceLock {
  const { lockPath, pidPath } = lockPathsFor(dbPath);
  // The database's directory, made here first when it is new: private like the data directory (storage/private-files.ts).
  createPrivateDir(dirname(lockPath));
  // Made 0600 before SQLite opens it (SQLite would make it 0644 under a umask of 022: sudo, root's shell).
  ensurePrivateFile(lockPath);
  const db = new SQLite(lockPath, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER)');
  } catch (err) {
    db.close();
    const code = (err as { code?: unknown } | null)?.code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') throw new InstanceLockedError(dbPath, readHolderPid(pidPath), lockPath);
    throw err;
  }
  const tmp = `${pidPath}.${process.pid}.tmp`;
  writeFileSync(tmp, `${process.pid}\n`, { mode: PRIVATE_FILE_MODE });
  renameSync(tmp, pidPath);
  let released = false;
  return {
    lockPath,
    pidPath,
    release() {
      if (released) return;
      released = true;
      if (readHolderPid(pidPath) === process.pid) rmSync(pidPath, { force: true });
      try {
        db.exec('ROLLBACK');
      } finally {
        db.close();
      }
    },
  };
}
