import type { Kysely } from 'kysely';
import type { Database, ReceiptRow } from '../../db/schema.js';
import { primaryReceipts } from '../../db/repos/receipts.js';
import { contentDigest, sameContent } from '../../mail-in/content-digest.js';
import type { ParsedMail } from '../../mail-in/parsed-mail.js';
import { need, NEXT, type DecideStage, type Inbound } from '../types.js';

/**
 * Have we seen this message before (any mailbox, any channel)? The same message is the same
 * Message-ID with the same content digest (sender, subject, date, normalised body: what survives
 * relaying); without a Message-ID, the same raw bytes. A different message reusing a stored
 * Message-ID (a broken client, or someone copying a customer's id) is a new message: it gets its
 * own key, `mid:<id>#<digest>`, and persist records the collision.
 */
export function dedupeKey(messageId: string | null, rawSha256: string): string {
  return messageId !== null ? `mid:${messageId}` : `sha256:${rawSha256}`;
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
export async function decideDedupe(db: Kysely<Database>, parsed: ParsedMail, rawSha256: string, digest: string, retryOf: number | undefined): Promise<DedupeDecision> {
  const base = dedupeKey(parsed.messageId, rawSha256);
  if (parsed.messageId === null) {
    const [seen] = await primaryReceipts(db, [base]);
    return seen !== undefined && seen.id !== retryOf ? { kind: 'duplicate', of: seen } : { kind: 'new', key: base, collision: null };
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

export const dedupeStage: DecideStage = {
  name: 'dedupe',
  async run(msg, ctx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    const digest = msg.notes.textFacts?.digest ?? contentDigest(parsed);
    msg.notes.contentDigest = digest;
    const d = await decideDedupe(ctx.db, parsed, msg.arrival.raw.sha256, digest, msg.arrival.retryOf);
    if (d.kind === 'duplicate') {
      msg.notes.dedupeKey = d.of.dedupe_key;
      return { end: 'ignored', reason: `duplicate of receipt ${d.of.id} (${d.of.outcome})`, caseRow: null };
    }
    applyDedupe(msg, d);
    return NEXT;
  },
};
