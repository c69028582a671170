import type { Transaction } from 'kysely';
import type { AppContext } from '../../context.js';
import { addEvent } from '../../db/repos/events.js';
import { autoRepliesSince } from '../../db/repos/outbox.js';
import type { Database } from '../../db/schema.js';
import { promiseData } from '../../cases/promise.js';
import { commonData, queueEmail } from '../../mail-out/compose.js';
import { recipientRefusal } from '../../mail-out/recipient-refusal.js';
import type { Inbound } from '../types.js';
import { need, type CommitStage } from '../types.js';

/**
 * What do we send because of it? A confirmation for a new case, a "reopened" notice for a reopened
 * one (unless an escalation acknowledgement already answers the message) — only when an automatic
 * reply is allowed: never to automated mail, never to a bouncing or no-reply address or to
 * ourselves, and at most autoReply.perSenderPerHour per sender.
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
    const refusal = await autoReplyRefusal(msg, ctx, trx, sender.address);
    if (refusal !== null) {
      await addEvent(trx, { caseId: caseRow.id, type: 'auto-reply.suppressed', actor: 'system', reason: `${kind} not sent: ${refusal}`, at: ctx.clock.now().toISOString() });
      return;
    }
    const mailbox = ctx.mailboxes.byName(caseRow.mailbox) ?? msg.arrival.mailbox;
    const to = { address: sender.address, name: sender.name };
    const common = commonData(ctx, caseRow, mailbox, to);
    const base = { caseRow, mailbox, to, autoReply: true, inReplyTo: parsed.messageId, references: parsed.references };
    if (kind === 'confirmation') {
      const q = ctx.config.queues[caseRow.queue];
      await queueEmail(trx, ctx, {
        ...base,
        kind,
        data: {
          ...common,
          expectedResponse: q?.expectedResponse ?? ctx.config.cases.expectedResponse,
          helpfulInfo: q?.helpfulInfo ?? ctx.config.cases.helpfulInfo,
          // The SLA promise in the queue's time zone (issue 11).
          promise: promiseData(ctx.config, caseRow, ctx.clock.now()),
        },
      });
    } else {
      await queueEmail(trx, ctx, { ...base, kind, data: { ...common, reply: { visibleText: msg.notes.visible?.text ?? '' } } });
    }
  },
};

/** Why an automatic reply to this message's sender must not be sent, or null when it may. */
export async function autoReplyRefusal(msg: Inbound, ctx: AppContext, trx: Transaction<Database>, address: string): Promise<string | null> {
  const automated = msg.notes.automated;
  if (automated != null) return `automated mail (${automated.kind}: ${automated.reason})`;
  if (!msg.notes.sender?.verified) return 'sender not verified (DMARC failed)';
  const refusal = await recipientRefusal(ctx, trx, address);
  if (refusal !== null) return refusal;
  const limit = ctx.config.autoReply.perSenderPerHour;
  const since = new Date(ctx.clock.now().getTime() - 3_600_000).toISOString();
  if ((await autoRepliesSince(trx, address, since)) >= limit) return `rate limit: ${limit} automatic replies per hour to ${address}`;
  return null;
}

