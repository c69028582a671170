import type { Command } from 'commander';
import { formatStatus, statusReport } from '../ops/status-report.js';
import { print, withReadContext } from './shared.js';

export function registerStatusCommands(program: Command): void {
  program
    .command('status')
    .description('the daemon, its health checks, mailboxes, outbox, open cases, SLA breaches and jobs')
    .option('--json', 'JSON output')
    .option('--check', 'exit 1 when a health check fails (for scripts and cron)')
    .action(async (opts: { json?: boolean; check?: boolean }) => {
      let healthy = true;
      await withReadContext(async (ctx) => {
        const report = await statusReport(ctx);
        healthy = report.health.healthy;
        print(report, opts.json === true, () => formatStatus(report));
      });
      if (opts.check === true && !healthy) process.exitCode = 1;
    });
}
