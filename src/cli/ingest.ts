import type { Command } from 'commander';
import { ingestFiles } from '../channels/pipe.js';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { print, withContext } from './shared.js';
import { startProgress } from './progress.js';

/** "12 message(s): stored 10, ignored 2" — for a person at a terminal (scripts read the per-file lines). */
function summaryLine(kinds: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const k of kinds) counts.set(k, (counts.get(k) ?? 0) + 1);
  return `${kinds.length} message(s): ${[...counts].map(([k, n]) => `${k} ${n}`).join(', ')}\n`;
}

/** Folders become their .eml files (sorted); files stay as given. */
function expandDirectories(args: readonly string[]): string[] {
  return args.flatMap((a) => {
    try {
      if (!statSync(a).isDirectory()) return [a];
    } catch {
      return [a]; // reported as unreadable by ingestFiles
    }
    return readdirSync(a)
      .filter((f) => f.toLowerCase().endsWith('.eml'))
      .sort()
      .map((f) => join(a, f));
  });
}

/** A write to stdout or stderr that failed (the reader went away): nothing to do (see ingest's action). */
function ignoreWriteError(): void {}

/**
 * The log lines of one message piped in by an MTA, held until its result line is out. The MTA reads
 * stdout and stderr as one text and keeps its start as the delivery status (Postfix's pipe(8): the
 * first 100 characters, "delivered via casegate service (…)" or a deferral's reason): that start
 * must be "stdin: stored (case 10042) — new case (new)" or "casegate ingest: <why not>", not the
 * first JSON line ("email templates loaded"). The lines follow it, in order, at the end.
 */
class HeldLines {
  private readonly lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
  }
  flush(): void {
    for (const line of this.lines.splice(0)) process.stderr.write(line);
  }
}

export function registerIngestCommands(program: Command): void {
  program
    .command('ingest')
    .description('read messages from .eml files or stdin (MTA pipe); exit 0 when committed, 75 to make the MTA retry')
    .argument('[files...]', '.eml files or folders of them (none: read one message from stdin)')
    .option('-m, --mailbox <name>', 'mailbox the message arrived in')
    .option('-r, --recipient <address>', 'envelope recipient (picks the mailbox)')
    .option('-s, --sender <address>', 'envelope sender')
    .option('--json', 'print outcomes as JSON')
    .action(async (files: string[], opts: { mailbox?: string; recipient?: string; sender?: string; json?: boolean }) => {
      // What ingest prints is for the MTA's log only. A reader that went away (EPIPE: the pipe
      // closed) changes nothing about the outcome, and must not crash the command into exit 1,
      // which an MTA bounces — a message stored, or not yet taken, returned to its sender.
      // Once per process: the CLI run in a test's process (cli-in-process) runs many commands.
      for (const out of [process.stdout, process.stderr]) if (!out.listeners('error').includes(ignoreWriteError)) out.on('error', ignoreWriteError);
      let code = 0;
      // From an MTA (the message on stdin, stderr no terminal): the result line first (HeldLines).
      const held = files.length === 0 && process.stderr.isTTY !== true ? new HeldLines() : null;
      try {
        await withContext(async (ctx) => {
          const list = expandDirectories(files);
          const bar = startProgress('ingest', list.length, list.length > 1 && process.stderr.isTTY === true);
          const results = await ingestFiles(ctx, list, { ...opts }, () => bar.tick());
          bar.stop();
          code = Math.max(0, ...results.map((r) => r.exitCode));
          print(results, opts.json === true, () =>
            results
              .map((r) => `${r.source}: ${r.outcome.kind}${'caseNumber' in r.outcome && r.outcome.caseNumber !== null ? ` (case ${r.outcome.caseNumber})` : ''} — ${r.outcome.reason}\n`)
              .join('') + (results.length > 1 && process.stdout.isTTY === true ? summaryLine(results.map((r) => r.outcome.kind)) : ''),
          );
       }, { logLevel: 'info', ...(held !== null ? { logDestination: held } : {}) });
      } catch (err) {
        // Whatever went wrong (even a broken config; on PostgreSQL a host whose instance secret
        // differs from the daemons', checked by withContext), the MTA must keep the message and retry.
        process.stderr.write(`casegate ingest: ${(err as Error).message}\n`);
        code = 75;
      }
      held?.flush();
      process.exitCode = code;
    });

}
