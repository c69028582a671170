/**
 * Where the quoted history starts, by the lines clients write above it: attribution lines
 * ("On … X wrote:" in many languages, wrapped over several lines, sharing a line with the reply),
 * Outlook-style header blocks (also collapsed into one line), "-----Original Message-----",
 * forward markers and phone signatures ("Sent from my iPhone") followed by history.
 *
 * Principle: a cut that would drop unquoted text needs strong evidence (an address, a time or a
 * year, and the shape of a header); with weaker evidence only the header line itself is dropped,
 * and only when a ">"-quote follows it. When unsure, text is kept.
 */
import { HEADER_LINE_MAX, isBlank, isQuoted, nextNonBlank, SHORT_SEPARATOR_LINE_RE } from './lines.js';
import {
  ATTRIBUTION_START_RE,
  ATTRIBUTION_VERB_RE,
  DASHED_ATTRIBUTION_RE,
  DEVICE_SIGNATURE_MAX,
  DEVICE_SIGNATURE_RE,
  FORWARD_MARKER_RE,
  GMAIL_DATE_ATTRIBUTION_RE,
  HEADER_LABEL_RE,
  INLINE_LABEL_RE,
  LABEL_KIND,
  ORIGINAL_MESSAGE_RE,
  SENT_ATTRIBUTION_RE,
  SHARED_LINE_START_RE,
  TIME_RE,
  VERBLESS_ATTRIBUTION_RE,
  YEAR_RE,
  type HeaderKind,
} from './vocabulary.js';

