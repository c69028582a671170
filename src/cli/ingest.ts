import type { Command } from 'commander';
import { ingestFiles } from '../channels/pipe.js';
import { print, withContext } from './shared.js';

export function registerIngestCommands(program: Command): void {
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

}
