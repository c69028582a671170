#!/usr/bin/env node
import { Command, Option } from 'commander';
import { ingestFiles } from './channels/pipe.js';
import { ConfigError, loadConfig, type ResolvedConfig } from './config/load.js';
import { closeContext, createContext, type AppContext } from './context.js';
import { migrateToLatest, openDatabase } from './db/database.js';
import { createLogger, type Logger } from './log.js';
import { startDaemon } from './main.js';
import { TemplateCheckError, checkTemplateDir } from './mail-out/templates.js';
import { caseDetail, formatCaseDetail, formatCaseList, formatQuarantine, formatQuarantineList, formatStatus, quarantineDetail, statusReport } from './views.js';
import { listCases } from './db/repos/cases.js';
import { listQuarantine, receiptById } from './db/repos/receipts.js';
import { runPipeline } from './pipeline/run-pipeline.js';

interface GlobalOpts {
  config?: string;
}

const program = new Command();
program
  .name('casegate')
  .description('Email-driven support-case gateway')
  .option('-c, --config <file>', 'configuration file (default: $CASEGATE_CONFIG, else the embedded default)')
  .showHelpAfterError();

function resolved(): ResolvedConfig {
  return loadConfig({ path: program.opts<GlobalOpts>().config });
}

function cliLogger(r: ResolvedConfig): Logger {
  return createLogger({ level: r.config.log.level === 'info' ? 'warn' : r.config.log.level, toStderr: true });
}

async function withContext<T>(fn: (ctx: AppContext) => Promise<T>, logLevel?: 'info'): Promise<T> {
  const r = resolved();
  const log = logLevel !== undefined ? createLogger({ level: r.config.log.level, toStderr: true }) : cliLogger(r);
  const ctx = await createContext({ resolved: r, log });
  try {
    return await fn(ctx);
  } finally {
    await closeContext(ctx);
  }
}

function print(value: unknown, json: boolean, text: () => string): void {
  process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : text());
}

