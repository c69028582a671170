import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { packageVersion } from './version.js';
import type { AppContext } from '../context.js';
import { openDatabase } from '../db/database.js';
import { appliedMigrations, referencedBlobs, tableCounts, type CountedTable } from '../db/repos/backup.js';
import { snapshotDatabase } from '../db/sqlite-backup.js';
import { dkimDir } from '../mail-out/dkim.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../storage/private-files.js';
import type { Progress } from '../cli/progress.js';

/**
 * `casegate backup DIR` (SQLite backend): a consistent online copy while the daemon runs.
 *
 *  1. The database: VACUUM INTO (db/sqlite-backup.ts), one read snapshot — every commit before it
 *     started is in it, none after.
 *  2. The blobs every row of that snapshot names (raw messages, quarantined mail, attachments),
 *     hashed while copied: blobs are written before the commit that names them, so all are there.
 *     Orphans (a message that ended in `retry`) are left out.
 *  3. The generated secret (<dataDir>/secret), without which our signed references stop threading,
 *     and the DKIM keys of <dataDir>/dkim (`casegate dkim keygen`), whose public halves are in
 *     DNS: without them mail leaves unsigned (or needs a new record) after a restore.
 *  4. manifest.json (versions, counts, every file's SHA-256) and SHA256SUMS (`sha256sum -c`).
 *
 * Written into DIR.partial-<pid> and renamed to DIR at the end: DIR exists only when complete.
 * DIR must not exist or be empty. PostgreSQL (issue 15) needs pg_dump instead; this is SQLite only.
 */

export const MANIFEST = 'manifest.json';
export const DB_FILE = 'casegate.db';

export interface BackupManifest {
  readonly format: 'casegate-backup';
  readonly formatVersion: 1;
  readonly casegateVersion: string;
  readonly backend: 'sqlite';
  /** When the database snapshot started (UTC). */
  readonly createdAt: string;
  readonly database: { readonly file: string; readonly bytes: number; readonly migrations: readonly string[]; readonly counts: Readonly<Record<CountedTable, number>> };
  readonly blobs: { readonly count: number; readonly bytes: number };
  /** Whether <dataDir>/secret is in the backup (a configured instance.secret lives in the configuration). */
  readonly secret: boolean;
  /** How many DKIM keys of <dataDir>/dkim are in the backup (as dkim/<domain>.<selector>.pem; absent in backups before 2026-12-06). */
  readonly dkimKeys?: number;
  /**
   * Blobs the database names that could not be backed up: gone from the data directory, or no
   * longer holding the bytes they were stored with (absent when every blob was there).
   */
  readonly unreadableBlobs?: { readonly missing: readonly string[]; readonly damaged: readonly string[] };
  /** Relative path → SHA-256 of every file but the manifest itself. */
  readonly files: Readonly<Record<string, string>>;
}

export class BackupError extends Error {
  override readonly name = 'BackupError';
}

/** Hashes what flows through (and checks it against `expect` when given). */
export class HashCheck extends Transform {
  readonly #hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
  digest(): string {
    return this.#hash.digest('hex');
  }
}

/** Copy a file, returning its SHA-256 and size. */
export async function copyHashed(from: string, to: string): Promise<{ sha256: string; bytes: number }> {
  await mkdir(dirname(to), { recursive: true, mode: PRIVATE_DIR_MODE });
  const check = new HashCheck();
  await pipeline(createReadStream(from), check, createWriteStream(to, { mode: PRIVATE_FILE_MODE, flags: 'wx' }));
  return { sha256: check.digest(), bytes: check.bytes };
}

export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}



/** Where a backup keeps the DKIM keys: dkim/<domain>.<selector>.pem. */
export const DKIM_PREFIX = 'dkim/';
/** A DKIM key's name in the data directory and in a backup (one file name: nothing that leaves the folder). */
export const DKIM_KEY_NAME = /^[a-z0-9][a-z0-9.-]*\.pem$/;

