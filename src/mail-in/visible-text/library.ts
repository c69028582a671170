/**
 * The `email-reply-parser` package (crisp-oss) does the core line classification of a plain-text
 * reply (">" quotes, quote headers, signatures, inline answers). Several of its regular
 * expressions backtrack badly (RE2 is not installed), so this module only ever hands it bounded,
 * sanitised input (`sanitiseForLibrary`) inside a window at the top of the message.
 */
import EmailReplyParser from 'email-reply-parser';
import { collapseBlankRuns, DEFUSE, isAllBlank, isBlank, isQuoted, PH_CLOSE, PH_OPEN, splitLines } from './lines.js';
import { isAttributionAbove, isDeviceSignature } from './quote-headers.js';

const PLACEHOLDER_RE = /\uE000(\d{1,7})\uE001/g;
const DEFUSE_RE = /\uE002/g;

/**
 * Budget for the text handed to email-reply-parser in one call. Several of its patterns are
 * super-linear (measured on the native RegExp engine: 10 000 blank lines take ~3 s, 20 000
 * crafted characters ~18 s). After sanitising (see `sanitiseForLibrary`) the cost is roughly
 * proportional to window size × line length; measured worst case for 200 000 crafted characters
 * end to end: ~150 ms.
 * New text beyond the window (rare: the window starts at the top of the message and quotes are
 * cut before it is filled) is handled by the simpler rules in `stripOverflow`.
 */
const LIB_WINDOW_CHARS = 32_000;
/** Lines longer than this are replaced by a short placeholder before the library sees them. */
const LIB_MAX_LINE = 500;
/** Characters of a long line kept in its placeholder (so the line keeps its ">" or "Sent from"). */
const LIB_LINE_PREFIX = 100;
/**
 * Line starts at which email-reply-parser's whole-text patterns scan to the end of the text
 * (`[\s\S]+`), with the keyword that closes the header they look for.
 */
const UNBOUNDED_TRIGGERS: readonly { readonly start: RegExp; readonly keyword: RegExp; readonly keywordGlobal: RegExp }[] = [
  { start: /^\s*Op\s/, keyword: /schreef/, keywordGlobal: /schreef/g },
  { start: /^\s*(?:W\sdniu|Dnia)\s/u, keyword: /pisze|napisał/u, keywordGlobal: /pisze|napisał/gu },
  { start: /^在/, keyword: /写道/, keywordGlobal: /写道/g },
  { start: /^\s*[a-z]{3,4}\.\s/, keyword: /skrev/, keywordGlobal: /skrev/g },
];
/** How many genuine-looking headers per trigger are left for the library to join. */
const TRIGGERS_KEPT = 2;
/**
 * Separator lines that the library takes for the start of a signature ("---", "____", "==", "++")
 * but that are common in content. "--" and "-- " are left to the library.
 */
const WEAK_SEPARATOR_RE = /^\s*(?:-{3,}|_{2,}|={2,}|\+{2,})$/;
/** An underscore (or dash-character) line: a signature or mailing-list footer separator when little text follows it. */
const UNDERSCORE_LINE_RE = /^\s*(?:_{2,}|[\u2013\u2014\u2015]{3,})$/;
/** "Little text": at most this many non-blank lines and characters after the separator. */
const FOOTER_MAX_LINES = 8;
const FOOTER_MAX_CHARS = 800;

/** A "Sent from …" line with more words than this is a sentence (phone signatures are short). */
const SENTENCE_WORDS = 8;

const parser = new EmailReplyParser();

export interface LibraryResult {
  text: string;
  hadQuote: boolean;
  hadSignature: boolean;
}

