/**
 * RFC 3676 format=flowed decoding that respects quote depth.
 *
 * mailparser (through @zone-eu/mailsplit and libmime) joins every line that ends in a space with
 * the next one, whatever their quote depth. A bottom-posted reply from Thunderbird, Apple Mail or
 * K-9 then loses the customer's text: the quoted line "> Could you send the log? " and the answer
 * below it become one quoted line, and the quote is cut. RFC 3676 §4.5 says a flowed line followed
 * by a line of a different quote depth ends its paragraph; this decoder does that, so a quote line
 * never absorbs the non-quoted line after it.
 *
 * Works on "binary" strings (one character per byte) before the charset is decoded, as the
 * library's decoder does: space (0x20) and ">" (0x3E) are the same byte in every ASCII-compatible
 * charset and never occur inside a UTF-8 multi-byte sequence.
 */
import { Transform, type TransformCallback } from 'node:stream';

interface FlowedLine {
  /** Number of leading ">" characters. */
  readonly depth: number;
  /** The line as written up to and including its quote markers (e.g. "> ", ">> "). */
  readonly prefix: string;
  /** The content after the quote markers with space-stuffing removed. */
  readonly content: string;
}

function splitQuote(line: string): FlowedLine {
  let i = 0;
  let depth = 0;
  // Quote markers may be separated by single spaces ("> > text"), as many clients write them.
  while (i < line.length) {
    if (line.charCodeAt(i) === 0x3e) {
      depth += 1;
      i += 1;
    } else if (depth > 0 && line.charCodeAt(i) === 0x20 && line.charCodeAt(i + 1) === 0x3e) {
      i += 1;
    } else {
      break;
    }
  }
  let prefix = line.slice(0, i);
  let content = line.slice(i);
  // Space-stuffing (RFC 3676 §4.4): one space after the quote markers (or at the start of an
  // unquoted line) is not content. For quoted lines it is kept in the prefix ("> text").
  if (content.startsWith(' ')) {
    if (depth > 0) prefix += ' ';
    content = content.slice(1);
  }
  return { depth, prefix, content };
}

/** "-- " (after the quote markers) is a signature separator and never flowed. */
function isSignatureSeparator(content: string): boolean {
  return content === '-- ';
}

export function decodeFlowed(text: string, delSp: boolean): string {
  const lines = text.split(/\r?\n/);
  const out: string[] = [];
  let current: { depth: number; prefix: string; parts: string[]; flowed: boolean } | null = null;
  const flush = (): void => {
    if (current !== null) out.push(current.prefix + current.parts.join(''));
    current = null;
  };
  for (const raw of lines) {
    const line = splitQuote(raw);
    if (current !== null && current.flowed && current.depth === line.depth) {
      current.parts.push(line.content);
    } else {
      flush();
      current = { depth: line.depth, prefix: line.prefix, parts: [line.content], flowed: false };
    }
    const flowed = line.content.endsWith(' ') && !isSignatureSeparator(line.content);
    if (flowed && delSp) {
      const last = current.parts.length - 1;
      current.parts[last] = (current.parts[last] ?? '').slice(0, -1);
    }
    current.flowed = flowed;
  }
  flush();
  return out.join('\n');
}

/**
 * Wraps a part's transfer decoder (base64, quoted-printable or pass-through): bytes written go
 * through `inner`, and at the end the whole decoded part is flowed-decoded at once (as the
 * library's decoder does: parts are bounded by the stored-body limit upstream).
 */
export class QuoteAwareFlowedDecoder extends Transform {
  private readonly chunks: Buffer[] = [];

  constructor(
    private readonly inner: Transform,
    private readonly delSp: boolean,
  ) {
    super();
    inner.on('data', (chunk: Buffer | string) => {
      this.chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'binary') : chunk);
    });
    inner.on('error', (err: Error) => this.destroy(err));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.inner.write(chunk)) callback();
    else this.inner.once('drain', () => callback());
  }

  override _flush(callback: TransformCallback): void {
    this.inner.once('end', () => {
      const decoded = decodeFlowed(Buffer.concat(this.chunks).toString('binary'), this.delSp);
      this.push(Buffer.from(decoded, 'binary'));
      callback();
    });
    this.inner.end();
  }
}
