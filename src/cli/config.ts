import type { Command } from 'commander';
import { redactUrl } from '../db/dialect-postgres.js';
import { problemLine } from '../config/load.js';
import { resolved } from './shared.js';

export function registerConfigCommands(program: Command): void {
  const config = program
    .command('config')
    .description('validate the configuration (and the templates against it, as the daemon does at start) and print it resolved (secrets hidden)')
    .action(async () => {
      const r = resolved('required');
      for (const w of r.warnings) process.stderr.write(`warning: ${problemLine(w, r.lineOf)}\n`);
      // The daemon checks the templates against this configuration at start and refuses with their
      // problems (a queue renamed while its template folder keeps the old name): so does this check.
      // Only an admin's folder (templates.dir) can disagree with a configuration; the shipped set
      // fits any (and its check costs a second of CPU).
      const problems = r.config.templates.dir !== undefined ? (await import('../mail-out/templates.js')).checkTemplateDir((await import('../mail-out/template-tools.js')).templateEngineOptions(r)) : [];
      if (problems.length > 0) {
        process.stderr.write(`casegate: templates in ${r.paths.templatesDir} have problems with this configuration: the daemon would not start (exit 78) and a reload would be refused:\n${problems.map((p) => `  ${p.file}${p.line !== null ? `:${p.line}` : ''}: ${p.message}`).join('\n')}\n`);
        process.exitCode = 78;
        return;
      }
      // A database URL may carry a password too (postgres://user:pw@host/db).
      const hide = (k: string, v: unknown): unknown => (/(secret|password)$/i.test(k) && typeof v === 'string' ? '***' : k === 'url' && typeof v === 'string' && /^postgres/.test(v) ? redactUrl(v) : v);
      const shown = JSON.parse(JSON.stringify(r.config, hide)) as unknown;
      process.stdout.write(JSON.stringify({ source: r.source ?? 'embedded default', paths: r.paths, config: shown }, null, 2) + '\n');
    });
  config
    .command('explain')
    .description('what the configuration does with a new message to ADDRESS: mailbox, rules, queue, priority, language, calendar, SLA targets, owner and who is told, confirmation template files')
    .argument('[address...]', 'recipient address(es) (the envelope: the first one of ours is where it arrives); with --eml, the message\'s To and Cc follow')
    .option('--eml <file>', 'take sender, To, Cc, subject, text, headers and Content-Language from a message file (a mail that went to the wrong queue)')
    .option('--cc <address...>', 'Cc addresses')
    .option('--from <address>', 'sender address (default customer@example.net)')
    .option('--subject <text>', 'subject')
    .option('--body <text>', 'the new text of the message')
    .option('--header <line...>', 'a header as "Name: value" (rules matching headers)')
    .option('--content-language <tag>', 'the Content-Language the message declares')
    .option('--json', 'machine-readable output')
    .action(async (to: string[], opts: { eml?: string; cc?: string[]; from?: string; subject?: string; body?: string; header?: string[]; contentLanguage?: string; json?: boolean }) => {
      const { explainConfig } = await import('./config-explain.js');
      process.exitCode = await explainConfig(resolved(), to, opts);
    });
}
