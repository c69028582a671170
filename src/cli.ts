#!/usr/bin/env -S node --max-old-space-size=192
import { Command, Option } from 'commander';
import { ingestFiles } from './channels/pipe.js';
import { ConfigError, loadConfig, type ResolvedConfig } from './config/load.js';
import { closeContext, createContext, type AppContext } from './context.js';
import { migrateToLatest, openDatabase } from './db/database.js';
import { createLogger, type Logger } from './log.js';
import { TemplateCheckError, checkTemplateDir, loadTemplates, templateLanguage, type RenderedEmail } from './mail-out/templates.js';
import { TEMPLATE_DOCS_PATH, renderTemplateDocs } from './mail-out/template-docs.js';
import {
  TemplateToolError,
  caseDataFor,
  mailboxOfQueue,
  parseTestAddress,
  sampleDataFor,
  sendTestEmail,
  templateEngineOptions,
  templateKindOf,
  type PreviewTarget,
} from './mail-out/template-tools.js';
import type { TemplateName } from './mail-out/template-data.js';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { caseDetail, formatCaseDetail, formatCaseList, formatQuarantine, formatQuarantineList, formatStatus, quarantineDetail, statusReport } from './views.js';
import { listCases } from './db/repos/cases.js';
import { assignFromCli, CaseCommandError, escalateFromCli, priorityFromCli } from './cases/case-commands.js';
import { priorityScheme } from './cases/priority.js';
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
    // Loaded here so one-shot commands (the MTA pipe above all) don't pay for IMAP and SMTP servers.
    const { startDaemon } = await import('./main.js');
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
     }, 'info');
    } catch (err) {
      // Whatever went wrong (even a broken config), the MTA must keep the message and retry.
      process.stderr.write(`casegate ingest: ${(err as Error).message}\n`);
      code = 75;
    }
    process.exitCode = code;
  });

const cases = program.command('cases').description('look at and work on cases');
cases
  .command('list')
  .description('most severe priority first (the priority scheme’s order), newest first within a priority')
  .addOption(new Option('--status <status...>', 'only these statuses').choices(['new', 'open', 'pending', 'on_hold', 'resolved', 'closed']))
  .option('--queue <queue>', 'only this queue')
  .option('--owner <agent>', 'only cases owned by this agent (address)')
  .option('--escalated', 'only escalated cases')
  .option('--feedback', 'only feedback (from feedback queues)')
  .addOption(new Option('--sort <order>', 'priority: most severe first; newest: by case number only').choices(['priority', 'newest']).default('priority'))
  .option('--limit <n>', 'at most n cases', (v) => Number.parseInt(v, 10), 50)
  .option('--json', 'JSON output')
  .action(async (opts: { status?: string[]; queue?: string; owner?: string; escalated?: boolean; feedback?: boolean; sort: string; limit: number; json?: boolean }) => {
    await withContext(async (ctx) => {
      const rows = await listCases(ctx.db, {
        ...(opts.status ? { status: opts.status } : {}),
        ...(opts.queue ? { queue: opts.queue } : {}),
        ...(opts.owner ? { owner: opts.owner.toLowerCase() } : {}),
        ...(opts.escalated ? { escalated: true } : {}),
        ...(opts.feedback ? { kind: 'feedback' as const } : {}),
        ...(opts.sort === 'priority' ? { priorityOrder: priorityScheme(ctx.config).levels } : {}),
        limit: opts.limit,
      });
      print(rows, opts.json === true, () => formatCaseList(rows));
    });
  });
cases
  .command('escalate')
  .description('escalate a case one level (or to --level): alerts that tier of its queue and acknowledges to the customer')
  .argument('<number>', 'case number')
  .option('--level <level>', 'set this level (1–3; lower or 0 de-escalates, without mail)', (v) => Number.parseInt(v, 10))
  .option('--reason <text>', 'why (shown to the leads, not to the customer)')
  .option('--json', 'JSON output')
  .action(async (number: string, opts: { level?: number; reason?: string; json?: boolean }) => {
    await caseCommand(async (ctx) => {
      const out = await escalateFromCli(ctx, caseNumberArg(number), { ...(opts.level !== undefined ? { level: opts.level } : {}), ...(opts.reason !== undefined ? { reason: opts.reason } : {}) });
      const { caseRow: _c, ...rest } = out;
      print({ case: out.caseRow.number, ...rest }, opts.json === true, () => `${out.summary}\n`);
    });
  });
