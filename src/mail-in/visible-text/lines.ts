/**
 * Line-level helpers shared by the visible-text modules: input normalisation, blank lines, the
 * ">" quote marker and the private-use characters used as in-band markers.
 */

import { escapeRegex } from '../../escape-regex.js';
import { Memo } from '../../memo.js';

/** Lines longer than this are never taken for a header, separator or marker line. */
export const HEADER_LINE_MAX = 1_000;
/** At most this many consecutive blank lines are kept. */
const MAX_BLANK_RUN = 2;

// Private-use characters used as in-band markers. Any occurrence in the input is removed first,
// so they cannot collide with real content.
export const PH_OPEN = '\uE000';
export const PH_CLOSE = '\uE001';
export const DEFUSE = '\uE002';
export const CUT = '\uE003';
export const PRIVATE_MARKERS_RE = /[\uE000-\uE003]/g;

const NEWLINE_RE = /\r\n?|[\u2028\u2029\u0085]/g;
const BLANK_RE = /^[\s\u200B-\u200D\u2060\uFEFF]*$/;
export const HAS_CONTENT_RE = /[^\s\u200B-\u200D\u2060\uFEFF]/;
/** A ">"-quoted line (up to three spaces of indentation). */
export const QUOTED_LINE_RE = /^\s{0,3}>/;
export const SHORT_SEPARATOR_LINE_RE = /^\s*[-_=*~\u2013\u2014\u2015]{2,}\s*$/;

/** Cuts to `max` UTF-16 units without leaving half a surrogate pair. */
export function capLength(input: string, max: number): string {
  if (input.length <= max) return input;
  let end = max;
  const last = input.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return input.slice(0, end);
}

/** BOM, private markers and line-ending variants removed; trailing whitespace trimmed; blank runs collapsed. */
export function normaliseLines(input: string): string[] {
  const cleaned = input.replace(/^\uFEFF/, '').replace(PRIVATE_MARKERS_RE, '').replace(NEWLINE_RE, '\n');
  return collapseBlankRuns(cleaned.split('\n').map((l) => l.trimEnd()));
}

export function splitLines(text: string): string[] {
  return text === '' ? [] : text.split('\n');
}

export function isBlank(line: string): boolean {
  return BLANK_RE.test(line);
}

export function isAllBlank(lines: readonly string[]): boolean {
  return lines.every(isBlank);
}

export function isQuoted(line: string): boolean {
  return QUOTED_LINE_RE.test(line);
}

/** Index of the next non-blank line at or after `from`, or lines.length. */
export function nextNonBlank(lines: readonly string[], from: number): number {
  let i = from;
  while (i < lines.length && isBlank(lines[i] ?? '')) i += 1;
  return i;
}

/** Blank lines become "", runs longer than MAX_BLANK_RUN are shortened, leading/trailing blanks dropped. */
export function collapseBlankRuns(lines: readonly string[]): string[] {
  const out: string[] = [];
  let run = 0;
  for (const line of lines) {
    if (isBlank(line)) {
      run += 1;
      if (run <= MAX_BLANK_RUN && out.length > 0) out.push('');
    } else {
      run = 0;
      out.push(line);
    }
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

/** The first line containing `marker` (compared case-insensitively, any run of whitespace for a space), or -1. */
export function findMarkerLine(lines: readonly string[], marker: string): number {
  const re = markerPattern(marker);
  if (re === null) return -1;
  const minLength = marker.trim().replace(/\s+/g, ' ').length;
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    // Whitespace runs match any whitespace: clients re-space and HTML conversion yields NBSPs.
    if (line.length >= minLength && re.test(line)) return i;
  }
  return -1;
}

/** The marker as a pattern (one per marker text: there are a few, one per template language). */
const markerPatterns = new Memo<string, RegExp | null>(64);
function markerPattern(marker: string): RegExp | null {
  return markerPatterns.get(marker, () => {
    const words = marker.trim().split(/\s+/).filter((w) => w !== '');
    return words.length === 0 ? null : new RegExp(words.map(escapeRegex).join('\\s+'), 'iu');
  });
}
