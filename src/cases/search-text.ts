/**
 * What an agent types after `cases list --search`, as the words a case's messages must contain,
 * and the excerpt shown under each case found. The index and its SQL: db/repos/search.ts and
 * migration 0021.
 *
 * Words are runs of letters and digits, as the index splits text. Every word must occur (in any
 * message of the case, in its subject, text, sender name or address), as the start of a word:
 * "invoic" finds "invoices". "Quoted words" must occur in that order, next to each other; so must
 * the parts of one word that has others in it ("bob@customer.example", "INV-2024-17"). Case and
 * (on SQLite) accents do not matter.
 */

export interface SearchText {
  /** Single words, each found as the start of a word. */
  readonly words: readonly string[];
  /** Runs of words that must follow each other. */
  readonly phrases: ReadonlyArray<readonly string[]>;
}

const WORD = /[\p{L}\p{N}\p{M}]+/gu;

/** null when the text has no word at all (only punctuation). */
export function parseSearchText(input: string): SearchText | null {
  const words: string[] = [];
  const phrases: string[][] = [];
  const take = (chunk: string): void => {
    const parts = [...chunk.normalize('NFC').toLowerCase().matchAll(WORD)].map((m) => m[0]);
    if (parts.length === 1) words.push(parts[0] as string);
    else if (parts.length > 1) phrases.push(parts);
  };
  // "quoted phrases" first; the rest split on white space.
  const rest = input.replace(/"([^"]*)"?/g, (_, inner: string) => (take(inner), ' '));
  for (const chunk of rest.split(/\s+/)) take(chunk);
  if (words.length === 0 && phrases.length === 0) return null;
  return { words: [...new Set(words)], phrases };
}

/** Lower case without accents, with the index in `text` each character came from. */
function folded(text: string): { norm: string; from: number[] } {
  let norm = '';
  const from: number[] = [];
  let i = 0;
  for (const ch of text) {
    const f = ch.normalize('NFD').replace(/\p{M}+/gu, '').toLowerCase();
    for (let k = 0; k < f.length; k++) from.push(i);
    norm += f;
    i += ch.length;
  }
  from.push(i);
  return { norm, from };
}

const fold = (s: string): string => folded(s).norm;
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * About `width` characters of `text` around the first place one of the words (or a phrase's first
 * word) starts, on one line; the text's start when none is found (the match was in the subject or
 * the sender).
 */
export function searchExcerpt(text: string, search: SearchText, width = 100): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const { norm, from } = folded(flat);
  const starts = [...search.words, ...search.phrases.map((p) => p[0] ?? '')].filter((w) => w !== '').map(fold);
  let at = -1;
  if (starts.length > 0) {
    const re = new RegExp(`(?<![\\p{L}\\p{N}\\p{M}])(?:${starts.map(escape).join('|')})`, 'u');
    const m = re.exec(norm);
    if (m !== null) at = from[m.index] ?? -1;
  }
  if (at < 0) return flat.length <= width ? flat : `${flat.slice(0, width - 1)}…`;
  const begin = Math.max(0, at - Math.floor(width / 3));
  const end = Math.min(flat.length, begin + width);
  return `${begin > 0 ? '…' : ''}${flat.slice(begin, end).trim()}${end < flat.length ? '…' : ''}`;
}