program
  .command('start')
  .description('run the daemon (SMTP listener, IMAP mailboxes, outbox) until SIGINT/SIGTERM')
  .action(async () => {
    const r = resolved();
    const log = createLogger({ level: r.config.log.level });
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

program
  .command('ingest')
  .description('read messages from .eml files or stdin (MTA pipe); exit 0 when committed, 75 to make the MTA retry')
  .argument('[files...]', '.eml files (none: read one message from stdin)')
  .option('-m, --mailbox <name>', 'mailbox the message arrived in')
  .option('-r, --recipient <address>', 'envelope recipient (picks the mailbox)')
  .option('-s, --sender <address>', 'envelope sender')
  .option('--json', 'print outcomes as JSON')
  .action(async (files: string[], opts: { mailbox?: string; recipient?: string; sender?: string; json?: boolean }) => {
    let code = 0;
    try {
      await withContext(async (ctx) => {
        const results = await ingestFiles(ctx, files, { ...opts });
        code = Math.max(0, ...results.map((r) => r.exitCode));
        print(results, opts.json === true, () =>
          results
            .map((r) => `${r.source}: ${r.outcome.kind}${'caseNumber' in r.outcome && r.outcome.caseNumber !== null ? ` (case ${r.outcome.caseNumber})` : ''} — ${r.outcome.reason}\n`)
            .join(''),
        );
      });
    } catch (err) {
      // Whatever went wrong (even a broken config), the MTA must keep the message and retry.
      process.stderr.write(`casegate ingest: ${(err as Error).message}\n`);
      code = 75;
    }
    process.exitCode = code;
  });

const cases = program.command('cases').description('look at cases');
cases
  .command('list')
  .description('newest cases first')
  .addOption(new Option('--status <status...>', 'only these statuses').choices(['new', 'open', 'pending', 'on_hold', 'resolved', 'closed']))
  .option('--queue <queue>', 'only this queue')
  .option('--limit <n>', 'at most n cases', (v) => Number.parseInt(v, 10), 50)
  .option('--json', 'JSON output')
  .action(async (opts: { status?: string[]; queue?: string; limit: number; json?: boolean }) => {
    await withContext(async (ctx) => {
      const rows = await listCases(ctx.db, { ...(opts.status ? { status: opts.status } : {}), ...(opts.queue ? { queue: opts.queue } : {}), limit: opts.limit });
      print(rows, opts.json === true, () => formatCaseList(rows));
    });
  });
cases
  .command('show')
  .description('one case: its thread (visible text), participants, events and outgoing mail')
  .argument('<number>', 'case number')
  .option('--json', 'JSON output')
  .action(async (number: string, opts: { json?: boolean }) => {
    await withContext(async (ctx) => {
      const detail = await caseDetail(ctx.db, Number.parseInt(number.replace(/^#/, ''), 10));
      if (detail === null) {
        process.stderr.write(`no case ${number}\n`);
        process.exitCode = 1;
        return;
      }
      print(detail, opts.json === true, () => formatCaseDetail(detail));
    });
  });

const quarantine = program.command('quarantine').description('messages that could not be processed, kept raw');
quarantine
  .command('list')
  .option('--all', 'include quarantined messages that were retried since')
  .option('--json', 'JSON output')
  .action(async (opts: { all?: boolean; json?: boolean }) => {
    await withContext(async (ctx) => {
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
    await withContext(async (ctx) => {
      const detail = await quarantineDetail(ctx, Number.parseInt(id, 10), opts.raw === true);
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
    await withContext(async (ctx) => {
      const results: { id: string; outcome: { kind: string; reason: string } }[] = [];
      for (const id of ids) {
        const receipt = await receiptById(ctx.db, Number.parseInt(id, 10));
        if (receipt === undefined || receipt.outcome !== 'quarantined' || receipt.retried_as !== null) {
          results.push({ id, outcome: { kind: 'error', reason: 'not a quarantined message awaiting retry' } });
          process.exitCode = 1;
          continue;
        }
        const outcome = await runPipeline(ctx, {
          channel: 'quarantine-retry',
          mailbox: ctx.mailboxes.byName(receipt.mailbox) ?? ctx.mailboxes.default,
          envelopeFrom: receipt.envelope_from,
          envelopeTo: JSON.parse(receipt.envelope_to_json) as string[],
          receivedAt: ctx.clock.now(),
          raw: { sha256: receipt.raw_sha256, size: receipt.raw_size, path: ctx.blobs.pathFor(receipt.raw_sha256) },
          retryOf: receipt.id,
        });
        results.push({ id, outcome });
      }
      print(results, opts.json === true, () => results.map((r) => `${r.id}: ${r.outcome.kind} — ${r.outcome.reason}\n`).join(''));
    });
  });

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

const templates = program.command('templates').description('the Handlebars templates of outgoing mail');
templates
  .command('check')
  .description('compile every template; report unknown variables, missing partials and syntax errors with file:line')
  .action(() => {
    const r = resolved();
    const problems = checkTemplateDir({
      dir: r.paths.templatesDir,
      defaultLanguage: r.config.cases.defaultLanguage,
      languages: r.config.templates.languages,
      queues: [...new Set([...r.config.mailboxes.map((m) => m.queue ?? m.name), ...Object.keys(r.config.queues)])],
    });
    for (const p of problems) process.stdout.write(`${p.file}${p.line !== null ? `:${p.line}` : ''}: ${p.message}\n`);
    process.stdout.write(problems.length === 0 ? `templates OK (${r.paths.templatesDir})\n` : `${problems.length} problem(s)\n`);
    process.exitCode = problems.length === 0 ? 0 : 1;
  });

program
  .command('config')
  .description('validate the configuration and print it resolved (secrets hidden)')
  .action(() => {
    const r = resolved();
    const shown = JSON.parse(JSON.stringify(r.config, (k, v: unknown) => (/(secret|password)$/i.test(k) && typeof v === 'string' ? '***' : v))) as unknown;
    process.stdout.write(JSON.stringify({ source: r.source ?? 'embedded default', paths: r.paths, config: shown }, null, 2) + '\n');
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`casegate: ${err.message}\n`);
    process.exit(78); // EX_CONFIG
  }
  if (err instanceof TemplateCheckError) {
    process.stderr.write(`casegate: templates have problems, not starting:\n${err.problems.map((p) => `  ${p.file}${p.line !== null ? `:${p.line}` : ''}: ${p.message}`).join('\n')}\n`);
    process.exit(78);
  }
  process.stderr.write(`casegate: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
