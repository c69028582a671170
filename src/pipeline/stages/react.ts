import type { Transaction } from 'kysely';
import type { AppContext } from '../../context.js';
import { isParticipant } from '../../db/repos/cases.js';
import { addEvent } from '../../db/repos/events.js';
import { autoRepliedCasesSince, autoRepliesSince } from '../../db/repos/outbox.js';
import type { Database } from '../../db/schema.js';
import { queueConfirmation } from '../../cases/confirmation.js';
import { commonData, queueEmail } from '../../mail-out/compose.js';
import { recipientRefusal } from '../../mail-out/recipient-refusal.js';
import { oldMailReason } from '../old-mail.js';
import type { Inbound } from '../types.js';
import { need, type CommitStage } from '../types.js';

/**
 * What do we send because of it? A confirmation for a new case, a "reopened" notice for a reopened
 * one (unless an escalation acknowledgement already answers the message) — only when an automatic
 * reply is allowed: never to automated mail, never to a bouncing or no-reply address or to
 * ourselves, not to an agent's address writing about a case of their queue without proof (the
 * unproven-staff notice tells them), not to someone who wrote into an existing case without
 * being its participant (a forwarded email's token: the reply would carry the case link), not to mail that arrived over autoReply.maxAgeHours ago, not within
 * autoReply.minIntervalSeconds of the last one to the sender nor to a repeat of a message answered
 * automatically within the hour (an auto-responder's loop), and at most
 * autoReply.perSenderPerHour per sender (local+tag@ counts as local@). Suspected spam gets none
 * either; when spam is the only reason, the event says the reply is held, and `casegate cases
 * ham` sends it.
 */
export const reactStage: CommitStage = {
  name: 'react',
  async run(msg, ctx, trx) {
    const persisted = need(msg.notes.persisted, 'persisted');
    if (!persisted.created && !persisted.reopened) return;
    // One automatic reply per message: when the customer's mail escalated the case, the escalation
    // acknowledgement (escalate stage, with the case tag and details) is that reply.
    if (msg.notes.escalation?.acknowledged === true) return;
    const sender = need(msg.notes.sender, 'sender');
    const parsed = need(msg.notes.parsed, 'parsed');
    const { caseRow } = persisted;
    const kind = persisted.created ? 'confirmation' : 'reopened';
    const refusal = await autoReplyRefusal(msg, ctx, trx, sender.address, { ignoreSpam: true });
    const now = ctx.clock.now().toISOString();
    if (refusal !== null) {
      await addEvent(trx, { caseId: caseRow.id, type: 'auto-reply.suppressed', actor: 'system', reason: `${kind} not sent: ${refusal}`, at: now });
      return;
    }
    if (msg.notes.spam != null) {
      await addEvent(trx, {
        caseId: caseRow.id,
        type: 'auto-reply.held',
        actor: 'system',
        reason: `${kind} held: suspected spam (${msg.notes.spam.reason}); \`casegate cases ham ${caseRow.number}\` sends it`,
        data: { kind },
        at: now,
      });
      return;
    }
    const mailbox = ctx.mailboxes.ofCase(caseRow);
    const to = { address: sender.address, name: sender.name };
    const base = { caseRow, mailbox, to, autoReply: true, inReplyTo: parsed.messageId, references: parsed.references };
    if (kind === 'confirmation') {
      // The case is this message's: it starts the conversation (when it kept its Message-ID; else
      // the root is looked up as for any email).
      await queueConfirmation(trx, ctx, { caseRow, mailbox, to, inReplyTo: parsed.messageId, references: parsed.references, threadRoot: persisted.messageId });
    } else {
      const common = commonData(ctx, caseRow, mailbox, to);
      await queueEmail(trx, ctx, { ...base, kind, data: { ...common, reply: { visibleText: msg.notes.visible?.text ?? '' } } });
    }
  },
};

/**
 * Why an automatic reply to this message's sender must not be sent, or null when it may.
 * ignoreSpam: leave the spam verdict to the caller (react holds the reply instead).
 */
