/**
 * What an agent types after `cases list --search`, as what a case's messages must contain, and
 * the excerpt shown under each case found. The words: cases/search-terms.ts; the index and its
 * SQL: db/repos/search.ts and migration 0025.
 *
 * Words are runs of letters and digits, as the index splits text. Every word must occur (in any
 * message of the case, in its subject, text, sender name or address, or the name of a file it
 * came with), as the start of a word: "invoic" finds "invoices". "Quoted words" must occur in
 * that order, next to each other; so must the parts of one word that has others in it
 * ("bob@customer.example", "INV-2024-17"). Case and accents do not matter; Chinese, Japanese,
 * Korean and Thai are found anywhere in a run of their letters (支払い in 請求書の支払い).
 */
import { foldText, searchItem, type SearchItem } from './search-terms.js';

export interface SearchText {
  /** Each must be found. */
  readonly items: readonly SearchItem[];
}

/** null when the text has no word at all (only punctuation). */
export function parseSearchText(input: string): SearchText | null {
  const items = new Map<string, SearchItem>();
  const take = (chunk: string, asPhrase: boolean): void => {
    const item = searchItem(chunk, asPhrase);
    if (item !== null) items.set(`${item.prefix ? '*' : ''}${item.words.join(' ')}`, item);
  };
  // "quoted phrases" first; the rest split on white space.
  const rest = input.replace(/"([^"]*)"?/g, (_, inner: string) => (take(inner, true), ' '));
  for (const chunk of rest.split(/\s+/)) take(chunk, false);
  return items.size === 0 ? null : { items: [...items.values()] };
}

/** Folded as the index folds, with the index in `text` each character came from. */
function folded(text: string): { norm: string; from: number[] } {
  let norm = '';
  const from: number[] = [];
  // A letter with the marks that follow it, folded together (é written as e + ´ loses its accent).
  for (const m of text.matchAll(/\P{M}\p{M}*|\p{M}+/gsu)) {
    const f = foldText(m[0]);
    for (let k = 0; k < f.length; k++) from.push(m.index);
    norm += f;
  }
  from.push(text.length);
  return { norm, from };
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * About `width` characters of `text` around the first place one of the items starts (a word as the
 * start of a word; Chinese, Japanese … anywhere), on one line; the text's start when none is found
 * (the match was in the subject, the sender or a file name).
 */
export function searchExcerpt(text: string, search: SearchText, width = 100): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const { norm, from } = folded(flat);
  let at = -1;
  const starts = search.items.map((i) => (i.startsWord ? `(?<![\\p{L}\\p{N}\\p{M}])${escape(i.start)}` : escape(i.start)));
  if (starts.length > 0) {
    const m = new RegExp(starts.join('|'), 'u').exec(norm);
    if (m !== null) at = from[m.index] ?? -1;
  }
  if (at < 0) return flat.length <= width ? flat : `${flat.slice(0, width - 1)}…`;
  const begin = Math.max(0, at - Math.floor(width / 3));
  const end = Math.min(flat.length, begin + width);
  return `${begin > 0 ? '…' : ''}${flat.slice(begin, end).trim()}${end < flat.length ? '…' : ''}`;
}
