import { Option, type Command } from 'commander';
import { assignFromCli, CaseCommandError, escalateFromCli, priorityFromCli } from '../cases/case-commands.js';
import { priorityScheme } from '../cases/priority.js';
import type { AppContext } from '../context.js';
import { listCases } from '../db/repos/cases.js';
import { markHam } from '../cases/spam-review.js';
import { caseDetail, formatCaseDetail, formatCaseList } from '../views.js';
import { print, withContext } from './shared.js';

export function registerCaseCommands(program: Command): void {
  const cases = program.command('cases').description('look at and work on cases');
  cases
    .command('list')
    .description('most severe priority first (the priority scheme’s order), newest first within a priority')
    .addOption(new Option('--status <status...>', 'only these statuses').choices(['new', 'open', 'pending', 'on_hold', 'resolved', 'closed']))
    .option('--queue <queue>', 'only this queue')
    .option('--owner <agent>', 'only cases owned by this agent (address)')
    .option('--escalated', 'only escalated cases')
    .option('--feedback', 'only feedback (from feedback queues)')
    .option('--spam', 'only suspected spam (left out by default; `cases ham N` releases a case)')
    .addOption(new Option('--sort <order>', 'priority: most severe first; newest: by case number only').choices(['priority', 'newest']).default('priority'))
    .option('--limit <n>', 'at most n cases', (v) => Number.parseInt(v, 10), 50)
    .option('--json', 'JSON output')
    .action(async (opts: { status?: string[]; queue?: string; owner?: string; escalated?: boolean; feedback?: boolean; spam?: boolean; sort: string; limit: number; json?: boolean }) => {
      await withContext(async (ctx) => {
        const rows = await listCases(ctx.db, {
          ...(opts.status ? { status: opts.status } : {}),
          ...(opts.queue ? { queue: opts.queue } : {}),
          ...(opts.owner ? { owner: opts.owner.toLowerCase() } : {}),
          ...(opts.escalated ? { escalated: true } : {}),
          ...(opts.feedback ? { kind: 'feedback' as const } : {}),
          spam: opts.spam === true,
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
    .command('ham')
    .description('a suspected-spam case is a real customer’s: back into the case list, the held confirmation is sent, the queue’s assignment runs')
    .argument('<number>', 'case number')
    .option('--json', 'JSON output')
    .action(async (number: string, opts: { json?: boolean }) => {
      await caseCommand(async (ctx) => {
        const out = await markHam(ctx, caseNumberArg(number));
        print({ case: out.caseRow.number, confirmation: out.confirmation, owner: out.caseRow.owner, summary: out.summary }, opts.json === true, () => `${out.summary}\n`);
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

}

export function caseNumberArg(value: string): number {
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
