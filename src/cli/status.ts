import type { Command } from 'commander';
import { formatStatus, statusReport } from '../views.js';
import { print, withContext } from './shared.js';

export function registerStatusCommands(program: Command): void {
  program
    .command('status')
    .description('health of mailboxes, the outbox and the pipeline')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      await withContext(async (ctx) => {
        const report = await statusReport(ctx);
        print(report, opts.json === true, () => formatStatus(report));
      });
    });
}
