/**
 * The one parser of agents' email commands (pure functions over text).
 *
 * Commands stand on the first non-empty lines of an agent's new text, one per line:
 *
 *   #resolve  #close  #pending  #open  #reopen  #note
 *   #hold [expected time]          technical review ("#hold 3–5 business days")
 *   #priority <level>              #assign <agent | me>
 *   #escalate [tier] [reason]      #tier <tier>   (1–3)
 *   #bug <immediately | weeks | months | not-foreseeable>
 *   #call [when]                   #tag <name>
 *   #cc <address> …                #uncc <address> …   (who else gets the case's mail)
 *
 * Everything below the command lines is the agent's text (a reply to the customer, or the note).
 * A known command further down on a line of its own still counts (and is taken out of the text:
 * a command line is never relayed to a customer). An unknown "#word" among the leading command
 * lines, or a malformed command anywhere, is an error: the mail then changes nothing and the agent
 * gets the syntax back. ">" quotes never hold commands.
 */

import { TAG_NAME } from './tag-name.js';

export type BugTimeline = 'immediately' | 'weeks' | 'months' | 'not-foreseeable';
export const BUG_TIMELINES: readonly BugTimeline[] = ['immediately', 'weeks', 'months', 'not-foreseeable'];

/** Status commands and the status they set. */
export const STATUS_COMMANDS = { resolve: 'resolved', close: 'closed', pending: 'pending', hold: 'on_hold', open: 'open', reopen: 'open' } as const;
export type StatusCommand = keyof typeof STATUS_COMMANDS;

export type AgentCommand =
  | { readonly kind: 'escalate'; readonly level: number | null; readonly reason: string; readonly line: string }
  | { readonly kind: 'assign'; readonly agent: string; readonly line: string }
  | { readonly kind: 'priority'; readonly level: string; readonly line: string }
  | { readonly kind: 'status'; readonly command: StatusCommand; readonly to: (typeof STATUS_COMMANDS)[StatusCommand]; readonly text: string; readonly line: string }
  | { readonly kind: 'bug'; readonly timeline: BugTimeline; readonly line: string }
  | { readonly kind: 'call'; readonly when: string; readonly line: string }
  | { readonly kind: 'tag'; readonly tag: string; readonly line: string }
  | { readonly kind: 'note'; readonly line: string }
  | { readonly kind: 'cc'; readonly add: boolean; readonly addresses: readonly string[]; readonly line: string }
  | { readonly kind: 'invalid'; readonly line: string; readonly why: string };

export type ValidCommand = Exclude<AgentCommand, { kind: 'invalid' }>;

/** One line of syntax per command (the error email lists them). */
export const COMMAND_SYNTAX: readonly { readonly usage: string; readonly meaning: string }[] = [
  { usage: '#resolve', meaning: 'resolve the case (the customer gets the resolved email)' },
  { usage: '#close', meaning: 'close the case' },
  { usage: '#pending', meaning: 'wait for the customer (your text is the question)' },
  { usage: '#hold [expected time]', meaning: 'on hold for technical review, e.g. #hold 1–2 business days' },
  { usage: '#open', meaning: 'back to open (from pending or on hold)' },
  { usage: '#reopen', meaning: 'reopen a resolved or closed case' },
  { usage: '#priority <level>', meaning: 'set the priority, e.g. #priority high' },
  { usage: '#assign <agent | me>', meaning: 'give the case to an agent of its queue (name or address)' },
  { usage: '#escalate [tier] [reason]', meaning: 'escalate one tier up, or to tier 1–3 (#tier 2 too)' },
  { usage: '#bug <immediately | weeks | months | not-foreseeable>', meaning: 'a bug: the customer is told when a fix is expected; the case is resolved and tagged bug' },
  { usage: '#call [when]', meaning: 'the customer asked for a phone call: tagged call, the owner is notified' },
  { usage: '#tag <name>', meaning: 'tag the case (letters, digits, - _ : ., at most 64)' },
  { usage: '#note', meaning: 'the whole mail is an internal note (never sent to the customer)' },
  { usage: '#cc <address> …', meaning: 'copy these addresses on the case’s mail from now on (they become participants)' },
  { usage: '#uncc <address> …', meaning: 'stop copying these addresses (the requester stays)' },
];

const VERBS = ['resolve', 'close', 'pending', 'hold', 'open', 'reopen', 'priority', 'assign', 'escalate', 'tier', 'bug', 'call', 'tag', 'note', 'cc', 'uncc'] as const;

