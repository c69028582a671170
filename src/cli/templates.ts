import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { Option, type Command } from 'commander';
import type { ResolvedConfig } from '../config/load.js';
import { sampleSavedReplyData, type TemplateName } from '../mail-out/template-data.js';
import { TEMPLATE_DOCS_PATH, renderTemplateDocs } from '../mail-out/template-docs.js';
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
} from '../mail-out/template-tools.js';
import { checkTemplateDir, loadTemplates, overlaySummary, type OverlaySummary, templateCheckCache, templateLanguage, type RenderedEmail } from '../mail-out/templates.js';
import { mailZone } from '../mail-out/compose.js';
import { cliLogger, print, resolved, withContext } from './shared.js';

export function registerTemplateCommands(program: Command): void {
  const templates = program.command('templates').description('the Handlebars templates of outgoing mail');
  templates
    .command('check')
    .description('compile every template; report unknown variables, missing partials and syntax errors with file:line')
    .action(() => {
      const r = resolved();
      const eopts = templateEngineOptions(r);
      const problems = checkTemplateDir(eopts);
      for (const p of problems) process.stdout.write(`${p.file}${p.line !== null ? `:${p.line}` : ''}: ${p.message}\n`);
      const overlay = overlaySummary(eopts);
      const where = overlay === null ? r.paths.templatesDir : `${r.paths.templatesDir} over the shipped templates: ${overlayCounts(overlay)}`;
      process.stdout.write(problems.length === 0 ? `templates OK (${where})\n` : `${problems.length} problem(s)\n`);
      if (overlay !== null) for (const line of overlayNotes(overlay)) process.stdout.write(`note: ${line}\n`);
      process.exitCode = problems.length === 0 ? 0 : 1;
    });


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
    .command('replies')
    .description('list the saved replies ("#saved <name>", cases reply --saved <name>) a case of this queue and language can use, one name a line')
    .option('--queue <queue>', 'queue whose replies/ folders apply (default: the first mailbox’s)')
    .option('--lang <language>', 'language (default: the queue’s, else the default language)')
    .option('--show <name>', 'print this saved reply rendered with the sample data instead')
    .option('--json', 'print queue, language and the names (or the shown text) as JSON')
    .action((opts: { queue?: string; lang?: string; show?: string; json?: boolean }) =>
      templateAction(() => {
        const r = resolved();
        const eopts = templateEngineOptions(r);
        if (opts.queue !== undefined && !eopts.queues.includes(opts.queue)) throw new TemplateToolError(`queue "${opts.queue}" is not configured; queues: ${eopts.queues.join(', ')}`);
        const queue = opts.queue ?? eopts.queues[0] ?? 'support';
        const language = templateLanguage(opts.lang ?? r.config.queues[queue]?.language ?? r.config.cases.defaultLanguage, eopts);
        const engine = loadTemplates({ ...eopts, watch: false, log: cliLogger(r), check: 'cached', cacheFile: templateCheckCache(r.paths.dataDir), cacheKey: r.secret.current.secret });
        try {
          const names = engine.savedReplies({ language, queue });
          if (opts.show !== undefined) {
            const sample = sampleSavedReplyData();
            const text = engine.renderSavedReply(opts.show.toLowerCase(), { ...sample, mailbox: { ...sample.mailbox, queue }, case: { ...sample.case, language } }, { language, queue });
            if (text === null) throw new TemplateToolError(`no saved reply "${opts.show}" for queue ${queue}, language ${language} (saved replies: ${names.join(', ') || 'none'})`);
            print({ queue, language, name: opts.show.toLowerCase(), text }, opts.json === true, () => `${text}\n`);
            return;
          }
          print({ queue, language, replies: names }, opts.json === true, () => names.map((n) => `${n}\n`).join(''));
        } finally {
          engine.close();
        }
      }),
    );

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
}

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
      return { rendered: ctx.templates.render(kind, c.data, { ...target, zone: mailZone(ctx.config, kind, target.queue) }), target, source: `case ${number}` };
      // A preview only looks; send-test sends a real case's links and references: the secret is checked.
    }, { access: isTest ? 'change' : 'look' });
  }
  const engine = loadTemplates({ ...eopts, watch: false, log: cliLogger(r), check: 'cached', cacheFile: templateCheckCache(r.paths.dataDir), cacheKey: r.secret.current.secret });
  try {
    const queue = opts.queue ?? eopts.queues[0] ?? 'support';
    const target = { language: opts.lang ?? r.config.queues[queue]?.language ?? r.config.cases.defaultLanguage, queue };
    return { rendered: engine.render(kind, sampleDataFor(kind, r.config, target, isTest), target), target, source: 'sample data' };
  } finally {
    engine.close();
  }
}

function overlayCounts(o: OverlaySummary): string {
  const own = o.replaced.length - o.unchanged.length;
  return `${own} file${own === 1 ? '' : 's'} of yours replace${own === 1 ? 's' : ''} shipped ones, ${o.added.length} added, every other file is casegate's`;
}

/** What an admin may want to act on: copies that hide later fixes, a text and an html part that can tell different things. */
function overlayNotes(o: OverlaySummary): string[] {
  const notes: string[] = [];
  if (o.unchanged.length > 0) {
    notes.push(
      `${o.unchanged.length} file${o.unchanged.length === 1 ? ' is' : 's are'} the same as the shipped one${o.unchanged.length === 1 ? '' : 's'} (${o.unchanged.slice(0, 5).join(', ')}${o.unchanged.length > 5 ? ', …' : ''}): ` +
        `delete ${o.unchanged.length === 1 ? 'it' : 'them'} from your folder and casegate’s later changes reach your customers`,
    );
  }
  for (const m of o.mixed) notes.push(`${m.kind}: ${m.yours} is yours, ${m.shipped} is the shipped one — mail readers that show the other part see casegate’s wording`);
  return notes;
}