export function parseWithLibrary(lines: readonly string[]): LibraryResult {
  if (isAllBlank(lines)) return { text: '', hadQuote: false, hadSignature: false };

  // Window: the top of the message, whole lines, counted after long lines are shortened.
  let used = 0;
  let windowEnd = 0;
  while (windowEnd < lines.length) {
    const len = Math.min((lines[windowEnd] ?? '').length, LIB_MAX_LINE) + 1;
    if (used + len > LIB_WINDOW_CHARS && windowEnd > 0) break;
    used += len;
    windowEnd += 1;
  }
  const windowLines = lines.slice(0, windowEnd);
  const overflow = lines.slice(windowEnd);

  const sanitised = sanitiseForLibrary(windowLines);
  const email = parser.read(sanitised.text);
  const fragments = email.getFragments();

  let hadQuote = false;
  let hadSignature = false;
  // Visible fragments are joined like the library does (by a newline), but where a hidden quote
  // lay between two of them (inline answers) a blank line keeps the answers apart.
  let visible = '';
  let gap = false;
  const unquoted: string[] = [];
  for (const fragment of fragments) {
    const content = fragment.getContent();
    const empty = isBlank(content);
    // A sign-off ("Best regards," / "Cheers" / "Cordialement") is a signature for the library,
    // and everything below it goes with it. When sentences follow it (a P.S., one more detail),
    // they are the customer's words: the fragment is kept.
    // The same for a phone line ("Sent from my iPhone") with a P.S. typed below it.
    const keptSignOff = fragment.isSignature() && !fragment.isQuoted() && ((startsWithSignOff(content) && hasSentence(content)) || hasPostscriptBelowDeviceLine(content));
    if (fragment.isQuoted() && !empty) hadQuote = true;
    if (fragment.isSignature() && !empty && !keptSignOff) hadSignature = true;
    if (!fragment.isQuoted()) unquoted.push(content);
    if (fragment.isHidden() && !keptSignOff) {
      if (!empty && visible !== '') gap = true;
    } else if (visible === '') {
      visible = content;
    } else {
      visible += gap ? `\n\n${content}` : `\n${content}`;
      gap = false;
    }
  }

  let text = restore(visible, sanitised.longLines);
  const footer = cutUnderscoreFooter(text);
  if (footer !== null) {
    text = footer;
    hadSignature = true;
  }
  if (text.trim() === '') {
    // The library hid everything although something was not a quote (typically a message that
    // is nothing but a signature-like line, or that starts with "Regards,"): keep what was
    // written rather than return an empty text.
    text = restore(unquoted.join('\n'), sanitised.longLines);
  }

  if (overflow.length > 0 && !hadQuote) {
    const rest = stripOverflow(overflow);
    if (rest.length > 0) text = `${text}\n${rest.join('\n')}`;
    if (rest.length < overflow.filter((l) => !isBlank(l)).length) hadQuote = true;
  }
  return { text, hadQuote, hadSignature };
}

/**
 * "____" followed by a few lines (a signature, a mailing-list footer) is cut. The library only
 * knows 2-4 and exactly 32 underscores, and cuts there whatever follows. A separator with a
 * sentence below it ("This is the second part of my reply.") divides the customer's own text and
 * is kept: footers and signatures are names, addresses and links, not sentences.
 */
/** The library's sign-off signatures (its other signature lines are delimiters and phone lines). */
const SIGN_OFF_RE = /^\s*(?:[\p{L}\s]{0,20}regards|cheers|best wishes|bien . vous|[\p{L}\s]{0,20}cordialement|bonne (?:journ.e|soir.e))\b/iu;

function startsWithSignOff(content: string): boolean {
  const first = content.split('\n').find((l) => !isBlank(l)) ?? '';
  return first.length <= 60 && SIGN_OFF_RE.test(first);
}

/** "Sent from my iPhone" and below it a line starting "P.S." / "PS:" (text below a phone line is otherwise taken for an unmarked quote). */
function hasPostscriptBelowDeviceLine(content: string): boolean {
  const filled = content.split('\n').filter((l) => !isBlank(l));
  return filled.length >= 2 && isDeviceSignature(filled[0] ?? '') && /^\s*p\.?\s?s\.?\s?[:.,\s]/i.test(filled[1] ?? '');
}

function hasSentence(content: string): boolean {
  return content.split('\n').some(isSentence);
}

function isSentence(line: string): boolean {
  const t = line.trim();
  return t.length <= 1_000 && /[.!?]$/.test(t) && t.split(/\s+/).length >= 5;
}

function cutUnderscoreFooter(text: string): string | null {
  const lines = splitLines(text);
  // From the bottom up, while the text below stays small; the topmost separator found wins.
  let tailLines = 0;
  let tailChars = 0;
  let cutAt = -1;
  for (let i = lines.length - 1; i >= 0; i -= 1) {
    const line = lines[i] ?? '';
    if (isSentence(line)) break;
    if (UNDERSCORE_LINE_RE.test(line)) cutAt = i;
    if (isBlank(line)) continue;
    tailLines += 1;
    tailChars += line.length;
    if (tailLines > FOOTER_MAX_LINES || tailChars > FOOTER_MAX_CHARS) break;
  }
  if (cutAt < 0) return null;
  const kept = lines.slice(0, cutAt).join('\n');
  return kept.trim() === '' ? null : kept;
}

