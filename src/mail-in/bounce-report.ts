/**
 * Parse a bounce: which message was it about (the Message-IDs of the original, best first) and
 * which recipients failed, hard or soft. Sources, most reliable first: Amazon SES JSON, RFC 3464
 * delivery-status fields (also when an MTA wrote them into the text body), then the wording of
 * plain-text notices from Postfix, Exim, qmail, Sendmail, Exchange and friends.
 */
import type { ParsedMail } from './parsed-mail.js';
import { cleanAddress, dedupeRecipients, dsnAddress, enhancedStatus, isMailboxFull, isPermanent, MAX_RECIPIENTS, smtpReplyClass, type BounceRecipient, type BounceReport } from './bounce-status.js';
import { bodyText, headerSection, isDsnType, isReturnedMessageType, localPart, parseFields, SCAN_LIMIT } from './mail-text.js';
import { recipientsFromSes, sesNotification } from './ses-notification.js';

export type { BounceRecipient, BounceReport } from './bounce-status.js';

export function parseBounce(mail: ParsedMail): BounceReport {
  let originalMessageIds: string[] = [];
  let recipients: BounceRecipient[] = [];
  try {
    originalMessageIds = findOriginalMessageIds(mail);
  } catch {
    originalMessageIds = [];
  }
  try {
    recipients = findRecipients(mail);
  } catch {
    recipients = [];
  }
  let envelopeIds: string[] = [];
  try {
    envelopeIds = findEnvelopeIds(mail);
  } catch {
    envelopeIds = [];
  }
  return { originalMessageIds, recipients, envelopeIds };
}

/**
 * The envelope ids (RFC 3461 Original-Envelope-Id) of the report's delivery-status parts: the
 * ENVID the sender gave with MAIL FROM, which the MTA kept with the envelope (xtext decoded).
 */
