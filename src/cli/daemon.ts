import type { Command } from 'commander';
import { openDatabase, migrateToLatest } from '../db/database.js';
import { createLogger } from '../log.js';
import { resolved } from './shared.js';

export function registerDaemonCommands(program: Command): void {
  program
    .command('start')
    .description('run the daemon (SMTP listener, IMAP mailboxes, outbox) until SIGINT/SIGTERM')
    .action(async () => {
      const r = resolved('required');
      const log = createLogger({ level: r.config.log.level });
      // Loaded here so one-shot commands (the MTA pipe above all) don't pay for IMAP and SMTP servers.
      const { startDaemon } = await import('../main.js');
      const daemon = await startDaemon({ resolved: r, log });
      // Stay alive even when no channel holds the event loop open (e.g. listener disabled, no IMAP).
      const keepAlive = setInterval(() => undefined, 1 << 30);
      let signals = 0;
      const stop = (signal: string): void => {
        signals += 1;
        if (signals > 1) process.exit(1);
        log.info({ signal }, 'signal received');
        clearInterval(keepAlive);
        daemon.stop().then(
          () => process.exit(0),
          (err: unknown) => {
            log.error({ err }, 'error while stopping');
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    });

  program
    .command('migrate')
    .description('bring the database schema up to date (the daemon also does this at start)')
    .action(async () => {
      const r = resolved();
      const db = openDatabase({ path: r.paths.dbPath });
      try {
        const { applied } = await migrateToLatest(db);
        process.stdout.write(applied.length > 0 ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
      } finally {
        await db.destroy();
      }
    });

}
