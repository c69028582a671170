import { sendStatusSummary } from '../../cases/customer-mail.js';
import { addEvent } from '../../db/repos/events.js';
import { autoReplyRefusal } from './react.js';
import { need, type CommitStage } from '../types.js';

/** Answer a customer's "status" / "?" with the status-summary email (an automatic reply: its rules apply). */
export const statusReplyStage: CommitStage = {
  name: 'status-reply',
  async run(msg, ctx, trx) {
    if (msg.notes.statusRequest !== true) return;
    const persisted = need(msg.notes.persisted, 'persisted');
    const sender = need(msg.notes.sender, 'sender');
    const parsed = need(msg.notes.parsed, 'parsed');
    const thread = need(msg.notes.thread, 'thread');
    const now = ctx.clock.now().toISOString();
    const refusal = await autoReplyRefusal(msg, ctx, trx, sender.address);
    if (refusal !== null) {
      await addEvent(trx, { caseId: persisted.caseRow.id, messageRowId: persisted.messageRowId, type: 'auto-reply.suppressed', actor: 'system', reason: `status-summary not sent: ${refusal}`, at: now });
      return;
    }
    // "Last update" is the case as it was before this question touched it.
    const before = thread.kind === 'existing' ? thread.caseRow.updated_at : persisted.caseRow.updated_at;
    await sendStatusSummary(trx, ctx, { ...persisted.caseRow, updated_at: before }, { address: sender.address, name: sender.name }, { inReplyTo: parsed.messageId, references: parsed.references });
    await addEvent(trx, { caseId: persisted.caseRow.id, messageRowId: persisted.messageRowId, type: 'status.requested', actor: `customer:${sender.address}`, reason: 'the customer asked for the status: summary sent, agents not notified', at: now });
  },
};
