/**
 * Decoding of header values with RFC 2047 encoded-words, as senders really write them.
 *
 * mailparser turns the raw header bytes into UTF-8 text before it decodes encoded-words, so a raw
 * 8-bit byte inside an encoded-word ("=?ISO-8859-1?Q?Fr\xF6sche?=") becomes U+FFFD and is then
 * encoded again and read as Latin-1: "Frï¿½sche". Here the header stays bytes until each part is
 * decoded once, with the charset that part declares:
 *  - encoded-words: Q and B payloads become bytes (raw 8-bit bytes included), adjacent words of
 *    one charset are joined before decoding (a character split across two words survives), and
 *    the whitespace between adjacent words is dropped (RFC 2047 §6.2);
 *  - bytes that are not valid in the declared charset (a UTF-8 label on Latin-1 bytes) or an
 *    unknown charset are read as UTF-8 when they are valid UTF-8, else as Windows-1252 — the
 *    common mislabelling — instead of becoming replacement characters;
 *  - an encoded-word whose payload is not valid (base64 with foreign characters) is left as it
 *    was written: a clean fallback instead of garbage;
 *  - raw 8-bit text outside encoded-words is UTF-8 (RFC 6532) when valid, else Windows-1252;
 *    raw 7-bit text with ISO-2022-JP's escape sequences (Japanese mailers that skip encoded-words)
 *    is ISO-2022-JP.
 */
import { TextDecoder } from 'node:util';
import libmime from 'libmime';
import { looksLikeIso2022Jp } from './text-charset.js';
import { decodeWindows1252, isWindows1252 } from './windows-1252.js';

/** charset ? encoding ? payload ?= ; the payload is taken leniently (raw 8-bit bytes allowed, no spaces or "?"). */
const ENCODED_WORD_RE = /=\?([^?\s]{1,64})\?([bBqQ])\?([^?\s]{0,2000})\?=/g;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

interface Piece {
  readonly kind: 'text' | 'word';
  /** For text: the raw bytes; for a word: the decoded payload bytes. */
  readonly bytes: Buffer;
  readonly charset: string;
  /** The encoded-word as written (for the fallback). */
  readonly raw: string;
}

/**
 * `value` is a header value as a binary string (one character per byte, as mailparser's header
 * lines are). `rawCharset`: the charset the message declares for its text, if any — raw 8-bit
 * header text that is not UTF-8 is read in it when its bytes are valid there (a Japanese, Chinese
 * or Russian mailer writes the subject in the body's Shift_JIS, GBK or KOI8-R without
 * encoded-words), else as Windows-1252.
 */
export function decodeHeaderWords(value: string, rawCharset?: string | null): string {
  if (/[^\u0000-\u00ff]/.test(value)) {
    // Already text (not one character per byte): only the encoded-words are left to decode.
    try {
      return libmime.decodeWords(value);
    } catch {
      return value;
    }
  }
  const unfolded = value.replace(/\r?\n(?=[ \t])/g, '');
  const pieces: Piece[] = [];
  let pos = 0;
  for (const m of unfolded.matchAll(ENCODED_WORD_RE)) {
    const at = m.index ?? 0;
    const between = unfolded.slice(pos, at);
    const previous = pieces[pieces.length - 1];
    const payload = decodePayload((m[2] ?? 'q').toLowerCase(), m[3] ?? '');
    if (payload === null) {
      pieces.push(textPiece(between + m[0]));
    } else {
      // Whitespace between two encoded-words is not part of the text (RFC 2047 §6.2).
      if (between !== '' && !(/^[ \t]+$/.test(between) && previous?.kind === 'word')) pieces.push(textPiece(between));
      pieces.push({ kind: 'word', bytes: payload, charset: (m[1] ?? '').replace(/\*.*$/, '').toLowerCase(), raw: m[0] });
    }
    pos = at + m[0].length;
  }
  if (pos < unfolded.length) pieces.push(textPiece(unfolded.slice(pos)));
  return joinPieces(pieces, rawFallback(rawCharset));
}

/** A decoder for raw header bytes in the message's own charset; null for none, UTF-8 or a Latin-1 label (the default fallbacks). */
function rawFallback(charset: string | null | undefined): Decode | null {
  const c = (charset ?? '').trim().toLowerCase();
  if (c === '' || c === 'utf-8' || c === 'utf8' || c === 'us-ascii') return null;
  const decoder = textDecoderFor(c);
  return decoder === decodeWindows1252 ? null : decoder;
}

