import type { Command } from 'commander';
import { isTransientDbError } from '../db/dialect.js';
import { DatabaseOpenError } from '../db/open-error.js';
import { diskSpaceOf } from '../ops/disk-space.js';
import { assessHealth } from '../ops/health.js';
import { formatStatus, statusReport } from '../ops/status-report.js';
import { print, resolved, withReadContext } from './shared.js';

export function registerStatusCommands(program: Command): void {
  program
    .command('status')
    .description('the daemon, its health checks, mailboxes, outbox, open cases, SLA breaches and jobs')
    .option('--json', 'JSON output')
    .option('--check', 'exit 1 when a health check fails (for scripts and cron)')
    .action(async (opts: { json?: boolean; check?: boolean }) => {
      let healthy = true;
      try {
        await withReadContext(async (ctx) => {
          const report = await statusReport(ctx);
          healthy = report.health.healthy;
          print(report, opts.json === true, () => formatStatus(report));
        });
      } catch (err) {
        // PostgreSQL down, restarting, refusing connections or casegate's role (DatabaseOpenError:
        // what to do about it): the one check that can be made is reported (a stack trace, or no
        // JSON at all, told the operator nothing).
        if (!isTransientDbError(err) && !(err instanceof DatabaseOpenError)) throw err;
        await printDatabaseDown(err, opts.json === true);
        process.exitCode = 1;
        return;
      }
      if (opts.check === true && !healthy) process.exitCode = 1;
    });
}

async function printDatabaseDown(err: unknown, json: boolean): Promise<void> {
  const r = resolved();
  const detail = err instanceof DatabaseOpenError ? err.message : `the database does not answer: ${err instanceof Error ? err.message : String(err)}`;
  const health = assessHealth(r.config, { disk: await diskSpaceOf(r.paths), databaseError: detail, mailboxes: [], transport: null, outbox: null }, new Date());
  print({ daemon: { running: null }, health }, json, () => [`Daemon: unknown (its presence is in the database)`, 'Health: UNHEALTHY', ...health.checks.filter((c) => !c.ok).map((c) => `  ✗ ${c.name}: ${c.detail}`)].join('\n') + '\n');
}
