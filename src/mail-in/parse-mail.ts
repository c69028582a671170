import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { PassThrough, Readable, Transform } from 'node:stream';
import libmime from 'libmime';
import { MailParser, type HeaderLines, type MessageText } from 'mailparser';
import type { BlobStore, StoredBlob } from '../storage/blob-store.js';
import { CALENDAR_MAX_BYTES, invitationText, readInvitation } from './calendar-invite.js';
import { ATTACHED_MESSAGE_MAX_BYTES, ATTACHED_MESSAGES_MAX, DISCARDING_BLOBS, readAttachedMessages } from './attached-messages.js';
import { messageIdList, normalizeMessageId, oneLine } from './header-values.js';
import { collectPart, recoverText, withoutInlineData } from './body-repair.js';
import { parseWatchdog, ParserStalledError } from './parse-watchdog.js';
import { flattenAddresses, headerMapFrom, rawDisplayNames } from './parsed-headers.js';
import { hookTextParts } from './text-part-hooks.js';
import { PKCS7_MIME_TYPES, signedDataContent, SMIME_MAX_BYTES } from './smime.js';
import type { ParsedMail, ReportPart, StoredAttachment } from './parsed-mail.js';
import { mayHaveReportParts, REPORT_CONTENT_TYPES, walkReportParts } from './report-parts.js';

/** mailparser is imported only here and by its two helpers (parsed-headers.ts, text-part-hooks.ts): the rest of casegate sees ParsedMail. */

export interface ParseLimits {
  /** Longest text or HTML body kept in the database (characters); longer bodies are cut. */
  readonly maxBodyChars: number;
  /** HTML longer than this is not converted to text (html-to-text is slow on huge documents). */
  readonly maxHtmlToTextChars: number;
  /** More MIME parts than this make the parser fail with code EMAXLEN (config mime.maxParts). */
  readonly maxMimeParts?: number;
  /** How long the parser may make no progress once it has the whole message (parse-watchdog.ts; default STALL_MS). */
  readonly stallMs?: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxBodyChars: 2_000_000, maxHtmlToTextChars: 1_000_000 };

