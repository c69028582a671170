import { addParticipant, updateCase } from '../../db/repos/cases.js';
import { addEvent } from '../../db/repos/events.js';
import { insertAttachments, insertMessage } from '../../db/repos/messages.js';
import { insertReceipt, setReceiptCase, supersede } from '../../db/repos/receipts.js';
import { need, receiptBase, type CommitStage } from '../types.js';

/**
 * Record an agent's mail: receipt, the message (staff-only: `internal`, with its author), its
 * attachments, the agent as a participant of the case. Never changes the case's status or the
 * customer's last-activity time (the agent flow's work stage does what the mail asks).
 */
export const agentPersistStage: CommitStage = {
  name: 'agent-persist',
  async run(msg, ctx, trx) {
    const { arrival, notes } = msg;
    const parsed = need(notes.parsed, 'parsed');
    const sender = need(notes.sender, 'sender');
    const agent = need(notes.agent ?? undefined, 'agent');
    const visible = need(notes.visible, 'visible');
    const work = need(notes.agentWork, 'agentWork');
    const now = ctx.clock.now().toISOString();
    const caseRow = agent.caseRow;

    const receiptId = await insertReceipt(trx, {
      ...receiptBase(msg, need(notes.dedupeKey, 'dedupeKey')),
      is_primary: 1,
      outcome: 'stored',
      reason: `agent ${agent.rule}`,
      stage: 'agent-persist',
      case_id: null,
      duplicate_of: null,
    });
    if (arrival.retryOf !== undefined) await supersede(trx, arrival.retryOf, receiptId);
    await addParticipant(trx, caseRow.id, sender.address, agent.staff.name, 'agent', now);
    const messageRowId = await insertMessage(trx, {
      case_id: caseRow.id,
      direction: 'in',
      message_id: parsed.messageId,
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
      visible_text: visible.text,
      body_truncated: parsed.bodyTruncated ? 1 : 0,
      raw_sha256: arrival.raw.sha256,
      raw_size: arrival.raw.size,
      automated: null,
      thread_rule: agent.rule,
      receipt_id: receiptId,
      outbox_id: null,
      created_at: now,
      internal: 1,
      author: sender.address,
    });
    await insertAttachments(trx, messageRowId, parsed.attachments);
    await setReceiptCase(trx, receiptId, caseRow.id, messageRowId);
    const what = work.errors.length > 0 ? 'with command errors' : work.note ? 'internal note' : work.text !== '' ? 'reply' : work.commands.length > 0 ? 'commands only' : 'nothing new (no text, no command)';
    await addEvent(trx, {
      caseId: caseRow.id,
      messageRowId,
      type: 'message.agent',
      actor: `agent:${sender.address}`,
      reason: `${what} (threaded by ${agent.rule}${agent.toNotesAddress ? ', to the notes address' : ''})`,
      data: { rule: agent.rule, note: work.note, commands: work.commands.map((c) => c.line), errors: work.errors.length },
      at: now,
    });
    const touched = await updateCase(trx, caseRow.id, { updated_at: now });
    notes.persisted = { caseRow: touched, messageRowId, receiptId, created: false, reopened: false };
  },
};
