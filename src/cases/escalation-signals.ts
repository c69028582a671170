import { isForwardSeparator } from '../mail-in/visible-text/quote-headers.js';
import { caseSubject, stripReplyPrefixes, tagPatterns } from './subject-tag.js';

/**
 * How customers and agents ask for an escalation, as pure functions over text:
 *
 *  - an "Urgent – <topic>" subject (en dash, em dash, hyphen or colon; any case; "URGENT:" too),
 *    with or without our tag "[Case #N]" or a bare case number ("#10042", "case 10042");
 *  - the words escalate / escalation in any inflection, as whole words ("escalator" is not one),
 *    in the new text of the mail only: not in ">" quotes, not below a forward or "Original
 *    Message" separator (in every language visible-text knows), not in lines we sent ourselves;
 * Agents' commands (#escalate, #assign, #priority, …) are parsed in agent-commands.ts.
 */

export interface UrgentSubject {
  /** The subject without the urgent marker, reply prefixes and case number ("" when nothing is left). */
  readonly topic: string;
  /** A case number named in the subject (tag or bare form), else null. */
  readonly caseNumber: number | null;
}

// "Urgent" as the first word, then a separator: – — : or a hyphen with a space on at least one
// side ("Urgent-care clinic" is no urgent subject). "URGENT!!: x" is tolerated.
const URGENT_HEAD = /^urgent!*(?:\s*[:\u2013\u2014]|\s+-+|-+(?=\s))\s*/i;
// Bare case numbers: "#10042" (three digits or more, so "printer #2" is no case number) and
// "case 10042", "case #10042", "case no. 10042", "case number 10042".
const HASH_NUMBER = /(?:^|(?<=[\s([{]))#\s?(\d{3,12})\b/;
const CASE_NUMBER = /\bcase\s*(?:#|no\.?|nr\.?|number)?\s*(\d{1,12})\b/i;
const LEADING_NUMBER = /^(?:#\s?(\d{3,12})|case\s*(?:#|no\.?|nr\.?|number)?\s*(\d{1,12}))(?:\s*[:\u2013\u2014-]+)?\s*/i;

function tidy(s: string): string {
  return s
    .replace(/\(\s*\)|\[\s*\]|\{\s*\}/g, ' ')
    .replace(/\s+/g, ' ')
    .replace(/^[\s:,;\u2013\u2014-]+|[\s:,;\u2013\u2014-]+$/g, '')
    .trim();
}

/** An "Urgent – <topic>" subject, or null. */
export function parseUrgentSubject(subject: string, tagPrefix = 'Case #'): UrgentSubject | null {
  const tag = tagPatterns(tagPrefix);
  let s = subject.replace(/\s+/g, ' ').trim();
  let caseNumber: number | null = null;
  // Reply prefixes, our tag and a bare number may come before the marker, in any order.
  for (let i = 0; i < 4; i++) {
    const before = s;
    s = stripReplyPrefixes(s);
    const t = tag.leading.exec(s);
    if (t !== null) {
      caseNumber ??= Number(t[1]);
      s = s.slice(t[0].length);
    }
    const n = LEADING_NUMBER.exec(s);
    if (n !== null && URGENT_HEAD.test(s.slice(n[0].length))) {
      caseNumber ??= Number(n[1] ?? n[2]);
      s = s.slice(n[0].length);
    }
    if (s === before) break;
  }
  const head = URGENT_HEAD.exec(s);
  if (head === null) return null;
  let rest = s.slice(head[0].length);
  const forms = [tag.find, CASE_NUMBER, HASH_NUMBER];
  for (const re of forms) {
    const m = re.exec(rest);
    if (m === null) continue;
    caseNumber ??= Number(m[1]);
    rest = rest.slice(0, m.index) + ' ' + rest.slice(m.index + m[0].length);
    break;
  }
  return { topic: tidy(stripReplyPrefixes(rest)), caseNumber };
}

/**
 * Characters that join words as "-" does, as the body of a character class: the hyphen-minus,
 * U+2010 HYPHEN and U+2011 NON-BREAKING HYPHEN (what Word and Outlook put in), U+2012 FIGURE DASH,
 * U+2212 MINUS SIGN and the small and fullwidth hyphen-minus.
 */
const HYPHENS = '\\-\\u2010\\u2011\\u2012\\u2212\\ufe63\\uff0d';

/**
 * escalate, escalates, escalated, escalating, escalation(s); German eskalieren/Eskalation and forms.
 * Whole words: not escalator, not de-escalate (with any hyphen, or a soft hyphen U+00AD), not
 * "ESCALATION-4711" or "escalation_2" (an identifier: a hyphen or underscore and a digit after it).
 */
const ESCALATION_WORD = new RegExp(
  `(?<![\\p{L}\\p{N}_\\u00ad${HYPHENS}])(?:escalat(?:e|es|ed|ing|ion|ions)|eskal(?:ation|ationen|ieren|iere|ierst|iert|ierte|ierten|iertes?|ierung))` +
    `(?![\\p{L}\\p{N}_]|[${HYPHENS}]\\p{N})`,
  'giu',
);

/** An e-mail address somewhere in a run of non-space characters ("<escalations@cust.example>,"). */
const ADDRESS_RE = /[^\s@]@[^\s@]/;
/** A link without a scheme, from the start of the run: "wiki.cust.example/escalate/howto". */
const HOST_PATH_RE = /^[<([{"'`]*[a-z\d-]{1,63}(?:\.[a-z\d-]{1,63})+\//i;
/** Where a link starts inside a run: "https://…", "ftp://…", "www.…". */
const LINK_START_RE = /[a-z][a-z\d+.-]{0,30}:\/\/|www\./i;

/** The offset in `token` (a run of non-space characters) from which it is an address or a link; Infinity when it is neither. */
function linkFrom(token: string): number {
  if (ADDRESS_RE.test(token) || HOST_PATH_RE.test(token)) return 0;
  return LINK_START_RE.exec(token)?.index ?? Infinity;
}

/**
 * Whether the text asks for an escalation (whole words, any case, any inflection). A word inside
 * an e-mail address ("escalations@cust.example") or a link ("https://wiki.cust.example/escalate/howto")
 * is no request; "[escalate](https://…)" is (the link starts after the word).
 */
export function mentionsEscalation(text: string): boolean {
  // Each run of non-space characters is looked at once, however many matches it holds.
  let runEnd = -1;
  let runLinkAt = Infinity;
  for (const m of text.matchAll(ESCALATION_WORD)) {
    if (m.index >= runEnd) {
      let from = m.index;
      while (from > 0 && !/\s/.test(text.charAt(from - 1))) from -= 1;
      runEnd = m.index + m[0].length;
      while (runEnd < text.length && !/\s/.test(text.charAt(runEnd))) runEnd += 1;
      runLinkAt = from + linkFrom(text.slice(from, runEnd));
    }
    if (m.index < runLinkAt) return true;
  }
  return false;
}

/** A line in a normal form for comparing with text we sent (case, spacing and quote marks ignored). */
export function normalLine(line: string): string {
  return line.replace(/^[\s>]+/, '').replace(/\s+/g, ' ').trim().toLowerCase();
}

/** Tells whether a (normalised) line repeats text we sent. */
export type OurText = (normalLine: string) => boolean;

/** Lines shorter than this count as ours only when they equal one of our lines (not as a fragment). */
const MIN_FRAGMENT = 12;

/** Matches nothing: no text of ours to compare with (writtenText then skips normalising each line). */
const NOTHING_OURS: OurText = () => false;

/**
 * A matcher over the text we sent: a line counts as ours when it equals one of our lines, or — at
 * least MIN_FRAGMENT characters long — occurs anywhere in our text (mail clients re-wrap quoted
 * paragraphs, so a quoted line is often only a piece of one of ours).
 */
export function ourTextMatcher(texts: readonly string[]): OurText {
  if (texts.length === 0) return NOTHING_OURS;
  const lines = new Set<string>();
  const flat: string[] = [];
  for (const t of texts) {
    for (const line of t.split(/\r?\n/)) {
      const n = normalLine(line);
      if (n !== '') lines.add(n);
    }
    flat.push(t.replace(/\s+/g, ' ').toLowerCase());
  }
  const all = flat.join(' \u0000 ');
  return (n) => lines.has(n) || (n.length >= MIN_FRAGMENT && all.includes(n));
}

/**
 * What the writer themselves typed: the visible text without ">" lines, without anything below a
 * forward or "Original Message" separator (visible-text's isForwardSeparator: every language it
 * knows), and without lines that repeat text we sent (`ours`) — our own wording quoted back
 * without quote marks must never count as the customer's.
 */
export function writtenText(visibleText: string, ours: OurText = NOTHING_OURS): string {
  const out: string[] = [];
  for (const line of visibleText.split(/\r?\n/)) {
    if (isForwardSeparator(line)) break;
    if (/^\s*>/.test(line)) continue;
    if (ours !== NOTHING_OURS) {
      const n = normalLine(line);
      if (n !== '' && ours(n)) continue;
    }
    out.push(line);
  }
  return out.join('\n');
}

/** A subject in a normal form: no reply prefixes, no tag, lower case (to tell a new subject from a repeated one). */
export function normalSubject(subject: string, tagPrefix: string): string {
  return caseSubject(subject, tagPrefix).toLowerCase();
}
