import type { Command } from 'commander';
import { print, withContext } from './shared.js';
import { startProgress } from './progress.js';

export function registerImportCommands(program: Command): void {
  program
    .command('import')
    .description('import history from another tool (mbox, Maildir or a folder of .eml): oldest first, cases keep their dates, threads by References, nothing sent; safe to run again')
    .option('--mbox <file>', 'an mbox file (mboxrd/mboxo, e.g. an export of Zammad, RT, Thunderbird, Gmail Takeout)')
    .option('--maildir <dir>', 'a Maildir folder (cur/ and new/)')
    .option('--eml <dir>', 'a folder of .eml files')
    .option('-m, --mailbox <name>', 'mailbox the mail belongs to (default: from its recipient headers)')
    .option('--notify', 'send what the mail would cause (confirmations, agent notifications); default: recorded, not sent')
    .option('--json', 'print the summary as JSON')
    .action(async (opts: { mbox?: string; maildir?: string; eml?: string; mailbox?: string; notify?: boolean; json?: boolean }) => {
      const given = [opts.mbox !== undefined ? ({ kind: 'mbox', path: opts.mbox } as const) : null, opts.maildir !== undefined ? ({ kind: 'maildir', path: opts.maildir } as const) : null, opts.eml !== undefined ? ({ kind: 'eml', path: opts.eml } as const) : null].filter((x) => x !== null);
      if (given.length !== 1) {
        process.stderr.write('casegate import: give exactly one of --mbox FILE, --maildir DIR, --eml DIR\n');
        process.exitCode = 64;
        return;
      }
      const { importMail, ImportSourceError } = await import('../ops/import-mail.js');
      await withContext(async (ctx) => {
        const mailbox = opts.mailbox !== undefined ? ctx.mailboxes.byName(opts.mailbox) : undefined;
        if (mailbox === null) {
          process.stderr.write(`casegate import: no mailbox "${opts.mailbox}" (mailboxes: ${ctx.config.mailboxes.map((m) => m.name).join(', ')})\n`);
          process.exitCode = 1;
          return;
        }
        let s: Awaited<ReturnType<typeof importMail>>;
        try {
          s = await importMail(ctx, given[0]!, { notify: opts.notify === true, ...(mailbox !== undefined ? { mailbox } : {}) }, (label, total) => startProgress(`import: ${label}`, total));
        } catch (err) {
          if (!(err instanceof ImportSourceError)) throw err;
          process.stderr.write(`casegate import: ${err.message}\n`);
          process.exitCode = 1;
          return;
        }
        print(s, opts.json === true, () =>
          `imported ${s.messages} message(s) in ${s.seconds.toFixed(1)} s${s.from !== null ? ` (${s.from.slice(0, 10)} … ${s.to!.slice(0, 10)})` : ''}: ${s.stored} stored (${s.newCases} new cases), ${s.duplicates} already there, ${s.ignored} ignored, ${s.quarantined} quarantined${s.retry > 0 ? `, ${s.retry} to retry (run again)` : ''}${s.refused > 0 ? `, ${s.refused} refused` : ''}${s.tooBig > 0 ? `, ${s.tooBig} too big (listener.maxMessageBytes)` : ''}; ${opts.notify === true ? 'confirmations and notifications queued' : 'nothing sent (historic mail)'}\n`,
        );
        if (s.retry > 0) process.exitCode = 75;
      });
    });
}
