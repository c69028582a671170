/**
 * The parsed form of one inbound message, as produced by the parse stage and read by every
 * later stage. Plain data: no library types leak out of the parser module.
 */

export interface MailAddress {
  /** Lower-cased, trimmed address ("jane@example.com"); never contains CR/LF or spaces. */
  readonly address: string;
  /** Decoded display name with CR/LF and control characters removed; may be empty. */
  readonly name: string;
}

/** Header name (lower-case) → every decoded value of that header, in message order. */
export type HeaderMap = ReadonlyMap<string, readonly string[]>;

export interface StoredAttachment {
  /** Sanitised file name (no path separators, no control characters); may be generated. */
  readonly filename: string;
  readonly contentType: string;
  readonly size: number;
  /** SHA-256 of the decoded content, hex; also the key in the blob store. */
  readonly sha256: string;
  readonly contentId: string | null;
  readonly disposition: 'attachment' | 'inline';
}

/** A small machine-readable part kept in memory (DSN status, returned headers, embedded message). */
export interface ReportPart {
  /** e.g. message/delivery-status, text/rfc822-headers, message/rfc822 */
  readonly contentType: string;
  /** The part's decoded content, at most 256 KiB (longer parts are cut). */
  readonly content: string;
}

export interface ParsedMail {
  /** Message-ID without angle brackets, or null when missing or unusable. */
  readonly messageId: string | null;
  /** Message-IDs from In-Reply-To, without angle brackets. */
  readonly inReplyTo: readonly string[];
  /** Message-IDs from References, without angle brackets, oldest first. */
  readonly references: readonly string[];
  /** Decoded subject, CR/LF and tabs collapsed to single spaces, trimmed; "" when missing. */
  readonly subject: string;
  /** The first address of the From header (the one every later stage means by "the sender"). */
  readonly from: MailAddress | null;
  /**
   * How many From addresses the message names (From fields, or addresses in one field, whichever is
   * more). More than one: the MX may have authenticated another From than `from`.
   */
  readonly fromCount: number;
  readonly replyTo: readonly MailAddress[];
  readonly to: readonly MailAddress[];
  readonly cc: readonly MailAddress[];
  readonly date: Date | null;
  /** Every header, decoded where possible. */
  readonly headers: HeaderMap;
  /** The Return-Path address: null when the header is absent, "" when it is "<>". */
  readonly returnPath: string | null;
  /** Top-level content type, lower-case, without parameters (e.g. "multipart/report"). */
  readonly contentType: string;
  /** The report-type parameter of a multipart/report, lower-case, else null. */
  readonly reportType: string | null;
  /** Content-Language of the message, if given. */
  readonly contentLanguage: string | null;
  /** Plain-text body (from text/plain, or converted from HTML when only HTML exists). */
  readonly text: string | null;
  /**
   * True when the message has no text/plain part and `text` was converted from the HTML part:
   * quoted history is then better found in the HTML (see extractVisibleText).
   */
  readonly textFromHtml: boolean;
  /** HTML body, unsanitised (never rendered by us without sanitising). */
  readonly html: string | null;
  /** True when text or html were cut because they exceeded the stored-body limit. */
  readonly bodyTruncated: boolean;
  readonly attachments: readonly StoredAttachment[];
  readonly reportParts: readonly ReportPart[];
  /** Messages attached as message/rfc822 ("forward as attachment"), read (attached-messages.ts); none in reports. */
  readonly forwarded?: readonly ForwardedMessage[];
  /** The text of a calendar invitation (text/calendar part), read by calendar-invite.ts; absent when none. */
  readonly invitation?: string;
}

/** A message forwarded as an attachment: who wrote it, when, about what, its text (bounded). */
export interface ForwardedMessage {
  readonly from: string;
  readonly date: string;
  readonly subject: string;
  readonly text: string;
}

/** First value of a header, or null. */
export function header(mail: Pick<ParsedMail, 'headers'>, name: string): string | null {
  const values = mail.headers.get(name.toLowerCase());
  return values !== undefined && values.length > 0 ? (values[0] ?? null) : null;
}
