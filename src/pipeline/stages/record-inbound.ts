import type { Transaction } from 'kysely';
import type { AppContext } from '../../context.js';
import { addEvent } from '../../db/repos/events.js';
import { insertAttachments, insertMessage, messageIdTaken } from '../../db/repos/messages.js';
import { insertReceipt, releasePrimary, setReceiptCase, supersede } from '../../db/repos/receipts.js';
import type { CaseRow, Database } from '../../db/schema.js';
import { need, receiptBase, type Inbound } from '../types.js';

/**
 * What both flows (customer: persist, agent: agent-persist) write for an inbound message they
 * store: the primary receipt (superseding the quarantined one it retries), the messages row with
 * its attachments, and the receipt's case. One place, so a rule such as the Message-ID collision
 * (issue 9: a different message reusing a stored Message-ID is stored without the id, the first
 * keeps it, and the collision is an event) holds for every message, an agent's too.
 */

type Trx = Transaction<Database>;

/** The primary `stored` receipt (case and message are set by recordMessage). */
export async function recordReceipt(msg: Inbound, trx: Trx, stage: string, reason: string): Promise<number> {
  // A quarantined message quarantined after dedupe (a sender check, a commit stage) holds the same key.
  if (msg.arrival.retryOf !== undefined) await releasePrimary(trx, msg.arrival.retryOf);
  const receiptId = await insertReceipt(trx, {
    ...receiptBase(msg, need(msg.notes.dedupeKey, 'dedupeKey')),
    is_primary: 1,
    outcome: 'stored',
    reason,
    stage,
    case_id: null,
    duplicate_of: null,
  });
  if (msg.arrival.retryOf !== undefined) await supersede(trx, msg.arrival.retryOf, receiptId);
  return receiptId;
}

export interface MessageFacts {
  readonly caseRow: CaseRow;
  readonly receiptId: number;
  readonly threadRule: string;
  /** Staff-only (an agent's own mail, notes). */
  readonly internal: boolean;
  /** The agent who wrote it, else null. */
  readonly author: string | null;
  /** The text stored as its visible text, when not the parsed one (an agent's note with saved replies put in). */
  readonly visibleText?: string;
}

/** The row written for a message, and the Message-ID stored with it (null: it had none, or another message holds it). */
export interface RecordedMessage {
  readonly rowId: number;
  readonly messageId: string | null;
}

/** The messages row, its attachments, the receipt's case, and the collision event when there is one. */
export async function recordMessage(msg: Inbound, ctx: AppContext, trx: Trx, f: MessageFacts): Promise<RecordedMessage> {
  const { arrival, notes } = msg;
  const parsed = need(notes.parsed, 'parsed');
  const sender = need(notes.sender, 'sender');
  const visible = need(notes.visible, 'visible');
  const now = ctx.clock.now().toISOString();
  const collision = notes.collision ?? null;
  const ownsId = parsed.messageId !== null && !(collision !== null && (await messageIdTaken(trx, parsed.messageId)));
  const messageRowId = await insertMessage(trx, {
    case_id: f.caseRow.id,
    direction: 'in',
    message_id: ownsId ? parsed.messageId : null,
    in_reply_to: parsed.inReplyTo[0] ?? null,
    references_json: JSON.stringify(parsed.references),
    from_address: sender.address,
    from_name: sender.name,
    to_json: JSON.stringify(parsed.to),
    cc_json: JSON.stringify(parsed.cc),
    subject: parsed.subject,
    sent_at: parsed.date?.toISOString() ?? null,
    text: parsed.text,
    html: parsed.html,
    visible_text: f.visibleText ?? visible.text,
    body_truncated: parsed.bodyTruncated ? 1 : 0,
    raw_sha256: arrival.raw.sha256,
    raw_size: arrival.raw.size,
    automated: notes.automated?.kind ?? null,
    thread_rule: f.threadRule,
    receipt_id: f.receiptId,
    outbox_id: null,
    created_at: now,
    spam: notes.spam != null ? 1 : 0,
    internal: f.internal ? 1 : 0,
    author: f.author,
    sender_auth: sender.auth,
  });
  await insertAttachments(trx, messageRowId, parsed.attachments);
  await setReceiptCase(trx, f.receiptId, f.caseRow.id, messageRowId);
  if (collision !== null) {
    await addEvent(trx, {
      caseId: f.caseRow.id,
      messageRowId,
      type: 'message.id-collision',
      actor: 'system',
      reason: `message-id collision: <${collision.messageId}> was already used by another message (receipt ${collision.receiptId}); stored as a different message`,
      data: { messageId: collision.messageId, firstReceiptId: collision.receiptId, keptMessageId: ownsId },
      at: now,
    });
  }
  return { rowId: messageRowId, messageId: ownsId ? parsed.messageId : null };
}
