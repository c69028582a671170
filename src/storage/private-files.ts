import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';

/**
 * Mail is personal data: everything casegate writes under its data directory (database, raw mail,
 * attachments, outgoing .eml) is readable by the service user only, whatever the umask. A mode
 * given at creation can only lose bits to the umask, never gain them, so creating with these
 * modes is enough for new files; existing ones are tightened where casegate owns them.
 */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** Create the directory (and missing parents) 0700; tighten it when it already exists with wider rights. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  tighten(dir, PRIVATE_DIR_MODE);
}

/** Create the directory (and missing parents) 0700; an existing one is left as it is. */
export function createPrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/** Create an empty file 0600 unless it exists; tighten it when it exists with wider rights. */
export function ensurePrivateFile(file: string): void {
  closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
  tighten(file, PRIVATE_FILE_MODE);
}

/**
 * Tighten a file casegate created earlier (before this rule existed), if it is there. It may go
 * at any moment: SQLite's -wal and -shm files are removed by whichever process closes the last
 * connection (a CLI command finishing beside this one), so a file that vanishes meanwhile is no
 * error — a command that found one and then stat-ed it failed with ENOENT.
 */
export function tightenIfExists(file: string): void {
  tighten(file, PRIVATE_FILE_MODE, true);
}

function tighten(path: string, mode: number, mayVanish = false): void {
  const st = statSync(path, { throwIfNoEntry: !mayVanish });
  if (st === undefined || (st.mode & 0o777 & ~mode) === 0) return;
  // Not ours (a directory the admin prepared, owned by someone else): leave it; the admin decides.
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) return;
  try {
    chmodSync(path, st.mode & 0o777 & mode);
  } catch (err) {
    if (!(mayVanish && (err as NodeJS.ErrnoException).code === 'ENOENT')) throw err;
  }
}
