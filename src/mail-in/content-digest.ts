import { createHash } from 'node:crypto';
import type { ParsedMail } from './parsed-mail.js';

/**
 * A digest of what a message says, made of the parts that survive relaying unchanged: sender,
 * subject, date, the decoded body text (line endings and trailing blanks normalised: a CRLF, LF or
 * CR-only copy of the same message gives the same digest) and the names and types of its
 * attachments. Received, DKIM-Signature, Return-Path and other headers relays add are not part of
 * it. Two arrivals with the same Message-ID and the same digest are the same message; the same
 * Message-ID with another digest is a different message reusing it (a collision).
 */
export function contentDigest(parsed: ParsedMail): string {
  const text = (parsed.text ?? '')
    .replace(/\r\n?/g, '\n')
    .replace(/[ \t]+$/gm, '')
    .replace(/\n+$/, '');
  const attachments = parsed.attachments.map((a) => `${a.filename}\t${a.contentType}`).sort();
  const parts = [parsed.from?.address ?? '', parsed.subject, parsed.date?.toISOString() ?? '', text, ...attachments];
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}
