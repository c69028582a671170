/**
 * Repairs of what mailparser hands over for a message's body, before it is stored: the HTML without
 * megabytes of inline data, the text of a small message rescued from a missing charset or a
 * boundary that never occurs. Pure functions of the parsed values and the raw bytes.
 */
import type { Readable } from 'node:stream';
import type { HeaderMap } from './parsed-mail.js';
import { decodeWindows1252 } from './windows-1252.js';

/**
 * A data: URI of an attribute or CSS url() — a screenshot pasted into the HTML — longer than this
 * is replaced by "data:," in the HTML kept (the raw message keeps it). Megabytes of base64 are not
 * text, but they counted against maxBodyChars and the visible-text cap: the customer's text below
 * a pasted screenshot was cut away.
 */
const INLINE_DATA_MAX = 256;
const INLINE_DATA_RE = new RegExp(`(["'(=]\\s{0,4})data:[^"'()<>]{${INLINE_DATA_MAX},}`, 'gi');

export function withoutInlineData(html: string): string {
  return html.length < INLINE_DATA_MAX * 8 ? html : html.replace(INLINE_DATA_RE, '$1data:,');
}

/**
 * Two things mailparser gets wrong that customers do send (small messages only, where the raw
 * bytes are at hand): an 8-bit single-part body without a charset is Windows-1252/Latin-1 far
 * more often than UTF-8 (mailparser yields U+FFFD for every such byte); and a multipart whose
 * declared boundary never occurs (or whose parts the parser cannot find) yields no body at all —
 * then the raw body is the text. A multipart whose parts were found but none of them text (a scan
 * sent as a lone PDF, PGP-encrypted mail) has no text: its raw body is MIME source and base64.
 */
export function recoverText(
  text: string | undefined,
  html: string | undefined,
  raw: Buffer | null,
  contentType: string,
  charset: string | null,
  partsFound: number,
  headers: HeaderMap,
): string | undefined {
  if (raw === null) return text;
  const cte = (headers.get('content-transfer-encoding')?.[0] ?? '').toLowerCase().trim();
  if (cte === 'base64' || cte === 'quoted-printable') return text;
  const sep = raw.indexOf('\r\n\r\n') >= 0 ? raw.indexOf('\r\n\r\n') + 4 : raw.indexOf('\n\n') >= 0 ? raw.indexOf('\n\n') + 2 : -1;
  if (sep < 0) return text;
  const body = raw.subarray(sep);
  if (text !== undefined && text.includes('\ufffd') && contentType === 'text/plain' && (charset === null || charset === 'us-ascii')) {
    return decodeWindows1252(body).replace(/\r\n/g, '\n').trimEnd();
  }
  if ((text === undefined || text === '') && html === undefined && contentType.startsWith('multipart/') && body.length > 0 && partsFound === 0) {
    const utf8 = body.toString('utf8');
    return (utf8.includes('\ufffd') ? decodeWindows1252(body) : utf8).replace(/\r\n/g, '\n').trim() || text;
  }
  return text;
}

/**
 * The bytes of a part as they stream past, at most `max`: a longer part leaves the array empty
 * (it stays a file only). For the parts read beside the body: S/MIME content, a calendar
 * invitation, a message forwarded as an attachment.
 */
export function collectPart(stream: Readable, max: number): Buffer[] {
  const part: Buffer[] = [];
  let size = 0;
  stream.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= max) part.push(c);
    else part.length = 0;
  });
  return part;
}