export async function autoReplyRefusal(msg: Inbound, ctx: AppContext, trx: Transaction<Database>, address: string, opts: { ignoreSpam?: boolean } = {}): Promise<string | null> {
  const automated = msg.notes.automated;
  if (automated != null) return `automated mail (${automated.kind}: ${automated.reason})`;
  // Words of an out-of-office with no mark of one: answering it could start a ping-pong with the responder.
  if (msg.notes.suspectedAutoReply != null) return `it reads like an automatic out-of-office reply (${msg.notes.suspectedAutoReply})`;
  if (msg.notes.spam != null && opts.ignoreSpam !== true) return `suspected spam (${msg.notes.spam.reason})`;
  if (!msg.notes.sender?.verified) return 'sender not verified (DMARC failed)';
  // An agent's address answering a case of their queue without proof: the agent is told by the
  // unproven-staff notice (notify-staff stage), not answered as a customer.
  const claim = msg.notes.staffClaim;
  if (claim != null) return `staff address ${claim.address} not proven for case ${claim.about?.number ?? '?'}: told by the unproven-staff notice instead`;
  // Someone who wrote into an existing case without being its participant (a token copied from a
  // forwarded confirmation or agent notification): our automatic replies carry the case's status,
  // details and the signed link to its whole history — theirs only to participants (an agent adds
  // them with #cc). The agents are notified as for any message.
  const persisted = msg.notes.persisted;
  if (persisted != null && !persisted.created && !(await isParticipant(trx, persisted.caseRow.id, address, { exceptRole: 'agent' }))) {
    return `${address} is not a participant of case ${persisted.caseRow.number} (it wrote in the case's thread, e.g. with a forwarded email): no automatic reply, which would carry the case and its link`;
  }
  const refusal = await recipientRefusal(ctx, trx, address);
  if (refusal !== null) return refusal;
  const { perSenderPerHour: limit, minIntervalSeconds } = ctx.config.autoReply;
  const now = ctx.clock.now().getTime();
  const old = oldMailReason(ctx, msg);
  if (old !== null) return `${old}: no automatic reply to old mail`;
  const since = new Date(now - 3_600_000).toISOString();
  const { count: recent, latest } = await autoRepliesSince(trx, address, since);
  if (recent >= limit) return `rate limit: ${limit} automatic replies per hour to ${address}`;
  // (Only for a message that opens a case: an answer to our mail threads into its case, and
  // reopens it once at most, so it cannot loop.)
  if (recent > 0 && msg.notes.thread?.kind === 'new') {
    // An auto-responder that ignores RFC 3834 (no Auto-Submitted, a new message rather than a
    // reply) answers each of our automatic replies at once, each answer a new case: answered
    // again, it loops until the rate limit. A person writing again that soon misses only a
    // second confirmation.
    if (minIntervalSeconds > 0 && latest !== null && latest > new Date(now - minIntervalSeconds * 1000).toISOString()) {
      return `an automatic reply went to ${address} less than ${minIntervalSeconds} s ago (autoReply.minIntervalSeconds): a new message that soon may be an auto-responder answering us`;
    }
    // A slower one sends the same message each time: the same subject and text as a message we
    // answered automatically within the hour.
    const parsed = msg.notes.parsed;
    const subject = sameness(parsed?.subject ?? '');
    const text = sameness(msg.notes.visible?.text ?? parsed?.text ?? '');
    const answered = await autoRepliedCasesSince(trx, address, since, limit);
    if (answered.some((c) => sameness(c.subject) === subject && sameness(c.text) === text)) {
      return `repeats a message of ${address} that got an automatic reply within the hour (same subject and text): an auto-responder answering us is not answered again`;
    }
  }
  return null;
}

/** Text compared for a repeat: case and spacing do not count. */
function sameness(s: string): string {
  return s.toLowerCase().replace(/\s+/g, ' ').trim();
}

