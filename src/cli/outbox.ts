import { Option, type Command } from 'commander';
import { cliActor } from '../cases/case-commands.js';
import type { OutboxStatus } from '../db/schema.js';
import { cancelOutbox, listOutboxRows, OUTBOX_STATUSES, retryAllFailed, retryOutbox, type RowResult } from '../mail-out/outbox-admin.js';
import { formatOutboxList } from '../views.js';
import { parseRowIds } from './case-args.js';
import { timeDisplay } from './display-time.js';
import { print, withContext, withReadContext } from './shared.js';

/** `casegate outbox list | retry | cancel`: look at outgoing mail, send failed mail again, withdraw mail. */
export function registerOutboxCommands(program: Command): void {
  const outbox = program.command('outbox').description('outgoing mail: list it, send failed mail again, cancel mail not sent yet');
  outbox
    .command('list')
    .description('newest first: status, attempts, last error (default: queued and failed)')
    .addOption(new Option('--status <status...>', 'only these statuses').choices([...OUTBOX_STATUSES]))
    .option('--all', 'every status')
    .option('--limit <n>', 'at most n emails', (v) => Number.parseInt(v, 10), 50)
    .option('--utc', 'times in UTC (default: jobs.timezone, or the queues’ one calendar zone)')
    .option('--json', 'JSON output (times ISO-8601 UTC)')
    .action(async (opts: { status?: OutboxStatus[]; all?: boolean; limit: number; utc?: boolean; json?: boolean }) => {
      if (!Number.isInteger(opts.limit) || opts.limit < 1) return usage('--limit must be a positive number');
      await withReadContext(async (ctx) => {
        const statuses = opts.all === true ? [] : (opts.status ?? ['queued', 'failed']);
        const rows = await listOutboxRows(ctx, statuses, opts.limit);
        print(rows, opts.json === true, () => formatOutboxList(rows, ctx.clock.now(), timeDisplay(ctx.config, opts.utc === true)));
      });
    });
  outbox
    .command('retry')
    .description('put failed emails (or queued ones waiting for their next attempt) back in the queue, due now; never sent or cancelled ones')
    .argument('[id...]', 'outbox ids (casegate outbox list)')
    .option('--all-failed', 'every failed email')
    .option('--json', 'JSON output')
    .action(async (ids: string[], opts: { allFailed?: boolean; json?: boolean }) => {
      const parsed = parseIds(ids, opts.allFailed === true);
      if (typeof parsed === 'string') return usage(parsed);
      await withContext(async (ctx) => {
        const results = opts.allFailed === true ? await retryAllFailed(ctx, cliActor()) : await retryOutbox(ctx, parsed, cliActor());
        report(results, opts.json === true, opts.allFailed === true ? 'no failed emails' : '');
      });
    });
  outbox
    .command('cancel')
    .description('withdraw queued or failed emails: they are never sent')
    .argument('<id...>', 'outbox ids (casegate outbox list)')
    .option('--reason <text>', 'why (recorded in the event)')
    .option('--json', 'JSON output')
    .action(async (ids: string[], opts: { reason?: string; json?: boolean }) => {
      const parsed = parseIds(ids, false);
      if (typeof parsed === 'string') return usage(parsed);
      await withContext(async (ctx) => {
        report(await cancelOutbox(ctx, parsed, cliActor(), opts.reason ?? null), opts.json === true, '');
      });
    });
}

/** Ids as numbers, or the one-line problem. */
function parseIds(ids: readonly string[], all: boolean): number[] | string {
  if (all && ids.length > 0) return 'give ids or --all-failed, not both';
  if (!all && ids.length === 0) return 'give at least one outbox id (see casegate outbox list)';
  return parseRowIds(ids, 'an outbox id');
}

function usage(message: string): void {
  process.stderr.write(`casegate outbox: ${message}\n`);
  process.exitCode = 2;
}

/** Every result on its own line (failures on stderr); exit 1 when any failed. */
function report(results: readonly RowResult[], json: boolean, none: string): void {
  if (results.some((r) => !r.ok)) process.exitCode = 1;
  if (json) {
    print(results, true, () => '');
    return;
  }
  if (results.length === 0 && none !== '') process.stdout.write(`${none}\n`);
  for (const r of results) {
    if (r.ok) process.stdout.write(`${r.message}\n`);
    else process.stderr.write(`casegate outbox: ${r.message}\n`);
  }
}
