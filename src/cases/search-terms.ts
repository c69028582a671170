/**
 * The words the message search index holds and looks for (`casegate cases list --search`), made
 * here in JavaScript for both backends, so SQLite and PostgreSQL find exactly the same messages
 * whatever the server's locale (migration 0025, db/repos/search.ts). The databases only store
 * and compare these words: SQLite's FTS5 with its `ascii` tokenizer (splits on the spaces between
 * them, nothing else), PostgreSQL as a tsvector and tsquery written out word by word (no parser,
 * no dictionary, no lower() of the cluster's LC_CTYPE).
 *
 * - Folded: NFKC (full-width ＡＢＣ１２３ → ABC123, ligatures), lower case (Unicode, not a locale:
 *   İ → i, Ä → ä, Σ → σ, Ж → ж), ß → ss, final ς → σ, dotless ı → i, Cyrillic ё → е, and Latin
 *   and Greek letters lose their accents (é → e, ά → α); other scripts keep their marks (й, が, Thai).
 * - Words are runs of letters, digits and marks; everything else separates them.
 * - Scripts written without spaces between words (Han, Hiragana, Katakana, Hangul, Thai, Lao,
 *   Khmer, Myanmar): every two letters in a row are a word (a bigram), the last letter of a run
 *   also stands alone, so any run of two or more letters is found anywhere inside a longer one as
 *   its bigrams in a row, and one letter by the start of a bigram: 支払い finds 請求書の支払いについて.
 */

/** Positions past this one are not kept (PostgreSQL's limit for a word's position in a tsvector). */
export const MAX_POSITION = 16_383;
/** PostgreSQL keeps at most this many positions of one word. */
export const MAX_POSITIONS_PER_WORD = 256;
/** A longer word (a base64 blob, a long hash) keeps its first letters. */
export const MAX_WORD_CHARS = 100;
/** Letters of the distinct words of one message, in bytes (a tsvector holds at most 1 MB of them). */
const MAX_WORD_BYTES = 900_000;

/** Letters of the scripts written without spaces. */
const NO_SPACE = /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}\p{scx=Thai}\p{scx=Lao}\p{scx=Khmer}\p{scx=Myanmar}]/u;
const WORD = /[\p{L}\p{N}\p{M}]+/gu;
const ASCII = /^[\x00-\x7f]*$/;
const ACCENTED = /([\p{sc=Latin}\p{sc=Greek}])\p{M}+/gu;
const SPECIAL: Record<string, string> = { ß: 'ss', ς: 'σ', ı: 'i', ё: 'е' };

/** `text` folded for searching (see above). */
export function foldText(text: string): string {
  // Most mail is ASCII: lower case is all there is to do.
  if (ASCII.test(text)) return text.toLowerCase();
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[ßςıё]/g, (c) => SPECIAL[c] ?? c)
    .normalize('NFD')
    .replace(ACCENTED, '$1')
    .normalize('NFC');
}

/** The runs of a folded word, each of one kind: letters written without spaces, or the others. */
function segmentsOf(run: string): { text: string; noSpace: boolean }[] {
  if (ASCII.test(run)) return [{ text: run, noSpace: false }];
  const out: { text: string; noSpace: boolean }[] = [];
  for (const ch of run) {
    const noSpace = ch.charCodeAt(0) > 0x7f && NO_SPACE.test(ch);
    const last = out[out.length - 1];
    if (last !== undefined && last.noSpace === noSpace) last.text += ch;
    else out.push({ text: ch, noSpace });
  }
  return out;
}

const cap = (word: string): string => {
  if (word.length <= MAX_WORD_CHARS) return word;
  const chars = [...word];
  return chars.length <= MAX_WORD_CHARS ? word : chars.slice(0, MAX_WORD_CHARS).join('');
};

/** A run of letters written without spaces as words: its bigrams, and (`withLast`) its last letter alone. */
function bigrams(text: string, withLast: boolean): string[] {
  const c = [...text];
  const out: string[] = [];
  for (let i = 0; i + 1 < c.length; i++) out.push(`${c[i]}${c[i + 1]}`);
  if (withLast || c.length === 1) out.push(c[c.length - 1] as string);
  return out;
}

