import { existsSync } from 'node:fs';
import { copyFile, rename } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { ResolvedConfig } from '../config/load.js';
import { migrateToLatest, openDatabase, type Db } from '../db/database.js';
import { casesOpenedBetween, highestCaseNumber, raiseCaseNumberFloor } from '../db/repos/cases.js';
import { addEvent } from '../db/repos/events.js';
import { holdQueued, type HeldRow } from '../db/repos/outbox.js';
import { setRestoreFence } from '../db/repos/jobs.js';
import { COUNTED_TABLES, tableCounts } from '../db/repos/backup.js';
import { integrityProblems } from '../db/sqlite-backup.js';
import { acquireInstanceLock, InstanceLockedError, lockPathsFor } from '../instance-lock.js';
import { createPrivateDir, ensurePrivateDir, PRIVATE_FILE_MODE } from '../storage/private-files.js';
import { blobFile } from '../storage/blob-store.js';
import { dkimDir } from '../mail-out/dkim.js';
import type { Progress } from '../cli/progress.js';
import { BackupError, POSTGRES_BACKUP, copyHashed, DB_FILE, DKIM_KEY_NAME, DKIM_PREFIX, hashFile, isMissingOrEmpty, readManifest, type BackupManifest } from './backup.js';
import { chmod } from 'node:fs/promises';

/**
 * `casegate restore DIR`: a backup (ops/backup.ts) into the configured data directory, which must
 * be empty (or missing) — a restore never mixes with live data — and no daemon may hold the
 * instance lock of the database. Every file is checked against the manifest's SHA-256 before
 * anything is written; after the copy the database must pass `PRAGMA integrity_check` and hold the
 * manifest's row counts. Then it is migrated to this version's schema, and the case numbering is
 * moved past the numbers the lost instance may have handed out after the backup (skipLostCaseNumbers),
 * and the emails that waited in its outbox are held (holdBackupOutbox) unless `sendQueued`.
 */

export interface RestoreOptions {
  /** Send the emails that waited in the backup's outbox, as if nothing had happened (default: hold them). */
  readonly sendQueued?: boolean;
}

export interface RestoreResult {
  readonly dataDir: string;
  readonly manifest: BackupManifest;
  /** The number the next new case gets (past the numbers the lost instance may have handed out after the backup); 0: cases.firstNumber. */
  readonly nextCaseNumber: number;
  /** The emails that waited in the backup's outbox, now `failed` for the admin to send or drop (none with sendQueued). */
  readonly held: readonly HeldRow[];
  readonly seconds: number;
}

