import { InvalidArgumentError, Option, type Command } from 'commander';
import { CaseCommandError } from '../cases/case-command-error.js';
import { priorityScheme } from '../cases/priority.js';
import { findAgent, ownerName, personAddresses } from '../cases/staff.js';
import type { Config } from '../config/schema.js';
import { listCases } from '../db/repos/cases.js';
import { newestHits } from '../db/repos/search.js';
import { parseSearchText, searchExcerpt } from '../cases/search-text.js';
import { addressSpellings } from '../address-form.js';
import { caseDetail } from '../views.js';
import { caseCommand, caseNumberArg, positiveInt } from './case-args.js';
import { registerCaseFileCommands } from './case-files.js';
import { registerCaseWorkCommands } from './case-work.js';
import { formatCaseDetail, formatCaseList, type SearchMatch } from './case-views.js';
import { timeDisplay } from './display-time.js';
import { LOOK, print } from './shared.js';
import { outputWidth } from './terminal.js';

const STATUSES = ['new', 'open', 'pending', 'on_hold', 'resolved', 'closed'];
const ACTIVE = ['new', 'open', 'pending', 'on_hold'];
/** `cases list` and `cases show` render no email: no template set is loaded. */
const READ_ONLY = LOOK;

interface ListOptions {
  status?: string[];
  active?: boolean;
  priority?: string[];
  queue?: string;
  owner?: string;
  agent?: string;
  mine?: boolean;
  unowned?: boolean;
  escalated?: boolean;
  overdue?: boolean;
  dueWithin?: number;
  tag?: string;
  requester?: string;
  search?: string[];
  feedback?: boolean;
  spam?: boolean;
  sort: string;
  limit: number;
  width?: number;
  utc?: boolean;
  json?: boolean;
}

export function registerCaseCommands(program: Command): void {
  // Usage errors are one line (no help dump) with a non-zero exit.
  const cases = program.command('cases').description('look at and work on cases').showHelpAfterError(false);
  cases
    .command('list')
    .description('most urgent first (the priority scheme’s order, then the escalation level), newest first within that')
    .addOption(new Option('--status <status...>', 'only these statuses').choices(STATUSES))
    .option('--active', 'only cases that need work (new, open, pending, on_hold)')
    .option('--priority <level...>', 'only these priorities (levels of the scheme)')
    .option('--queue <queue>', 'only this queue')
    .option('--owner <agent>', 'only cases owned by this agent (name or address)')
    .option('--agent <agent>', 'who you are (name or address; default $CASEGATE_AGENT): with --mine')
    .option('--mine', 'only your cases (--agent or $CASEGATE_AGENT)')
    .option('--unowned', 'only cases without an owner')
    .option('--escalated', 'only escalated cases')
    .option('--overdue', 'only cases that missed an SLA target (first response or resolution due and not done); a DUE column')
    .option('--due-within <time>', 'only cases with an SLA target due within this time (30m, 2h, 1d), overdue ones too; a DUE column', dueWithin)
    .option('--tag <tag>', 'only cases with this tag')
    .option('--requester <address>', 'only cases of this requester (an address, or @domain for all of a domain)')
    .option('--search <words...>', 'only cases with a message (subject, text, sender) that has every word, each as the start of a word; "quoted words" in a row; shows the newest such message')
    .option('--feedback', 'only feedback (from feedback queues)')
    .option('--spam', 'only suspected spam (left out by default; `cases ham N` releases a case)')
    .addOption(new Option('--sort <order>', 'priority: most urgent first; newest: by case number only').choices(['priority', 'newest']).default('priority'))
    .option('--limit <n>', 'at most n cases', positiveInt('--limit'), 50)
    .option('--width <columns>', 'table width (default: the terminal’s; unlimited when not a terminal)', positiveInt('--width'))
    .option('--utc', 'times in UTC (default: jobs.timezone, or the queues’ one calendar zone)')
    .option('--json', 'JSON output (times ISO-8601 UTC)')
    .action(async (opts: ListOptions) => {
      await caseCommand(async (ctx) => {
        const scheme = priorityScheme(ctx.config);
        const priority = (opts.priority ?? []).map((p) => {
          const name = scheme.resolve(p);
          if (name === null) throw new CaseCommandError(`--priority: "${p}" is not a priority level (${scheme.levels.map((l) => l.name).join(', ')})`);
          return name;
        });
        let owner = opts.owner !== undefined ? agentAddress(ctx.config, opts.owner, '--owner') : undefined;
        if (opts.mine === true) {
          const me = opts.agent ?? process.env['CASEGATE_AGENT'] ?? '';
          if (me === '') throw new CaseCommandError('--mine needs to know who you are: --agent <name|address> or CASEGATE_AGENT');
          owner = agentAddress(ctx.config, me, '--agent');
        }
        const status = opts.status ?? (opts.active === true ? ACTIVE : undefined);
        const now = ctx.clock.now().getTime();
        const due = opts.dueWithin !== undefined ? new Date(now + opts.dueWithin).toISOString() : opts.overdue === true ? new Date(now).toISOString() : null;
        const words = opts.search?.join(' ');
        const search = words !== undefined ? parseSearchText(words) : null;
        if (words !== undefined && search === null) throw new CaseCommandError(`--search: "${words}" has no word to look for (letters or digits)`);
        const rows = await listCases(ctx.db, {
          ...(status !== undefined ? { status } : {}),
          ...(priority.length > 0 ? { priority } : {}),
          ...(opts.queue !== undefined ? { queue: opts.queue } : {}),
          // Cases recorded under one of the agent's aliases (their address before a rename) are theirs too.
          ...(owner !== undefined ? { owner: personAddresses(ctx.config, owner) } : {}),
          ...(opts.unowned === true ? { unowned: true } : {}),
          ...(opts.escalated === true ? { escalated: true } : {}),
          ...(due !== null ? { dueBy: due } : {}),
          ...(opts.tag !== undefined ? { tag: opts.tag.toLowerCase() } : {}),
          ...(opts.requester !== undefined ? { requester: requesterSpellings(opts.requester) } : {}),
          ...(search !== null ? { search } : {}),
          ...(opts.feedback === true ? { kind: 'feedback' as const } : {}),
          spam: opts.spam === true,
          ...(opts.sort === 'priority' ? { priorityOrder: scheme.levels } : {}),
          // One more than shown: whether the list was cut (said on stderr, so --json stays an array).
          limit: opts.limit + 1,
        });
        const more = rows.length > opts.limit;
        if (more) {
          rows.pop();
          process.stderr.write(`casegate: more than ${opts.limit} cases match; the first ${opts.limit} are shown (--limit N for more)\n`);
        }
        const names = (a: string): string => ownerNameAnywhere(ctx.config, a);
        const time = timeDisplay(ctx.config, opts.utc === true);
        if (search === null) {
          print(rows, opts.json === true, () => formatCaseList(rows, { width: outputWidth(opts.width), ownerName: names, due: due !== null, time }));
          return;
        }
        const hits = await newestHits(ctx.db, rows.map((r) => r.id), search);
        const matches = new Map<number, SearchMatch>();
        for (const [id, h] of hits) matches.set(id, { message: h.messageId, from: h.fromAddress, at: h.createdAt, excerpt: searchExcerpt(h.text === '' ? h.subject : h.text, search) });
        print(
          rows.map((r) => ({ ...r, match: matches.get(r.id) ?? null })),
          opts.json === true,
          () => formatCaseList(rows, { width: outputWidth(opts.width), ownerName: names, matches, time }),
        );
      }, READ_ONLY);
    });
  cases
    .command('ham')
    .description('a suspected-spam case is a real customer’s: back into the case list, the held confirmation is sent, the queue’s assignment runs')
    .argument('<number>', 'case number')
    .option('--json', 'JSON output')
    .action(async (number: string, opts: { json?: boolean }) => {
      await caseCommand(async (ctx) => {
        const { markHam } = await import('../cases/spam-review.js');
        const out = await markHam(ctx, caseNumberArg(number));
        print({ case: out.caseRow.number, confirmation: out.confirmation, owner: out.caseRow.owner, summary: out.summary }, opts.json === true, () => `${out.summary}\n`);
      });
    });
  cases
    .command('show')
    .description('one case: its thread (← in, → out, internal notes marked), participants, events and outgoing mail')
    .argument('<number>', 'case number')
    .option('--full', 'every line of every message (without it: the first 40 of each, and how many more)')
    .option('--utc', 'times in UTC (default: jobs.timezone, or the queues’ one calendar zone)')
    .option('--json', 'JSON output (times ISO-8601 UTC)')
    .action(async (number: string, opts: { json?: boolean; full?: boolean; utc?: boolean }) => {
      await caseCommand(async (ctx) => {
        const n = caseNumberArg(number);
        const detail = await caseDetail(ctx.db, n);
        if (detail === null) throw new CaseCommandError(`no case ${n}`, true);
        print(detail, opts.json === true, () => formatCaseDetail(detail, (a) => ownerNameAnywhere(ctx.config, a), opts.full === true, timeDisplay(ctx.config, opts.utc === true)));
      }, READ_ONLY);
    });
  registerCaseFileCommands(cases);
  registerCaseWorkCommands(cases);
}