/** A bare address as an agent types it (angle brackets allowed): lower-cased, or null. */
const ADDRESS = /^<?([^\s@<>()",;:\\[\]]+@[^\s@<>()",;:\\[\]]+\.[^\s@<>()",;:\\[\].]+)>?$/u;
type Verb = (typeof VERBS)[number];

/** A line holding a known command: "#verb" then whitespace or the end. */
const KNOWN = new RegExp(`^[ \\t]*#(${VERBS.join('|')})(?![\\p{L}\\p{N}_-])[ \\t]*(.*?)[ \\t]*$`, 'iu');
/** Any "#word" line (in the leading block: an attempted command). */
const ANY = /^[ \t]*#([\p{L}][\p{L}\p{N}_-]*)(.*)$/u;

function parseOne(verb: Verb, args: string, line: string): AgentCommand {
  const bad = (why: string): AgentCommand => ({ kind: 'invalid', line, why });
  switch (verb) {
    case 'escalate':
    case 'tier': {
      const a = /^(\d+)?(?:\s+(.*))?$/.exec(args);
      const level = a?.[1] !== undefined ? Number(a[1]) : null;
      if (a === null || (verb === 'tier' && level === null)) return bad(verb === 'tier' ? '#tier needs a level: #tier 2' : '#escalate takes an optional level 1–3: #escalate 2');
      if (level !== null && (level < 1 || level > 3)) return bad(`level ${level} does not exist (tiers 1–3)`);
      return { kind: 'escalate', level, reason: a[2]?.trim() ?? '', line };
    }
    case 'assign':
      return args === '' ? bad('#assign needs an agent: #assign Erika, #assign erika@example.com or #assign me') : { kind: 'assign', agent: args, line };
    case 'priority':
      return args === '' || /\s/.test(args) ? bad('#priority needs one level: #priority high') : { kind: 'priority', level: args, line };
    case 'bug': {
      const t = args.toLowerCase().replace(/\s+/g, '-');
      const timeline = BUG_TIMELINES.find((x) => x === t);
      return timeline === undefined ? bad(`#bug needs when a fix is expected: #bug ${BUG_TIMELINES.join(' | ')}`) : { kind: 'bug', timeline, line };
    }
    case 'call':
      return { kind: 'call', when: args, line };
    case 'tag': {
      const tag = args.toLowerCase();
      return TAG_NAME.test(tag) ? { kind: 'tag', tag, line } : bad('#tag needs one name of letters, digits, - _ : . (at most 64) — e.g. #tag vpn');
    }
    case 'note':
      return args === '' ? { kind: 'note', line } : bad('#note stands alone on the first line; write the note below it');
    case 'cc':
    case 'uncc': {
      const words = args.split(/[\s,;]+/).filter((w) => w !== '');
      const addresses = words.map((w) => ADDRESS.exec(w)?.[1]?.toLowerCase() ?? null);
      if (words.length === 0) return bad(`#${verb} needs one or more addresses: #${verb} colleague@customer.example`);
      const wrong = words.find((_, i) => addresses[i] === null);
      if (wrong !== undefined) return bad(`"${wrong}" is not an email address`);
      return { kind: 'cc', add: verb === 'cc', addresses: [...new Set(addresses as string[])], line };
    }
    case 'hold':
      return { kind: 'status', command: 'hold', to: 'on_hold', text: args, line };
    default:
      return args === '' ? { kind: 'status', command: verb, to: STATUS_COMMANDS[verb], text: '', line } : bad(`#${verb} takes no argument: write your text on the lines below it`);
  }
}

export interface AgentMailText {
  /** Every command, in order (invalid ones included). */
  readonly commands: readonly AgentCommand[];
  /** The agent's own text without the command lines, trimmed ("" when there is none). */
  readonly text: string;
}

/** Split an agent's new text into commands and text. */
export function parseAgentMail(visibleText: string): AgentMailText {
  const lines = visibleText.split(/\r?\n/);
  const commands: AgentCommand[] = [];
  const text: string[] = [];
  let leading = true;
  for (const raw of lines) {
    const line = raw.trim();
    if (/^\s*>/.test(raw)) {
      leading = false;
      text.push(raw);
      continue;
    }
    if (leading && line === '') continue;
    const known = KNOWN.exec(raw);
    if (known !== null) {
      commands.push(parseOne(known[1]!.toLowerCase() as Verb, known[2] ?? '', line));
      continue;
    }
    const any = leading ? ANY.exec(raw) : null;
    if (any !== null) {
      commands.push({ kind: 'invalid', line, why: `#${any[1]} is not a command` });
      continue;
    }
    leading = false;
    text.push(raw);
  }
  return { commands, text: text.join('\n').trim() };
}

/** Agent commands of a text, in order (see parseAgentMail). */
export function parseAgentCommands(text: string): AgentCommand[] {
  return [...parseAgentMail(text).commands];
}
