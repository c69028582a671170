import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT } from './cli.js';

/**
 * Another OS process holding the SQLite write lock (BEGIN IMMEDIATE through better-sqlite3), the
 * way a CLI command or a backup tool would: `locked` resolves once it holds the lock, `released`
 * once it committed and exited (after holdMs, or at release()).
 */
export interface DbLocker {
  readonly child: ChildProcess;
  readonly locked: Promise<void>;
  readonly released: Promise<void>;
  /** When the lock was taken / given back (Date.now()). */
  readonly times: { lockedAt: number | null; releasedAt: number | null };
  release(): void;
}

const SCRIPT = `
const Database = require('better-sqlite3');
const db = new Database(process.argv[1], { timeout: 60000 });
db.exec('BEGIN IMMEDIATE');
process.stdout.write('locked\\n');
const done = () => { db.exec('COMMIT'); db.close(); process.stdout.write('released\\n'); process.exit(0); };
setTimeout(done, Number(process.argv[2]));
process.stdin.on('data', done);
`;

/** `as`: run the locker as another user (uid/gid), e.g. the owner of a data directory a pipe writes. */
export function lockDatabase(dbPath: string, holdMs: number, as?: { readonly uid: number; readonly gid: number }): DbLocker {
  const child = spawn(process.execPath, ['-e', SCRIPT, dbPath, String(holdMs)], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'], ...(as ?? {}) });
  const times: DbLocker['times'] = { lockedAt: null, releasedAt: null };
  let out = '';
  let err = '';
  let onLocked: () => void = () => undefined;
  let onReleased: () => void = () => undefined;
  const locked = new Promise<void>((resolve, reject) => {
    onLocked = resolve;
    child.once('exit', (code) => reject(new Error(`locker exited (${code}) before locking: ${err}`)));
  });
  const released = new Promise<void>((resolve) => {
    onReleased = resolve;
  });
  locked.catch(() => undefined);
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    if (times.lockedAt === null && out.includes('locked\n')) {
      times.lockedAt = Date.now();
      onLocked();
    }
    if (times.releasedAt === null && out.includes('released\n')) {
      times.releasedAt = Date.now();
    }
  });
  child.once('exit', () => {
    times.releasedAt ??= Date.now();
    onReleased();
  });
  return {
    child,
    locked,
    released,
    times,
    release() {
      child.stdin!.write('go\n');
    },
  };
}
