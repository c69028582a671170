/**
 * The one parser of agents' email commands (pure functions over text).
 *
 * Commands stand on the first non-empty lines of an agent's new text, one per line:
 *
 *   #resolve  #close  #pending  #open  #reopen  #note (also #Notiz, #nota, #notitie, #intern …)
 *   #hold [expected time]          technical review ("#hold 3–5 business days")
 *   #priority <level>              #assign <agent | me>
 *   #escalate [tier] [reason]      #tier <tier>   (1–3)
 *   #bug <immediately | weeks | months | not-foreseeable>
 *   #call [when]                   #tag <name>
 *   #cc <address> …                #uncc <address> …   (who else gets the case's mail)
 *   #queue <name> [quiet]          move the case to another queue (quiet: the customer is not told of a new From address)
 *   #files [id …]                  mail me the case's files (all, or these)
 *   #saved <name>                  a saved reply (templates replies/<name>.text.hbs) goes here in the text
 *   #merge <case>                  merge this case into another ("#merge 10001", "#merge #10001",
 *                                  "#merge [Case #10001]"): alone, or with #note
 *
 * Everything below the command lines is the agent's text (a reply to the customer, or the note).
 * A known command further down on a line of its own still counts (and is taken out of the text:
 * a command line is never relayed to a customer) — except #note, which is an error there. An
 * unknown "#word" among the leading command lines, a misspelt command on a line of its own
 * anywhere, or a malformed command anywhere, is an error: the mail then changes nothing and the
 * agent gets the syntax back. ">" quotes never hold commands.
 *
 * "#saved <name>" is no command but a place in the text: the line stays in `lines` as a SavedLine,
 * and cases/saved-replies.ts puts the rendered saved reply there after the commands were read —
 * rendered text is never read for commands.
 */

import distance from 'damerau-levenshtein';
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
  | { readonly kind: 'queue'; readonly queue: string; readonly quiet: boolean; readonly line: string }
  | { readonly kind: 'status'; readonly command: StatusCommand; readonly to: (typeof STATUS_COMMANDS)[StatusCommand]; readonly text: string; readonly line: string }
  | { readonly kind: 'bug'; readonly timeline: BugTimeline; readonly line: string }
  | { readonly kind: 'call'; readonly when: string; readonly line: string }
  | { readonly kind: 'tag'; readonly tag: string; readonly line: string }
  | { readonly kind: 'note'; readonly line: string }
  | { readonly kind: 'cc'; readonly add: boolean; readonly addresses: readonly string[]; readonly line: string }
  | { readonly kind: 'files'; readonly ids: readonly number[]; readonly line: string }
  | { readonly kind: 'merge'; readonly into: number; readonly line: string }
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
  { usage: '#queue <name> [quiet]', meaning: 'move the case to another queue: its agents, calendar, SLA and mailbox take over; the customer is told when their mail now comes from another address, unless quiet' },
  { usage: '#escalate [tier] [reason]', meaning: 'escalate one tier up, or to tier 1–3 (#tier 2 too)' },
  { usage: '#bug <immediately | weeks | months | not-foreseeable>', meaning: 'a bug: the customer is told when a fix is expected; the case is resolved and tagged bug' },
  { usage: '#call [when]', meaning: 'the customer asked for a phone call: tagged call, the owner is notified' },
  { usage: '#tag <name>', meaning: 'tag the case (letters, digits, - _ : ., at most 64)' },
  { usage: '#note', meaning: 'the whole mail is an internal note (never sent to the customer); #Notiz, #nota, #intern … too' },
  { usage: '#cc <address> …', meaning: 'copy these addresses on the case’s mail from now on (they become participants)' },
  { usage: '#uncc <address> …', meaning: 'stop copying these addresses (the requester stays)' },
  { usage: '#merge <case>', meaning: 'merge this case into that one (#merge 10001): its messages, files, people and tags go there, this case is closed without telling anyone; your text (a reply, or with #note a note) goes to that case; no other command in the same email' },
  { usage: '#saved <name>', meaning: 'put the saved reply <name> here in your text, written for the case (its language and queue): a line of its own, anywhere; your own text stays around it; casegate templates replies lists the names' },
  { usage: '#files [id …]', meaning: 'mail me the case’s files (all, or those with these ids from casegate cases files); what does not fit in one email is named with the command that saves it' },
];

