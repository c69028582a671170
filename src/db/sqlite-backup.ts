import SQLite from 'better-sqlite3';
import { SYNC_BUSY_TIMEOUT_MS } from './sqlite-dialect.js';

/**
 * SQLite only (beside the dialect, the one other module that speaks SQLite itself): a consistent
 * copy of a live database. `VACUUM INTO` reads the whole database inside ONE read transaction —
 * in WAL mode a snapshot that writers (the running daemon) neither block nor disturb — and writes
 * a compact, self-contained file (no -wal). Everything committed before it started is in the copy,
 * nothing committed later is. The PostgreSQL backend (issue 15) will use pg_dump instead.
 *
 * Run on its own read-only connection: Kysely's dialect would wrap the statement in BEGIN
 * IMMEDIATE (VACUUM refuses to run inside a transaction) and would take the write lock for nothing.
 */
export function snapshotDatabase(dbPath: string, dest: string): void {
  const db = new SQLite(dbPath, { readonly: true, fileMustExist: true, timeout: SYNC_BUSY_TIMEOUT_MS });
  try {
    db.prepare('VACUUM INTO ?').run(dest);
  } finally {
    db.close();
  }
}

/** `PRAGMA integrity_check` of a database file: [] when it is sound, else SQLite's findings. */
export function integrityProblems(path: string): string[] {
  const db = new SQLite(path, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('PRAGMA integrity_check').all() as { integrity_check: string }[];
    const found = rows.map((r) => r.integrity_check);
    return found.length === 1 && found[0] === 'ok' ? [] : found;
  } finally {
    db.close();
  }
}
