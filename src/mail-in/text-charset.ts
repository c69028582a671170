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
 * Other charsets are left to mailparser. The decision is made on the first DECIDE_BYTES of the
 * part (a single-byte decoding of the rest needs no look-ahead).
 */

const GUESSED = new Set(['', 'us-ascii', 'ascii', 'iso-8859-1', 'iso8859-1', 'latin1', 'latin-1', 'l1', 'windows-1252', 'cp1252']);
const LATIN1_LABELS = new Set(['iso-8859-1', 'iso8859-1', 'latin1', 'latin-1', 'l1', 'windows-1252', 'cp1252']);
const DECIDE_BYTES = 1024 * 1024;

/** Whether a text part declared with `charset` (undefined: none) is decoded here. */
export function guessesCharset(charset: string | undefined): boolean {
  return GUESSED.has((charset ?? '').trim().toLowerCase());
}

type Reading = 'utf-8' | 'windows-1252';

function decide(bytes: Buffer, declared: string, complete: boolean): Reading {
  let eightBit = false;
  for (const b of bytes) {
    if (b >= 0x80) {
      eightBit = true;
      break;
    }
  }
  if (!eightBit) return LATIN1_LABELS.has(declared) ? 'windows-1252' : 'utf-8';
  let valid = true;
  try {
    // A prefix may end inside a character: stream mode does not call that invalid.
    new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: !complete });
  } catch {
    valid = false;
  }
  return valid ? 'utf-8' : 'windows-1252';
}

/**
 * Wraps a part's transfer decoder (base64, quoted-printable, 8bit): what comes out is UTF-8, so
 * the caller sets the part's charset to UTF-8 (mailparser then decodes nothing more).
 */
export class GuessingCharsetDecoder extends Transform {
  private readonly held: Buffer[] = [];
  private heldBytes = 0;
  private reading: Reading | null = null;

  constructor(
    private readonly inner: Transform,
    private readonly declared: string,
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
    this.reading = decide(bytes, this.declared, complete);
    if (bytes.length > 0) this.push(this.convert(bytes));
  }

  private convert(bytes: Buffer): Buffer {
    return this.reading === 'windows-1252' ? Buffer.from(decodeWindows1252(bytes), 'utf8') : bytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.inner.write(chunk)) callback();
    else this.inner.once('drain', () => callback());
  }

  override _flush(callback: TransformCallback): void {
    this.inner.once('end', () => {
      if (this.reading === null) this.decideNow(true);
      callback();
    });
    this.inner.end();
  }
}