/** Longest single line taken for an attribution; longest joined (wrapped) attribution. */
const ATTRIBUTION_LINE_MAX = 300;
const ATTRIBUTION_JOINED_MAX = 600;
/** Non-blank lines an attribution may be wrapped over (Polymail: name, "<", "mailto:…", "> wrote:"). */
const ATTRIBUTION_MAX_LINES = 5;
/** A wrapped attribution does not break after the end of a sentence. */
const SENTENCE_END_RE = /[.!?…]["')\]]?\s*$/;
/** Words a phone signature line has at most ("Sent from my desk, is much easier …" is a sentence). */
const DEVICE_SIGNATURE_MAX_WORDS = 8;

export interface Boundary {
  /** First line of the quoted or forwarded part (separator lines above a header block included). */
  readonly start: number;
  /**
   * 'headers': an "-----Original Message-----" line or an Outlook-style header block;
   * 'attribution': an attribution followed by unquoted text (a quote without ">" markers);
   * 'signature': a phone signature line followed by nothing but history;
   * 'forward': a forward marker.
   */
  readonly kind: 'headers' | 'attribution' | 'signature' | 'forward';
}

/**
 * 'strong': may end the new text even when no ">" follows (an address or time and year, or the
 * usual opening word with a time, date or address); 'weak': only dropped when a ">"-quote follows
 * it or it is the last line; 'quote-only': Gmail's date form without a colon, only above a quote.
 */
export type AttributionLevel = 'strong' | 'weak' | 'quote-only';

export interface Attribution {
  /** Last line of the attribution (inclusive). */
  readonly end: number;
  readonly level: AttributionLevel;
}

export function headerKind(line: string): HeaderKind | null {
  if (line.length > HEADER_LINE_MAX) return null;
  const m = HEADER_LABEL_RE.exec(line);
  if (m === null || m[1] === undefined) return null;
  return LABEL_KIND.get(m[1].replace(/\s+/g, ' ').trim().toLowerCase()) ?? null;
}

/**
 * The end (exclusive) of an Outlook-style header block starting at `start`, or -1. A block is a
 * run of header lines (single blank lines and wrapped continuation lines allowed between them)
 * with at least two kinds: a From line or a leading Date line, a Date or Subject line, and a Subject
 * line or an address in it. "From: Berlin / To: Munich / Date: 3 May, 10:30" in a travel request
 * and "From: old@x / To: new@y" in an address change are not header blocks.
 */
export function headerBlockEnd(lines: readonly string[], start: number): number {
  if (collapsedHeaderLine(lines[start] ?? '')) return start + 1;
  const first = headerKind(lines[start] ?? '');
  if (first === null) return -1;
  const kinds = new Set<HeaderKind>([first]);
  let evidence = /@/.test(lines[start] ?? '');
  let end = start + 1;
  let k = start + 1;
  let gap = 0;
  while (k < lines.length && k <= start + 16) {
    const line = lines[k] ?? '';
    if (isBlank(line)) {
      gap += 1;
      if (gap > 1) break;
      k += 1;
      continue;
    }
    const kind = headerKind(line);
    if (kind === null) {
      // A wrapped value ("[mailto:" / "bob@example.com]") directly below a header line.
      const prev = lines[k - 1] ?? '';
      if (gap === 0 && line.length <= 200 && (/\[mailto:\s*$|[<,;]\s*$/.test(prev) || /^\s{2,}\S/.test(line))) {
        if (/@/.test(line)) evidence = true;
        k += 1;
        end = k;
        continue;
      }
      break;
    }
    if (kind === 'from' && kinds.has('from')) break;
    kinds.add(kind);
    if (/@/.test(line)) evidence = true;
    gap = 0;
    k += 1;
    end = k;
  }
  // A From line, or a block that starts with its date ("Date: …/To: …", GMX's "Gesendet: …").
  if (!(kinds.has('from') || first === 'date')) return -1;
  // Real blocks name at least three of From/Date/To/Cc/Subject; two only with a date and an
  // address ("From: a@b / Date: …"). "From: old@x / To: new@y" (an address change) and
  // "From: me@x / Subject: …" (describing a message) are not header blocks.
  if (kinds.size < 2 || (kinds.size === 2 && !(kinds.has('date') && evidence))) return -1;
  // Without a Subject line, an address must be in it ("From: Berlin / To: Munich / Date: 3 May, 10:30").
  if (!kinds.has('subject') && !evidence) return -1;
  return end;
}

/** "Temat: RE: x 2023-01-17 13:46Nadawca: "a" a@b.pl Adresat:": a header block collapsed into one line. */
function collapsedHeaderLine(line: string): boolean {
  if (line.length > HEADER_LINE_MAX || !/@/.test(line)) return false;
  const labels = new Set<string>();
  for (const m of line.matchAll(INLINE_LABEL_RE)) {
    const kind = LABEL_KIND.get((m[1] ?? '').toLowerCase());
    if (kind !== undefined) labels.add(kind);
    if (labels.size >= 3) break;
  }
  return labels.size >= 3 && (labels.has('from') || labels.has('date'));
}

/** Every attribution form ends in ":" (or "："), in dashes, or in the ">" of an address. */
function mayEndAttribution(text: string): boolean {
  const end = text.trimEnd();
  const last = end.charAt(end.length - 1);
  return last === ':' || last === '：' || last === '-' || last === '>';
}

function attributionLevel(joined: string, firstLine: string): AttributionLevel | null {
  if (joined.length > ATTRIBUTION_JOINED_MAX || !mayEndAttribution(joined)) return null;
  const gmail = GMAIL_DATE_ATTRIBUTION_RE.exec(joined);
  if (gmail !== null) return gmail[1] === ':' ? 'strong' : 'quote-only';
  const trimmed = joined.trim();
  if (DASHED_ATTRIBUTION_RE.test(trimmed) && ATTRIBUTION_VERB_RE.test(trimmed)) return 'strong';
  if (!/[:：]$/.test(trimmed)) return null;
  const hasAt = /@/.test(trimmed);
  const hasTime = TIME_RE.test(trimmed);
  const hasYear = YEAR_RE.test(trimmed);
  if (!ATTRIBUTION_VERB_RE.test(trimmed) && !SENT_ATTRIBUTION_RE.test(trimmed)) {
    return VERBLESS_ATTRIBUTION_RE.test(trimmed) && hasTime && (hasYear || /\d{4}/.test(trimmed)) ? 'quote-only' : null;
  }
  const startLike = ATTRIBUTION_START_RE.test(firstLine);
  if ((hasAt && (hasTime || hasYear)) || (startLike && (hasTime || hasYear || hasAt))) return 'strong';
  if (hasAt || hasTime || hasYear || /\d/.test(trimmed)) return 'weak';
  return null;
}

/**
 * The attribution starting at line `start`: the line itself, or (when the line starts like an
 * attribution) the line joined with up to four more, one blank line and a "> wrote:" line allowed
 * inside (Gmail wraps inside the address, Polymail puts "<", "mailto:…" and "> wrote:" on lines of
 * their own).
 */
export function attributionAt(lines: readonly string[], start: number): Attribution | null {
  const first = lines[start] ?? '';
  if (first.length > ATTRIBUTION_LINE_MAX || isBlank(first) || isQuoted(first)) return null;
  const single = attributionLevel(first, first);
  if (single !== null) return { end: start, level: single };
  if (!ATTRIBUTION_START_RE.test(first)) return null;
  if (SENTENCE_END_RE.test(first)) return null;
  const parts = [first.trim()];
  let blanks = 0;
  for (let j = start + 1; j < lines.length && parts.length < ATTRIBUTION_MAX_LINES; j += 1) {
    const line = lines[j] ?? '';
    if (isBlank(line)) {
      blanks += 1;
      if (blanks > 1) return null;
      continue;
    }
    if (line.length > ATTRIBUTION_LINE_MAX) return null;
    if (isQuoted(line) && !/^\s{0,3}>\s?\S.{0,30}[:：]\s*$/.test(line)) return null;
    // A line that is an attribution on its own starts a new one: the lines above it are text.
    if (mayEndAttribution(line) && !isQuoted(line) && !/^\s*(?:"?[^\s"<>]{1,64}@|[<>(])/.test(line) && attributionLevel(line, line) === 'strong') return null;
    parts.push(line.trim());
    if (!mayEndAttribution(line)) continue;
    const level = attributionLevel(joinWrapped(parts), first);
    if (level !== null) return { end: j, level };
  }
  return null;
}

/** Lines of a wrapped attribution joined; no space is put inside a wrapped "<address>". */
function joinWrapped(parts: readonly string[]): string {
  let out = '';
  for (const part of parts) {
    if (out === '') out = part;
    else if (/<$/.test(out) || /^[>@]/.test(part)) out += part;
    else out += ` ${part}`;
  }
  return out;
}

/** A single line that is an attribution of any strength (for the overflow beyond the library window). */
export function isAttributionAbove(line: string): boolean {
  return line.length <= ATTRIBUTION_LINE_MAX && attributionLevel(line, line) !== null;
}

/** A phone/app signature line ("Sent from my iPhone", "Von meinem iPhone gesendet", "Az iPhone-omról küldve" …). */
export function isDeviceSignature(line: string): boolean {
  const t = line.trim();
  if (t.length === 0 || t.length > DEVICE_SIGNATURE_MAX) return false;
  if (t.split(/\s+/).length > DEVICE_SIGNATURE_MAX_WORDS) return false;
  return DEVICE_SIGNATURE_RE.test(t);
}

/**
 * A line that introduces a forwarded or an original message, in every language above:
 * "---------- Forwarded message ---------", "-------- Message transféré --------", "Begin forwarded
 * message:", "-----Original Message-----", "----- Mensaje original -----" … What follows it is not
 * the writer's own text (visible text keeps a forward, as new information for support).
 */
export function isForwardSeparator(line: string): boolean {
  return line.length <= HEADER_LINE_MAX && (FORWARD_MARKER_RE.test(line) || ORIGINAL_MESSAGE_RE.test(line));
}

/**
 * Whether lines are nothing but a header block: its From:/Sent:/To:/Subject: lines (any language
 * above), separator lines, "-----Original Message-----", blank lines — no text of the message it
 * introduces. What is left of an Outlook-style quote of our own email once its text is cut at our
 * reply marker (visible-text.ts), or of our email forwarded back with nothing added.
 */
export function isOnlyHeaderBlock(lines: readonly string[]): boolean {
  return lines.every((l) => isBlank(l) || (l.length <= HEADER_LINE_MAX && SHORT_SEPARATOR_LINE_RE.test(l)) || isForwardSeparator(l) || headerKind(l) !== null);
}

/** Whether what starts at line `i` looks like quoted history (a quote, an attribution, a header block). */
function historyStartsAt(lines: readonly string[], from: number): boolean {
  let i = from;
  // Separator lines ("____", "-----") between the phone line and the history are skipped.
  while (i < lines.length && (lines[i] ?? '').length <= HEADER_LINE_MAX && SHORT_SEPARATOR_LINE_RE.test(lines[i] ?? '')) {
    i = nextNonBlank(lines, i + 1);
  }
  if (i >= lines.length) return true;
  const line = lines[i] ?? '';
  if (isQuoted(line) || ORIGINAL_MESSAGE_RE.test(line) || FORWARD_MARKER_RE.test(line)) return true;
  return attributionAt(lines, i) !== null || headerBlockEnd(lines, i) >= 0;
}

/**
 * The first line where the new text certainly ends, by rules the library lacks:
 *  - an "-----Original Message-----" line (several languages);
 *  - an Outlook-style header block (see headerBlockEnd);
 *  - a strong attribution (or a weak one after a blank line) followed by unquoted text, i.e. a
 *    quote without ">" markers;
 *  - a phone signature line with nothing but history below it;
 *  - a forward marker, which yields kind 'forward'.
 * ">"-quoted lines and the attribution lines above them are left to the library (inline answers
 * may follow them).
 */
export function findBoundary(lines: readonly string[]): Boundary | null {
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (line.length > HEADER_LINE_MAX || isBlank(line) || isQuoted(line)) continue;
    if (FORWARD_MARKER_RE.test(line)) return { start: i, kind: 'forward' };
    if (ORIGINAL_MESSAGE_RE.test(line)) return { start: extendUpwards(lines, i), kind: 'headers' };
    if (headerBlockEnd(lines, i) >= 0) return { start: extendUpwards(lines, i), kind: 'headers' };
    if (isDeviceSignature(line) && historyStartsAt(lines, nextNonBlank(lines, i + 1))) return { start: i, kind: 'signature' };
    if (i === 0) continue;
    const attribution = attributionAt(lines, i);
    if (attribution === null || attribution.level === 'quote-only') continue;
    const blankBefore = isBlank(lines[i - 1] ?? '');
    if (attribution.level === 'weak' && !(blankBefore && ATTRIBUTION_START_RE.test(line))) continue;
    const next = nextNonBlank(lines, attribution.end + 1);
    if (next < lines.length && !isQuoted(lines[next] ?? '')) return { start: i, kind: 'attribution' };
  }
  return null;
}

/** Moves a cut upwards over blank lines, separator lines and header lines that precede the From-line. */
function extendUpwards(lines: readonly string[], start: number): number {
  let i = start;
  while (i > 0) {
    const above = lines[i - 1] ?? '';
    if (isBlank(above) || (above.length <= HEADER_LINE_MAX && (SHORT_SEPARATOR_LINE_RE.test(above) || ORIGINAL_MESSAGE_RE.test(above)))) {
      i -= 1;
    } else if (headerKind(above) === 'date') {
      i -= 1;
    } else {
      break;
    }
  }
  return i;
}

/**
 * An attribution (possibly wrapped) at the very end of the new text: it introduced a quote that
 * was cut (our marker, an Outlook block) and is dropped.
 */
export function dropTrailingAttribution(lines: readonly string[]): { lines: readonly string[]; dropped: boolean } {
  let end = lines.length - 1;
  while (end >= 0 && isBlank(lines[end] ?? '')) end -= 1;
  if (end < 0) return { lines, dropped: false };
  for (let start = Math.max(0, end - ATTRIBUTION_MAX_LINES); start <= end; start += 1) {
    const found = attributionAt(lines, start);
    if (found !== null && found.end === end && found.level !== 'quote-only') return { lines: lines.slice(0, start), dropped: true };
  }
  return { lines, dropped: false };
}

/**
 * Attribution lines for the library: one directly above a ">"-quote (blank lines between allowed)
 * is dropped, which also covers languages and forms the library does not know; one that shares
 * its line with the reply ("reply On Wed, … wrote:" above a quote) is cut off that line; a
 * wrapped one is joined into one line.
 */
export function rewriteAttributions(lines: readonly string[]): { lines: string[]; dropped: boolean } {
  const out: string[] = [];
  let dropped = false;
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    const found = attributionAt(lines, i);
    if (found === null) {
      out.push(line);
      continue;
    }
    const after = nextNonBlank(lines, found.end + 1);
    if (after < lines.length && isQuoted(lines[after] ?? '')) {
      dropped = true;
    } else {
      out.push(found.end === i ? line : joinWrapped(lines.slice(i, found.end + 1).filter((l) => !isBlank(l)).map((l) => l.trim())));
    }
    i = found.end;
  }
  return { lines: out, dropped };
}

