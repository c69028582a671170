import { setPriority } from '../../cases/lifecycle.js';
import { messageFiles, NO_FILES } from '../../cases/customer-files.js';
import { escalateCase, staffLoweredSince, type EscalateOptions, type EscalationTarget, type EscalationTrigger, type LastMessage } from '../../cases/escalation.js';
import { priorityScheme } from '../../cases/priority.js';
import { isParticipant } from '../../db/repos/cases.js';
import { addEvent } from '../../db/repos/events.js';
import { autoReplyRefusal } from './react.js';
import { oldMailReason } from '../old-mail.js';
import { noteStaffMail, staffMailAllowed } from '../staff-mail-cap.js';
import { need, type CommitStage } from '../types.js';
import { shownTextOf } from '../written-text.js';

/**
 * Who must hear about it? Escalations, in the same transaction as the message:
 *  - a customer's urgent subject (the case becomes urgent and escalated, at least level 1) or
 *    "escalate" in their own text (one level up; asking again within
 *    escalation.customerRepeatHours does not climb further): alert + acknowledgement (an automatic
 *    reply, so the auto-reply rules apply to it);
 *  - a rule's tier on a new case: alert only (the customer did not ask).
 * Only participants of an existing case escalate it (not a forwarded email's reader).
 * Agents' #escalate / #tier run in the agent flow (cases/agent-work.ts).
 * Feedback is never escalated.
 */
export const escalateStage: CommitStage = {
  name: 'escalate',
  async run(msg, ctx, trx) {
    const persisted = need(msg.notes.persisted, 'persisted');
    const routing = need(msg.notes.routing, 'routing');
    const sender = need(msg.notes.sender, 'sender');
    const parsed = need(msg.notes.parsed, 'parsed');
    const request = msg.notes.request;
    const { messageRowId } = persisted;
    const caseRow = persisted.caseRow;
    const now = ctx.clock.now().toISOString();
    if (request === undefined) return;

    if (request.refused !== null) {
      await addEvent(trx, { caseId: caseRow.id, messageRowId, type: 'escalation.refused', actor: 'system', reason: request.refused, at: now });
    }
    if (request.foreignCaseNumber !== null && persisted.created) {
      await addEvent(trx, {
        caseId: caseRow.id,
        messageRowId,
        type: 'escalation.foreign-case',
        actor: 'system',
        reason: `the urgent subject names case ${request.foreignCaseNumber}, which is not one of ${sender.address}'s cases: a new case was opened and case ${request.foreignCaseNumber} left untouched`,
        data: { caseNumber: request.foreignCaseNumber },
        at: now,
      });
    }

    let customerAsks = request.fromCustomer && (request.urgent !== null || request.keyword);
    // Only the case's customers escalate it: not someone who wrote into it with a token copied
    // from a forwarded email (no participant; the agents read their message all the same).
    if (customerAsks && !persisted.created && !(await isParticipant(trx, caseRow.id, sender.address, { exceptRole: 'agent' }))) {
      await addEvent(trx, { caseId: caseRow.id, messageRowId, type: 'escalation.refused', actor: 'system', reason: `${sender.address} asked to escalate but is not a participant of case ${caseRow.number}: not escalated`, at: now });
      customerAsks = false;
    }
    // A routing rule's tier does not alert anyone for suspected spam.
    const ruleTier = persisted.created && caseRow.spam !== 1 ? routing.tier : null;
    if (caseRow.kind === 'feedback') {
      if (customerAsks || ruleTier !== null) {
        await addEvent(trx, { caseId: caseRow.id, messageRowId, type: 'escalation.ignored', actor: 'system', reason: 'feedback is not escalated', at: now });
      }
      return;
    }

    const who = sender.name !== '' ? sender.name : sender.address;
    const lastMessage: LastMessage = {
      from: sender.name !== '' ? `${sender.name} <${sender.address}>` : sender.address,
      at: now,
      visibleText: shownTextOf(msg),
      forged: sender.auth === 'fail',
      ...(parsed.attachments.length > 0 ? await messageFiles(trx, ctx, messageRowId) : NO_FILES),
    };
    const common = { lastMessage, inReplyTo: parsed.messageId, references: parsed.references, messageRowId };

    if (customerAsks || ruleTier !== null) {
      if (request.urgent !== null && !persisted.created) {
        // An existing case: "that case becomes urgent" (new cases got the level in classify).
        const scheme = priorityScheme(ctx.config);
        if (scheme.orderOf(scheme.urgentLevel) < scheme.orderOf(caseRow.priority)) {
          // A priority staff set within escalation.customerRepeatHours stands (the lead decided).
          const set = customerAsks ? await staffLoweredSince(trx, ctx, caseRow.id, 'case.priority') : null;
          if (set === null) await setPriority(trx, ctx, caseRow.id, scheme.urgentLevel, { actor: `customer:${sender.address}`, reason: 'urgent subject', messageRowId });
          else await addEvent(trx, { caseId: caseRow.id, messageRowId, type: 'priority.kept', actor: 'system', reason: `urgent subject: staff set the priority ${caseRow.priority} at ${set}; kept for escalation.customerRepeatHours`, at: now });
        }
      }
      let target: EscalationTarget;
      let trigger: EscalationTrigger;
      let reason: string;
      if (persisted.created) {
        // One escalation for the new case: the rule's tier, or level 1 when the customer asked.
        target = { atLeast: Math.max(ruleTier ?? 0, customerAsks ? 1 : 0) };
        trigger = customerAsks ? (request.urgent !== null ? 'urgent-subject' : 'keyword') : 'rule';
      } else if (request.keyword) {
        target = 'raise';
        trigger = 'keyword';
      } else {
        target = { atLeast: 1 };
        trigger = 'urgent-subject';
      }
      if (trigger === 'rule') reason = `rule ${routing.rule?.name ?? '?'} sets tier ${ruleTier}`;
      else if (request.urgent !== null) reason = `urgent subject: "${parsed.subject}"`;
      else reason = 'the customer asked to escalate';
      // The level rises all the same; only the alert counts against the sender's cap.
      const alertStaff = await staffMailAllowed(msg, ctx, trx);
      const opts: EscalateOptions = {
        ...common,
        alertStaff,
        target,
        trigger,
        actor: trigger === 'rule' ? 'system' : `customer:${sender.address}`,
        by: trigger === 'rule' ? `rule ${routing.rule?.name ?? '?'}` : who,
        reason,
        ack: customerAsks ? { to: { address: sender.address, name: sender.name }, autoReply: true, refusal: () => autoReplyRefusal(msg, ctx, trx, sender.address) } : null,
        // An urgent subject in a mailbox's history: escalated, but nobody is alerted about old mail.
        quiet: oldMailReason(ctx, msg),
      };
      const out = await escalateCase(trx, ctx, caseRow.id, opts);
      msg.notes.escalation = { acknowledged: out.acknowledged, alerted: [...out.alerted, ...out.held] };
      noteStaffMail(msg, trx, 'escalation-alert', alertStaff ? out.alerted : out.held, !alertStaff);
    }
  },
};
