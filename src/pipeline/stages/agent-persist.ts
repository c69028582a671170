import { enrolRecipients } from '../../cases/participation.js';
import { addParticipant, updateCase } from '../../db/repos/cases.js';
import { addEvent } from '../../db/repos/events.js';
import { need, type CommitStage } from '../types.js';
import { recordMessage, recordReceipt } from './record-inbound.js';

/**
 * Record an agent's mail: receipt, the message (staff-only: `internal`, with its author), its
 * attachments, the agent as a participant of the case (and the addresses a reply copies in).
 * Never changes the case's status or the customer's last-activity time (the agent flow's work stage does what the mail asks).
 */
export const agentPersistStage: CommitStage = {
  name: 'agent-persist',
  async run(msg, ctx, trx) {
    const { notes } = msg;
    const parsed = need(notes.parsed, 'parsed');
    const sender = need(notes.sender, 'sender');
    const agent = need(notes.agent ?? undefined, 'agent');
    const work = need(notes.agentWork, 'agentWork');
    const now = ctx.clock.now().toISOString();
    const caseRow = agent.caseRow;

    const receiptId = await recordReceipt(msg, trx, 'agent-persist', `agent ${agent.rule}`);
    // The agent as configured (mail from one of their aliases is theirs).
    const me = agent.staff.address;
    await addParticipant(trx, caseRow.id, me, agent.staff.name, 'agent', now);
    // Staff may copy people in (DESIGN §2): the addresses an agent's reply is copied to take part —
    // not those of a note, nor of a mail refused for its command errors (it changes nothing).
    if (!work.note && work.errors.length === 0 && work.heldAutoReply === undefined) await enrolRecipients(trx, ctx, caseRow.id, [...parsed.to, ...parsed.cc], sender.address, now);
    // A note is the agent's mail itself: with saved replies put in ("#saved <name>"), it is stored with them (its command lines left out).
    const savedNote = work.note && work.errors.length === 0 && (work.saved?.length ?? 0) > 0;
    const recorded = await recordMessage(msg, ctx, trx, { caseRow, receiptId, threadRule: agent.rule, internal: true, author: me, ...(savedNote ? { visibleText: work.text } : {}) });
    const messageRowId = recorded.rowId;
    const what = work.errors.length > 0 ? 'with command errors' : work.heldAutoReply !== undefined ? 'held: reads like an out-of-office reply' : work.note ? 'internal note' : work.text !== '' ? 'reply' : work.commands.length > 0 ? 'commands only' : 'nothing new (no text, no command)';
    await addEvent(trx, {
      caseId: caseRow.id,
      messageRowId,
      type: 'message.agent',
      actor: `agent:${me}`,
      reason: `${what} (threaded by ${agent.rule}${agent.toNotesAddress ? ', to the notes address' : ''})`,
      data: { rule: agent.rule, note: work.note, commands: work.commands.map((c) => c.line), errors: work.errors.length },
      at: now,
    });
    const touched = await updateCase(trx, caseRow.id, { updated_at: now });
    notes.persisted = { caseRow: touched, messageRowId, messageId: recorded.messageId, receiptId, created: false, reopened: false };
  },
};
