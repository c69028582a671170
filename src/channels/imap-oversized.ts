import type { FetchMessageObject } from 'imapflow';
import type { AppContext } from '../context.js';
import type { MailboxConfig } from '../config/schema.js';
import { commitsDurable } from '../db/commit-sync.js';
import { recordOversized, primaryReceipt } from '../db/repos/receipts.js';
import type { Logger } from '../log.js';
import { normalizeMessageId } from '../mail-in/header-values.js';
import { isTransient } from '../pipeline/run-pipeline.js';
import { SIZE_LIMIT_STAGE, type MailboxCheckpoint } from '../pipeline/types.js';
import { describeImapError } from './imap-connection.js';
import type { Session } from './imap-session.js';

/**
 * A message above listener.maxMessageBytes in an IMAP folder. The SMTP listener refuses such a
 * message (552) and `casegate ingest` exits 65, so the sender's MTA returns it; over IMAP it is
 * already in our mailbox, so — like a message with too many MIME parts — it is **quarantined**:
 * a receipt (outcome quarantined, stage `size-limit`, reason "too large: …") that `casegate
 * quarantine list` shows with its size, sender, subject and Message-ID from the server's
 * ENVELOPE, plus the case-less `imap.oversized` event, then it is moved to quarantineFolder (flag
 * mode: flagged). Its body is never downloaded: the receipt's raw file holds only its header
 * block (at most HEAD_BYTES), so `casegate quarantine show --raw` shows the headers, and
 * `quarantine retry` refuses it (the message itself stays on the server; raise the limit and move
 * it back into the watched folder to have it processed).
 *
 * The receipt's dedupe key names the message's place (mailbox, UIDVALIDITY, UID), never its
 * Message-ID: moved back after the limit was raised it is a new message. Found again before its
 * MOVE worked (a failed MOVE, a restart), the key is there: only the MOVE is retried.
 */

/** The most of a message's start that is kept for an oversized one (its header block, normally far less). */
export const HEAD_BYTES = 64 * 1024;

export type OversizedResult =
  /** Recorded now or before: acknowledge it as quarantined. */
  | { readonly kind: 'quarantine' }
  /** Another client expunged it meanwhile. */
  | { readonly kind: 'vanished' }
  /** The record could not be written (database busy, disk full): leave it for a later attempt. */
  | { readonly kind: 'defer'; readonly reason: string };

export interface OversizedDeps {
  readonly ctx: AppContext;
  readonly mailbox: MailboxConfig;
  readonly folder: string;
  readonly log: Logger;
}

export function oversizedKey(mailbox: string, uidValidity: string, uid: number): string {
  return `imap-oversized:${mailbox}:${uidValidity}:${uid}`;
}

export async function quarantineOversized(d: OversizedDeps, s: Session, uid: number, size: number, internalDate: FetchMessageObject['internalDate'], checkpoint: MailboxCheckpoint): Promise<OversizedResult> {
  const { ctx, mailbox, log } = d;
  const limit = ctx.config.listener.maxMessageBytes;
  const key = oversizedKey(mailbox.name, s.uidValidity, uid);
  const where = s.quarantinePath !== null ? `moved to ${s.quarantinePath}` : 'flagged in place';
  try {
    const earlier = await primaryReceipt(ctx.db, key);
    if (earlier !== undefined) {
      log.info({ uid, size, receiptId: earlier.id }, `oversized message uid ${uid} was quarantined before (receipt ${earlier.id}); only its acknowledgement is retried`);
      return { kind: 'quarantine' };
    }
  } catch (err) {
    if (!isTransient(err)) throw err;
    return { kind: 'defer', reason: `looking up the oversized message: ${describeImapError(err)}` };
  }
  let envelope: FetchMessageObject['envelope'];
  let head: Buffer;
  try {
    const msg = await s.client.fetchOne(String(uid), { uid: true, envelope: true, source: { start: 0, maxLength: HEAD_BYTES } }, { uid: true });
    if (msg === false) return { kind: 'vanished' };
    envelope = msg.envelope;
    head = headerBlock(Buffer.isBuffer(msg.source) ? msg.source : Buffer.alloc(0));
  } catch (err) {
    if (s.conn.closed || !s.client.usable) throw err;
    return { kind: 'defer', reason: `fetching the oversized message's envelope: ${describeImapError(err)}` };
  }
  const messageId = normalizeMessageId(envelope?.messageId ?? null);
  const from = envelope?.from?.[0]?.address ?? null;
  const subject = envelope?.subject ?? '';
  const reason = `too large: ${size} bytes, over listener.maxMessageBytes (${limit}); not downloaded, ${where}`;
  const at = ctx.clock.now().toISOString();
  const received = internalDate !== undefined ? new Date(internalDate) : null;
  let receiptId: number;
  try {
    const blob = await ctx.blobs.putBuffer(head);
    receiptId = await recordOversized(ctx.db, {
      receipt: {
        dedupe_key: key,
        is_primary: 1,
        message_id: messageId,
        raw_sha256: blob.sha256,
        raw_size: size,
        content_digest: null,
        channel: 'imap',
        mailbox: mailbox.name,
        envelope_from: null,
        envelope_to_json: JSON.stringify(mailbox.addresses),
        from_address: from,
        subject,
        received_at: received !== null && !Number.isNaN(received.getTime()) ? received.toISOString() : at,
        outcome: 'quarantined',
        reason,
        stage: SIZE_LIMIT_STAGE,
        case_id: null,
        message_row_id: null,
        duplicate_of: null,
        retried_as: null,
      },
      event: {
        caseId: null,
        type: 'imap.oversized',
        actor: 'system',
        reason: `mailbox ${mailbox.name}: message uid ${uid} ${reason}`,
        data: { mailbox: mailbox.name, folder: d.folder, uidvalidity: s.uidValidity, uid, size, limit, messageId, from, subject, movedTo: s.quarantinePath },
        at,
      },
      checkpoint,
      at,
    });
    // Acknowledged (moved) only once the record is on stable storage, like every other outcome.
    await commitsDurable(ctx.db);
  } catch (err) {
    if (!isTransient(err)) throw err;
    return { kind: 'defer', reason: `recording the oversized message: ${describeImapError(err)}` };
  }
  // The one line of this outcome (the pipeline's fields, at error level: someone must act).
  log.error({ channel: 'imap', uid, size, limit, messageId, outcome: 'quarantined', reason, receiptId, movedTo: s.quarantinePath }, `oversized message ${where}`);
  ctx.telemetry.messageOutcome({ mailbox: mailbox.name, channel: 'imap', outcome: 'quarantined', seconds: 0 });
  return { kind: 'quarantine' };
}

/** The header block of a message's start (up to and with the empty line), or all of it when it has no end there. */
function headerBlock(start: Buffer): Buffer {
  for (const sep of ['\r\n\r\n', '\n\n']) {
    const i = start.indexOf(sep);
    if (i >= 0) return start.subarray(0, i + sep.length);
  }
  return start;
}
