import type { Transform } from 'node:stream';
import type { MailParser } from 'mailparser';
import { QuoteAwareFlowedDecoder } from './flowed.js';
import { GuessingCharsetDecoder, guessesCharset } from './text-charset.js';
import { decodeHeaderWords } from './header-words.js';

/** The part of a mailsplit node this module touches (mailparser reads the same fields). */
interface SplitterNode {
  type?: unknown;
  root?: unknown;
  contentType?: unknown;
  disposition?: unknown;
  charset?: unknown;
  flowed?: unknown;
  delSp?: unknown;
  headers?: unknown;
  filename?: unknown;
  getDecoder?: unknown;
}

/**
 * Text parts without a charset, or labelled US-ASCII or Latin-1, are decoded by their bytes
 * (text-charset.ts: mailparser made Latin-1 bytes U+FFFD, and UTF-8 labelled Latin-1 mojibake).
 * Three things mailparser does not tell, learnt from the MIME nodes as its splitter hands them over:
 *  - whether the message has a text/plain body part at all (mailparser converts the HTML part to
 *    `text` when it has none, and quoted HTML is better removed from the HTML itself);
 *  - the charset the first text part declares (raw 8-bit subjects and names are often in it);
 *  - format=flowed parts are decoded by our quote-aware decoder instead of the library's, which
 *    joins a quoted line with the unquoted answer below it (see flowed.ts).
 * If a future mailparser no longer exposes its splitter, parsing still works (without these three).
 */
export function hookTextParts(parser: MailParser): { readonly sawPlainText: boolean; readonly textCharset: string | null } {
  const state: { sawPlainText: boolean; textCharset: string | null; wordCharset: string | null } = { sawPlainText: false, textCharset: null, wordCharset: null };
  const splitter = (parser as unknown as { splitter?: { read?: unknown } }).splitter;
  if (splitter === undefined || typeof splitter.read !== 'function') return state;
  const read = (splitter.read as (...args: unknown[]) => unknown).bind(splitter);
  // Arguments are passed through: stream internals call read(0) to refill without consuming.
  splitter.read = (...args: unknown[]): unknown => {
    const data = read(...args);
    if (data === null || typeof data !== 'object') return data;
    const node = data as SplitterNode;
    if (node.type !== 'node') return data;
    const type = typeof node.contentType === 'string' ? node.contentType : node.root === true ? 'text/plain' : '';
    if (type === 'text/plain' && node.disposition !== 'attachment') state.sawPlainText = true;
    if (node.root === true) state.wordCharset = encodedWordCharset(node.headers);
    if (typeof node.filename === 'string' && hasRawEightBitName(node.headers)) node.filename = decodeHeaderWords(node.filename, state.textCharset ?? state.wordCharset);
    const charset = typeof node.charset === 'string' ? node.charset : undefined;
    if ((type === 'text/plain' || type === 'text/html') && state.textCharset === null && charset !== undefined) state.textCharset = charset.trim().toLowerCase();
    if ((type === 'text/plain' || type === 'text/html') && node.disposition !== 'attachment' && guessesCharset(charset) && typeof node.getDecoder === 'function') {
      const getDecoder = (node.getDecoder as () => Transform).bind(node);
      const declared = (charset ?? '').trim().toLowerCase();
      node.charset = 'utf-8';
      const hint = state.wordCharset;
      node.getDecoder = (): Transform => new GuessingCharsetDecoder(getDecoder(), declared, hint);
    }
    if (node.flowed === true && typeof node.getDecoder === 'function') {
      const getDecoder = (node.getDecoder as () => Transform).bind(node);
      const delSp = node.delSp === true;
      node.flowed = false;
      node.getDecoder = (): Transform => new QuoteAwareFlowedDecoder(getDecoder(), delSp);
    }
    return data;
  };
  return state;
}

/**
 * Whether a part's Content-Disposition or Content-Type holds raw 8-bit bytes that are not UTF-8
 * (an old Japanese or Russian mailer's Shift_JIS or KOI8-R filename="…"): the splitter then hands
 * the filename over as one character per byte, which decodeHeaderWords reads in the message's charset.
 */
function hasRawEightBitName(headers: unknown): boolean {
  if (typeof headers !== 'object' || headers === null || !('getList' in headers) || typeof headers.getList !== 'function') return false;
  const lines: unknown = (headers.getList as () => unknown).call(headers);
  if (!Array.isArray(lines)) return false;
  return lines.some((l: unknown) => {
    if (typeof l !== 'object' || l === null || !('key' in l) || !('line' in l) || typeof l.line !== 'string') return false;
    if (l.key !== 'content-disposition' && l.key !== 'content-type') return false;
    if (!/[\u0080-\u00ff]/.test(l.line) || /[^\u0000-\u00ff]/.test(l.line)) return false;
    return Buffer.from(l.line, 'latin1').toString('utf8').includes('\ufffd');
  });
}

/** The charset of the first encoded-word in the top Subject or From ("=?koi8-r?B?…?="), from the splitter's header object. */
function encodedWordCharset(headers: unknown): string | null {
  if (typeof headers !== 'object' || headers === null || !('get' in headers) || typeof headers.get !== 'function') return null;
  const get = (headers.get as (key: string) => unknown).bind(headers);
  for (const key of ['subject', 'from']) {
    const lines = get(key);
    if (!Array.isArray(lines)) continue;
    for (const line of lines) {
      const m = typeof line === 'string' ? /=\?([^?*\s]{1,40})[*?]/.exec(line) : null;
      if (m?.[1] !== undefined) return m[1].toLowerCase();
    }
  }
  return null;
}