/** The display name of an agent address in any queue ("" when none). */
function ownerNameAnywhere(config: Config, address: string): string {
  for (const q of Object.keys(config.queues)) {
    const n = ownerName(config, q, address);
    if (n !== '') return n;
  }
  return '';
}

/** --due-within: 30m, 2h, 1d (minutes, hours, days) in milliseconds. */
function dueWithin(value: string): number {
  const m = /^\s*(\d{1,6})\s*(m|min|h|d)\s*$/i.exec(value);
  if (m === null) throw new InvalidArgumentError(`"${value}" is no time like 30m, 2h or 1d.`);
  return Number(m[1]) * { m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 }[m[2]!.toLowerCase() as 'm' | 'min' | 'h' | 'd'];
}

/** An agent (name or address) of any queue, as the address; a plain address is taken as it is. */
function agentAddress(config: Config, who: string, option: string): string {
  for (const q of Object.values(config.queues)) {
    const a = findAgent(q.agents, who);
    if (a !== null) return a.address;
  }
  if (/^[^\s@]+@[^\s@]+$/.test(who.trim())) return who.trim().toLowerCase();
  throw new CaseCommandError(`${option}: "${who}" is no agent of any queue`);
}

/** --requester: the spellings of an address as stored, or of "@domain" (its ASCII and Unicode forms). */
function requesterSpellings(value: string): string[] {
  const v = value.trim();
  if (v.startsWith('@')) {
    if (!/^@[^@\s]+$/.test(v)) throw new CaseCommandError(`--requester: "${value}" is no @domain (@example.com)`);
    // The spellings of an address of that domain, without its local part.
    return addressSpellings(`x${v}`).map((a) => a.slice(1));
  }
  if (!/^[^@\s]+@[^@\s]+$/.test(v)) throw new CaseCommandError(`--requester: "${value}" is neither an address nor @domain`);
  return addressSpellings(v);
}