const VERBS = ['resolve', 'close', 'pending', 'hold', 'open', 'reopen', 'priority', 'assign', 'queue', 'escalate', 'tier', 'bug', 'call', 'tag', 'note', 'cc', 'uncc', 'files', 'merge', 'saved'] as const;

/** A bare address as an agent types it (angle brackets allowed): lower-cased, or null. */
const ADDRESS = /^<?([^\s@<>()",;:\\[\]]+@[^\s@<>()",;:\\[\]]+\.[^\s@<>()",;:\\[\].]+)>?$/u;
type Verb = (typeof VERBS)[number];

const KNOWN_VERBS: ReadonlySet<string> = new Set(VERBS);
/**
 * "#note" as teams write it in their own language, or by what it means ("#intern"): a German team's
 * "#Notiz" is a note, never text for the customer — below a reply it is refused like "#note".
 */
const NOTE_WORDS: ReadonlySet<string> = new Set(['notiz', 'nota', 'notitie', 'notat', 'notering', 'anteckning', 'intern', 'internal']);

/** The command a "#word" names (any case; a note word is #note), else null. */
function verbOf(word: string): Verb | null {
  const w = word.toLowerCase();
  if (KNOWN_VERBS.has(w)) return w as Verb;
  return NOTE_WORDS.has(w) ? 'note' : null;
}
/** Invisible characters clients and pastes put into text (zero-width space/joiners, word joiner, BOM). */
const INVISIBLE = /[\u200b-\u200d\u2060\ufeff]/g;
const BULLETS = '-*\u2022\u00b7\u2023\u25e6';
const HASHES = '#\uff03\ufe5f';
const WORD = /^[\p{L}][\p{L}\p{N}_-]*/u;

/** A "#word" line as found by commandLine. */
interface CommandLine {
  /** The word after the "#" (any case). */
  readonly word: string;
  /** What follows the word, trimmed. */
  readonly args: string;
  /** Written with a space after the "#" ("# note"). */
  readonly spaced: boolean;
}

/**
 * Is this line a "#word" command line, as mail clients write it? Before the "#" may stand spaces
 * of any kind (Outlook's &nbsp;, U+3000), invisible characters (zero-width space, BOM), one list
 * bullet (HTML rendered as text: " * #note") and an emphasis mark ("**#note**", "*#note*", which
 * may close the line); a fullwidth "＃" (Asian input methods) or a small "﹟" is a "#". An agent who
 * types "#note" in any of these ways means an internal note: read as text it would go to the
 * customer. Hand-written and linear (a regular expression for this backtracks on long lines).
 */
function commandLine(raw: string): CommandLine | null {
  let s = raw.replace(INVISIBLE, '').trim();
  if (s.length > 1 && BULLETS.includes(s[0]!) && /\s/.test(s[1]!)) s = s.slice(1).trimStart();
  let mark = '';
  while (mark.length < 2 && (s[mark.length] === '*' || s[mark.length] === '_') && (mark === '' || s[mark.length] === mark[0])) mark += s[mark.length];
  if (!HASHES.includes(s[mark.length] ?? ' ')) return null;
  let rest = s.slice(mark.length + 1);
  if (mark !== '' && rest.endsWith(mark)) rest = rest.slice(0, -mark.length).trimEnd();
  const spaced = rest.trimStart() !== rest;
  rest = rest.trimStart();
  const word = WORD.exec(rest)?.[0];
  return word === undefined ? null : { word, args: rest.slice(word.length).trim(), spaced };
}

function parseOne(verb: Verb, given: string, line: string): AgentCommand {
  const bad = (why: string): AgentCommand => ({ kind: 'invalid', line, why });
  // A sentence's full stop or an exclamation mark is no argument: "#resolve." and "#close!" are "#resolve", "#close".
  const args = /^[.!?,;:…]+$/u.test(given) ? '' : given;
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
    case 'queue': {
      const q = /^(\S+)(?:\s+(quiet))?$/i.exec(args);
      return q === null ? bad('#queue needs one queue name, optionally "quiet" (the customer is not told of a new From address): #queue billing, #queue billing quiet') : { kind: 'queue', queue: q[1]!, quiet: q[2] !== undefined, line };
    }
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
    case 'files': {
      const words = args.split(/[\s,;]+/).filter((w) => w !== '');
      const wrong = words.find((w) => !/^#?\d{1,12}$/.test(w));
      if (wrong !== undefined) return bad(`"${wrong}" is not a file id: #files, or #files 7 9 (the ids casegate cases files lists)`);
      return { kind: 'files', ids: [...new Set(words.map((w) => Number(w.replace('#', ''))))], line };
    }
    case 'merge': {
      // The number as agents copy it: 10001, #10001, the subject tag "[Case #10001]" (one word
      // before the "#"). Spaces made one first: no two quantifiers compete for them (linear).
      const m = /^\[? ?(?:\p{L}{1,24} ?)?[#\uff03]? ?(\d{1,12}) ?\]?$/u.exec(args.replace(/\s+/g, ' '));
      return m === null ? bad('#merge needs the number of the case this one goes on in: #merge 10001 (or #merge [Case #10001])') : { kind: 'merge', into: Number(m[1]), line };
    }
    case 'hold':
      return { kind: 'status', command: 'hold', to: 'on_hold', text: args, line };
    case 'saved':
      return bad(SAVED_USAGE); // a well-formed #saved line is text (savedLine), never parsed here
    default:
      return args === '' ? { kind: 'status', command: verb, to: STATUS_COMMANDS[verb], text: '', line } : bad(`#${verb} takes no argument: write your text on the lines below it`);
  }
}

/** The command a misspelt "#word" most likely means (one edit away; two for longer commands), else null. */
function nearestVerb(word: string): Verb | null {
  const w = word.toLowerCase();
  if (w.length > 24) return null;
  for (const v of VERBS) if (distance(w, v).steps <= (v.length >= 6 ? 2 : 1)) return v;
  for (const n of NOTE_WORDS) if (distance(w, n).steps <= (n.length >= 6 ? 2 : 1)) return 'note';
  return null;
}

/** A "#saved <name>" line of the agent's text: the saved reply goes there. */
export interface SavedLine {
  /** The saved reply's name, lower-cased. */
  readonly saved: string;
  /** The line as written (for errors). */
  readonly line: string;
}

/** One line of the agent's text: as written, or a place for a saved reply. */
export type TextLine = string | SavedLine;

const SAVED_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const SAVED_USAGE = '#saved needs the name of one saved reply: #saved need-logs (casegate templates replies lists them)';

/** A "#saved <name>" line (as commandLine reads it), or an error for a malformed one; null for any other line. */
function savedLine(cmd: CommandLine | null, line: string): SavedLine | { readonly invalid: string } | null {
  if (cmd === null || cmd.word.toLowerCase() !== 'saved') return null;
  const name = cmd.args.toLowerCase();
  return SAVED_NAME.test(name) ? { saved: name, line } : { invalid: SAVED_USAGE };
}

/**
 * The "#saved <name>" lines of a text that holds no commands (`casegate cases reply --message`):
 * its lines, with those as SavedLines. ">" quotes are text.
 */
export function savedLines(text: string): { readonly lines: readonly TextLine[]; readonly errors: readonly { line: string; why: string }[] } {
  const lines: TextLine[] = [];
  const errors: { line: string; why: string }[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const s = /^\s*>/.test(raw) ? null : savedLine(commandLine(raw), raw.trim());
    if (s !== null && 'invalid' in s) errors.push({ line: raw.trim(), why: s.invalid });
    lines.push(s !== null && 'saved' in s ? s : raw);
  }
  return { lines, errors };
}

/** The text of these lines as written ("#saved" lines included), trimmed. */
export function rawText(lines: readonly TextLine[]): string {
  return lines.map((l) => (typeof l === 'string' ? l : l.line)).join('\n').trim();
}

export interface AgentMailText {
  /** Every command, in order (invalid ones included). */
  readonly commands: readonly AgentCommand[];
  /** The agent's own text without the command lines, trimmed ("" when there is none); "#saved" lines as written. */
  readonly text: string;
  /** The same text line by line, "#saved" lines as SavedLines (cases/saved-replies.ts fills them in). */
  readonly lines: readonly TextLine[];
}

/**
 * Why a line below a forwarded message that reads as a command is an error. Below an inline
 * forward the agent may have typed it (a "#resolve" at the bottom) or the forwarded mail holds it
 * (a customer's "#cc mallory@…"): it can never be run, and relayed it would show the customer an
 * internal line ("#escalate 2 she threatens to sue").
 */
export const BELOW_FORWARD_WHY =
  'this line is below the forwarded message: commands are read only from what you write above a forward (the forwarded part could be anyone’s words), so it was not run, and nothing was sent so that it does not reach the customer as text. Put your commands above the forward; if the line is part of the forwarded mail, delete it from the forward (or forward that mail as an attachment)';

/**
 * Split an agent's new text into commands and text. `forwarded`: mail the agent forwarded inline
 * below their own text (VisibleText.ownText) — someone else's words, kept as text and never read
 * for commands or "#saved" lines (a customer's "#cc" line in a forwarded mail would copy in whom
 * they name, as the agent); a line of it that reads as a command (as one further down the agent's
 * own text would: a known or misspelt "#word" on a line of its own, "#saved <name>") is an error
 * instead (BELOW_FORWARD_WHY). `attached`: the text of messages attached as forwards, which nobody
 * typed into: text only.
 */
export function parseAgentMail(visibleText: string, forwarded = '', attached = ''): AgentMailText {
  const lines = visibleText.split(/\r?\n/);
  const commands: AgentCommand[] = [];
  const text: TextLine[] = [];
  let leading = true;
  for (const raw of lines) {
    const line = raw.replace(/[\u200b-\u200d\u2060\ufeff]/g, '').trim();
    if (/^\s*>/.test(raw)) {
      leading = false;
      text.push(raw);
      continue;
    }
    if (leading && line === '') continue;
    // A known "#verb" counts anywhere ("# verb" only at the top: further down it may be a
    // heading); any other "#word" at the top is an attempted command.
    const cmd = commandLine(raw);
    // "#saved <name>": a place in the text (a spaced "# saved" only at the top, as for commands).
    const saved = cmd !== null && (leading || !cmd.spaced) ? savedLine(cmd, line) : null;
    if (saved !== null) {
      if ('invalid' in saved) commands.push({ kind: 'invalid', line, why: saved.invalid });
      else text.push(saved);
      leading = false;
      continue;
    }
    const verb = cmd !== null ? verbOf(cmd.word) : null;
    if (cmd !== null && verb !== null && (leading || !cmd.spaced)) {
      // "#note" below text: was the text above a reply or part of the note? Neither guess is safe
      // (the customer would miss the reply, or read the note): the agent is asked.
      if (!leading && verb === 'note') commands.push({ kind: 'invalid', line, why: `#${cmd.word} stands on the first line and makes the whole mail an internal note; to answer the customer and note something, send two emails` });
      else commands.push(parseOne(verb, cmd.args, line));
      continue;
    }
    // An unknown "#word" at the top, or a misspelt command on a line of its own further down
    // ("#clsoe", "#resolved"): an error naming the command meant — never text for the customer.
    const meant = cmd !== null && !cmd.spaced ? nearestVerb(cmd.word) : null;
    if (cmd !== null && !cmd.spaced && (leading || meant !== null)) {
      commands.push({ kind: 'invalid', line, why: `#${cmd.word} is not a command${meant !== null ? ` (did you mean #${meant}?)` : ''}` });
      continue;
    }
    leading = false;
    text.push(raw);
  }
  for (const raw of forwarded.split(/\r?\n/)) {
    if (/^\s*>/.test(raw)) continue;
    const cmd = commandLine(raw);
    if (cmd === null || cmd.spaced) continue;
    if (verbOf(cmd.word) !== null || nearestVerb(cmd.word) !== null) commands.push({ kind: 'invalid', line: raw.replace(INVISIBLE, '').trim(), why: BELOW_FORWARD_WHY });
  }
  for (const part of [forwarded, attached]) if (part.trim() !== '') text.push(...(text.length > 0 ? [''] : []), ...part.split(/\r?\n/));
  return { commands, text: rawText(text), lines: text };
}

/** Agent commands of a text, in order (see parseAgentMail). */
export function parseAgentCommands(text: string): AgentCommand[] {
  return [...parseAgentMail(text).commands];
}