export async function restoreBackup(resolved: ResolvedConfig, source: string, progress: (label: string, total: number) => Progress, opts: RestoreOptions = {}): Promise<RestoreResult> {
  if (resolved.config.database.driver !== 'sqlite') throw new BackupError(POSTGRES_BACKUP);
  const started = performance.now();
  const dir = resolve(source);
  const manifest = await readManifest(dir);
  const { dataDir, dbPath, blobDir } = resolved.paths;
  if (dbPath === ':memory:') throw new BackupError('database.path is :memory:: nothing to restore into');
  // A daemon on this database: refused before anything else (its lock file is the proof).
  const { lockPath } = lockPathsFor(dbPath);
  if (existsSync(lockPath)) {
    try {
      acquireInstanceLock(dbPath).release();
    } catch (err) {
      if (err instanceof InstanceLockedError) throw new BackupError(`a casegate daemon${err.holderPid !== null ? ` (PID ${err.holderPid})` : ''} is running on ${dbPath}: stop it first`);
      throw err;
    }
  }
  if (!isMissingOrEmpty(dataDir)) throw new BackupError(`the data directory ${dataDir} is not empty: restore only into an empty (or new) data directory`);
  if (existsSync(dbPath)) throw new BackupError(`${dbPath} exists: restore only where there is no database yet`);

  // Every file against its checksum first: a damaged backup writes nothing.
  const entries = Object.entries(manifest.files);
  const check = progress('verifying', entries.length);
  const bad: string[] = [];
  for (const [rel, sha] of entries) {
    const file = join(dir, rel);
    if (!existsSync(file) || (await hashFile(file)) !== sha) bad.push(rel);
    check.tick();
  }
  check.stop();
  if (bad.length > 0) throw new BackupError(`the backup is damaged: ${bad.length} file(s) missing or not matching the manifest (${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', …' : ''}); nothing restored`);

  ensurePrivateDir(dataDir);
  createPrivateDir(dirname(dbPath));
  const lock = acquireInstanceLock(dbPath);
  let nextCaseNumber = 0;
  let held: readonly HeldRow[] = [];
  try {
    const copy = progress('restoring', entries.length);
    for (const [rel, sha] of entries) {
      if (rel === DB_FILE) {
        const tmp = `${dbPath}.restoring-${process.pid}`;
        await copyFile(join(dir, rel), tmp);
        await chmod(tmp, PRIVATE_FILE_MODE);
        await rename(tmp, dbPath);
      } else if (rel === 'secret') {
        await copyHashed(join(dir, rel), join(dataDir, 'secret'));
      } else if (rel.startsWith(DKIM_PREFIX) && DKIM_KEY_NAME.test(rel.slice(DKIM_PREFIX.length))) {
        createPrivateDir(dkimDir(dataDir));
        await copyHashed(join(dir, rel), join(dkimDir(dataDir), rel.slice(DKIM_PREFIX.length)));
      } else if (rel.startsWith('blobs/')) {
        const copied = await copyHashed(join(dir, rel), blobFile(blobDir, sha));
        if (copied.sha256 !== sha) throw new BackupError(`${rel} changed while it was restored`);
      }
      copy.tick();
    }
    copy.stop();
    const problems = integrityProblems(dbPath);
    if (problems.length > 0) throw new BackupError(`the restored database fails its integrity check: ${problems.slice(0, 3).join('; ')}`);
    const db = openDatabase({ path: dbPath });
    try {
      const counts = await tableCounts(db);
      const differ = COUNTED_TABLES.filter((t) => counts[t] !== manifest.database.counts[t]);
      if (differ.length > 0) throw new BackupError(`the restored database does not hold the manifest's rows (${differ.map((t) => `${t} ${counts[t]} ≠ ${manifest.database.counts[t]}`).join(', ')})`);
      // A backup of an earlier version has no case-number counter yet: its migrations first (the daemon would run them at start anyway).
      try {
        await migrateToLatest(db);
      } catch (err) {
        throw new BackupError(`restored, but the database cannot be brought up to this version's schema (a backup of a newer casegate?): ${err instanceof Error ? err.message : String(err)}`);
      }
      nextCaseNumber = await skipLostCaseNumbers(db, manifest.createdAt, new Date());
      if (opts.sendQueued !== true) {
        held = await holdBackupOutbox(db, manifest.createdAt);
        // The jobs run again for the span since the backup: their customer emails for items due before now are held too (compose.ts queueEmail dueAt).
        await setRestoreFence(db, Date.now());
      }
    } finally {
      await db.destroy();
    }
  } finally {
    lock.release();
  }
  return { dataDir, manifest, nextCaseNumber, held, seconds: (performance.now() - started) / 1000 };
}

/** Numbers a restore leaves out at least, whatever the rate of new cases. */
const MIN_SKIP = 1000;

/**
 * The cases opened after the backup was taken are lost with the instance that had them, but their
 * customers still hold mail and links naming their numbers: handed out again, those would reach
 * the new customers' cases. A restore therefore moves the numbering past them: at least MIN_SKIP
 * further, or twice as many as the backup's last week's rate would have opened since the backup,
 * up to the next multiple of 1000 (easy to tell apart: 10342 → 12001). Returns the next number.
 */
async function skipLostCaseNumbers(db: Db, backupAt: string, now: Date): Promise<number> {
  const highest = await highestCaseNumber(db);
  if (highest === 0) return 0; // no case ever: cases.firstNumber applies
  const at = new Date(backupAt);
  const week = await casesOpenedBetween(db, new Date(at.getTime() - 7 * 86_400_000).toISOString(), at.toISOString());
  const days = Math.max(0, (now.getTime() - at.getTime()) / 86_400_000);
  const skip = Math.max(MIN_SKIP, Math.ceil((week / 7) * days * 2));
  const floor = Math.ceil((highest + skip) / 1000) * 1000;
  await raiseCaseNumberFloor(db, floor);
  return floor + 1;
}

/**
 * The emails that waited in the outbox when the backup was taken: the lost instance most likely
 * sent them (an outbox usually empties within seconds), but the backup cannot know. Sent again, a
 * customer would get a confirmation or an agent's answer twice; so they are held as `failed`, each
 * with an event on its case, and the admin sends them (`casegate outbox retry`) or drops them
 * (`casegate outbox cancel`) — e.g. after asking the relay's log what it took after the backup.
 */
async function holdBackupOutbox(db: Db, backupAt: string): Promise<readonly HeldRow[]> {
  const reason = `held by casegate restore: it waited in the outbox when the backup was taken (${backupAt}); the lost instance may have sent it since. Send it with casegate outbox retry, drop it with casegate outbox cancel`;
  return db.transaction().execute(async (trx) => {
    const rows = await holdQueued(trx, reason);
    const at = new Date().toISOString();
    for (const r of rows) {
      if (r.case_id === null) continue;
      await addEvent(trx, { caseId: r.case_id, type: 'email.held', actor: 'restore', reason: `${r.kind} to ${r.to_address}: held (queued when the backup of ${backupAt} was taken; it may have been sent since)`.slice(0, 500), data: { outboxId: r.id }, at });
    }
    return rows;
  });
}
