import { headerBlockEnd, isForwardSeparator } from '../mail-in/visible-text/quote-headers.js';
import { caseSubject, stripExternalTag, stripReplyPrefixes, tagPatterns } from './subject-tag.js';

/**
 * How customers and agents ask for an escalation, as pure functions over text:
 *
 *  - an "Urgent – <topic>" subject (en dash, em dash, any hyphen or colon; any case; "URGENT:",
 *    "URGENT!! <topic>", "[URGENT] <topic>", "*URGENT* <topic>" too; after reply prefixes and an
 *    "[EXTERNAL]" mark), with or without our tag "[Case #N]" or a bare case number ("#10042",
 *    "case 10042"); something must follow the marker;
 *  - the words escalate / escalation in any inflection, as whole words ("escalator" is not one,
 *    nor a word inside an address, a link or an identifier, nor a job title in the closing
 *    signature), not declined ("no need to escalate", "bitte nicht eskalieren"), in the new text of the mail only: not in ">" quotes, not below a forward or
 *    "Original Message" separator (in every language visible-text knows), not in lines we sent
 *    ourselves;
 * Agents' commands (#escalate, #assign, #priority, …) are parsed in agent-commands.ts.
 */

export interface UrgentSubject {
  /** The subject without the urgent marker, reply prefixes and case number ("" when nothing is left). */
  readonly topic: string;
  /** A case number named in the subject (tag or bare form), else null. */
  readonly caseNumber: number | null;
}

/**
 * Characters that join words as "-" does, as the body of a character class: the hyphen-minus,
 * U+2010 HYPHEN and U+2011 NON-BREAKING HYPHEN (what Word and Outlook put in), U+2012 FIGURE DASH,
 * U+2212 MINUS SIGN and the small and fullwidth hyphen-minus.
 */
const HYPHENS = '\\-\\u2010\\u2011\\u2012\\u2212\\ufe63\\uff0d';
/** Dashes that separate on their own, as the body of a character class: en dash, em dash, horizontal bar, small em dash. */
const DASHES = '\\u2013\\u2014\\u2015\\ufe58';

/**
 * The word itself in the languages visible-text and language detection know: English and French
 * "urgent", German and Dutch "dringend", German "eilt" (the office stamp), Dutch "spoed", Spanish,
 * Italian and Portuguese "urgente"; Polish "pilne", Russian "срочно", Ukrainian "терміново",
 * Turkish "acil", Greek "επείγον", Swedish "brådskande", Danish and Norwegian "haster", Finnish
 * "kiireellinen", Czech "naléhavé"/"urgentní", Hungarian "sürgős", Japanese "至急"/"緊急",
 * Chinese "紧急"/"緊急", Korean "긴급", Arabic "عاجل", Hebrew "דחוף".
 */
const URGENT =
  '(?:urgente?|dringend|eilt|spoed|pilne|срочно|терміново|ac[iİı]l|επείγον|επειγον|brådskande|haster|kiireellinen|naléhavé|urgentní|sürgős|' +
  '至急|紧急|緊急|긴급|عاجل|דחוף)';

