import { Transform, type TransformCallback } from 'node:stream';
import { TextDecoder } from 'node:util';
import { decodeWindows1252 } from './windows-1252.js';

/**
 * Text body parts whose declared charset is commonly wrong, decoded the way their bytes say:
 *  - no charset, or US-ASCII, with 8-bit bytes: UTF-8 when the bytes are valid UTF-8, else
 *    Windows-1252 (mailparser reads them as UTF-8: every Latin-1 "ü" became U+FFFD — "Gr��e");
 *  - ISO-8859-1 / Windows-1252 whose bytes are valid UTF-8 with multi-byte sequences: UTF-8 (a web
 *    form or script that labels its UTF-8 as Latin-1: "GrÃ¼ÃŸe"); otherwise Windows-1252, which
 *    is what ISO-8859-1 means in mail (WHATWG: its 0x80–0x9F are the Windows quotes and dashes).
 *  - 8-bit text that is not UTF-8, when the message's subject or sender name is encoded in a
 *    charset it is valid in (KOI8-R, Shift_JIS, GBK …): that charset, the sender's mailer's;
 *  - 7-bit text with ISO-2022-JP's escape sequences (ESC $ B …) and no label, or a US-ASCII or
 *    Latin-1 label: ISO-2022-JP (Japanese mailers and scripts that leave the label out; read as
 *    ASCII it was "\x1b$B$3$s$K$A$O" for こんにちは).
 * Other charsets are left to mailparser. The decision is made on the first DECIDE_BYTES of the
 * part (a single-byte decoding of the rest needs no look-ahead; ISO-2022-JP is decoded as a stream).
 */

const GUESSED = new Set(['', 'us-ascii', 'ascii', 'iso-8859-1', 'iso8859-1', 'latin1', 'latin-1', 'l1', 'windows-1252', 'cp1252']);
const LATIN1_LABELS = new Set(['iso-8859-1', 'iso8859-1', 'latin1', 'latin-1', 'l1', 'windows-1252', 'cp1252']);
const DECIDE_BYTES = 1024 * 1024;

/** Whether a text part declared with `charset` (undefined: none) is decoded here. */
export function guessesCharset(charset: string | undefined): boolean {
  return GUESSED.has((charset ?? '').trim().toLowerCase());
}

/** How a part is read: 'utf-8' as it is, 'windows-1252' byte by byte, any other charset by a streaming TextDecoder. */
type Reading = string;

/**
 * The charsets to try for 8-bit text that is not UTF-8, from the charset the message's subject or
 * sender name is encoded in (`hint`): the same charset, or for ISO-2022-JP (7-bit, so never an
 * 8-bit body's) the two 8-bit Japanese ones. None for a Latin-1 or UTF-8 hint.
 */
function hintedCharsets(hint: string | null): string[] {
  const h = (hint ?? '').trim().toLowerCase();
  if (h === '' || h === 'utf-8' || h === 'utf8' || h === 'us-ascii' || LATIN1_LABELS.has(h)) return [];
  const candidates = /^(?:iso-2022-jp|csiso2022jp)/.test(h) ? ['shift_jis', 'euc-jp'] : [h];
  return candidates.filter((c) => {
    try {
      return !LATIN1_LABELS.has(new TextDecoder(c).encoding);
    } catch {
      return false;
    }
  });
}

/** ISO-2022-JP's switches into JIS X 0208 (ESC $ @, ESC $ B) or JIS X 0212 (ESC $ ( D): no other text has them. */
const JIS_ESCAPE = /\x1b\$(?:[@B]|\(D)/;

/** Whether 7-bit bytes are ISO-2022-JP text (they switch to a JIS character set). */
export function looksLikeIso2022Jp(bytes: Buffer): boolean {
  return bytes.includes(0x1b) && JIS_ESCAPE.test(bytes.toString('latin1'));
}

function decide(bytes: Buffer, declared: string, hint: string | null, complete: boolean): Reading {
  let eightBit = false;
  for (const b of bytes) {
    if (b >= 0x80) {
      eightBit = true;
      break;
    }
  }
  if (!eightBit && looksLikeIso2022Jp(bytes)) return 'iso-2022-jp';
  if (!eightBit) return LATIN1_LABELS.has(declared) ? 'windows-1252' : 'utf-8';
  let valid = true;
  try {
    // A prefix may end inside a character: stream mode does not call that invalid.
    new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: !complete });
  } catch {
    valid = false;
  }
  if (valid) return 'utf-8';
  // A Russian or Japanese mailer that leaves the body's label out encodes its subject in the same charset.
  for (const charset of hintedCharsets(hint)) {
    try {
      new TextDecoder(charset, { fatal: true }).decode(bytes, { stream: !complete });
      return charset;
    } catch {
      // not this one
    }
  }
  return 'windows-1252';
}

/**
 * Wraps a part's transfer decoder (base64, quoted-printable, 8bit): what comes out is UTF-8, so
 * the caller sets the part's charset to UTF-8 (mailparser then decodes nothing more).
 */
export class GuessingCharsetDecoder extends Transform {
  private readonly held: Buffer[] = [];
  private heldBytes = 0;
  private reading: Reading | null = null;
  /** For any other charset: one decoder for the whole part (a character, or ISO-2022-JP's state, runs across chunks). */
  private decoder: TextDecoder | null = null;

  /** `hint`: the charset of the message's encoded subject or sender name, if any (hintedCharsets). */
  constructor(
    private readonly inner: Transform,
    private readonly declared: string,
    private readonly hint: string | null = null,
  ) {
    super();
    inner.on('data', (chunk: Buffer | string) => this.accept(typeof chunk === 'string' ? Buffer.from(chunk, 'binary') : chunk));
    inner.on('error', (err: Error) => this.destroy(err));
  }

  private accept(chunk: Buffer): void {
    if (this.reading !== null) {
      this.push(this.convert(chunk));
      return;
    }
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes >= DECIDE_BYTES) this.decideNow(false);
  }

  private decideNow(complete: boolean): void {
    const bytes = Buffer.concat(this.held);
    this.held.length = 0;
    this.reading = decide(bytes, this.declared, this.hint, complete);
    if (bytes.length > 0) this.push(this.convert(bytes));
  }

  private convert(bytes: Buffer): Buffer {
    if (this.reading === 'utf-8') return bytes;
    if (this.reading === 'windows-1252') return Buffer.from(decodeWindows1252(bytes), 'utf8');
    this.decoder ??= new TextDecoder(this.reading ?? 'utf-8');
    return Buffer.from(this.decoder.decode(bytes, { stream: true }), 'utf8');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.inner.write(chunk)) callback();
    else this.inner.once('drain', () => callback());
  }

  override _flush(callback: TransformCallback): void {
    this.inner.once('end', () => {
      if (this.reading === null) this.decideNow(true);
      if (this.decoder !== null) {
        const rest = this.decoder.decode();
        if (rest !== '') this.push(Buffer.from(rest, 'utf8'));
      }
      callback();
    });
    this.inner.end();
  }
}
