import { caseById } from '../../db/repos/cases.js';
import { addEvent } from '../../db/repos/events.js';
import { stripPlus } from '../../cases/thread-token.js';
import { copiedIn } from '../../cases/participation.js';
import { bccAddresses } from '../../mail-in/parsed-headers.js';
import { notifyAgents, sendForgedNotice, sendUnprovenNotice, type NotifiedMessage } from '../../cases/staff-mail.js';
import { attentionAddresses, presentOwner } from '../../cases/staff.js';
import { noteStaffMail, settleStaffMail, staffMailAllowed } from '../staff-mail-cap.js';
import { messageFiles, NO_FILES } from '../../cases/customer-files.js';
import { need, type CommitStage } from '../types.js';
import { oldMailReason } from '../old-mail.js';
import { shownTextOf } from '../written-text.js';

/**
 * Who on the staff side must hear about it?
 *  - A new case without an owner: the queue's available agents (an owner got the assignment
 *    email, which shows the customer's text; an owner marked away, `available: false`, does not
 *    keep it from the others); a customer's reply: the owner, else (or while the owner is away)
 *    the queue's available agents, a whole team away: its tiers (staff.ts attentionAddresses;
 *    agentMail.notifyAgentsOn). Not for automated mail, feedback, a mere status question,
 *    old mail (over autoReply.maxAgeHours: old-mail.ts), or whoever the escalation alert of this
 *    same message already reached.
 *    The per-sender cap (agentMail.notifyPerSenderPerHour) holds it, with the assignment email and
 *    the escalation alert of the same message, once one sender's mail caused staff mail that often
 *    within the hour; this last stage settles it (flood notice, the message's one event:
 *    pipeline/staff-mail-cap.ts). Cases are opened, assigned and escalated as always.
 *  - Mail that claimed a staff address but failed the sender check: that address is warned
 *    (forged-sender); one that is merely not proven for a case of its queue (no sender
 *    authentication, no reply to staff mail we sent that address) is told that nothing was done
 *    (unproven-staff, with its text: the agent must not believe the customer got an answer).
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
      // The agent meant to work that case: tell them it did not happen (their text comes back).
      const about = claim.about !== null ? await caseById(trx, claim.about.id) : undefined;
      // Whom the mail itself went to (a reply-all from the agent's client): they have the text already.
      const reached = copiedIn(ctx, [...parsed.to, ...parsed.cc, ...bccAddresses(parsed.headers)], claim.address).map((a) => a.address);
      if (about !== undefined) await sendUnprovenNotice(trx, ctx, about, { address: claim.address, subject: parsed.subject, why: claim.why, text: msg.notes.visible?.text ?? '', storedIn: caseRow.number, otherQueue: claim.otherQueue === true, reached });
    }

    // What the notification (or a flood notice) shows; its files are read only when one is sent.
    const message = async (): Promise<NotifiedMessage> => ({
      from: sender.name !== '' ? `${sender.name} <${sender.address}>` : sender.address,
      at: ctx.clock.now().toISOString(),
      visibleText: shownTextOf(msg),
      // The files the customer attached (not the pictures their HTML shows, a signature logo, or a
      // signature part), carried within agentMail.attachFilesMaxBytes.
      ...(parsed.attachments.length > 0 ? await messageFiles(trx, ctx, messageRowId, { suspectedSpam: msg.notes.spam != null || caseRow.spam === 1 }) : NO_FILES),
      forged: sender.auth === 'fail',
      notCopied: msg.notes.notCopied ?? [],
    });
    const on = ctx.config.agentMail.notifyAgentsOn;
    const event = created ? 'new-case' : 'customer-reply';
    const wanted = !(caseRow.kind === 'feedback' || msg.notes.automated != null || msg.notes.statusRequest === true) && on.includes(event) && !(created && presentOwner(ctx.config, caseRow.queue, caseRow.owner) !== null);
    const old = wanted ? oldMailReason(ctx, msg) : null;
    if (old !== null) {
      // The history of a newly attached mailbox: in the queue, not announced one email per message.
      await addEvent(trx, { caseId: caseRow.id, messageRowId, type: 'agents.notify-suppressed', actor: `customer:${stripPlus(sender.address)}`, reason: `agents not notified: ${old}; old mail is in the queue, not announced message by message`, at: ctx.clock.now().toISOString() });
    } else if (wanted) {
      // A new case's owner got the assignment email; one marked away does not stop the team hearing of it.
      const skip = [...(msg.notes.escalation?.alerted ?? []), sender.address, ...(created && caseRow.owner !== null ? [caseRow.owner] : [])];
      if (await staffMailAllowed(msg, ctx, trx)) {
        noteStaffMail(msg, trx, event, await notifyAgents(trx, ctx, caseRow, { event, message: await message(), skip }), false);
      } else {
        const to = attentionAddresses(ctx.config, caseRow.queue, caseRow.owner).map((r) => r.address).filter((a) => !skip.includes(a));
        noteStaffMail(msg, trx, event, to, true);
      }
    }
    // The sender's cap: its flood notice (to whoever this message's held mail would have reached and was not yet told) and the message's one event.
    await settleStaffMail(msg, ctx, trx, caseRow, message);
  },
};
