import { writtenText } from '../../cases/escalation-signals.js';
import { caseById } from '../../db/repos/cases.js';
import { addEvent } from '../../db/repos/events.js';
import { notifyAgents, sendForgedNotice } from '../../cases/staff-mail.js';
import { need, type CommitStage } from '../types.js';

/**
 * Who on the staff side must hear about it?
 *  - A new case without an owner: the queue's available agents (an owner got the assignment
 *    email, which shows the customer's text); a customer's reply: the owner, else the queue's
 *    agents (agentMail.notifyAgentsOn). Not for automated mail, feedback, a mere status question,
 *    or whoever the escalation alert of this same message already reached.
 *  - Mail that claimed a staff address but failed the sender check: that address is told; one that
 *    is merely not proven (no sender authentication, no reply to our staff mail) is an event only.
 */
export const notifyStaffStage: CommitStage = {
  name: 'notify-staff',
  async run(msg, ctx, trx) {
    const persisted = need(msg.notes.persisted, 'persisted');
    const sender = need(msg.notes.sender, 'sender');
    const parsed = need(msg.notes.parsed, 'parsed');
    const { created, messageRowId } = persisted;
    // Routing (owner) and escalation ran after persist: the case as it is now.
    const caseRow = (await caseById(trx, persisted.caseRow.id)) ?? persisted.caseRow;

    const claim = msg.notes.staffClaim;
    if (claim != null && claim.auth === 'fail') await sendForgedNotice(trx, ctx, caseRow, { address: claim.address, subject: parsed.subject, why: claim.why, messageRowId });
    else if (claim != null) {
      // Not proven is not forged (security.senderAuth.mode none proves no From): an event, no warning mail.
      await addEvent(trx, { caseId: caseRow.id, messageRowId, type: 'sender.unproven-staff', actor: 'system', reason: `mail from staff address ${claim.address} without proof (${claim.why}): stored as a customer message, no command done`, at: ctx.clock.now().toISOString() });
    }

    if (caseRow.kind === 'feedback' || msg.notes.automated != null || msg.notes.statusRequest === true) return;
    const on = ctx.config.agentMail.notifyAgentsOn;
    const event = created ? 'new-case' : 'customer-reply';
    if (!on.includes(event) || (created && caseRow.owner !== null)) return;
    await notifyAgents(trx, ctx, caseRow, {
      event,
      message: {
        from: sender.name !== '' ? `${sender.name} <${sender.address}>` : sender.address,
        at: ctx.clock.now().toISOString(),
        visibleText: writtenText(msg.notes.visible?.text ?? ''),
        attachments: parsed.attachments.map((a) => a.filename),
        forged: sender.auth === 'fail',
      },
      skip: [...(msg.notes.escalation?.alerted ?? []), sender.address],
    });
  },
};
