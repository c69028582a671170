import { buffer } from 'node:stream/consumers';
import type Mail from 'nodemailer/lib/mailer/index.js';
import type { AppContext } from '../context.js';
import type { AttachmentRow, OutboxRow } from '../db/schema.js';
import { BlobUnreadableError } from '../storage/blob-store.js';

/**
 * Turn a stored outbox row into nodemailer options: every header fixed when the row was written,
 * but Date: the time of this attempt (`now`). An email the relay took hours late (4xx, an outage)
 * would otherwise be dated hours before the relay's Received line — what spam filters score
 * (SpamAssassin's DATE_IN_PAST_*, up to +3.4) — and filed that far down an inbox sorted by
 * date. Its Message-ID stays the one minted at queue time: a resend is the same message.
 */
export function toMailOptions(row: OutboxRow, attachments: Mail.Attachment[], now: Date, copyFor?: string, returnPath?: string, envid?: string): Mail.Options {
  const headers = JSON.parse(row.headers_json) as Record<string, string>;
  const cc = JSON.parse(row.cc_json) as { address: string; name: string }[];
  // One reader's copy: the same headers (To and Cc as everyone sees them), their body, to them alone.
  const copy = copyFor !== undefined ? copyBody(row, copyFor) : null;
  const pending = copyFor !== undefined ? [copyFor] : pendingRecipientsOf(row);
  return {
    from: { name: row.from_name, address: row.from_address },
    to: { name: row.to_name, address: row.to_address },
    ...(cc.length > 0 ? { cc } : {}),
    ...(attachments.length > 0 ? { attachments } : {}),
    ...(row.reply_to !== null ? { replyTo: row.reply_to } : {}),
    subject: row.subject,
    text: copy?.text ?? row.text,
    html: copy?.html ?? row.html,
    messageId: `<${row.message_id}>`,
    ...(row.in_reply_to !== null ? { inReplyTo: `<${row.in_reply_to}>` } : {}),
    ...(row.references_text !== null ? { references: row.references_text } : {}),
    date: now,
    // Some recipients have it already: the same message goes to the others alone. `returnPath`:
    // the signed bounce address of this send (mailboxes[].verp), else the From address.
    ...(pending !== null || returnPath !== undefined ? { envelope: { from: returnPath ?? row.from_address, to: pending ?? everyReaderOf(row) } } : {}),
    // Our signed envelope id (RFC 3461 ENVID, cases/thread-token.ts envelopeId), given to a relay
    // that offers DSN: its delivery reports carry it back, which no reader of the email can copy.
    ...(envid !== undefined ? { dsn: { id: envid } } : {}),
    headers,
    // No X-Mailer: it tells strangers which versions we run and helps no receiver.
    xMailer: false,
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}

/**
 * The stored files of an email (an agent's relayed attachments), streamed from the blob store.
 * Files, never parts of the HTML: our HTML is rendered from the reply's text and refers to no
 * Content-ID, so the Content-ID the agent's client gave a file (Gmail and Outlook give every
 * attachment one) is not passed on. With it nodemailer puts the file into a multipart/related
 * beside the HTML, inside multipart/alternative: a reader of the text part never sees it and
 * Outlook hides related parts the HTML does not show. Without it the file is a part of
 * multipart/mixed, next to both alternatives.
 */
export async function outgoingAttachments(ctx: Pick<AppContext, 'blobs' | 'log'>, files: readonly AttachmentRow[], o: { readonly optional?: boolean } = {}): Promise<Mail.Attachment[]> {
  const out: Mail.Attachment[] = [];
  for (const a of files) {
    // Checked first: a file that is gone or damaged fails this email with its name, never the daemon.
    let content;
    try {
      content = await ctx.blobs.openVerified(a.sha256);
    } catch (err) {
      if (!(err instanceof BlobUnreadableError)) throw err;
      const problem = `the attached file "${a.filename}" is ${err.problem === 'missing' ? 'missing from' : 'damaged in'} the blob store (${err.path})`;
      // Staff mail carrying a customer's files (cases/customer-files.ts) goes without it: the
      // notification or alert matters more than one file, which it names all the same.
      if (o.optional === true) {
        ctx.log.warn({ file: a.filename, path: err.path, problem: err.problem }, `${problem}; the staff email is sent without it`);
        continue;
      }
      throw new Error(`${problem}; it cannot be sent as written`);
    }
    const disposition = a.disposition === 'inline' ? 'inline' : 'attachment';
    if (!/^message\//i.test(a.content_type)) {
      out.push({ filename: a.filename, contentType: a.content_type, content, contentDisposition: disposition });
      continue;
    }
    // An email attached as an email (an agent's "forward as attachment"): a message/* part may not
    // be encoded (RFC 2046 §5.2.1), so nodemailer writes it as it is. A line of it over 998 octets
    // would break RFC 5322 — relays cut it (Postfix: smtp_line_length_limit), which changes the
    // body and fails our DKIM signature at the receiver. Such a one goes as a file (.eml, base64).
    const bytes = await buffer(content);
    if (!hasOverlongLine(bytes)) out.push({ filename: a.filename, contentType: a.content_type, content: bytes, contentDisposition: disposition });
    else out.push({ filename: /\.eml$/i.test(a.filename) ? a.filename : `${a.filename}.eml`, contentType: 'application/octet-stream', content: bytes, contentDisposition: 'attachment' });
  }
  return out;
}

/** Whether a line of the content is longer than RFC 5322's 998 octets (without its line break). */
export function hasOverlongLine(content: Buffer): boolean {
  let start = 0;
  for (;;) {
    const nl = content.indexOf(0x0a, start);
    const end = nl === -1 ? content.length : nl;
    const length = end - start - (end > start && content[end - 1] === 0x0d ? 1 : 0);
    if (length > 998) return true;
    if (nl === -1) return false;
    start = nl + 1;
  }
}

/** Every reader the row names: its To, then its Cc. */
export function everyReaderOf(row: Pick<OutboxRow, 'to_address' | 'cc_json'>): string[] {
  return [row.to_address, ...(JSON.parse(row.cc_json) as { address: string }[]).map((c) => c.address)];
}

/** The recipients still to send the row to (the relay took it for the others), or null: all of them. */
export function pendingRecipientsOf(row: Pick<OutboxRow, 'pending_rcpt_json'>): string[] | null {
  return row.pending_rcpt_json === null ? null : (JSON.parse(row.pending_rcpt_json) as string[]);
}

/** One reader's rendering of an email sent as per-recipient copies (0022). */
export interface OutboxCopy {
  readonly address: string;
  readonly text: string;
  readonly html: string;
}

/** The Cc readers' copies of a row, or null: the row is one email to all its recipients. */
export function copiesOf(row: Pick<OutboxRow, 'copies_json'>): OutboxCopy[] | null {
  return row.copies_json === null ? null : (JSON.parse(row.copies_json) as OutboxCopy[]);
}

/**
 * Who still waits for their copy of a row sent as copies, To first: the pending ones
 * (pending_rcpt_json: the others have theirs), or at first every reader.
 */
export function copyRecipientsOf(row: Pick<OutboxRow, 'copies_json' | 'pending_rcpt_json' | 'to_address' | 'cc_json'>): string[] {
  const copies = copiesOf(row);
  // A row without copies sent one transaction per reader (mailboxes[].verp): To and Cc, one body.
  return pendingRecipientsOf(row) ?? (copies === null ? everyReaderOf(row) : [row.to_address, ...copies.map((c) => c.address)]);
}

/** The body of `address`'s copy: the row's own for its To, else that reader's. */
function copyBody(row: OutboxRow, address: string): { text: string; html: string } {
  const key = address.toLowerCase();
  if (key === row.to_address.toLowerCase()) return { text: row.text, html: row.html };
  const copies = copiesOf(row);
  // A row written without copies (one body for all) sent reader by reader (mailboxes[].verp).
  if (copies === null) return { text: row.text, html: row.html };
  const copy = copies.find((c) => c.address.toLowerCase() === key);
  // A reader with no copy of their own (never written so): the To's body would hand them the To's link.
  if (copy === undefined) throw new Error(`no copy of this email for ${address}`);
  return copy;
}
