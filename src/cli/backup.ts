import type { Command } from 'commander';
import { cliActor } from '../cases/case-commands.js';
import { BackupError } from '../ops/backup.js';
import { parseSince } from './report.js';
import { print, resolved, withContext } from './shared.js';
import { startProgress } from './progress.js';

/** backup, restore, purge: the data directory's life (ops/backup.ts, ops/restore.ts, ops/purge.ts). */
export function registerBackupCommands(program: Command): void {
  program
    .command('backup')
    .description('consistent copy of the database (SQLite), the blobs it names and the secret into DIR, while the daemon runs; with manifest and checksums')
    .argument('<dir>', 'new (or empty) directory for the backup')
    .option('--json', 'print the manifest as JSON')
    .action(async (dir: string, opts: { json?: boolean }) => {
      const { createBackup } = await import('../ops/backup.js');
      await withContext(async (ctx) => {
        const r = await fail(() => createBackup(ctx, dir, (total) => startProgress('backup: blobs', total)));
        const m = r.manifest;
        print({ dir: r.dir, ...m, files: undefined, seconds: Math.round(r.seconds * 10) / 10 }, opts.json === true, () =>
          `backup written to ${r.dir} in ${r.seconds.toFixed(1)} s: database ${(m.database.bytes / 1e6).toFixed(1)} MB (${m.database.counts.cases} cases, ${m.database.counts.messages} messages, ${m.database.counts.outbox} emails), ${m.blobs.count} blobs ${(m.blobs.bytes / 1e6).toFixed(1)} MB${m.secret ? ', secret' : ''}${(m.dkimKeys ?? 0) > 0 ? `, ${m.dkimKeys} DKIM key(s)` : ''}; check with: cd ${r.dir} && sha256sum -c SHA256SUMS\n`,
        );
        const u = m.unreadableBlobs;
        if (u !== undefined) {
          const names = (list: readonly string[]): string => `${list.slice(0, 5).join(', ')}${list.length > 5 ? ', …' : ''}`;
          process.stderr.write(
            `casegate backup: the data directory is damaged — left out of the backup: ${u.missing.length} blob file(s) the database names are missing${u.missing.length > 0 ? ` (${names(u.missing)})` : ''}, ${u.damaged.length} no longer match their checksum${u.damaged.length > 0 ? ` (${names(u.damaged)})` : ''}; all of them in manifest.json (unreadableBlobs)\n`,
          );
          process.exitCode = 2;
        }
      });
    });

  program
    .command('restore')
    .description('restore a backup into the configured, empty data directory (no daemon may run); checksums verified first')
    .argument('<dir>', 'a directory written by `casegate backup`')
    .option('--send-queued', 'send the emails that waited in the outbox at backup time (default: hold them as failed; the lost instance may have sent them)')
    .option('--json', 'JSON output')
    .action(async (dir: string, opts: { sendQueued?: boolean; json?: boolean }) => {
      const { restoreBackup } = await import('../ops/restore.js');
      // Read-only: the configuration must not create a secret in the (empty) data directory first.
      const r = await fail(() => restoreBackup(resolved('deferred', { readOnly: true }), dir, (label, total) => startProgress(`restore: ${label}`, total), { sendQueued: opts.sendQueued === true }));
      const m = r.manifest;
      print({ dataDir: r.dataDir, createdAt: m.createdAt, counts: m.database.counts, blobs: m.blobs.count, nextCaseNumber: r.nextCaseNumber, held: r.held.map((h) => h.id), seconds: Math.round(r.seconds * 10) / 10 }, opts.json === true, () =>
        `restored the backup of ${m.createdAt} (casegate ${m.casegateVersion}) into ${r.dataDir} in ${r.seconds.toFixed(1)} s: ${m.database.counts.cases} cases, ${m.database.counts.messages} messages, ${m.blobs.count} blobs${(m.dkimKeys ?? 0) > 0 ? `, ${m.dkimKeys} DKIM key(s)` : ''}; all checksums verified.${r.nextCaseNumber > 0 ? ` New cases start at ${r.nextCaseNumber} (the numbers of cases opened after the backup are never given again).` : ''}${heldText(r.held.length)}${opts.sendQueued === true ? '' : JOBS_HELD_TEXT} Start the daemon.\n`,
      );
    });

  program
    .command('purge')
    .description('delete old closed cases (--closed-before DATE), everything of one requester (--requester ADDRESS, GDPR erasure) or unused blob files (--orphans); an audit event stays')
    .option('--closed-before <date>', 'closed cases closed before this date (YYYY-MM-DD or an ISO-8601 date-time, in jobs.timezone) or this long ago (90d)')
    .option('--requester <address>', 'every case this address opened, and its traces elsewhere')
    .option('--orphans', 'blob files no row names (kept back by an earlier purge, crashes, retries)')
    .option('--dry-run', 'count what would go; change nothing')
    .option('--json', 'JSON output')
    .action(async (opts: { closedBefore?: string; requester?: string; orphans?: boolean; dryRun?: boolean; json?: boolean }) => {
      const { purge, PurgeError } = await import('../ops/purge.js');
      await withContext(async (ctx) => {
        // Dates as `report --since` reads them: ISO only, in jobs.timezone, or "90d" ago.
        const before = opts.closedBefore !== undefined ? parseSince(opts.closedBefore, ctx.clock.now(), ctx.config.jobs.timezone) : undefined;
        let r;
        try {
          if (before === null) throw new PurgeError(`--closed-before takes a date (2024-01-01), a date-time (2024-01-01T08:00) or 90d, got "${opts.closedBefore}"`);
          // An erasure of a mistyped address would find nothing and say "removed: 0 case(s)".
          if (opts.requester !== undefined && !/^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+$/.test(opts.requester.trim())) {
            throw new PurgeError(`--requester takes one plain email address like jane@customer.example, got "${opts.requester}"`);
          }
          r = await purge(ctx, { closedBefore: before?.toISOString(), requester: opts.requester, orphans: opts.orphans === true, dryRun: opts.dryRun === true, actor: cliActor() }, (total) => startProgress('purge: cases', total));
        } catch (err) {
          if (!(err instanceof PurgeError)) throw err;
          process.stderr.write(`casegate purge: ${err.message}\n`);
          process.exitCode = 1;
          return;
        }
        print(r, opts.json === true, () =>
          `${r.dryRun ? 'dry run, nothing changed — would remove' : 'removed'}: ${r.cases} case(s)${r.caseNumbers.length > 0 ? ` (${r.caseNumbers.slice(0, 20).join(', ')}${r.caseNumbers.length > 20 ? ', …' : ''})` : ''}, ${r.messages} message(s), ${r.attachments} attachment(s), ${r.receipts} receipt(s), ${r.outbox} email(s), ${r.events} event(s), ${r.participants} participant(s); blob files: ${r.blobsDeleted} ${r.dryRun ? 'to delete' : 'deleted'}, ${r.blobsShared} kept (still used elsewhere)${r.blobsRecent > 0 ? `, ${r.blobsRecent} kept (written in the last 5 minutes: casegate purge --orphans removes them later)` : ''}\n`,
        );
      });
    });
}

/** A BackupError is the user's problem: its message, exit 1, no stack. */
async function fail<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof BackupError)) throw err;
    process.stderr.write(`casegate: ${err.message}\n`);
    process.exit(1);
  }
}

/** The jobs' customer emails for what fell due before the restore are held as well (compose.ts queueEmail dueAt). */
const JOBS_HELD_TEXT = ' Reminders, automatic-close notices, surveys and "still working" emails the jobs make for what fell due before now are held the same way (the lost instance may have sent them after the backup); later ones go as usual.';

/** What the restore says of the emails it held (ops/restore.ts, holdBackupOutbox). */
function heldText(n: number): string {
  if (n === 0) return '';
  return ` ${n} email(s) that waited in the outbox when the backup was taken are held as failed (the lost instance may have sent them): casegate outbox list shows them; casegate outbox retry ID… sends one, casegate outbox cancel ID… drops it.`;
}
