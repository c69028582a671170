import { createHash } from 'node:crypto';
import type { ParsedMail } from './parsed-mail.js';

/**
 * A digest of what a message says, made of the parts that survive relaying unchanged: sender,
 * subject and date (the head), the decoded body text with every run of whitespace counted as one
 * space (a CRLF, LF or CR-only copy, or one a relay re-wrapped, gives the same digest) and the
 * names and types of its attachments (the body). Received, DKIM-Signature, Return-Path and other
 * headers relays add are not part of it. Two arrivals with the same Message-ID and the same content
 * are the same message; the same Message-ID with other content is a different message reusing it.
 *
 * Form: "<head>.<body>", 32 hex characters each; the body is "empty" when the parser found no text
 * and no attachment — a copy whose MIME structure the parser could not read (CR-only line ends
 * in a multipart, say) is then judged by its head alone.
 */
export function contentDigest(parsed: ParsedMail): string {
  const head = hash([parsed.from?.address ?? '', parsed.subject, parsed.date?.toISOString() ?? '']);
  const text = (parsed.text ?? '').replace(/\s+/g, ' ').trim();
  const attachments = parsed.attachments.map((a) => `${a.filename}\t${a.contentType}`).sort();
  const body = text === '' && attachments.length === 0 ? 'empty' : hash([text, ...attachments]);
  return `${head}.${body}`;
}

function hash(parts: readonly string[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

/** Whether two digests describe the same message (see contentDigest). */
export function sameContent(a: string, b: string): boolean {
  if (a === b) return true;
  const [headA, bodyA] = a.split('.');
  const [headB, bodyB] = b.split('.');
  return headA === headB && (bodyA === 'empty' || bodyB === 'empty');
}

/**
 * What a copy of a message re-sent under a new Message-ID (a stuck outbox, a script, a form
 * submitted twice) keeps: who sent it (the person: a contact form's writer, not the form's address),
 * to whom (To and Cc, in any order), its subject, what it answers (In-Reply-To), its text
 * (whitespace runs as one space) and its attachments by content, name and type. Not the Date
 * (some senders stamp it afresh) and nothing a relay adds. stages/resend.ts compares the Date apart.
 */
export function resendKey(parsed: ParsedMail, sender: string): string {
  const recipients = [...new Set([...parsed.to, ...parsed.cc].map((a) => a.address))].sort();
  const text = (parsed.text ?? '').replace(/\s+/g, ' ').trim();
  const attachments = parsed.attachments.map((a) => `${a.sha256}\t${a.filename}\t${a.contentType}`).sort();
  return createHash('sha256').update(JSON.stringify([sender, recipients, parsed.subject, parsed.inReplyTo, text, attachments])).digest('hex');
}