/**
 * A reply and an attribution sharing one line ("reply On Wed, Apr 4, 2012 at 3:59 PM, bob@example.com
 * wrote:", "reply--- On …") are split into two lines, so the rules above see the attribution on
 * its own. Splitting a line never loses text. A line that is itself an attribution is left alone
 * (its "Le Bon <le@bon.fr>" is a name, not a second start).
 */
export function splitSharedAttributions(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const at = sharedAttributionStart(line);
    if (at < 0) {
      out.push(line);
    } else {
      out.push(line.slice(0, at).trimEnd(), line.slice(at).replace(/^-+\s?/, ''));
    }
  }
  return out;
}

function sharedAttributionStart(line: string): number {
  if (line.length > ATTRIBUTION_LINE_MAX || isQuoted(line) || !/[:：]\s*$/.test(line)) return -1;
  if (ATTRIBUTION_START_RE.test(line) && attributionLevel(line, line) !== null) return -1;
  for (const m of line.matchAll(SHARED_LINE_START_RE)) {
    const at = m.index ?? 0;
    if (at === 0 || line.slice(0, at).trim() === '') continue;
    const rest = line.slice(at).replace(/^-+\s?/, '');
    const level = attributionLevel(rest, rest);
    if (level === 'strong' || level === 'weak') return at;
  }
  return -1;
}