function findEnvelopeIds(mail: ParsedMail): string[] {
  const out: string[] = [];
  for (const part of mail.reportParts) {
    if (!isDsnType(part.contentType)) continue;
    for (const f of parseFields(part.content.slice(0, SCAN_LIMIT))) {
      if (f.name !== 'original-envelope-id') continue;
      const id = f.value.trim().replace(/\+([0-9A-F]{2})/g, (_all, h: string) => String.fromCharCode(parseInt(h, 16)));
      if (id !== '' && id.length <= 200 && !out.includes(id)) out.push(id);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Message-IDs of the original message

function cleanId(raw: string): string | null {
  const inner = /<([^<>\s]+)>/.exec(raw)?.[1] ?? raw.trim().split(/\s+/)[0] ?? '';
  const id = inner.replace(/^<|>$/g, '').trim();
  return id !== '' && id.length <= 998 && id.includes('@') && !/[\s<>]/.test(id) ? id : null;
}

function findOriginalMessageIds(mail: ParsedMail): string[] {
  const own = mail.messageId;
  const out: string[] = [];
  const add = (id: string | null): void => {
    if (id !== null && id !== own && !out.includes(id)) out.push(id);
  };
  for (const part of mail.reportParts) {
    if (!isReturnedMessageType(part.contentType)) continue;
    const fields = parseFields(headerSection(part.content));
    for (const f of fields) if (f.name === 'message-id') add(cleanId(f.value));
  }
  for (const id of mail.inReplyTo) add(cleanId(id));
  for (const id of [...mail.references].reverse()) add(cleanId(id));
  const text = bodyText(mail).slice(0, SCAN_LIMIT * 4);
  for (const m of text.matchAll(/^[ \t>|]*message-id\s*:\s*(<[^<>\s]+>|[^\s<>]+@[^\s<>]+)/gim)) {
    if (m[1] !== undefined) add(cleanId(m[1]));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// recipients

function findRecipients(mail: ParsedMail): BounceRecipient[] {
  const ses = sesNotification(mail);
  if (ses !== null) return recipientsFromSes(ses.json);
  const dsn = mail.reportParts.filter((p) => isDsnType(p.contentType));
  for (const part of dsn) {
    const found = recipientsFromDsn(part.content);
    if (found.length > 0) return found.slice(0, MAX_RECIPIENTS);
  }
  const text = bodyText(mail).slice(0, SCAN_LIMIT);
  // Some MTAs put the DSN fields into the text body (or the product parser merged them in).
  if (/^[ \t]*(?:final|original)-recipient[ \t]*:/im.test(text)) {
    const found = recipientsFromDsn(text);
    if (found.length > 0) return found.slice(0, MAX_RECIPIENTS);
  }
  const fromText = recipientsFromText(mail, text);
  if (fromText.length > 0) return fromText.slice(0, MAX_RECIPIENTS);
  // A bounce forwarded as an attachment: the DSN sits inside the returned message.
  for (const part of mail.reportParts) {
    if (!isReturnedMessageType(part.contentType) || !/^[ \t]*final-recipient[ \t]*:/im.test(part.content)) continue;
    const found = recipientsFromDsn(part.content);
    if (found.length > 0) return found.slice(0, MAX_RECIPIENTS);
  }
  return [];
}

function recipientsFromDsn(content: string): BounceRecipient[] {
  // Group fields into per-recipient blocks: a blank line ends a block, and a second
  // Final-Recipient inside one block (DSNs written without blank lines) starts a new one.
  const blocks: Map<string, string>[] = [];
  let block = new Map<string, string>();
  const flush = (): void => {
    if (block.size > 0) blocks.push(block);
    block = new Map();
  };
  for (const f of parseFields(content.slice(0, SCAN_LIMIT * 4))) {
    if (f.name === '') {
      flush();
      continue;
    }
    if ((f.name === 'final-recipient' && block.has('final-recipient')) || (f.name === 'original-recipient' && block.has('original-recipient'))) {
      flush();
    }
    if (!block.has(f.name)) block.set(f.name, f.value);
  }
  flush();

  const out: BounceRecipient[] = [];
  for (const b of blocks) {
    const address = dsnAddress(b.get('original-recipient')) ?? dsnAddress(b.get('final-recipient'));
    if (address === null) continue;
    const action = (b.get('action') ?? '').trim().toLowerCase().split(/[\s(;]/)[0] ?? '';
    const diagnosticRaw = b.get('diagnostic-code') ?? null;
    const diagnostic = diagnosticRaw === null ? null : diagnosticRaw.replace(/^[a-z][a-z0-9-]*\s*;\s*/i, '').trim() || null;
    const status = enhancedStatus(b.get('status') ?? '') ?? (diagnostic !== null ? enhancedStatus(diagnostic) : null);
    out.push({
      address,
      action: action === '' ? null : action,
      status,
      diagnostic,
      permanent: isPermanent(status, action === '' ? null : action, diagnostic),
    });
  }
  return dedupeRecipients(out);
}


// ---------------------------------------------------------------------------------------------
// plain-text bounces

/** Where the returned copy of the original message starts in a plain-text bounce. */
const RETURNED_MESSAGE_START = new RegExp(
  '^[ \\t]*(?:' +
    [
      '-{2,}.{0,20}(?:this is a copy of|below this line is a copy|original message|returned message|the original message|undelivered message|unsent message|message text follows|copy of the message|headers? of the original|original mail)',
      '(?:message headers follow|original message headers|original mail as follows|the original message (?:follows|is attached))',
      '(?:-+\\s*)?(?:returned|original|undelivered|unsent) (?:mail|message)(?: headers)?(?: follows)?[ \\t]*[.:]?[ \\t]*-*[ \\t]*$',
      '(?:return-path|received|x-original-to|delivered-to|dkim-signature|arc-seal)[ \\t]*:',
    ].join('|') +
    ')',
  'im',
);

/** Local parts that are never the failed recipient: the mail system talking about itself. */
const IGNORED_LOCAL_PART = /^(?:mailer[-_.]?daemon|mail[-_.]?daemon)$/i;

/** Signs that a plain-text notice is a delay warning, not a failure. */
const DELAY_TEXT =
  /\b(?:delayed|not yet been delivered|has not been delivered yet|will (?:continue to )?(?:retry|try|be retried)|be retried|still (?:trying|being retried)|temporar(?:y|ily)|deferred|warning message only|no action is required|you do not need to resend)\b/i;

/** A delivery that was finally given up after retries: failed, but not a permanent condition. */
const EXPIRED_TEXT =
  /\b(?:retry time(?:out)? (?:exceeded|reached)|have been failing for a long time|could not be delivered (?:within|for)|cannot send message for|message (?:has )?expired|expired after|too long in (?:the )?queue|timed? ?out)\b/i;

// Bounded repetitions keep the scan linear on long runs of letters without an "@". Letters of any
// script: SMTPUTF8 addresses (müller@bücher.example) are reported as written (regexes with flag u).
const ADDRESS_SOURCE = "[A-Za-z0-9\\p{L}\\p{M}\\p{N}!#$%&'*+=?^_`{|}~.-]{1,64}@[A-Za-z0-9\\p{L}\\p{N}](?:[A-Za-z0-9\\p{L}\\p{M}\\p{N}-]{0,61}[A-Za-z0-9\\p{L}\\p{M}\\p{N}])?(?:\\.[A-Za-z0-9\\p{L}\\p{N}](?:[A-Za-z0-9\\p{L}\\p{M}\\p{N}-]{0,61}[A-Za-z0-9\\p{L}\\p{M}\\p{N}])?){0,10}";

/**
 * Places where MTAs write the failed address:
 *  - at the start of a line, followed by a colon ("<jane@example.com>: host mx said ...": Postfix, qmail),
 *  - alone on an (indented) line, or followed by a bracket / "on <date>" / "..." (Exim, Sendmail, Exchange),
 *  - after a phrase naming it ("delivering your mail to <a>", "Could not be delivered to: <a>",
 *    "RCPT TO:<a>", "Address: <a>", "userid: a", "recipient: a"),
 *  - after an SMTP reply code in a session transcript ("550 <a>... User unknown": Sendmail).
 */
const STRONG_PLACES = [
  new RegExp(`^[ \\t]*[245][0-9]{2}[ -]<?(${ADDRESS_SOURCE})>?(?:\\.\\.\\.|:)`, 'gmu'),
  new RegExp(`^[ \\t>]*<?(${ADDRESS_SOURCE})>?[ \\t]*:`, 'gmu'),
  new RegExp(`^[ \\t>]*<?(${ADDRESS_SOURCE})>?[ \\t]*(?:$|[([]|\\.\\.\\.|on\\b|,)`, 'gmu'),
  new RegExp(
    `(?:\\bto|recipient(?:\\(s\\))?|address(?:ee)?|user(?:id)?|rcpt to|mailbox|destination|for)[ \\t]*[:=]?[ \\t]*<(${ADDRESS_SOURCE})>`,
    'giu',
  ),
  new RegExp(`(?:recipient|address|user(?:id)?|rcpt to|mailbox)[ \\t]*:[ \\t]*<?(${ADDRESS_SOURCE})`, 'giu'),
];
const ANY_ADDRESS = new RegExp(`<?(${ADDRESS_SOURCE})>?`, 'gu');

/** Text right before an address that makes it the sender's (or a message id), not a recipient. */
const SENDER_CONTEXT = /(?:\bfrom|sender|sent by|envelope-from|originator|mail from|reply-to|message-id|msgid|in-reply-to|references|\bid|contact|send mail to|write to|\bcc)[ \t]*[:=]?[ \t]*<?$/i;
/** A header-style summary line of the original message ("  To: a@b", "From: ..."). */
const SUMMARY_LINE = /^[ \t>]*(?:to|cc|bcc|from|subject|sent|date|reply-to|sender)[ \t]*:/i;

interface Candidate {
  address: string;
  index: number;
}

function recipientsFromText(mail: ParsedMail, text: string): BounceRecipient[] {
  const cut = text.search(RETURNED_MESSAGE_START);
  const notice = (cut > 0 ? text.slice(0, cut) : text).slice(0, SCAN_LIMIT);

  const excluded = new Set<string>();
  if (mail.from !== null && mail.from.address !== '') excluded.add(mail.from.address);
  if (mail.returnPath !== null && mail.returnPath !== '') excluded.add(mail.returnPath);
  const ownId = (mail.messageId ?? '').toLowerCase();

  const accept = (raw: string, index: number, list: Candidate[]): void => {
    const address = cleanAddress(raw);
    if (address === null || excluded.has(address) || address === ownId) return;
    if (IGNORED_LOCAL_PART.test(localPart(address)) || localPart(address).includes('/')) return;
    if (list.some((c) => c.address === address)) return;
    const before = notice.slice(Math.max(0, index - 80), index).replace(/\s+/g, ' ');
    if (SENDER_CONTEXT.test(before)) return;
    const lineStart = notice.lastIndexOf('\n', index - 1) + 1;
    if (SUMMARY_LINE.test(notice.slice(lineStart, index))) return;
    list.push({ address, index });
  };

  let candidates: Candidate[] = [];
  // Exim and Gmail name the failed recipients in a header: the most reliable source.
  for (const value of mail.headers.get('x-failed-recipients') ?? []) {
    for (const part of value.split(',')) {
      const address = cleanAddress(part);
      if (address !== null && !candidates.some((c) => c.address === address)) {
        const at = notice.toLowerCase().indexOf(address);
        candidates.push({ address, index: at < 0 ? -1 : at });
      }
    }
  }
  if (candidates.length === 0) {
    const strong: Candidate[] = [];
    for (const place of STRONG_PLACES) {
      for (const m of notice.matchAll(place)) {
        const raw = m[1];
        if (raw === undefined) continue;
        accept(raw, (m.index ?? 0) + m[0].indexOf(raw), strong);
      }
    }
    strong.sort((a, b) => a.index - b.index);
    candidates = strong;
  }
  if (candidates.length === 0) {
    for (const m of notice.matchAll(ANY_ADDRESS)) {
      const raw = m[1];
      if (raw !== undefined) accept(raw, (m.index ?? 0) + m[0].indexOf(raw), candidates);
    }
  }
  if (candidates.length === 0) {
    // Nothing in the notice: the returned message's single To address is the best guess.
    const to = returnedMessageRecipient(mail, cut > 0 ? text.slice(cut) : '');
    if (to !== null && !excluded.has(to)) candidates.push({ address: to, index: -1 });
  }

  const subjectDelay = subjectSaysDelay(mail);
  const single = candidates.length === 1;
  const starts = candidates.map((c) => c.index).filter((i) => i >= 0);
  return candidates.map(({ address, index }) => {
    const paragraph = index >= 0 ? paragraphAt(notice, index) : '';
    const own = index >= 0 ? ownSegment(notice, index, starts) : '';
    return { address, ...judge(notice, paragraph, own, single, subjectDelay) };
  });
}

function subjectSaysDelay(mail: ParsedMail): boolean {
  return DELAY_TEXT.test(mail.subject) || /\bwarning\b|\bdelay/i.test(mail.subject);
}

/**
 * What a notice says of one recipient: from the lines about it (`own`), its paragraph, and — for
 * the notice's only recipient — the whole notice.
 */
function judge(notice: string, paragraph: string, own: string, single: boolean, subjectDelay: boolean): Omit<BounceRecipient, 'address'> {
  const context = single || paragraph === '' ? notice : paragraph;
  const status = enhancedStatus(own) ?? enhancedStatus(paragraph) ?? (single ? enhancedStatus(notice) : null);
  const reply = smtpReplyClass(own) ?? smtpReplyClass(paragraph) ?? (single ? smtpReplyClass(notice) : null);
  let permanent: boolean;
  let action: string;
  if (status !== null || reply !== null) {
    permanent = (status !== null ? status.startsWith('5') : reply === '5') && !isMailboxFull(status, own !== '' ? own : paragraph);
    action = permanent || !subjectDelay ? 'failed' : 'delayed';
  } else if (subjectDelay || DELAY_TEXT.test(context)) {
    permanent = false;
    action = 'delayed';
  } else {
    permanent = !EXPIRED_TEXT.test(context);
    action = 'failed';
  }
  const diagnostic = own.trim() !== '' && own.length < paragraph.length ? own : paragraph !== '' ? paragraph : notice;
  return { action, status, diagnostic: collapse(diagnostic), permanent };
}

/**
 * What a bounce says when it names no recipient we can read (an Exchange or Gmail notice in
 * prose, a forwarding chain's report about an address we never wrote to): the notice as a whole,
 * as for the one recipient of a notice — its delivery-status fields first (Status, Action,
 * Diagnostic-Code without a Final-Recipient), else its text. For a bounce sent to a signed bounce
 * address, whose recipient the address itself names (mailboxes[].verp).
 */
export function noticeVerdict(mail: ParsedMail): Omit<BounceRecipient, 'address'> {
  for (const part of mail.reportParts.filter((p) => isDsnType(p.contentType))) {
    const fields = new Map<string, string>();
    for (const f of parseFields(part.content.slice(0, SCAN_LIMIT))) if (f.name !== '' && !fields.has(f.name)) fields.set(f.name, f.value);
    const diagnosticRaw = fields.get('diagnostic-code') ?? null;
    const diagnostic = diagnosticRaw === null ? null : diagnosticRaw.replace(/^[a-z][a-z0-9-]*\s*;\s*/i, '').trim() || null;
    const status = enhancedStatus(fields.get('status') ?? '') ?? (diagnostic !== null ? enhancedStatus(diagnostic) : null);
    const action = (fields.get('action') ?? '').trim().toLowerCase().split(/[\s(;]/)[0] ?? '';
    if (status !== null || action !== '') return { action: action === '' ? null : action, status, diagnostic, permanent: isPermanent(status, action === '' ? null : action, diagnostic) };
  }
  const text = bodyText(mail).slice(0, SCAN_LIMIT);
  const cut = text.search(RETURNED_MESSAGE_START);
  const notice = cut > 0 ? text.slice(0, cut) : text;
  return judge(notice, '', '', true, subjectSaysDelay(mail));
}

/**
 * The lines that belong to one address when a paragraph names several: from the start of its
 * line to the start of the line of the next named address (or the paragraph end).
 */
function ownSegment(text: string, index: number, starts: readonly number[]): string {
  const lineStart = text.lastIndexOf('\n', index - 1) + 1;
  let end = text.indexOf('\n\n', index);
  if (end < 0) end = text.length;
  for (const other of starts) {
    const otherLine = text.lastIndexOf('\n', other - 1) + 1;
    if (otherLine > lineStart && otherLine < end) end = otherLine;
  }
  return text.slice(lineStart, end);
}

/** The paragraph (blank-line delimited) around an index, plus the next one when it is short. */
function paragraphAt(text: string, index: number): string {
  const start = Math.max(0, text.lastIndexOf('\n\n', index) + 1);
  let end = text.indexOf('\n\n', index);
  if (end < 0) end = text.length;
  let paragraph = text.slice(start, end);
  // "<a@b>:" alone, explanation in the next paragraph (qmail writes it that way sometimes).
  if (paragraph.trim().split('\n').length === 1) {
    const nextEnd = text.indexOf('\n\n', end + 2);
    paragraph = text.slice(start, nextEnd < 0 ? text.length : nextEnd);
  }
  return paragraph;
}

function returnedMessageRecipient(mail: ParsedMail, returnedText: string): string | null {
  const sections = mail.reportParts.filter((p) => isReturnedMessageType(p.contentType)).map((p) => headerSection(p.content));
  if (returnedText !== '') sections.push(headerSection(returnedText));
  for (const section of sections) {
    const to = parseFields(section).filter((f) => f.name === 'to');
    if (to.length !== 1) continue;
    const addresses = [...(to[0]?.value ?? '').matchAll(ANY_ADDRESS)].map((m) => cleanAddress(m[1] ?? ''));
    if (addresses.length === 1 && addresses[0] !== null && addresses[0] !== undefined) return addresses[0];
  }
  return null;
}

function collapse(s: string): string | null {
  const t = s.replace(/\s+/g, ' ').trim();
  return t === '' ? null : t.slice(0, 1000);
}