cases
  .command('assign')
  .description('make an agent of the case’s queue its owner: the agent is notified, and on a reassignment the customer too (display name only)')
  .argument('<number>', 'case number')
  .argument('<agent>', 'agent name or address (queues.<queue>.agents)')
  .option('--note <text>', 'a note for the new owner')
  .option('--json', 'JSON output')
  .action(async (number: string, agent: string, opts: { note?: string; json?: boolean }) => {
    await caseCommand(async (ctx) => {
      const out = await assignFromCli(ctx, caseNumberArg(number), agent, opts.note !== undefined ? { note: opts.note } : {});
      print({ case: out.caseRow.number, owner: out.caseRow.owner, previous: out.previous, changed: out.changed, summary: out.summary }, opts.json === true, () => `${out.summary}\n`);
    });
  });
cases
  .command('priority')
  .description('set the priority of a case (a level of the configured scheme)')
  .argument('<number>', 'case number')
  .argument('<level>', 'priority level, e.g. urgent or S1')
  .option('--reason <text>', 'why')
  .option('--json', 'JSON output')
  .action(async (number: string, level: string, opts: { reason?: string; json?: boolean }) => {
    await caseCommand(async (ctx) => {
      const out = await priorityFromCli(ctx, caseNumberArg(number), level, opts.reason !== undefined ? { reason: opts.reason } : {});
      const summary = out.changed ? `case ${out.caseRow.number} priority is now ${out.caseRow.priority}` : `case ${out.caseRow.number} already has priority ${out.caseRow.priority}`;
      print({ case: out.caseRow.number, priority: out.caseRow.priority, changed: out.changed }, opts.json === true, () => `${summary}\n`);
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

function caseNumberArg(value: string): number {
  const m = /^#?(\d{1,12})$/.exec(value.trim());
  if (m?.[1] === undefined) throw new CaseCommandError(`not a case number: "${value}"`);
  return Number(m[1]);
}

/** Run a cases subcommand; its usage errors (no such case, agent or level) exit 1. */
async function caseCommand(fn: (ctx: AppContext) => Promise<void>): Promise<void> {
  try {
    await withContext(fn);
  } catch (err) {
    if (!(err instanceof CaseCommandError)) throw err;
    process.stderr.write(`casegate cases: ${err.message}\n`);
    process.exitCode = 1;
  }
}

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
    const problems = checkTemplateDir(templateEngineOptions(r));
    for (const p of problems) process.stdout.write(`${p.file}${p.line !== null ? `:${p.line}` : ''}: ${p.message}\n`);
    process.stdout.write(problems.length === 0 ? `templates OK (${r.paths.templatesDir})\n` : `${problems.length} problem(s)\n`);
    process.exitCode = problems.length === 0 ? 0 : 1;
  });

interface TemplateTargetOpts {
  case?: string;
  lang?: string;
  queue?: string;
}

/** Run a templates subcommand; its usage errors (unknown template, case, queue, bad address) exit 1. */
async function templateAction(fn: () => Promise<void> | void): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof TemplateToolError)) throw err;
    process.stderr.write(`casegate templates: ${err.message}\n`);
    process.exitCode = 1;
  }
}

function caseNumberOpt(value: string): number {
  const m = /^#?(\d{1,12})$/.exec(value.trim());
  if (m?.[1] === undefined) throw new TemplateToolError(`--case needs a case number, got "${value}"`);
  return Number(m[1]);
}

/**
 * Render a kind for `preview` and `send-test`: with a real case (--case: the case's language and
 * queue unless --lang/--queue say otherwise) or with sample data (the default language and the
 * first mailbox's queue unless given).
 */
async function renderForCli(
  r: ResolvedConfig,
  kind: TemplateName,
  opts: TemplateTargetOpts,
  isTest: boolean,
): Promise<{ rendered: RenderedEmail; target: PreviewTarget; source: string }> {
  const eopts = templateEngineOptions(r);
  if (opts.queue !== undefined && !eopts.queues.includes(opts.queue)) {
    throw new TemplateToolError(`queue "${opts.queue}" is not configured; queues: ${eopts.queues.join(', ')}`);
  }
  if (opts.lang !== undefined && templateLanguage(opts.lang, eopts).toLowerCase() !== opts.lang.toLowerCase().split(/[-_]/)[0]) {
    process.stderr.write(`note: no templates for language "${opts.lang}"; customers with it get ${templateLanguage(opts.lang, eopts)}\n`);
  }
  if (opts.case !== undefined) {
    const number = caseNumberOpt(opts.case);
    return withContext(async (ctx) => {
      const c = await caseDataFor(ctx, kind, number, { language: opts.lang, isTest });
      const target = { language: c.target.language, queue: opts.queue ?? c.target.queue };
      return { rendered: ctx.templates.render(kind, c.data, target), target, source: `case ${number}` };
    });
  }
  const engine = loadTemplates({ ...eopts, watch: false, log: cliLogger(r) });
  try {
    const queue = opts.queue ?? eopts.queues[0] ?? 'support';
    const target = { language: opts.lang ?? r.config.queues[queue]?.language ?? r.config.cases.defaultLanguage, queue };
    return { rendered: engine.render(kind, sampleDataFor(kind, r.config, target, isTest), target), target, source: 'sample data' };
  } finally {
    engine.close();
  }
}