/**
 * Quoted paragraphs re-wrapped by a client leave unquoted continuation lines between ">" lines
 * ("> … Nullam pharetra d" / "ignissim odio?" / ">"). A run of at most two such lines, directly
 * between quoted lines, is taken as part of the quote when it starts in lower case, when the
 * quoted line before it breaks off mid-sentence, or when it is a wrapped link or marker remnant
 * ("_nonce=3dd518)", " (http://example.com/c/x) >"). Inline answers are normally set off by blank
 * lines or start a new sentence, so they are not affected.
 */
export function mendBrokenQuotes(lines: readonly string[]): string[] {
  const out = lines.slice();
  for (let i = 1; i < out.length; i += 1) {
    const before = out[i - 1] ?? '';
    if (!isQuoted(before) || isQuoted(out[i] ?? '') || isBlank(out[i] ?? '')) continue;
    let end = i;
    while (end < out.length && end - i < 3 && !isBlank(out[end] ?? '') && !isQuoted(out[end] ?? '')) end += 1;
    if (end - i > 2 || end >= out.length || !isQuoted(out[end] ?? '')) continue;
    const quotedText = before.replace(/^[\s>]+/, '');
    const first = out[i] ?? '';
    const continues =
      /^\s*\p{Ll}/u.test(first) || (quotedText.length >= 50 && !/[.!?:;)"»]$/.test(quotedText)) || out.slice(i, end).every(isWrapRemnant);
    if (!continues) continue;
    for (let k = i; k < end; k += 1) out[k] = `> ${out[k] ?? ''}`;
    i = end;
  }
  return out;
}

/** A piece of a wrapped link or a stray quote marker: no words, only URL characters, or ending in ">". */
function isWrapRemnant(line: string): boolean {
  const t = line.trim();
  if (t.length > 200) return false;
  if (/\s>$/.test(t) && /https?:\/\/|\(/.test(t)) return true;
  return !/\s/.test(t) && /[=/_%&)(]/.test(t) && !/^\p{Lu}\p{Ll}+[.!?]?$/u.test(t);
}
