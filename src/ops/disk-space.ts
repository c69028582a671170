import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ResolvedPaths } from '../config/load.js';
import type { Logger } from '../log.js';
import type { Telemetry } from '../telemetry.js';

/**
 * Free space where casegate writes (the database, raw mail and attachments): the health check
 * `disk` (health.ts) and the loud line when a write fails because the disk is full. Read with
 * statfs (no write needed, so it works on a full disk): the space an unprivileged process may
 * still use (f_bavail), and the free inodes — the blob store writes a file for every raw
 * message and attachment, so a file system of small files can run out of inodes with gigabytes
 * free. A user's disk quota does not show in statfs: a write refused with EDQUOT (or for space
 * while statfs shows plenty) is described as what it is.
 */

export interface DiskSpace {
  readonly dir: string;
  readonly freeBytes: number;
  readonly totalBytes: number;
  /** Free inodes; null when the file system does not count them (btrfs, some network file systems). */
  readonly freeInodes: number | null;
  readonly totalInodes: number | null;
}

/** Below this a disk counts as full (not even a small message fits), whatever ops.minFreeDiskMB says. */
export const FULL_BELOW_BYTES = 64 * 1024;
/** Below this many free inodes a disk counts as full: a message needs a file or two. */
export const FULL_BELOW_INODES = 16;
/** Below this share of free inodes a disk counts as nearly full. */
export const NEARLY_FULL_INODE_SHARE = 0.01;

/** Whether this file system is full: no room for a small message, or no inode for its files. */
export function fullBy(space: DiskSpace): 'bytes' | 'inodes' | null {
  if (space.freeInodes !== null && space.freeInodes < FULL_BELOW_INODES) return 'inodes';
  return space.freeBytes < FULL_BELOW_BYTES ? 'bytes' : null;
}

/** The directories casegate writes to (one per distinct path; a missing one is left out). */
export async function diskSpaceOf(paths: Pick<ResolvedPaths, 'dataDir' | 'dbPath' | 'blobDir'>): Promise<DiskSpace[]> {
  const dirs = [...new Set([paths.dataDir, paths.blobDir, ...(paths.dbPath.startsWith('/') ? [dirname(paths.dbPath)] : [])])];
  const out: DiskSpace[] = [];
  for (const dir of dirs) {
    try {
      const s = await statfs(dir);
      const counted = s.files > 0;
      out.push({ dir, freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize, freeInodes: counted ? s.ffree : null, totalInodes: counted ? s.files : null });
    } catch {
      // Not there (yet), or not a local path: nothing to say about it.
    }
  }
  return out;
}

/** Whether an error says the disk (or the quota) is full: a retry, and the operator must know. */
export function isDiskFull(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (/^(ENOSPC|EDQUOT|SQLITE_FULL)/.test(code)) return true;
  return typeof e?.message === 'string' && /\b(ENOSPC|EDQUOT|SQLITE_FULL)\b|database or disk is full|no space left on device/i.test(e.message);
}

/**
 * What a write refused for space ran into, for the fullest of these file systems: "disk full: 0
 * bytes free on /var/lib/casegate"; "disk full: no free inodes on … (3 of 65536 left; 2.1 GB
 * free)"; for EDQUOT "disk quota full …" (statfs cannot see a quota: the free space it shows is
 * the file system's). `code`: the refused write's error code, when known.
 */
export function describeFull(space: readonly DiskSpace[], code?: string | null): string {
  const worst = [...space].sort((a, b) => a.freeBytes - b.freeBytes)[0];
  if (code === 'EDQUOT') {
    const where = worst === undefined ? '' : `: the file system shows ${worst.freeBytes} bytes free on ${worst.dir}, so a disk quota of the user casegate runs as (or of its group or project) is used up — check it with quota(1) or your storage's tools`;
    return `disk quota full (EDQUOT)${where}`;
  }
  const byInodes = space.find((d) => fullBy(d) === 'inodes');
  if (byInodes !== undefined) return `disk full: no free inodes on ${byInodes.dir} (${byInodes.freeInodes} of ${byInodes.totalInodes} left; ${byInodes.freeBytes} bytes free)`;
  return worst === undefined ? 'disk full' : `disk full: ${worst.freeBytes} bytes free on ${worst.dir}`;
}

/** The code of a write refused for space (ENOSPC, EDQUOT, SQLITE_FULL …), from the error or its message. */
export function fullCode(err: unknown): string | null {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const own = /^(ENOSPC|EDQUOT|SQLITE_FULL)/.exec(code)?.[1];
  if (own !== undefined) return own;
  const said = typeof e?.message === 'string' ? /\b(ENOSPC|EDQUOT|SQLITE_FULL)\b/.exec(e.message)?.[1] : undefined;
  return said ?? null;
}

/**
 * The one line (error level: someone must free space) for a message a channel could not even
 * spool because the disk is full: its outcome is `retry` (451/452, exit 75, left in the IMAP
 * folder), nothing is recorded and nothing is lost. Returns the "disk full: …" text.
 */
export async function reportDiskFullRetry(
  deps: { readonly paths: Pick<ResolvedPaths, 'dataDir' | 'dbPath' | 'blobDir'>; readonly log: Logger; readonly telemetry: Telemetry },
  where: { readonly channel: string; readonly mailbox: string | null },
  err: unknown,
): Promise<string> {
  const full = describeFull(await diskSpaceOf(deps.paths).catch(() => []), fullCode(err));
  const code = (err as { code?: unknown } | null)?.code;
  deps.log.error(
    { component: 'pipeline', ...where, outcome: 'retry', reason: full, code: typeof code === 'string' ? code : null, diskFull: full },
    `message retry: ${full}; it is kept for a later attempt — free space on the disk`,
  );
  deps.telemetry.messageOutcome({ mailbox: where.mailbox ?? '', channel: where.channel, outcome: 'retry', seconds: 0 });
  return full;
}
