import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { BUG_TIMELINES } from '../cases/agent-commands.js';
import { CaseCommandError } from '../cases/case-command-error.js';
import type { CliWork, CliWorkOutcome } from '../cases/case-commands.js';
import { caseCommand, caseNumberArg } from './case-args.js';
import { print } from './shared.js';
import { safeLine } from './terminal.js';
import { unreachableNote } from '../storage/data-dir-owner.js';

/** The case commands' work, loaded when a command runs (not for `cases list` or `cases show`). */
const caseWork = (): Promise<typeof import('../cases/case-commands.js')> => import('../cases/case-commands.js');

/**
 * `casegate cases reply | note | resolve | close | reopen | open | pending | hold | bug | call |
 * tag | assign | priority | escalate`: the same work as agents' email commands. The outbox rows
 * they write are sent by the running daemon. Who works: --agent (name or address of an agent of
 * the case's queue), default $CASEGATE_AGENT; the reply goes out From the mailbox with that name.
 */

interface TextOptions {
  message?: string;
  saved?: string;
  file?: string;
  attach?: string[];
  agent?: string;
  json?: boolean;
}

const agentOption = ['--agent <agent>', 'you, an agent of the case’s queue (name or address; default $CASEGATE_AGENT)'] as const;

function agentOf(opts: { agent?: string }): { agent?: string } {
  const a = opts.agent ?? process.env['CASEGATE_AGENT'];
  return a !== undefined && a !== '' ? { agent: a } : {};
}