// The urgent marker ("Urgent", or URGENT's other languages), first in the subject (after reply prefixes, an "[EXTERNAL]" mark, our tag):
//  - "Urgent" then a separator: a colon or a dash (– —), or a hyphen (any of HYPHENS) with a
//    space on at least one side ("Urgent-care clinic" is no urgent subject); "URGENT!!: x" too;
//  - "Urgent!" / "URGENT!!" then a space (the exclamation marks are the separator);
//  - "[URGENT]", "(Urgent)", "*URGENT*", "**Urgent**", Japanese and Chinese "【至急】", optionally with a separator after them.
// Something must follow the marker (a topic or a case number): "Urgent:" alone is no more urgent
// than "urgent" alone.
const URGENT_HEAD = new RegExp(
  `^(?:${URGENT}[!！]*(?:\\s*[:：${DASHES}]|\\s+[${HYPHENS}]+|[${HYPHENS}]+(?=\\s))|${URGENT}[!！]+(?=\\s)|` +
    `(?:\\[\\s?${URGENT}!*\\s?\\]|\\(\\s?${URGENT}!*\\s?\\)|\\*{1,2}\\s?${URGENT}!*\\s?\\*{1,2}|[【［〔]\\s?${URGENT}[!！]*\\s?[】］〕])(?:\\s?[:：${DASHES}]|\\s?[${HYPHENS}]+(?=\\s))?)\\s*`,
  'i',
);
// Bare case numbers: "#10042" (three digits or more, so "printer #2" is no case number) and
// "case 10042", "case #10042", "case no. 10042", "case number 10042".
const HASH_NUMBER = /(?:^|(?<=[\s([{]))#\s?(\d{3,12})\b/;
const CASE_NUMBER = /\bcase\s*(?:#|no\.?|nr\.?|number)?\s*(\d{1,12})\b/i;
const LEADING_NUMBER = new RegExp(`^(?:#\\s?(\\d{3,12})|case\\s*(?:#|no\\.?|nr\\.?|number)?\\s*(\\d{1,12}))(?:\\s*[:${DASHES}${HYPHENS}]+)?\\s*`, 'i');
const EDGE_PUNCTUATION = new RegExp(`^[\\s:,;${DASHES}${HYPHENS}]+|[\\s:,;${DASHES}${HYPHENS}]+$`, 'g');

function tidy(s: string): string {
  return s
    .replace(/\(\s*\)|\[\s*\]|\{\s*\}/g, ' ')
    .replace(/\s+/g, ' ')
    .replace(EDGE_PUNCTUATION, '')
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
    s = stripExternalTag(stripReplyPrefixes(s));
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
  let numberAfter = false;
  const forms = [tag.find, CASE_NUMBER, HASH_NUMBER];
  for (const re of forms) {
    const m = re.exec(rest);
    if (m === null) continue;
    caseNumber ??= Number(m[1]);
    numberAfter = true;
    rest = rest.slice(0, m.index) + ' ' + rest.slice(m.index + m[0].length);
    break;
  }
  const topic = tidy(stripReplyPrefixes(rest));
  // Nothing after the marker ("Urgent:", "[URGENT]"): no urgent subject, like "urgent" alone.
  if (topic === '' && !numberAfter) return null;
  return { topic, caseNumber };
}

/**
 * escalate, escalates, escalated, escalating, escalation(s); German eskalieren/Eskalation and forms;
 * the verb and noun in Dutch (escaleren, escalatie), Swedish (eskalera, eskalering), Danish and
 * Norwegian (eskalere, eskalering), Polish (eskalować, eskalacja), Czech (eskalovat, eskalace),
 * Finnish (eskaloida, eskalointi), Turkish (eskalasyon, eskale), Russian (эскалировать, эскалация),
 * Ukrainian (ескалювати, ескалація), and Japanese エスカレーション/エスカレート, Korean 에스컬레이션 (no
 * spaces around words there: matched anywhere).
 * Whole words: not escalator, not de-escalate (with any hyphen, or a soft hyphen U+00AD), not
 * "ESCALATION-4711" or "escalation_2" (an identifier: a hyphen or underscore and a digit after it).
 */
const ESCALATION_WORD = new RegExp(
  `(?<![\\p{L}\\p{N}_\\u00ad${HYPHENS}])(?:escalat(?:e|es|ed|ing|ion|ions)|eskal(?:ation|ationen|ieren|iere|ierst|iert|ierte|ierten|iertes?|ierung)|` +
    `escal(?:eren|eer|eert|eerde|eerden|atie|aties)|eskal(?:era|erar|erade|erat|ering|eringen|ere|erer|erte|erede)|` +
    `eskal(?:ować|uję|uj|ujcie|owanie|owania|owana|owany|owane|acja|acji|ację)|eskal(?:ovat|ujte|uji|ace|aci|oval|ovali)|` +
    `eskal(?:oida|oikaa|oi|ointi|ointia|oinnin|oitu)|eskalasyon(?:u|a|un|da)?|eskale|` +
    `эскал(?:ировать|ируйте|ирую|ирована|ирован|ация|ацию|ации|ацией)|ескал(?:ювати|юйте|юю|ація|ацію|ації))` +
    `(?![\\p{L}\\p{N}_]|[${HYPHENS}]\\p{N})|エスカレーション|エスカレート|에스컬레이션|에스컬레이트`,
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

/*
 * A job title in the signature at the end of a message: "John Smith | Head of Customer Escalations",
 * "John Smith" above "Escalations Team". The noun names a department or a role there, it asks
 * for nothing. Only the noun, and only in this shape:
 *  - the last lines of the message (at most SIGNATURE_MAX_LINES, no blank line between them), with
 *    something written above them;
 *  - they start with a name line: two to four capitalised words ("John Smith", "Anna-Lena M.
 *    Meyer", "Ludwig van Beethoven"), alone or followed by "|", "•" or "·" and more;
 *  - from the name line on, no line is a sentence (ends in . ! ? with five words or more);
 *  - the part that holds the noun (a line, or a piece of one between "|" "•" "·") is in title case
 *    (every word capitalised, short words such as "of" excepted) and has at most eight words;
 *  - the plural ("Escalations", "Eskalationen"), or the singular with a role word in the same part
 *    ("Escalation Manager", "Leiterin Eskalation", "24/7 Escalation Hotline +49 30 1234": a phone
 *    number in the part is no word).
 * The verb ("Please Escalate") always counts; so does "Escalation Request" (no role word).
 */
const SIGNATURE_MAX_LINES = 6;
const SIGNATURE_LINE_MAX = 200;
const NAME_WORD = "(?:\\p{Lu}\\p{Ll}+(?:[-'\\u2019]\\p{Lu}?\\p{Ll}+)?|\\p{Lu}\\.)";
const NAME_RE = new RegExp(`^${NAME_WORD}(?:\\s(?:\\p{Ll}{1,3}\\s)?${NAME_WORD}){1,3}$`, 'u');
const TITLE_SEPARATOR_RE = /\s*[|\u2022\u00b7]\s*/;
const TITLE_WORD_RE = /^(?:[\p{Lu}\p{N}&(]|\p{Ll}{1,3}$)/u;
const NOUN_RE = /^(?:escalations?|eskalation(?:en)?)$/i;
const PLURAL_NOUN_RE = /^(?:escalations|eskalationen)$/i;
const ROLE_WORD_RE =
  /(?:^|\s)(?:manager(?:in)?|management|head|lead|leader|team|desk|engineer|specialist|coordinator|officer|director|department|analyst|leiter(?:in)?|abteilung|hotline|line|contact|kontakt|phone|telefon|matrix|path)(?=[\s,:]|$)/i;
/** A phone number's pieces in a signature part ("+49 30 1234", "(030)"): no words, not read for title case. */
const PHONE_PIECE_RE = /^[+(]?\d[\d()/.\-]*$|^\+$/;

/** A title-case piece of a signature line, and where it is in the text. */
interface TitlePart {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

function isSentenceLine(line: string): boolean {
  const t = line.trim();
  return /[.!?]$/.test(t) && t.split(/\s+/).length >= 5;
}

function isTitleCase(part: string): boolean {
  const words = part.trim().split(/\s+/).filter((w) => !PHONE_PIECE_RE.test(w));
  return words.length <= 8 && words.every((w) => TITLE_WORD_RE.test(w));
}

/** The title-case parts of the signature at the end of `text` (see above); [] when it ends otherwise. */
function signatureTitleParts(text: string): TitlePart[] {
  const lines: { start: number; text: string }[] = [];
  let at = 0;
  for (const line of text.split('\n')) {
    lines.push({ start: at, text: line });
    at += line.length + 1;
  }
  let end = lines.length;
  while (end > 0 && (lines[end - 1]?.text.trim() ?? '') === '') end -= 1;
  let begin = end;
  while (begin > 0 && end - begin < SIGNATURE_MAX_LINES && (lines[begin - 1]?.text.trim() ?? '') !== '') begin -= 1;
  const block = lines.slice(begin, end);
  if (block.some((l) => l.text.length > SIGNATURE_LINE_MAX)) return [];
  for (let k = 0; k < block.length; k++) {
    const written = lines.slice(0, begin + k).some((l) => l.text.trim() !== '');
    const nameLine = block[k]!;
    const sep = TITLE_SEPARATOR_RE.exec(nameLine.text);
    const name = (sep === null ? nameLine.text : nameLine.text.slice(0, sep.index)).trim();
    if (!written || !NAME_RE.test(name) || block.slice(k).some((l) => isSentenceLine(l.text))) continue;
    const parts: TitlePart[] = [];
    const pieces = [sep === null ? null : { start: nameLine.start + sep.index + sep[0].length, text: nameLine.text.slice(sep.index + sep[0].length) }];
    for (const l of block.slice(k + 1)) pieces.push(l);
    for (const piece of pieces) {
      if (piece === null) continue;
      let offset = 0;
      for (const part of piece.text.split(TITLE_SEPARATOR_RE)) {
        const found = piece.text.indexOf(part, offset);
        offset = found + part.length;
        if (part.trim() !== '' && isTitleCase(part)) parts.push({ start: piece.start + found, end: piece.start + offset, text: part });
      }
    }
    return parts;
  }
  return [];
}

/** Whether the word at text[index] (an escalation word) is the noun of a job title in the closing signature. */
function inSignatureTitle(word: string, index: number, parts: readonly TitlePart[]): boolean {
  if (!NOUN_RE.test(word)) return false;
  const part = parts.find((p) => index >= p.start && index < p.end);
  return part !== undefined && (PLURAL_NOUN_RE.test(word) || ROLE_WORD_RE.test(part.text));
}

/*
 * A request the writer declines is none: "no need to escalate", "please don't escalate", "do not
 * escalate this", "I don't want to escalate", "should not be escalated", "without escalating", "no
 * escalation", "not an escalation", German "bitte nicht eskalieren", "keine Eskalation", "ohne
 * Eskalation"; after the word "escalation is not needed", "Eskalation nicht nötig". Only directly
 * before (or after) the word, and not in a question ("Why didn't you escalate?", "Warum wurde das
 * nicht eskaliert?" complain that it was not).
 */
// String.raw keeps its text as written in the bundle, which must stay ASCII (build/ascii-regex.ts): non-ASCII words as \u escapes.
const DECLINED_BEFORE = new RegExp(
  String.raw`(?:\b(?:do|does|did|would|will|should|must|need)\s*n[o']?t|\bdon'?t|\bwon'?t|\bno\s+need\s+(?:to|for)|\bnot\s+necessary\s+to|\bno\s+reason\s+to|\bwithout|\bno|\bnever|\bnot\s+(?:an?|to)|\bnicht(?:\s+zu)?|\bkeine?[nm]?|\bohne|\bkein\s+grund\s+zu|(?<!\p{L})(?:niet|geen|inte|ikke|nie|\u043d\u0435|\u00e4l\u00e4|\u00e4lk\u00e4\u00e4|ei))\s+(?:(?:want|need|have|wish|try|mean|intend)(?:\s+to)?\s+)?(?:be\s+)?$`,
  'iu',
);
const DECLINED_AFTER = /^\s+(?:(?:(?:is|was)\s+)?not|isn't|(?:ist|wäre)\s+nicht|nicht)\s+(?:needed|necessary|required|wanted|nötig|notwendig|erforderlich|gewünscht)\b|^\s+(?:is\s+)?unnecessary\b/iu;

/** Whether the escalation word at text[index] is declined (see above). */
function declined(text: string, index: number, length: number): boolean {
  const lineStart = text.lastIndexOf('\n', index - 1) + 1;
  let lineEnd = text.indexOf('\n', index);
  if (lineEnd < 0) lineEnd = text.length;
  const apostrophes = (s: string): string => s.replace(/[\u2019\u02bc`´]/g, "'");
  const before = apostrophes(text.slice(Math.max(lineStart, index - 80), index));
  const after = apostrophes(text.slice(index + length, lineEnd));
  if (!DECLINED_BEFORE.test(before) && !DECLINED_AFTER.test(after)) return false;
  // The rest of the clause: a question asks why it was not (or whether it will be).
  const clauseEnd = /[.!?,;:]/.exec(after);
  return clauseEnd?.[0] !== '?';
}

/**
 * Whether the text asks for an escalation (whole words, any case, any inflection). A word inside
 * an e-mail address ("escalations@cust.example") or a link ("https://wiki.cust.example/escalate/howto")
 * is no request; "[escalate](https://…)" is (the link starts after the word). Nor is the noun in a
 * job title of the closing signature ("John Smith | Head of Customer Escalations", see above).
 */
export function mentionsEscalation(text: string): boolean {
  // Each run of non-space characters is looked at once, however many matches it holds.
  let runEnd = -1;
  let runLinkAt = Infinity;
  let titles: TitlePart[] | null = null;
  for (const m of text.matchAll(ESCALATION_WORD)) {
    if (m.index >= runEnd) {
      let from = m.index;
      while (from > 0 && !/\s/.test(text.charAt(from - 1))) from -= 1;
      runEnd = m.index + m[0].length;
      while (runEnd < text.length && !/\s/.test(text.charAt(runEnd))) runEnd += 1;
      runLinkAt = from + linkFrom(text.slice(from, runEnd));
    }
    if (m.index >= runLinkAt) continue;
    if (NOUN_RE.test(m[0])) {
      titles ??= signatureTitleParts(text);
      if (inSignatureTitle(m[0], m.index, titles)) continue;
    }
    if (declined(text, m.index, m[0].length)) continue;
    return true;
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
  const lines = visibleText.split(/\r?\n/);
  for (const [i, line] of lines.entries()) {
    // A header block left in the visible text starts a forwarded message (Outlook forwards with it).
    if (isForwardSeparator(line) || headerBlockEnd(lines, i) >= 0) break;
    if (/^\s*>/.test(line)) continue;
    if (ours !== NOTHING_OURS) {
      const n = normalLine(line);
      if (n !== '' && ours(n)) continue;
    }
    out.push(line);
  }
  return out.join('\n');
}

/** How many non-empty lines at the end of a message may be its footer (signature, disclaimer). */
const FOOTER_MAX_LINES = 10;

/**
 * The text without the footer the writer's earlier messages ended with too: their signature or
 * their company's disclaimer ("ACME IT Services | 24/7 Escalation Hotline", "… Escalation matrix:
 * see intranet"), which otherwise asks again in every mail and climbs the ladder a tier a day.
 * The footer is the longest run of non-empty lines (blank lines between them allowed) that ends
 * this text and an earlier one alike (case, spacing and quote marks ignored), of two lines or more,
 * with text above it in both, whose first line asks for nothing ("Please escalate.\nJane" sent
 * twice is a request twice). The first message of a case has no earlier one: nothing is removed.
 */
export function withoutRepeatedFooter(text: string, earlier: readonly string[]): string {
  const lines = text.split(/\r?\n/);
  const filled = lines.map((l, i) => ({ i, n: normalLine(l) })).filter((l) => l.n !== '');
  let cut = lines.length;
  for (const other of earlier) {
    const theirs = other.split(/\r?\n/).map(normalLine).filter((n) => n !== '');
    let k = 0;
    while (k < FOOTER_MAX_LINES && k < filled.length - 1 && k < theirs.length - 1 && filled[filled.length - 1 - k]!.n === theirs[theirs.length - 1 - k]) k += 1;
    while (k >= 2 && mentionsEscalation(filled[filled.length - k]!.n)) k -= 1;
    if (k >= 2) cut = Math.min(cut, filled[filled.length - k]!.i);
  }
  return lines.slice(0, cut).join('\n');
}

/** A subject in a normal form: no reply prefixes, no tag, lower case (to tell a new subject from a repeated one). */
export function normalSubject(subject: string, tagPrefix: string): string {
  return caseSubject(subject, tagPrefix).toLowerCase();
}