const REPORT_TYPES = REPORT_CONTENT_TYPES;
const REPORT_PART_MAX = 256 * 1024;
const SMALL_RAW = 1024 * 1024;
/** C1 controls and the bidirectional marks and overrides: "invoice\u202Efdp.exe" shows as "invoiceexe.pdf". */
const INVISIBLE_IN_NAMES = /[\u0080-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const MAX_FILENAME = 200;

/**
 * A file name to store and show: no path, no control or direction-changing characters (a name
 * must not show another extension than it has), at most MAX_FILENAME characters — shortened
 * before its extension, which is what opens the file.
 */
function safeFilename(name: string | undefined, contentType: string, index: number): string {
  let n = oneLine((name ?? '').replace(INVISIBLE_IN_NAMES, '')).replace(/[/\\]/g, '_').replace(/^\.+/, '');
  if (n.length > MAX_FILENAME) {
    const ext = /\.[^.\s]{1,16}$/.exec(n)?.[0] ?? '';
    n = Array.from(n.slice(0, n.length - ext.length)).slice(0, MAX_FILENAME - ext.length).join('').trimEnd() + ext;
  }
  if (n !== '') return n;
  const ext = libmime.detectExtension(contentType) ?? 'bin';
  return `attachment-${index + 1}.${ext}`;
}

function cut(value: string | undefined | false, max: number): { value: string | null; truncated: boolean } {
  if (value === undefined || value === false || value === '') return { value: null, truncated: false };
  if (value.length <= max) return { value, truncated: false };
  return { value: value.slice(0, max), truncated: true };
}

/**
 * Parse a raw message from a file, streaming: attachments go straight into the blob store and
 * are never held in memory; only the text/HTML bodies (cut at maxBodyChars) are kept.
 * Never throws on malformed MIME (mailparser is lenient); throws only on I/O errors.
 */
export async function parseMailFile(raw: string | StoredBlob, blobs: Pick<BlobStore, 'put'>, limits: ParseLimits = DEFAULT_PARSE_LIMITS): Promise<ParsedMail> {
  const outer = await parseOnce(raw, blobs, limits).catch((err: unknown) => {
    // A message cut off inside a part's header block (parse-watchdog.ts): read it once more with
    // that block closed, as a complete message would have it. Only the parser sees the blank line;
    // the stored raw message stays as it came. Stalling again fails the parse (quarantine).
    if (!(err instanceof ParserStalledError)) throw err;
    return parseOnce(raw, blobs, limits, CLOSE_HEADER_BLOCK);
  });
  if (outer.attachedMessages.length > 0) {
    const forwarded = await readAttachedMessages(outer.attachedMessages, async (data) => (await parseOnce({ sha256: '', size: data.length, path: '', data }, DISCARDING_BLOBS, limits)).mail);
    if (forwarded.length > 0) return { ...outer.mail, forwarded };
  }
  if (outer.mail.text !== null || outer.mail.html !== null || outer.signedContent === null) return outer.mail;
  // Opaque S/MIME signed mail: the readable message is inside the smime.p7m part (see smime.ts).
  const inner = signedDataContent(outer.signedContent);
  if (inner === null) return outer.mail;
  const content = await parseOnce({ sha256: '', size: inner.length, path: '', data: inner }, blobs, limits);
  return {
    ...outer.mail,
    text: content.mail.text,
    textFromHtml: content.mail.textFromHtml,
    html: content.mail.html,
    bodyTruncated: outer.mail.bodyTruncated || content.mail.bodyTruncated,
    attachments: [...content.mail.attachments, ...outer.mail.attachments],
  };
}

interface ParseResult {
  readonly mail: ParsedMail;
  /** The decoded bytes of an application/pkcs7-mime part, when the message has one (bounded). */
  readonly signedContent: Buffer | null;
  /** Messages attached as message/rfc822 outside reports, whole (attached-messages.ts bounds them). */
  readonly attachedMessages: readonly Buffer[];
}

/** Ends an unterminated header block (appended for the parser only, see parseMailFile). */
const CLOSE_HEADER_BLOCK = Buffer.from('\r\n\r\n');

async function parseOnce(raw: string | StoredBlob, blobs: Pick<BlobStore, 'put'>, limits: ParseLimits, ending?: Buffer): Promise<ParseResult> {
  const path = typeof raw === 'string' ? raw : raw.path;
  const inMemory = typeof raw === 'string' ? undefined : raw.data;
  const parser = new MailParser({
    keepDeliveryStatus: true,
    // A message/rfc822 part marked inline (Apple Mail marks every part inline; nodemailer's default)
    // is a file like one marked attachment: stored, shown as a forward (attached-messages.ts) and
    // carried to the agents. Descending into it put its headers into the text, where they read as
    // quoted history: the visible text cut the forwarded message away, and no file was kept.
    ignoreEmbedded: true,
    skipTextToHtml: true,
    skipTextLinks: true,
    skipImageLinks: true,
    maxHtmlLengthToParse: limits.maxHtmlToTextChars,
    ...(limits.maxMimeParts !== undefined ? { maxChildNodes: limits.maxMimeParts } : {}),
  });
  const textParts = hookTextParts(parser);
  const watchdog = parseWatchdog(limits.stallMs);
  const tees: PassThrough[] = [];
  let headerLines: HeaderLines = [];
  const attachments: StoredAttachment[] = [];
  const reportParts: ReportPart[] = [];
  const pending: Promise<void>[] = [];
  let attachmentCount = 0;
  const signedParts: Buffer[][] = [];
  const attachedMessages: Buffer[][] = [];
  const calendarParts: Buffer[][] = [];
  let text: MessageText | null = null;
  let topContentType = 'text/plain';
  let reportType: string | null = null;
  let contentLanguage: string | null = null;
  let topCharset: string | null = null;

  parser.on('headerLines', (lines: HeaderLines) => {
    headerLines = lines;
  });
  parser.on('headers', (headers) => {
    const ct = headers.get('content-type');
    if (ct !== undefined && typeof ct === 'object' && 'value' in ct && typeof ct.value === 'string') {
      topContentType = ct.value.toLowerCase();
      const params = 'params' in ct ? (ct.params as Record<string, string>) : {};
      const rt = params['report-type'];
      reportType = rt !== undefined ? rt.toLowerCase() : null;
      topCharset = params['charset']?.toLowerCase() ?? null;
    }
    const cl = headers.get('content-language');
    if (typeof cl === 'string') contentLanguage = oneLine(cl).slice(0, 35);
  });

  const done = new Promise<void>((resolve, reject) => {
    parser.on('data', (data: { type: string }) => {
      watchdog.progress();
      if (data.type === 'text') {
        text = data as MessageText;
        return;
      }
      if (data.type !== 'attachment') return;
      const att = data as unknown as {
        content: NodeJS.ReadableStream;
        contentType: string;
        filename?: string;
        contentId?: string;
        contentDisposition?: string;
        release: (() => void) | null;
      };
      const index = attachmentCount++;
      const contentType = (att.contentType || 'application/octet-stream').toLowerCase();
      const keepReport = REPORT_TYPES.has(contentType) || (contentType === 'message/rfc822' && reportType !== null);
      const chunks: Buffer[] = [];
      let kept = 0;
      const tee = new PassThrough();
      tees.push(tee);
      tee.on('data', watchdog.progress);
      if (PKCS7_MIME_TYPES.has(contentType) && signedParts.length === 0) signedParts.push(collectPart(tee, SMIME_MAX_BYTES * 2));
      if (contentType === 'text/calendar' && calendarParts.length === 0) calendarParts.push(collectPart(tee, CALENDAR_MAX_BYTES));
      if (contentType === 'message/rfc822' && reportType === null && attachedMessages.length < ATTACHED_MESSAGES_MAX) attachedMessages.push(collectPart(tee, ATTACHED_MESSAGE_MAX_BYTES));
      if (keepReport) {
        tee.on('data', (c: Buffer) => {
          if (kept < REPORT_PART_MAX) {
            chunks.push(c.subarray(0, REPORT_PART_MAX - kept));
            kept += Math.min(c.length, REPORT_PART_MAX - kept);
          }
        });
      }
      att.content.pipe(tee);
      const job = blobs.put(tee).then(
        (blob) => {
          attachments.push({
            filename: safeFilename(att.filename, contentType, index),
            contentType,
            size: blob.size,
            sha256: blob.sha256,
            contentId: normalizeMessageId(att.contentId ?? null),
            disposition: att.contentDisposition === 'inline' ? 'inline' : 'attachment',
          });
          if (keepReport) reportParts.push({ contentType, content: Buffer.concat(chunks).toString('utf8') });
          att.release?.();
        },
        (err: unknown) => {
          att.release?.();
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
      pending.push(job);
    });
    parser.on('end', () => resolve());
    parser.on('error', (err: Error) => reject(err));
  });

  // Peek at the start: old Mac files end lines with a bare CR, which the MIME splitter does not
  // understand; small messages are also scanned for report parts mailparser inlines.
  const head = inMemory ?? (await readHead(path, SMALL_RAW + 1));
  const crOnly = head.includes(0x0d) && !head.includes(0x0a);
  let input: Readable = inMemory !== undefined ? Readable.from(ending === undefined ? [inMemory] : [inMemory, ending]) : fileInput(path, ending);
  if (crOnly) input = input.pipe(crToLf());
  input.on('error', (err) => parser.destroy(err));
  input.on('data', watchdog.progress);
  input.on('end', watchdog.inputEnded);
  input.pipe(parser);
  try {
    await watchdog.guard(done);
  } catch (err) {
    if (err instanceof ParserStalledError) {
      // Let go of what the stalled parser holds: its attachment streams end the blob writes.
      parser.destroy();
      for (const t of tees) t.destroy(err);
    }
    throw err;
  }
  await Promise.all(pending);
  if (head.length <= SMALL_RAW) {
    const latin1 = head.toString('latin1');
    if (mayHaveReportParts(latin1)) {
      const have = new Set(reportParts.map((p) => p.contentType));
      for (const part of walkReportParts(crOnly ? latin1.replace(/\r/g, '\n') : latin1)) {
        if (!have.has(part.contentType)) reportParts.push(part);
      }
    }
  }

  const rawCharset = topCharset ?? textParts.textCharset;
  const headers = headerMapFrom(headerLines, rawCharset);
  const t = text as MessageText | null;
  const complete = head.length <= SMALL_RAW ? head : null;
  const bodyText = cut(recoverText(t?.text, typeof t?.html === 'string' ? t.html : undefined, complete, topContentType, topCharset, attachments.length, headers), limits.maxBodyChars);
  const bodyHtml = cut(typeof t?.html === 'string' ? withoutInlineData(t.html) : undefined, limits.maxBodyChars);

  const returnPathRaw = headers.get('return-path')?.[0];
  let returnPath: string | null = null;
  if (returnPathRaw !== undefined) {
    const m = /<([^>]*)>/.exec(returnPathRaw);
    returnPath = (m?.[1] ?? returnPathRaw).trim().toLowerCase();
  }

  // Our own decoding of the raw header, not mailparser's (which double-decodes 8-bit bytes inside
  // encoded-words, see header-words.ts).
  const subjectRaw = headers.get('subject')?.[0] ?? parser.subject ?? '';
  // mailparser puts the time of parsing where the Date header cannot be read: that is not when the
  // message was written, and it differs between two arrivals of one message (its content digest
  // would then call the second a different message reusing the Message-ID).
  const dateHeader = headers.get('date')?.[0];
  const readable = dateHeader !== undefined && !Number.isNaN(new Date(dateHeader).getTime());
  const dateValue = readable && parser.date instanceof Date && !Number.isNaN(parser.date.getTime()) ? parser.date : null;

  const signedPart = signedParts[0];
  const fromAll = flattenAddresses(parser.from, rawDisplayNames(headerLines, 'from', rawCharset));
  const mail: ParsedMail = {
    messageId: normalizeMessageId(parser.messageId ?? headers.get('message-id')?.[0]),
    inReplyTo: messageIdList(parser.inReplyTo ?? headers.get('in-reply-to')?.[0]),
    references: messageIdList(parser.references ?? headers.get('references')?.[0]),
    subject: oneLine(subjectRaw).slice(0, 998),
    from: fromAll[0] ?? null,
    fromCount: Math.max(fromAll.length, headers.get('from')?.length ?? 0),
    replyTo: flattenAddresses(parser.replyTo, rawDisplayNames(headerLines, 'reply-to', rawCharset)),
    to: flattenAddresses(parser.to, rawDisplayNames(headerLines, 'to', rawCharset)),
    cc: flattenAddresses(parser.cc, rawDisplayNames(headerLines, 'cc', rawCharset)),
    date: dateValue,
    headers,
    returnPath,
    contentType: topContentType,
    reportType,
    contentLanguage,
    text: bodyText.value,
    textFromHtml: !textParts.sawPlainText && bodyHtml.value !== null,
    html: bodyHtml.value,
    bodyTruncated: bodyText.truncated || bodyHtml.truncated,
    attachments,
    reportParts,
    ...invitationOf(calendarParts[0]),
  };
  return {
    mail,
    signedContent: signedPart !== undefined && signedPart.length > 0 ? Buffer.concat(signedPart) : null,
    // Parts over the size limit were emptied: they stay files.
    attachedMessages: attachedMessages.filter((p) => p.length > 0).map((p) => Buffer.concat(p)),
  };
}

function invitationOf(part: Buffer[] | undefined): { invitation?: string } {
  const invitation = part !== undefined && part.length > 0 ? readInvitation(Buffer.concat(part).toString('utf8')) : null;
  return invitation !== null ? { invitation: invitationText(invitation) } : {};
}

function fileInput(path: string, ending: Buffer | undefined): Readable {
  if (ending === undefined) return createReadStream(path);
  return Readable.from(
    (async function* (): AsyncGenerator<Buffer> {
      yield* createReadStream(path) as AsyncIterable<Buffer>;
      yield ending;
    })(),
  );
}

async function readHead(path: string, max: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(max);
    const { bytesRead } = await fh.read(buf, 0, max, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function crToLf(): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const out = Buffer.from(chunk);
      for (let i = 0; i < out.length; i++) if (out[i] === 0x0d) out[i] = 0x0a;
      cb(null, out);
    },
  });
}
