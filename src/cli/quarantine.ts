import type { Command } from 'commander';
import { listQuarantine, receiptById } from '../db/repos/receipts.js';
import { runPipeline } from '../pipeline/run-pipeline.js';
import { mailboxOfStored } from '../channels/arrival.js';
import { SIZE_LIMIT_STAGE } from '../pipeline/types.js';
import { formatQuarantine, formatQuarantineList, quarantineDetail } from '../views.js';
import { parseRowIds } from './case-args.js';
import { print, withContext, withReadContext } from './shared.js';
import { safeLine } from './terminal.js';
import { startProgress } from './progress.js';

export function registerQuarantineCommands(program: Command): void {
  const quarantine = program.command('quarantine').description('messages that could not be processed, kept raw');
  quarantine
    .command('list')
    .option('--all', 'include quarantined messages that were retried since')
    .option('--json', 'JSON output')
    .action(async (opts: { all?: boolean; json?: boolean }) => {
      await withReadContext(async (ctx) => {
        const rows = await listQuarantine(ctx.db, opts.all === true);
        print(rows, opts.json === true, () => formatQuarantineList(rows));
      });
    });
  quarantine
    .command('show')
    .argument('<id>', 'receipt id from quarantine list')
    .option('--raw', 'print the raw message')
    .option('--json', 'JSON output')
    .action(async (id: string, opts: { raw?: boolean; json?: boolean }) => {
      const parsed = parseRowIds([id], 'a receipt id');
      if (typeof parsed === 'string') return usage(parsed);
      await withReadContext(async (ctx) => {
        const detail = await quarantineDetail(ctx, parsed[0]!, opts.raw === true);
        if (detail === null) {
          process.stderr.write(`no quarantined message ${id}\n`);
          process.exitCode = 1;
          return;
        }
        print(detail, opts.json === true, () => formatQuarantine(detail));
      });
    });
  quarantine
    .command('retry')
    .description('run a quarantined message through the pipeline again (after a fix or an upgrade)')
    .argument('<id...>', 'receipt ids')
    .option('--json', 'JSON output')
    .action(async (ids: string[], opts: { json?: boolean }) => {
      const parsed = parseRowIds(ids, 'a receipt id');
      if (typeof parsed === 'string') return usage(parsed);
      await withContext(async (ctx) => {
        const results: { id: string; outcome: { kind: string; reason: string } }[] = [];
        const bar = startProgress('quarantine retry', ids.length);
        for (const id of ids) {
          bar.tick();
          const receipt = await receiptById(ctx.db, Number(id.trim().replace(/^#/, '')));
          if (receipt === undefined || receipt.outcome !== 'quarantined' || receipt.retried_as !== null) {
            results.push({ id, outcome: { kind: 'error', reason: 'not a quarantined message awaiting retry' } });
            process.exitCode = 1;
            continue;
          }
          if (receipt.stage === SIZE_LIMIT_STAGE) {
            // Only its header was taken: the message itself is still on the IMAP server.
            results.push({ id, outcome: { kind: 'error', reason: `too large to retry here (${receipt.raw_size} bytes; only its header is kept): raise listener.maxMessageBytes and move it from the quarantine folder back into the watched folder` } });
            process.exitCode = 1;
            continue;
          }
          const envelopeTo = JSON.parse(receipt.envelope_to_json) as string[];
          const raw = { sha256: receipt.raw_sha256, size: receipt.raw_size, path: ctx.blobs.pathFor(receipt.raw_sha256) };
          const outcome = await runPipeline(ctx, {
            channel: 'quarantine-retry',
            mailbox: await mailboxOfStored(ctx, { mailbox: receipt.mailbox, envelopeTo }, raw),
            envelopeFrom: receipt.envelope_from,
            envelopeTo,
            receivedAt: ctx.clock.now(),
            raw,
            retryOf: receipt.id,
          });
          results.push({ id, outcome });
        }
        bar.stop();
        print(results, opts.json === true, () => results.map((r) => `${r.id}: ${r.outcome.kind} — ${safeLine(r.outcome.reason)}\n`).join(''));
      });
    });
}

function usage(message: string): void {
  process.stderr.write(`casegate quarantine: ${message}\n`);
  process.exitCode = 2;
}
