import { caseById } from '../../db/repos/cases.js';
import { addEvent, senderNotifications } from '../../db/repos/events.js';
import { stripPlus } from '../../cases/thread-token.js';
import { copiedIn } from '../../cases/participation.js';
import { bccAddresses } from '../../mail-in/parsed-headers.js';
import { notifyAgents, sendForgedNotice, sendUnprovenNotice } from '../../cases/staff-mail.js';
import { messageFiles, NO_FILES } from '../../cases/customer-files.js';
import { need, type CommitStage } from '../types.js';
import { oldMailReason } from '../old-mail.js';
import { shownTextOf } from '../written-text.js';

/**
 * Who on the staff side must hear about it?
 *  - A new case without an owner: the queue's available agents (an owner got the assignment
 *    email, which shows the customer's text); a customer's reply: the owner, else the queue's
 *    agents (agentMail.notifyAgentsOn). Not for automated mail, feedback, a mere status question,
 *    old mail (over autoReply.maxAgeHours: old-mail.ts), or whoever the escalation alert of this
 *    same message already reached.
 *    At most agentMail.notifyPerSenderPerHour notifications per hour about one sender's mail
 *    (local+tag@ is local@): a flood of new cases from one sender (or a bot) would bury the agents.
 *    The first message over the limit sends one flood notice instead ("more than N messages from
 *    X: not notified one by one"; it says how many went unnotified since the previous one), the
 *    next ones only an `agents.notify-suppressed` event on their case, until the hour's count
 *    falls below the limit. Cases are opened as always.
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

    if (caseRow.kind === 'feedback' || msg.notes.automated != null || msg.notes.statusRequest === true) return;
    const on = ctx.config.agentMail.notifyAgentsOn;
    const event = created ? 'new-case' : 'customer-reply';
    if (!on.includes(event) || (created && caseRow.owner !== null)) return;
    const now = ctx.clock.now();
    const at = now.toISOString();
    const base = stripPlus(sender.address);
    const actor = `customer:${base}`;
    const old = oldMailReason(ctx, msg);
    if (old !== null) {
      // The history of a newly attached mailbox: in the queue, not announced one email per message.
      await addEvent(trx, { caseId: caseRow.id, messageRowId, type: 'agents.notify-suppressed', actor, reason: `agents not notified: ${old}; old mail is in the queue, not announced message by message`, at });
      return;
    }
    const limit = ctx.config.agentMail.notifyPerSenderPerHour;
    const told = limit > 0 ? await senderNotifications(trx, actor, new Date(now.getTime() - HOUR).toISOString(), new Date(now.getTime() - DAY).toISOString()) : null;
    const flooding = told !== null && told.notified >= limit;
    if (flooding && told.lastNotice !== null && told.lastNotice > new Date(now.getTime() - HOUR).toISOString()) {
      await addEvent(trx, {
        caseId: caseRow.id,
        messageRowId,
        type: 'agents.notify-suppressed',
        actor,
        reason: `agents not notified: ${told.notified} messages from ${base} notified within the hour (agentMail.notifyPerSenderPerHour ${limit}); the flood notice of ${told.lastNotice} said so`,
        at,
      });
      return;
    }
    const notified = await notifyAgents(trx, ctx, caseRow, {
      event: flooding ? 'sender-flood' : event,
      message: {
        from: sender.name !== '' ? `${sender.name} <${sender.address}>` : sender.address,
        at,
        visibleText: shownTextOf(msg),
        // The files the customer attached (not the pictures their HTML shows, a signature logo, or a
        // signature part), carried within agentMail.attachFilesMaxBytes.
        ...(parsed.attachments.length > 0 ? await messageFiles(trx, ctx, messageRowId, { suspectedSpam: msg.notes.spam != null || caseRow.spam === 1 }) : NO_FILES),
        forged: sender.auth === 'fail',
      },
      ...(flooding ? { flood: { sender: base, limit, suppressed: told.suppressed } } : {}),
      skip: [...(msg.notes.escalation?.alerted ?? []), sender.address],
    });
    if (notified.length === 0 || limit === 0) return;
    await addEvent(trx, {
      caseId: caseRow.id,
      messageRowId,
      type: flooding ? 'agents.flood-notice' : 'agents.notified',
      actor,
      reason: flooding
        ? `${base} sent more than ${limit} messages within the hour (agentMail.notifyPerSenderPerHour): ${notified.join(', ')} told once; its further messages are not notified individually while the hour's count stays at the limit${told.suppressed > 0 ? ` (${told.suppressed} were not since the previous notice)` : ''}`
        : `${event} notified to ${notified.join(', ')}`,
      data: { notified, ...(flooding ? { suppressedBefore: told.suppressed } : {}) },
      at,
    });
  },
};

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
