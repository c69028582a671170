import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ResolvedPaths } from '../config/load.js';
import type { Logger } from '../log.js';
import type { Telemetry } from '../telemetry.js';

/**
 * Free space where casegate writes (the database, raw mail and attachments): the health check
 * `disk` (health.ts) and the loud line when a write fails because the disk is full. Read with
 * statfs (no write needed, so it works on a full disk): the space an unprivileged process may
 * still use (f_bavail).
 */

export interface DiskSpace {
  readonly dir: string;
  readonly freeBytes: number;
  readonly totalBytes: number;
}

/** Below this a disk counts as full (not even a small message fits), whatever ops.minFreeDiskMB says. */
export const FULL_BELOW_BYTES = 64 * 1024;

/** The directories casegate writes to (one per distinct path; a missing one is left out). */
export async function diskSpaceOf(paths: Pick<ResolvedPaths, 'dataDir' | 'dbPath' | 'blobDir'>): Promise<DiskSpace[]> {
  const dirs = [...new Set([paths.dataDir, paths.blobDir, ...(paths.dbPath.startsWith('/') ? [dirname(paths.dbPath)] : [])])];
  const out: DiskSpace[] = [];
  for (const dir of dirs) {
    try {
      const s = await statfs(dir);
      out.push({ dir, freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize });
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

/** "disk full: 0 bytes free on /var/lib/casegate" for the fullest of these. */
export function describeFull(space: readonly DiskSpace[]): string {
  const worst = [...space].sort((a, b) => a.freeBytes - b.freeBytes)[0];
  return worst === undefined ? 'disk full' : `disk full: ${worst.freeBytes} bytes free on ${worst.dir}`;
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
  const full = describeFull(await diskSpaceOf(deps.paths).catch(() => []));
  const code = (err as { code?: unknown } | null)?.code;
  deps.log.error(
    { component: 'pipeline', ...where, outcome: 'retry', reason: full, code: typeof code === 'string' ? code : null, diskFull: full },
    `message retry: ${full}; it is kept for a later attempt — free space on the disk`,
  );
  deps.telemetry.messageOutcome({ mailbox: where.mailbox ?? '', channel: where.channel, outcome: 'retry', seconds: 0 });
  return full;
}
