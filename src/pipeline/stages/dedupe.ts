import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, ReceiptRow } from '../../db/schema.js';
import { primaryReceipts } from '../../db/repos/receipts.js';
import { contentDigest, sameContent } from '../../mail-in/content-digest.js';
import type { ParsedMail } from '../../mail-in/parsed-mail.js';
import type { StoredBlob } from '../../storage/blob-store.js';
import { need, NEXT, type Arrival, type DecideStage, type Inbound } from '../types.js';

/**
 * Have we seen this message before (any mailbox, any channel)? The same message is the same
 * Message-ID with the same content digest (sender, subject, date, normalised body: what survives
 * relaying); without a Message-ID, the same raw bytes. A different message reusing a stored
 * Message-ID (a broken client, or someone copying a customer's id) is a new message: it gets its
 * own key, `mid:<id>#<digest>`, and persist records the collision. Without a Message-ID: the same
 * raw bytes, or the same copyKey (one message delivered to several of our mailboxes).
 */
export function dedupeKey(messageId: string | null, rawSha256: string): string {
  return messageId !== null ? `mid:${messageId}` : `sha256:${rawSha256}`;
}

/**
 * A message without a Message-ID that reached several of our mailboxes (To support@, Cc billing@,
 * both read over IMAP; or by IMAP and the listener) differs between its copies only in the header
 * fields each delivery added on top (Delivered-To, Received, Return-Path): its raw bytes do not
 * tell the copies are one message. Its copy key is what every copy carries unchanged: sender,
 * recipients, subject, date and Content-Type, and the bytes of its body (line ends not counted). Only with a
 * Date: without one, two messages of a script saying the same thing could not be told apart, and
 * the raw bytes decide.
 */
export async function copyKey(parsed: ParsedMail, raw: StoredBlob): Promise<string | null> {
  if (parsed.messageId !== null || parsed.date === null) return null;
  if (raw.data === undefined && raw.held?.written === false) return null;
  const hash = createHash('sha256');
  hash.update(JSON.stringify([parsed.from?.address ?? '', parsed.to.map((a) => a.address), parsed.cc.map((a) => a.address), parsed.subject, parsed.date.toISOString(), parsed.headers.get('content-type') ?? []]));
  // The body: everything after the first empty line, CRs dropped (a CRLF and an LF copy are one).
  let lf = 0; // newlines in a row (CRs skipped) while still in the header
  let inBody = false;
  const feed = (chunk: Buffer): void => {
    let start = 0;
    if (!inBody) {
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i]!;
        if (b === 0x0d) continue;
        lf = b === 0x0a ? lf + 1 : 0;
        if (lf === 2) {
          inBody = true;
          start = i + 1;
          break;
        }
      }
      if (!inBody) return;
    }
    let from = start;
    for (let i = start; i < chunk.length; i++) {
      if (chunk[i] !== 0x0d) continue;
      if (i > from) hash.update(chunk.subarray(from, i));
      from = i + 1;
    }
    if (from < chunk.length) hash.update(chunk.subarray(from));
  };
  if (raw.data !== undefined) feed(raw.data);
  else for await (const chunk of createReadStream(raw.path)) feed(chunk as Buffer);
  return `copy:${hash.digest('hex')}`;
}

function collisionKey(messageId: string, digest: string): string {
  return `mid:${messageId}#${digest}`;
}

export type DedupeDecision =
  | { readonly kind: 'duplicate'; readonly of: ReceiptRow }
  | { readonly kind: 'new'; readonly key: string; readonly collision: { readonly receiptId: number; readonly messageId: string } | null };

/** Receipts from before content digests: the same sender and subject count as the same message. */
function sameMessage(row: ReceiptRow, parsed: ParsedMail, digest: string): boolean {
  if (row.content_digest !== null) return sameContent(row.content_digest, digest);
  return (row.from_address ?? '') === (parsed.from?.address ?? row.from_address ?? '') && row.subject === parsed.subject;
}

/** One indexed look-up: the Message-ID's key and its collision key for this content. */
export async function decideDedupe(db: Kysely<Database>, parsed: ParsedMail, rawSha256: string, digest: string, retryOf: number | undefined, copy: string | null = null): Promise<DedupeDecision> {
  const base = dedupeKey(parsed.messageId, rawSha256);
  if (parsed.messageId === null) {
    const rows = await primaryReceipts(db, copy !== null ? [base, copy] : [base]);
    const seen = rows.find((r) => r.id !== retryOf);
    return seen !== undefined ? { kind: 'duplicate', of: seen } : { kind: 'new', key: copy ?? base, collision: null };
  }
  const alt = collisionKey(parsed.messageId, digest);
  const rows = await primaryReceipts(db, [base, alt]);
  const own = rows.find((r) => r.dedupe_key === alt);
  if (own !== undefined) return own.id === retryOf ? { kind: 'new', key: alt, collision: null } : { kind: 'duplicate', of: own };
  const first = rows.find((r) => r.dedupe_key === base);
  if (first === undefined || first.id === retryOf) return { kind: 'new', key: base, collision: null };
  if (sameMessage(first, parsed, digest)) return { kind: 'duplicate', of: first };
  return { kind: 'new', key: alt, collision: { receiptId: first.id, messageId: parsed.messageId } };
}

/** Apply a decision to the notes (also used again inside the commit, against concurrent arrivals). */
export function applyDedupe(msg: Inbound, d: DedupeDecision & { kind: 'new' }): void {
  msg.notes.dedupeKey = d.key;
  if (d.collision !== null) msg.notes.collision = d.collision;
  else delete msg.notes.collision;
}

/**
 * "duplicate of receipt N (stored)"; on the second attempt after a commit whose answer the broken
 * connection lost (runPipeline), the receipt with this message's very bytes is that commit: said so.
 */
export function duplicateReason(arrival: Pick<Arrival, 'afterLostCommit' | 'raw'>, of: Pick<ReceiptRow, 'id' | 'outcome' | 'raw_sha256'>): string {
  const base = `duplicate of receipt ${of.id} (${of.outcome})`;
  return ownLostCommit(arrival, of) ? `${base}: ${OWN_LOST_COMMIT}` : base;
}

const OWN_LOST_COMMIT = "this message's own first attempt, committed before the database connection broke and its answer was lost; not stored twice";

/** Whether this receipt is the arrival's own first attempt, whose commit's answer was lost. */
export function ownLostCommit(arrival: Pick<Arrival, 'afterLostCommit' | 'raw'>, of: Pick<ReceiptRow, 'raw_sha256'>): boolean {
  return arrival.afterLostCommit === true && of.raw_sha256 === arrival.raw.sha256;
}

export const dedupeStage: DecideStage = {
  name: 'dedupe',
  async run(msg, ctx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    const digest = msg.notes.textFacts?.digest ?? contentDigest(parsed);
    msg.notes.contentDigest = digest;
    const copy = await copyKey(parsed, msg.arrival.raw);
    if (copy !== null) msg.notes.copyKey = copy;
    const d = await decideDedupe(ctx.db, parsed, msg.arrival.raw.sha256, digest, msg.arrival.retryOf, copy);
    if (d.kind === 'duplicate') {
      msg.notes.dedupeKey = d.of.dedupe_key;
      return { end: 'ignored', reason: duplicateReason(msg.arrival, d.of), caseRow: null };
    }
    applyDedupe(msg, d);
    return NEXT;
  },
};