/** The key files of <dataDir>/dkim (temporary and hidden files left out). */
function dkimKeyFiles(dataDir: string): string[] {
  try {
    return readdirSync(dkimDir(dataDir), { withFileTypes: true })
      .filter((e) => e.isFile() && DKIM_KEY_NAME.test(e.name))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

/** A directory that may be used as a target: missing, or empty. */
export function isMissingOrEmpty(dir: string): boolean {
  return !existsSync(dir) || readdirSync(dir).length === 0;
}

export interface BackupResult {
  readonly dir: string;
  readonly manifest: BackupManifest;
  readonly seconds: number;
}

/** What `casegate backup` / `restore` answer on PostgreSQL: its own tools do it better (point-in-time, online, parallel). */
export const POSTGRES_BACKUP =
  'casegate backup and restore copy a SQLite database; on PostgreSQL back up the database with pg_dump (or your PostgreSQL backups) and the blob directory with rsync, plus the instance secret and the DKIM keys of <dataDir>/dkim (docs/operating.md)';

export async function createBackup(ctx: AppContext, target: string, progress: (total: number) => Progress): Promise<BackupResult> {
  if (ctx.config.database.driver !== 'sqlite') throw new BackupError(POSTGRES_BACKUP);
  if (ctx.paths.dbPath === ':memory:') throw new BackupError('the database is in memory: nothing to back up');
  const dir = resolve(target);
  if (!isMissingOrEmpty(dir)) throw new BackupError(`${dir} exists and is not empty: give a new directory`);
  const started = performance.now();
  const tmp = `${dir}.partial-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true, mode: PRIVATE_DIR_MODE });
  try {
    const createdAt = ctx.clock.now().toISOString();
    snapshotDatabase(ctx.paths.dbPath, join(tmp, DB_FILE));
    const snap = openDatabase({ path: join(tmp, DB_FILE) });
    let blobs: string[];
    let counts: Record<CountedTable, number>;
    let migrations: string[];
    try {
      blobs = (await referencedBlobs(snap)).sort();
      counts = await tableCounts(snap);
      migrations = await appliedMigrations(snap);
    } finally {
      await snap.destroy();
    }
    const files: Record<string, string> = {};
    const bar = progress(blobs.length);
    let blobBytes = 0;
    const missing: string[] = [];
    const corrupt: string[] = [];
    for (const sha of blobs) {
      const rel = join('blobs', sha.slice(0, 2), sha.slice(2, 4), sha);
      try {
        const copied = await copyHashed(ctx.blobs.pathFor(sha), join(tmp, rel));
        if (copied.sha256 !== sha) {
          // Its bytes are not what was stored: left out (a restore would only carry the damage on).
          corrupt.push(sha);
          await rm(join(tmp, rel), { force: true });
        } else {
          files[rel] = copied.sha256;
          blobBytes += copied.bytes;
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        missing.push(sha);
      }
      bar.tick();
    }
    bar.stop();
    // A damaged blob (a disk error, a hand-made deletion) is named, never a reason to back up
    // nothing: the database, the other blobs, the secret and the keys are what a restore needs.
    const unreadable = missing.length > 0 || corrupt.length > 0 ? { missing, damaged: corrupt } : undefined;
    const secretFile = join(ctx.paths.dataDir, 'secret');
    const secret = existsSync(secretFile);
    if (secret) files['secret'] = (await copyHashed(secretFile, join(tmp, 'secret'))).sha256;
    const keys = dkimKeyFiles(ctx.paths.dataDir);
    for (const name of keys) files[`${DKIM_PREFIX}${name}`] = (await copyHashed(join(dkimDir(ctx.paths.dataDir), name), join(tmp, DKIM_PREFIX, name))).sha256;
    files[DB_FILE] = await hashFile(join(tmp, DB_FILE));
    const manifest: BackupManifest = {
      format: 'casegate-backup',
      formatVersion: 1,
      casegateVersion: packageVersion(),
      backend: 'sqlite',
      createdAt,
      database: { file: DB_FILE, bytes: (await stat(join(tmp, DB_FILE))).size, migrations, counts },
      blobs: { count: blobs.length - missing.length - corrupt.length, bytes: blobBytes },
      ...(unreadable !== undefined ? { unreadableBlobs: unreadable } : {}),
      secret,
      dkimKeys: keys.length,
      files,
    };
    await writeFile(join(tmp, MANIFEST), JSON.stringify(manifest, null, 2) + '\n', { mode: PRIVATE_FILE_MODE });
    await writeFile(
      join(tmp, 'SHA256SUMS'),
      Object.entries(files)
        .map(([f, h]) => `${h}  ${f}\n`)
        .join(''),
      { mode: PRIVATE_FILE_MODE },
    );
    if (existsSync(dir)) await rmdir(dir);
    await rename(tmp, dir);
    return { dir, manifest, seconds: (performance.now() - started) / 1000 };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

export async function readManifest(dir: string): Promise<BackupManifest> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST), 'utf8');
  } catch {
    throw new BackupError(`${dir} has no ${MANIFEST}: not a casegate backup`);
  }
  const m = JSON.parse(text) as Partial<BackupManifest>;
  if (m.format !== 'casegate-backup' || m.formatVersion !== 1 || m.files === undefined || m.database === undefined) throw new BackupError(`${join(dir, MANIFEST)} is not a casegate backup manifest (format 1)`);
  if (m.backend !== 'sqlite') throw new BackupError(`the backup is of a ${String(m.backend)} database; this restore is for SQLite`);
  return m as BackupManifest;
}
