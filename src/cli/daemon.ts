import type { Command } from 'commander';
import { databaseTarget, describeProgress, openDatabase, migrateToLatest, pendingMigrations } from '../db/database.js';
import { createLogger } from '../log.js';
import { runningAsRoot } from '../storage/data-dir-owner.js';
import { resolved } from './shared.js';

/**
 * The daemon stops on its own within this long after SIGTERM/SIGINT, plus the time an email past
 * its final "." may wait for the relay's answer (outgoing.smtp.stopWaitSeconds): stopDeadlineMs.
 */
export const STOP_DEADLINE_MS = 9_000;

/** The stop deadline for a configuration (config/systemd/casegate.service: TimeoutStopSec is a little longer than the default's). */
export function stopDeadlineMs(config: { readonly outgoing: { readonly transport: string; readonly smtp?: { readonly stopWaitSeconds: number } | undefined; readonly relays?: Readonly<Record<string, { readonly stopWaitSeconds: number }>> } }): number {
  // Every relay's sender stops at once: the longest wait of them (outgoing.relays, mail-out/relays.ts).
  const waits = [config.outgoing.smtp?.stopWaitSeconds ?? 0, ...Object.values(config.outgoing.relays ?? {}).map((r) => r.stopWaitSeconds)];
  return STOP_DEADLINE_MS + (config.outgoing.transport === 'smtp' ? Math.max(...waits) * 1000 : 0);
}
/** Exit code when another daemon holds the instance lock. */
const EXIT_ALREADY_RUNNING = 1;
/** Exit code of a forced stop (second signal, or the deadline passed). */
const EXIT_FORCED = 130;

export function registerDaemonCommands(program: Command): void {
  program
    .command('start')
    .description('run the daemon (SMTP listener, IMAP mailboxes, outbox, jobs, web and ops listeners) until SIGINT/SIGTERM; SIGHUP reloads the configuration')
    .action(async () => {
      const r = resolved('required');
      const log = createLogger({ level: r.config.log.level, format: r.config.log.format });
      // resolved() made us the data directory's owner when it belongs to another user; still root: it is root's.
      if (runningAsRoot()) {
        log.warn(
          { dataDir: r.paths.dataDir },
          'running as root: the files it writes are root\'s, and a daemon run later as the service user cannot read them. Give the data directory to the service user (chown -R casegate: DIR): a root start then switches to that user (docs/operating.md)',
        );
      }
      // Loaded here so one-shot commands (the MTA pipe above all) don't pay for IMAP and SMTP servers.
      const { startDaemon } = await import('../main.js');
      const { InstanceLockedError } = await import('../instance-lock.js');
      let daemon: Awaited<ReturnType<typeof startDaemon>>;
      try {
        daemon = await startDaemon({ resolved: r, log });
      } catch (err) {
        if (!(err instanceof InstanceLockedError)) throw err;
        log.error({ holderPid: err.holderPid, lock: err.lockPath }, 'another daemon holds the instance lock; not starting');
        process.stderr.write(`casegate: ${err.message}\n`);
        process.exit(EXIT_ALREADY_RUNNING);
      }
      // Stay alive even when no channel holds the event loop open (e.g. listener disabled, no IMAP).
      const keepAlive = setInterval(() => undefined, 1 << 30);
      let signals = 0;
      // pino flushes its buffer on process exit.
      const exit = (code: number): never => process.exit(code);
      const stop = (signal: string): void => {
        signals += 1;
        if (signals > 1) {
          // The second signal: the operator does not want to wait.
          log.warn({ signal }, 'second signal: exiting now');
          exit(EXIT_FORCED);
        }
        log.info({ signal }, 'signal received');
        clearInterval(keepAlive);
        // Exit on our own terms before the service manager's SIGKILL (systemd: TimeoutStopSec; a
        // container runtime: its stop timeout, docs/operating.md).
        const deadline = stopDeadlineMs(daemon.ctx.config);
        setTimeout(() => {
          log.error({ afterMs: deadline }, 'could not stop in time; exiting anyway (nothing is lost: unfinished work is redone at the next start)');
          exit(EXIT_FORCED);
        }, deadline).unref();
        daemon.stop().then(
          () => exit(0),
          (err: unknown) => {
            log.error({ err }, 'error while stopping');
            exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      // Reload configuration and templates (systemctl reload casegate); a broken one is reported and the running one kept.
      process.on('SIGHUP', () => {
        log.info({ signal: 'SIGHUP' }, 'signal received: reloading the configuration');
        daemon.reload().catch((err: unknown) => log.error({ err }, 'configuration reload failed; the running configuration stays'));
      });
    });

  program
    .command('migrate')
    .description('bring the database schema up to date (the daemon also does this at start)')
    .option('--dry-run', 'list the migrations it would apply, in order; apply none')
    .action(async (opts: { dryRun?: boolean }) => {
      const r = resolved();
      const db = openDatabase(databaseTarget(r.config, r.paths));
      try {
        if (opts.dryRun === true) {
          const pending = await pendingMigrations(db);
          process.stdout.write(pending.length > 0 ? `would apply: ${pending.join(', ')}\n` : 'database is up to date\n');
          return;
        }
        const { applied } = await migrateToLatest(db, { onProgress: (p) => process.stderr.write(`${describeProgress(p)}\n`) });
        process.stdout.write(applied.length > 0 ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
      } finally {
        await db.destroy();
      }
    });

}
