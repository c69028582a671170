/** Builds ParsedMail objects for unit tests: sensible defaults, everything overridable. */
import type { MailAddress, ParsedMail, ReportPart } from '../../src/mail-in/parsed-mail.js';

export interface MailSpec extends Partial<Omit<ParsedMail, 'headers' | 'from' | 'reportParts'>> {
  /** Header name (any case) → value or values. Merged over the defaults below. */
  headers?: Record<string, string | readonly string[]>;
  /** "Name <addr>" / "addr" shorthand, a MailAddress, or null. */
  from?: string | MailAddress | null;
  reportParts?: readonly ReportPart[];
}

export function address(spec: string): MailAddress {
  const m = /^\s*(.*?)\s*<([^<>]*)>\s*$/.exec(spec);
  if (m !== null) return { name: (m[1] ?? '').replace(/^"|"$/g, ''), address: (m[2] ?? '').trim().toLowerCase() };
  return { name: '', address: spec.trim().toLowerCase() };
}

/** A plain human message from jane@example.com unless told otherwise. */
export function makeMail(spec: MailSpec = {}): ParsedMail {
  const { headers: headerSpec, from: fromSpec, reportParts, ...rest } = spec;
  const from =
    fromSpec === undefined ? address('Jane Doe <jane@example.com>') : typeof fromSpec === 'string' ? address(fromSpec) : fromSpec;
  const subject = rest.subject ?? 'Question about my order';
  const headers = new Map<string, string[]>();
  headers.set('from', [from === null ? '' : from.name !== '' ? `${from.name} <${from.address}>` : from.address]);
  headers.set('to', ['support@casegate.example']);
  headers.set('subject', [subject]);
  headers.set('message-id', ['<msg-1@example.com>']);
  for (const [name, value] of Object.entries(headerSpec ?? {})) {
    headers.set(name.toLowerCase(), typeof value === 'string' ? [value] : [...value]);
  }
  return {
    messageId: 'msg-1@example.com',
    inReplyTo: [],
    references: [],
    replyTo: [],
    to: [address('support@casegate.example')],
    cc: [],
    date: new Date('2024-05-01T10:00:00Z'),
    returnPath: from === null ? null : from.address,
    contentType: 'text/plain',
    reportType: null,
    contentLanguage: null,
    text: 'Hello, I have a question.',
    html: null,
    bodyTruncated: false,
    textFromHtml: false,
    attachments: [],
    fromCount: from === null ? 0 : 1,
    ...rest,
    subject,
    from,
    headers,
    reportParts: reportParts ?? [],
  };
}
