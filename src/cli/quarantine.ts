import type { Command } from 'commander';
import { dismissQuarantined, listQuarantine, receiptById } from '../db/repos/receipts.js';
import { addEvent } from '../db/repos/events.js';
import { cliActor } from '../cases/case-command-error.js';
import { oneLine } from '../mail-in/header-values.js';
import { runPipeline } from '../pipeline/run-pipeline.js';
import { mailboxOfStored } from '../channels/arrival.js';
import { SIZE_LIMIT_STAGE } from '../pipeline/types.js';
import { formatQuarantine, formatQuarantineList, quarantineDetail } from '../views.js';
import { timeDisplay } from './display-time.js';
import { parseRowIds } from './case-args.js';
import { print, withContext, withReadContext } from './shared.js';
import { safeLine } from './terminal.js';
import { startProgress } from './progress.js';

export function registerQuarantineCommands(program: Command): void {
  const quarantine = program.command('quarantine').description('messages that could not be processed, kept raw');
  quarantine
    .command('list')
    .option('--all', 'include quarantined messages that were retried since')
    .option('--utc', 'times in UTC (default: jobs.timezone, or the queues’ one calendar zone)')
    .option('--json', 'JSON output (times ISO-8601 UTC)')
    .action(async (opts: { all?: boolean; utc?: boolean; json?: boolean }) => {
      await withReadContext(async (ctx) => {
        const rows = await listQuarantine(ctx.db, opts.all === true);
        print(rows, opts.json === true, () => formatQuarantineList(rows, timeDisplay(ctx.config, opts.utc === true)));
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
  registerDismiss(quarantine);
}

function registerDismiss(quarantine: Command): void {
  quarantine
    .command('dismiss')
    .description('take quarantined messages out of the quarantine for good (spam nobody wants, a message too large to retry): recorded as ignored with your reason; the raw mail stays')
    .argument('<id...>', 'receipt ids')
    .requiredOption('--reason <text>', 'why (kept on the receipt and in the event)')
    .option('--json', 'JSON output')
    .action(async (ids: string[], opts: { reason: string; json?: boolean }) => {
      const parsed = parseRowIds(ids, 'a receipt id');
      if (typeof parsed === 'string') return usage(parsed);
      if (opts.reason.trim() === '') return usage('--reason: say why');
      await withContext(async (ctx) => {
        const actor = cliActor();
        const results: { id: number; dismissed: boolean; reason: string }[] = [];
        for (const id of parsed) {
          const receipt = await receiptById(ctx.db, id);
          if (receipt === undefined || receipt.outcome !== 'quarantined' || receipt.retried_as !== null) {
            results.push({ id, dismissed: false, reason: 'not a quarantined message awaiting retry' });
            process.exitCode = 1;
            continue;
          }
          const why = oneLine(opts.reason).slice(0, 300);
          const reason = `dismissed from quarantine by ${actor}: ${why} (quarantined at ${receipt.stage}: ${receipt.reason})`.slice(0, 1000);
          const at = ctx.clock.now().toISOString();
          const done = await ctx.db.transaction().execute(async (trx) => {
            if (!(await dismissQuarantined(trx, id, reason))) return false;
            await addEvent(trx, { caseId: null, type: 'quarantine.dismissed', actor, reason: why, data: { receipt: id, stage: receipt.stage, was: receipt.reason, messageId: receipt.message_id }, at });
            return true;
          });
          if (done) ctx.log.info({ receiptId: id, messageId: receipt.message_id, actor, reason: why }, 'quarantined message dismissed');
          results.push({ id, dismissed: done, reason: done ? reason : 'retried or dismissed meanwhile' });
          if (!done) process.exitCode = 1;
        }
        print(results, opts.json === true, () => results.map((r) => `${r.id}: ${r.dismissed ? 'dismissed' : `not dismissed — ${r.reason}`}\n`).join(''));
      });
    });
}

function usage(message: string): void {
  process.stderr.write(`casegate quarantine: ${message}\n`);
  process.exitCode = 2;
}