/** Text from --message, --file (- = stdin) or, when `editor` is allowed, $VISUAL / $EDITOR; "" when none is given. */
function readText(opts: TextOptions, editor: boolean): string {
  if (opts.message !== undefined && opts.file !== undefined) throw new CaseCommandError('give --message or --file, not both');
  if (opts.message !== undefined) return opts.message;
  if (opts.file !== undefined) {
    try {
      return readFileSync(opts.file === '-' ? 0 : opts.file, 'utf8');
    } catch (err) {
      throw new CaseCommandError(`cannot read --file ${opts.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}${unreachableNote(err)}`);
    }
  }
  if (!editor) return '';
  const cmd = process.env['VISUAL'] ?? process.env['EDITOR'] ?? '';
  if (cmd === '') throw new CaseCommandError('no text: give --message <text>, --file <path> or set $EDITOR');
  const dir = mkdtempSync(join(tmpdir(), 'casegate-msg-'));
  const file = join(dir, 'message.txt');
  try {
    writeFileSync(file, '');
    // Like git: the editor command may carry arguments ("code --wait").
    const r = spawnSync('sh', ['-c', `${cmd} "$1"`, 'editor', file], { stdio: 'inherit' });
    if (r.status !== 0) throw new CaseCommandError(`the editor (${cmd}) exited with ${r.status ?? r.signal}: nothing sent`);
    return readFileSync(file, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(out: CliWorkOutcome, json: boolean): void {
  const c = out.caseRow;
  print(
    { case: out.caseNumber, status: c.status, priority: c.priority, owner: c.owner, done: out.done, repliedTo: out.repliedTo, statusEmail: out.statusEmail },
    json,
    () => `case ${out.caseNumber} (${c.status}, ${c.priority}${c.owner !== null ? `, owner ${c.owner}` : ''}): ${out.done.map(safeLine).join('; ') || 'nothing changed'}\n`,
  );
}

function run(number: string, opts: TextOptions, work: (text: string) => CliWork, editor = false): Promise<void> {
  return caseCommand(async (ctx) => {
    const n = caseNumberArg(number);
    const text = readText(opts, editor);
    const out = await (await caseWork()).workFromCli(ctx, n, { ...work(text), files: opts.attach ?? [], ...agentOf(opts) });
    report(out, opts.json === true);
  });
}

function textOptions(cmd: Command, what: string): Command {
  return cmd
    .option('--message <text>', what)
    .option('--file <path>', `${what}, from a file (- = stdin)`)
    .option(...agentOption)
    .option('--json', 'JSON output');
}

export function registerCaseWorkCommands(cases: Command): void {
  textOptions(cases.command('reply').description('answer the customer (and every external participant): From the mailbox with your name, in their thread').argument('<number>', 'case number'), 'the reply ($EDITOR when neither is given)')
    .option('--attach <file...>', 'attach files')
    .option('--saved <name>', 'the saved reply <name> (casegate templates replies), after the --message/--file text if any; or write "#saved <name>" lines in that text')
    .action((number: string, opts: TextOptions) =>
      run(
        number,
        opts,
        (text) => {
          const full = opts.saved !== undefined ? `${text.trimEnd()}\n\n#saved ${opts.saved}` : text;
          if (full.trim() === '') throw new CaseCommandError('empty reply: nothing sent');
          return { text: full };
        },
        opts.saved === undefined,
      ),
    );
  textOptions(cases.command('note').description('an internal note: shown to agents, never sent to the customer').argument('<number>', 'case number'), 'the note ($EDITOR when neither is given)')
    .option('--attach <file...>', 'keep files with the note')
    .action((number: string, opts: TextOptions) =>
      run(
        number,
        opts,
        (text) => {
          if (text.trim() === '') throw new CaseCommandError('empty note: nothing stored');
          return { text, note: true };
        },
        true,
      ),
    );

  const statusCommands: [string, string, string][] = [
    ['resolve', '#resolve', 'resolve the case: the customer gets the resolved email ("reply within N days to reopen")'],
    ['close', '#close', 'close the case'],
    ['reopen', '#reopen', 'reopen a resolved or closed case'],
    ['open', '#open', 'back to open (from pending or on hold)'],
    ['pending', '#pending', 'wait for the customer (--message: your question)'],
  ];
  for (const [name, command, description] of statusCommands) {
    textOptions(cases.command(name).description(`${description}; with --message also a reply`).argument('<number>', 'case number'), 'a reply sent with the change').action((number: string, opts: TextOptions) => run(number, opts, (text) => ({ commands: command, text })));
  }
  textOptions(cases.command('hold').description('on hold for technical review: the customer gets the on-hold email with the expected time').argument('<number>', 'case number'), 'a reply sent with the change')
    .option('--expected <time>', 'expected time of the review (default queues.<q>.onHoldExpected / cases.onHoldExpected)')
    .action((number: string, opts: TextOptions & { expected?: string }) => run(number, opts, (text) => ({ commands: `#hold ${oneLine(opts.expected ?? '')}`.trim(), text })));
  textOptions(
    cases
      .command('bug')
      .description('a bug: the customer is told when a fix is expected (and your workaround in --message); the case is resolved and tagged bug')
      .argument('<number>', 'case number')
      .argument('<timeline>', BUG_TIMELINES.join(' | ')),
    'a reply (e.g. a workaround) sent with it',
  ).action((number: string, timeline: string, opts: TextOptions) => run(number, opts, (text) => ({ commands: `#bug ${oneLine(timeline)}`, text })));
  cases
    .command('call')
    .description('the customer asks for a phone call: tagged call, the owner is notified')
    .argument('<number>', 'case number')
    .argument('[when...]', 'when they want to be called')
    .option(...agentOption)
    .option('--json', 'JSON output')
    .action((number: string, when: string[], opts: TextOptions) => run(number, opts, () => ({ commands: `#call ${oneLine(when.join(' '))}`.trim() })));
  cases
    .command('tag')
    .description('tag a case')
    .argument('<number>', 'case number')
    .argument('<tag...>', 'tags (letters, digits, - _ : .)')
    .option(...agentOption)
    .option('--json', 'JSON output')
    .action((number: string, tags: string[], opts: TextOptions) => run(number, opts, () => ({ commands: tags.map((t) => `#tag ${oneLine(t)}`).join('\n') })));
  for (const [name, description] of [
    ['cc', 'copy addresses on the case’s mail from now on (they become participants: replies and the case link reach them)'],
    ['uncc', 'stop copying addresses on the case’s mail (the requester stays)'],
  ] as const) {
    cases
      .command(name)
      .description(description)
      .argument('<number>', 'case number')
      .argument('<address...>', 'email addresses')
      .option(...agentOption)
      .option('--json', 'JSON output')
      .action((number: string, addresses: string[], opts: TextOptions) => run(number, opts, () => ({ commands: `#${name} ${addresses.map(oneLine).join(' ')}` })));
  }

  cases
    .command('escalate')
    .description('escalate a case one level (or to --level): alerts that tier of its queue and the owner, and acknowledges to the customer')
    .argument('<number>', 'case number')
    .option('--level <level>', 'set this level (1–3; lower or 0 de-escalates, without mail)', (v) => Number.parseInt(v, 10))
    .option('--reason <text>', 'why (shown to the leads, not to the customer)')
    .option('--json', 'JSON output')
    .action(async (number: string, opts: { level?: number; reason?: string; json?: boolean }) => {
      await caseCommand(async (ctx) => {
        const out = await (await caseWork()).escalateFromCli(ctx, caseNumberArg(number), { ...(opts.level !== undefined ? { level: opts.level } : {}), ...(opts.reason !== undefined ? { reason: opts.reason } : {}) });
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
        const out = await (await caseWork()).assignFromCli(ctx, caseNumberArg(number), agent, opts.note !== undefined ? { note: opts.note } : {});
        print({ case: out.caseRow.number, owner: out.caseRow.owner, previous: out.previous, changed: out.changed, summary: out.summary }, opts.json === true, () => `${out.summary}\n`);
      });
    });
  cases
    .command('move')
    .description('move a case to another queue: its agents, tiers, calendar and SLA, and the mailbox of that queue take over; the new team is told, and the customer when their mail now comes from another address')
    .argument('<number>', 'case number')
    .argument('<queue>', 'queue name (a mailbox queue or queues.<name>)')
    .option('--reason <text>', 'why (recorded in the event)')
    .option('--quiet', 'do not tell the customer that the case\'s mail now comes from another address')
    .option('--json', 'JSON output')
    .action(async (number: string, queue: string, opts: { reason?: string; quiet?: boolean; json?: boolean }) => {
      await caseCommand(async (ctx) => {
        const out = await (await caseWork()).moveFromCli(ctx, caseNumberArg(number), queue, { ...(opts.reason !== undefined ? { reason: opts.reason } : {}), quiet: opts.quiet === true });
        print({ case: out.caseRow.number, queue: out.caseRow.queue, mailbox: out.caseRow.mailbox, owner: out.caseRow.owner, from: out.from, customerTold: out.customerTold, summary: out.summary }, opts.json === true, () => `${out.summary}\n`);
      });
    });
  cases
    .command('merge')
    .description('merge a case into another (the same matter twice): its messages, files, outgoing mail, people and tags move there; it is closed without telling anyone, and mail that names it goes on in the other case')
    .argument('<number>', 'the case that is merged (closed)')
    .argument('<into>', 'the case that goes on')
    .option('--reason <text>', 'why (recorded in the events)')
    .option('--json', 'JSON output')
    .action(async (number: string, into: string, opts: { reason?: string; json?: boolean }) => {
      await caseCommand(async (ctx) => {
        const out = await (await caseWork()).mergeFromCli(ctx, caseNumberArg(number), caseNumberArg(into), { ...(opts.reason !== undefined ? { reason: opts.reason } : {}) });
        print({ case: out.source.number, into: out.target.number, status: out.target.status, moved: out.moved, summary: out.summary }, opts.json === true, () => `${out.summary}\n`);
      });
    });
  cases
    .command('priority')
    .description('set the priority of a case (a level of the configured scheme); a raise is told to the customer (cases.customerUpdates)')
    .argument('<number>', 'case number')
    .argument('<level>', 'priority level, e.g. urgent or S1')
    .option('--reason <text>', 'why')
    .option(...agentOption)
    .option('--json', 'JSON output')
    .action(async (number: string, level: string, opts: { reason?: string; agent?: string; json?: boolean }) => {
      await caseCommand(async (ctx) => {
        const out = await (await caseWork()).priorityFromCli(ctx, caseNumberArg(number), level, { ...(opts.reason !== undefined ? { reason: opts.reason } : {}), ...agentOf(opts) });
        const summary = out.changed ? `case ${out.caseRow.number} priority is now ${out.caseRow.priority}${out.customerTold ? '; customer told' : ''}` : `case ${out.caseRow.number} already has priority ${out.caseRow.priority}`;
        print({ case: out.caseRow.number, priority: out.caseRow.priority, changed: out.changed, customerTold: out.customerTold }, opts.json === true, () => `${summary}\n`);
      });
    });
}

/** Command arguments become one command line (no smuggled second command). */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').trim();
}