/**
 * The part of a very long message beyond the library window: ">"-quoted lines and the attribution
 * line above them are dropped, everything else is kept. If the library already found a quote in
 * the window, the overflow is below that quote and is dropped entirely by the caller.
 */
function stripOverflow(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (isQuoted(line)) continue;
    const next = lines[i + 1] ?? '';
    if (isQuoted(next) && isAttributionAbove(line)) continue;
    out.push(line);
  }
  return collapseBlankRuns(out);
}

interface Sanitised {
  text: string;
  longLines: string[];
}

/**
 * Makes the text safe for the library's regular expressions without changing what it detects:
 *  - lines longer than LIB_MAX_LINE become their first LIB_LINE_PREFIX characters plus a
 *    placeholder (restored afterwards): per-line patterns such as `.+\son.*at.*wrote:` are
 *    polynomial in the line length;
 *  - blank runs are already collapsed, so `^\s*` cannot run across thousands of empty lines;
 *  - the whole-text patterns that scan to the end of the text with `[\s\S]+` (Dutch "Op … schreef",
 *    Polish "W dniu … napisał", Chinese "在 … 写道", Norwegian "tir. … skrev") only get to start at
 *    the first TRIGGERS_KEPT lines that really are followed by their keyword within three lines;
 *    other starts, and keywords that cannot close a header (not on a line ending with ":"), are
 *    broken with an invisible private-use character that is removed again afterwards;
 *  - a "Sent from …" line longer than a phone signature is broken the same way;
 *  - separator lines such as "----" or "====", which the library takes for the start of a
 *    signature and which are common in content (markdown rules, pasted logs), are broken the same
 *    way: losing customer text is worse than showing a signature. "--" and "-- " stay signatures.
 */
function sanitiseForLibrary(lines: readonly string[]): Sanitised {
  const out = lines.slice();
  const longLines: string[] = [];
  const protectedLines = new Set<number>();

  for (const trigger of UNBOUNDED_TRIGGERS) {
    let kept = 0;
    for (let i = 0; i < out.length; i += 1) {
      const line = out[i] ?? '';
      if (line.length > LIB_MAX_LINE || !trigger.start.test(line)) continue;
      const block = out.slice(i, i + 3).join('\n');
      if (kept < TRIGGERS_KEPT && block.length <= 3 * LIB_MAX_LINE && trigger.keyword.test(block)) {
        kept += 1;
        protectedLines.add(i).add(i + 1).add(i + 2);
      } else {
        out[i] = DEFUSE + line;
      }
    }
  }
  for (let i = 0; i < out.length; i += 1) {
    let line = out[i] ?? '';
    if (WEAK_SEPARATOR_RE.test(line)) {
      out[i] = DEFUSE + line;
      continue;
    }
    if (/^Sent from /.test(line) && line.trim().split(/\s+/).length > SENTENCE_WORDS) {
      // "Sent from my desk, is much easier than my phone." is a sentence, not a phone signature.
      line = `S${DEFUSE}${line.slice(1)}`;
    }
    if (!protectedLines.has(i) && !/[:：]\s*$/.test(line)) {
      for (const trigger of UNBOUNDED_TRIGGERS) {
        if (trigger.keyword.test(line)) line = line.replace(trigger.keywordGlobal, (k) => k.slice(0, 1) + DEFUSE + k.slice(1));
      }
    }
    if (line.length > LIB_MAX_LINE) {
      let cut = LIB_LINE_PREFIX;
      const code = line.charCodeAt(cut - 1);
      if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
      longLines.push(line.slice(cut));
      line = `${line.slice(0, cut)}${PH_OPEN}${longLines.length - 1}${PH_CLOSE}`;
    }
    out[i] = line;
  }
  return { text: out.join('\n'), longLines };
}

function restore(text: string, longLines: readonly string[]): string {
  const withLines = longLines.length === 0 ? text : text.replace(PLACEHOLDER_RE, (_m, idx: string) => longLines[Number(idx)] ?? '');
  return withLines.replace(DEFUSE_RE, '');
}

