import { Writable } from 'node:stream';
import type { BlobStore, StoredBlob } from '../storage/blob-store.js';
import type { ForwardedMessage, ParsedMail } from './parsed-mail.js';

/**
 * Mail forwarded as an attachment (message/rfc822: Outlook's and Gmail's "forward as attachment",
 * Thunderbird's setting): the forwarded message is what the customer asks about, but agents only
 * saw "Attachments: attachment-1.eml" and cannot open it. Its sender, date, subject and text are
 * read here and shown below the customer's own text, like an inline forward (visible-text.ts).
 * Not for reports (a bounce's returned message): only in mail without a report type.
 */

/** At most this many attached messages are read, each at most this many bytes (longer ones are left as files). */
export const ATTACHED_MESSAGES_MAX = 3;
export const ATTACHED_MESSAGE_MAX_BYTES = 1024 * 1024;
/** Characters of an attached message's text shown. */
const TEXT_MAX = 50_000;

/** A blob store that keeps nothing: an attached message's own files stay inside the stored .eml. */
export const DISCARDING_BLOBS: Pick<BlobStore, 'put'> = {
  async put(source): Promise<StoredBlob> {
    await new Promise<void>((resolve, reject) => {
      source.pipe(new Writable({ write: (_c, _e, cb) => cb() })).on('finish', resolve).on('error', reject);
      source.on('error', reject);
    });
    return { sha256: '', size: 0, path: '' };
  },
};

export async function readAttachedMessages(parts: readonly Buffer[], parse: (data: Buffer) => Promise<ParsedMail>): Promise<ForwardedMessage[]> {
  const out: ForwardedMessage[] = [];
  for (const data of parts.slice(0, ATTACHED_MESSAGES_MAX)) {
    try {
      const mail = await parse(data);
      const text = (mail.text ?? '').replace(/\r\n?/g, '\n').trim().slice(0, TEXT_MAX);
      const from = mail.from === null ? '' : mail.from.name !== '' ? `${mail.from.name} <${mail.from.address}>` : mail.from.address;
      out.push({ from, date: mail.headers.get('date')?.[0] ?? '', subject: mail.subject, text });
    } catch {
      // An attached message that cannot be read stays a file.
    }
  }
  return out;
}

/** The lines an attached message adds below the customer's text (the same shape as Gmail's inline forward). */
export function forwardedBlock(m: ForwardedMessage): string {
  const head = [
    '---------- Forwarded message ---------',
    ...(m.from !== '' ? [`From: ${m.from}`] : []),
    ...(m.date !== '' ? [`Date: ${m.date}`] : []),
    ...(m.subject !== '' ? [`Subject: ${m.subject}`] : []),
  ];
  return `${head.join('\n')}\n\n${m.text}`.trimEnd();
}
