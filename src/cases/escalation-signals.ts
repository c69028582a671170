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

/** escalate, escalates, escalated, escalating, escalation(s); German eskalieren/Eskalation and forms. Not escalator, not de-escalate. */
const ESCALATION_WORD =
  /(?<![\p{L}\p{N}_-])(?:escalat(?:e|es|ed|ing|ion|ions)|eskal(?:ation|ationen|ieren|iere|ierst|iert|ierte|ierten|iertes?|ierung))(?![\p{L}\p{N}_])/iu;

/** Whether the text asks for an escalation (whole words, any case, any inflection). */
export function mentionsEscalation(text: string): boolean {
  return ESCALATION_WORD.test(text);
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