templates
  .command('preview')
  .description('render a template with sample data or a real case: print subject and text, write the HTML to a file')
  .argument('<name>', 'template (all of them: docs/templates.md)')
  .addOption(new Option('--case <number>', 'use this case from the database (its language and queue)').conflicts('sample'))
  .option('--sample', 'use the declared sample data (the default)')
  .option('--lang <language>', 'language of the templates (default: the case’s, else the default language)')
  .option('--queue <queue>', 'queue whose overrides apply (default: the case’s, else the first mailbox’s)')
  .option('--html <file>', 'write the HTML part to this file')
  .option('--json', 'print template, language, queue, subject, text and html as JSON')
  .action(async (name: string, opts: TemplateTargetOpts & { sample?: boolean; html?: string; json?: boolean }) => {
    await templateAction(async () => {
      const kind = templateKindOf(name);
      const r = resolved();
      const { rendered, target, source } = await renderForCli(r, kind, opts, false);
      if (opts.html !== undefined) {
        const file = resolvePath(opts.html);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, rendered.html);
      }
      const language = templateLanguage(target.language, templateEngineOptions(r));
      process.stderr.write(`${kind}: ${source}, language ${language}, queue ${target.queue}${opts.html !== undefined ? `; HTML written to ${opts.html}` : ''}\n`);
      print({ template: kind, language, queue: target.queue, source, ...rendered }, opts.json === true, () => `Subject: ${rendered.subject}\n\n${rendered.text}`);
    });
  });

templates
  .command('send-test')
  .description('send a template marked as a test ("[TEST]" subject, test notice) through the configured transport; nothing is recorded on a case')
  .argument('<name>', 'template (all of them: docs/templates.md)')
  .requiredOption('--to <address>', 'recipient: one plain address')
  .option('--case <number>', 'use this case from the database (default: sample data)')
  .option('--lang <language>', 'language of the templates (default: the case’s, else the default language)')
  .option('--queue <queue>', 'queue whose overrides and mailbox apply (default: the case’s, else the first mailbox’s)')
  .option('--json', 'print the result as JSON')
  .action(async (name: string, opts: TemplateTargetOpts & { to: string; json?: boolean }) => {
    await templateAction(async () => {
      const kind = templateKindOf(name);
      const to = parseTestAddress(opts.to);
      const r = resolved();
      const { rendered, target } = await renderForCli(r, kind, opts, true);
      const result = await sendTestEmail(r, { kind, rendered, mailbox: mailboxOfQueue(r.config, target.queue), to });
      print({ template: kind, to, ...result }, opts.json === true, () => `sent "${result.subject}" to ${to} via ${result.transport} (Message-ID <${result.messageId}>): ${result.response}\n`);
    });
  });

templates
  .command('docs')
  .description('write the template reference (docs/templates.md) from the declarations; --check exits 1 when it is out of date')
  .option('--check', 'do not write; exit 1 when the file is not current')
  .option('--out <file>', 'the file to write or check', TEMPLATE_DOCS_PATH)
  .action((opts: { check?: boolean; out: string }) => {
    const file = resolvePath(opts.out);
    const wanted = renderTemplateDocs();
    if (opts.check === true) {
      let current: string | null = null;
      try {
        current = readFileSync(file, 'utf8');
      } catch {
        current = null;
      }
      if (current === wanted) {
        process.stdout.write(`${file} is up to date\n`);
        return;
      }
      process.stderr.write(`${file} is ${current === null ? 'missing' : 'out of date'}: run "casegate templates docs" (or "npm run casegate -- templates docs") and commit it\n`);
      process.exitCode = 1;
      return;
    }
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, wanted);
    process.stdout.write(`wrote ${file}\n`);
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
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    process.stderr.write(`casegate: cannot listen: ${(err as Error).message} (see listener.host / listener.port)\n`);
    process.exit(1);
  }
  process.stderr.write(`casegate: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