function textPiece(text: string): Piece {
  return { kind: 'text', bytes: Buffer.from(text, 'latin1'), charset: 'utf-8', raw: text };
}

function joinPieces(pieces: readonly Piece[], fallback: Decode | null): string {
  let out = '';
  for (let i = 0; i < pieces.length; i += 1) {
    const piece = pieces[i];
    if (piece === undefined) continue;
    if (piece.kind === 'text') {
      out += decodeBytes(piece.bytes, fallback);
      continue;
    }
    // Adjacent words in one charset are decoded together.
    const group: Piece[] = [piece];
    while (i + 1 < pieces.length && pieces[i + 1]?.kind === 'word' && pieces[i + 1]?.charset === piece.charset) {
      group.push(pieces[i + 1] as Piece);
      i += 1;
    }
    out += decodeWordGroup(group);
  }
  return out;
}

function decodeWordGroup(group: readonly Piece[]): string {
  const first = group[0] as Piece;
  const bytes = Buffer.concat(group.map((p) => p.bytes));
  const decoder = textDecoderFor(first.charset);
  if (decoder !== null) return decodeWith(decoder, bytes);
  // A charset the platform does not know (UTF-7 …): libmime's own tables, else the fallbacks.
  try {
    const viaLibmime = libmime.decodeWords(group.map((p) => p.raw).join(''));
    if (!viaLibmime.includes('\ufffd')) return viaLibmime;
  } catch {
    // fall through
  }
  return decodeBytes(bytes);
}

function decodePayload(encoding: string, payload: string): Buffer | null {
  if (encoding === 'b') {
    if (!BASE64_RE.test(payload) || payload.replace(/=+$/, '').length % 4 === 1) return null;
    return Buffer.from(payload, 'base64');
  }
  const out: number[] = [];
  for (let i = 0; i < payload.length; i += 1) {
    const c = payload.charCodeAt(i);
    if (c === 0x5f) {
      out.push(0x20);
    } else if (c === 0x3d && /^[0-9a-fA-F]{2}$/.test(payload.slice(i + 1, i + 3))) {
      out.push(Number.parseInt(payload.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(c & 0xff);
    }
  }
  return Buffer.from(out);
}

/** Decodes bytes in one charset; throws on bytes not valid in it. */
type Decode = (bytes: Buffer) => string;

const decoders = new Map<string, Decode | null>();

function textDecoderFor(charset: string): Decode | null {
  const cached = decoders.get(charset);
  if (cached !== undefined) return cached;
  let decoder: Decode | null = null;
  try {
    const d = new TextDecoder(charset === 'utf8' ? 'utf-8' : charset, { fatal: true });
    // iso-8859-1, us-ascii, latin1 … are labels of windows-1252, which Node 20 decodes wrongly.
    decoder = isWindows1252(d.encoding) ? decodeWindows1252 : (bytes) => d.decode(bytes);
  } catch {
    decoder = null;
  }
  if (decoders.size < 200) decoders.set(charset, decoder);
  return decoder;
}

function decodeWith(decoder: Decode, bytes: Buffer): string {
  try {
    return decoder(bytes);
  } catch {
    // Not valid in the declared charset: mislabelled (typically Latin-1 bytes under a UTF-8 label).
    return decodeBytes(bytes);
  }
}

const jisDecoder = new TextDecoder('iso-2022-jp');

/**
 * UTF-8 when the bytes are valid UTF-8 (ISO-2022-JP when they switch to a JIS character set), else
 * the message's own charset when they are valid in it (`fallback`), else Windows-1252 (which maps every byte).
 */
function decodeBytes(bytes: Buffer, fallback: Decode | null = null): string {
  // Japanese mailers write ISO-2022-JP into headers without encoded-words: 7-bit, so "valid UTF-8".
  if (looksLikeIso2022Jp(bytes) && !bytes.some((b) => b >= 0x80)) return jisDecoder.decode(bytes);
  const utf8 = bytes.toString('utf8');
  if (!utf8.includes('\ufffd') || bytes.includes(Buffer.from([0xef, 0xbf, 0xbd]))) return utf8;
  if (fallback !== null) {
    try {
      return fallback(bytes);
    } catch {
      // not valid in the message's charset either
    }
  }
  return decodeWindows1252(bytes);
}