/** The words of a text as the index holds them, in order. */
export function indexWords(text: string): string[] {
  const out: string[] = [];
  const folded = foldText(text);
  if (ASCII.test(folded)) {
    for (const m of folded.matchAll(/[a-z0-9]+/g)) out.push(cap(m[0]));
    return out;
  }
  for (const m of folded.matchAll(WORD)) {
    for (const s of segmentsOf(m[0])) {
      if (s.noSpace) out.push(...bigrams(s.text, true));
      else out.push(cap(s.text));
    }
  }
  return out;
}

/**
 * The index's document of a message: its words in order (position 1, 2, …), within PostgreSQL's
 * limits for a tsvector, so that both backends hold the same words at the same positions. A word
 * past its 256th place keeps its position but is not found there (FTS5 gets an unsearchable
 * stand-in, PostgreSQL no position).
 */
function documentWords(parts: readonly string[]): string[] {
  const words = indexWords(parts.join('\n'));
  const out: string[] = [];
  const seen = new Map<string, number>();
  let bytes = 0;
  for (const w of words) {
    if (out.length >= MAX_POSITION) break;
    const n = seen.get(w);
    if (n === undefined) {
      const size = Buffer.byteLength(w);
      if (bytes + size > MAX_WORD_BYTES) break;
      bytes += size;
    }
    const count = (n ?? 0) + 1;
    seen.set(w, count);
    out.push(count > MAX_POSITIONS_PER_WORD ? UNSEARCHABLE : w);
  }
  return out;
}

/** Stands for a word past its 256th place in FTS5's text: a private-use letter no query word has. */
const UNSEARCHABLE = '\u{e000}';

/** FTS5 (tokenizer ascii): the words separated by spaces. */
export const ftsDocument = (parts: readonly string[]): string => documentWords(parts).join(' ');

/** PostgreSQL: the tsvector, as text ('word':1,5 'other':2 …). */
export function tsvectorDocument(parts: readonly string[]): string {
  const positions = new Map<string, number[]>();
  documentWords(parts).forEach((w, i) => {
    if (w === UNSEARCHABLE) return;
    const list = positions.get(w);
    if (list === undefined) positions.set(w, [i + 1]);
    else list.push(i + 1);
  });
  let out = '';
  for (const [w, p] of positions) out += `${out === '' ? '' : ' '}${quoteLexeme(w)}:${p.join(',')}`;
  return out;
}

/** A lexeme in tsvector or tsquery text. */
export const quoteLexeme = (w: string): string => (/['\\]/.test(w) ? `'${w.replace(/\\/g, '\\\\').replace(/'/g, "''")}'` : `'${w}'`);

/**
 * What a query word or quoted phrase looks for: index words in a row, the last as the start of a
 * word when `prefix`.
 */
export interface SearchItem {
  readonly words: readonly string[];
  readonly prefix: boolean;
  /** Where the excerpt looks: the folded start of the item, and whether it must start a word. */
  readonly start: string;
  readonly startsWord: boolean;
}

/**
 * The item for one word an agent typed (`asPhrase` false: its last part is the start of a word)
 * or a quoted phrase (`asPhrase`: every word whole). null when it has no letter or digit.
 */
export function searchItem(input: string, asPhrase: boolean): SearchItem | null {
  const segs = [...foldText(input).matchAll(WORD)].flatMap((m) => segmentsOf(m[0]));
  if (segs.length === 0) return null;
  const words: string[] = [];
  let prefix = false;
  segs.forEach((s, i) => {
    const last = i === segs.length - 1;
    if (!s.noSpace) {
      words.push(cap(s.text));
      if (last) prefix = !asPhrase;
      return;
    }
    // A run followed by another word ends where it ends (its last letter alone, as in the text);
    // the last may go on in the text: its bigrams only, one letter as the start of a bigram.
    words.push(...bigrams(s.text, !last));
    if (last) prefix = [...s.text].length === 1;
  });
  const first = segs[0]!;
  return { words, prefix, start: first.text, startsWord: !first.noSpace };
}
