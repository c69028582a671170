import { createHmac } from 'node:crypto';
import type { ThreadSecret } from '../cases/thread-token.js';
import { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import type { AppContext } from '../context.js';
import { formatTag } from '../cases/subject-tag.js';
import { mintMessageId } from '../cases/thread-token.js';
import type { CaseRow } from '../db/schema.js';
import type { Recipient } from '../mail-out/compose.js';
import { primaryReceipt } from '../db/repos/receipts.js';
import { dedupeKey } from '../pipeline/stages/dedupe.js';
import { runPipeline } from '../pipeline/run-pipeline.js';
import type { Outcome } from '../pipeline/types.js';

/**
 * A reply typed on the case page enters the pipeline as the customer's email: an RFC 5322
 * message from the person the page's link names (the requester, or the Cc'd participant it was
 * written for) to the case's mailbox, answering a Message-ID we sign for the case
 * (so threading places it by our own signature), stored in the blob store and run through every
 * stage like mail from any channel (dedupe, loop guard, threading, classification, persist, react,
 * one outcome). Its Message-ID is derived from the form token and the text, so a form sent twice
 * is recognised as a duplicate — also seconds or minutes later (a second click while the first
 * was slow, the browser sending it again after a restart), when its Date, and so its content
 * digest, differ: submitWebReply answers with the first one's outcome.
 */

export function webReplyMessageId(secret: ThreadSecret, formToken: string, text: string, domain: string): string {
  return `web.${createHmac('sha256', secret.current.secret).update(`web-reply:${formToken}:${text}`).digest('hex').slice(0, 24)}@${domain}`;
}

/** `reader`: whom the page's link names (link-access.ts) — the requester or a participant: the reply is theirs. */
export async function buildWebReply(ctx: AppContext, caseRow: CaseRow, reader: Recipient, text: string, formToken: string): Promise<Buffer> {
  const mailbox = ctx.mailboxes.ofCase(caseRow);
  const subject = `Re: ${formatTag(ctx.config.cases.tagPrefix, caseRow.number)} ${caseRow.subject}`;
  const inReplyTo = mintMessageId(caseRow.number, ctx.secret, ctx.config.instance.domain);
  const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  const info = await composer.sendMail({
    from: { name: reader.name, address: reader.address },
    to: mailbox.addresses[0] ?? '',
    subject,
    text,
    date: ctx.clock.now(),
    messageId: `<${webReplyMessageId(ctx.secret, formToken, text, ctx.config.instance.domain)}>`,
    inReplyTo: `<${inReplyTo}>`,
    references: [`<${inReplyTo}>`],
    headers: { 'Content-Language': caseRow.language, 'X-Casegate-Channel': 'web' },
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  composer.close();
  return info.message as Buffer;
}

export async function submitWebReply(ctx: AppContext, caseRow: CaseRow, reader: Recipient, text: string, formToken: string): Promise<Outcome> {
  const earlier = await primaryReceipt(ctx.db, dedupeKey(webReplyMessageId(ctx.secret, formToken, text, ctx.config.instance.domain), ''));
  if (earlier !== undefined && earlier.outcome !== 'quarantined') {
    return { kind: 'ignored', reason: `duplicate: the same form was sent before (receipt ${earlier.id}, ${earlier.outcome})`, caseId: earlier.case_id, caseNumber: null, receiptId: earlier.id };
  }
  const raw = await buildWebReply(ctx, caseRow, reader, text, formToken);
  const blob = await ctx.blobs.put(Readable.from([raw]));
  const mailbox = ctx.mailboxes.ofCase(caseRow);
  return runPipeline(ctx, {
    channel: 'web',
    mailbox,
    envelopeFrom: reader.address,
    envelopeTo: [mailbox.addresses[0] ?? ''],
    receivedAt: ctx.clock.now(),
    raw: blob,
  });
}
