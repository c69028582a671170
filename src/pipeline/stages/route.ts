import { assignCase, autoAssign } from '../../cases/assignment.js';
import { agentsOf, findAgent, queueSettings } from '../../cases/staff.js';
import { addEvent } from '../../db/repos/events.js';
import { addTags } from '../../db/repos/tags.js';
import { oldMailReason } from '../old-mail.js';
import { noteStaffMail, staffMailAllowed } from '../staff-mail-cap.js';
import { need, type CommitStage } from '../types.js';

/**
 * Who owns it, and what did the routing decide? For a new case: the fired rule (an event), its
 * tags, feedback, and the owner (rule, else the queue's assignment: fixed or round-robin; the owner
 * is notified). Agents' #assign and #priority run in the agent flow (cases/agent-work.ts).
 */
export const routeStage: CommitStage = {
  name: 'route',
  async run(msg, ctx, trx) {
    const persisted = need(msg.notes.persisted, 'persisted');
    const routing = need(msg.notes.routing, 'routing');
    const sender = need(msg.notes.sender, 'sender');
    const now = ctx.clock.now().toISOString();
    const { caseRow, messageRowId } = persisted;

    if (persisted.created) {
      if (routing.rule !== null) {
        const cls = need(msg.notes.classification, 'classification');
        await addEvent(trx, {
          caseId: caseRow.id,
          messageRowId,
          type: 'rule.applied',
          actor: 'system',
          reason: `rule ${routing.rule.name} (rules.${routing.rule.index}): queue ${cls.queue}, priority ${cls.priority}${routing.tags.length > 0 ? `, tags ${routing.tags.join(', ')}` : ''}${routing.tier !== null ? `, tier ${routing.tier}` : ''}${routing.owner !== null ? `, owner ${routing.owner}` : ''}`,
          data: { rule: routing.rule.name, index: routing.rule.index, queue: cls.queue, priority: cls.priority, tags: routing.tags, tier: routing.tier, owner: routing.owner },
          at: now,
        });
      }
      await addTags(trx, caseRow.id, routing.tags, now);
      if (routing.kind === 'feedback') {
        await addEvent(trx, { caseId: caseRow.id, messageRowId, type: 'feedback.received', actor: `customer:${sender.address}`, reason: `feedback queue ${caseRow.queue}: recorded closed, no SLA`, at: now });
        return;
      }
      if (caseRow.spam === 1) {
        // Nobody is assigned (or notified) for suspected spam; `casegate cases ham` assigns it.
        await addEvent(trx, { caseId: caseRow.id, messageRowId, type: 'assignment.skipped', actor: 'system', reason: 'suspected spam: not assigned until marked ham', at: now });
        return;
      }
      const owner = routing.owner !== null ? findAgent(agentsOf(ctx.config, caseRow.queue), routing.owner) : null;
      const q = queueSettings(ctx.config, caseRow.queue);
      if (owner === null && (q === undefined || q.assignment === 'none')) return;
      // Old mail (a mailbox attached with its history) gets its owner without an email per case
      // (pipeline/old-mail.ts); otherwise the case is assigned all the same and only the owner's
      // email counts against the sender's cap (pipeline/staff-mail-cap.ts).
      const old = oldMailReason(ctx, msg);
      if (old !== null) {
        if (owner !== null && routing.rule !== null) await assignCase(trx, ctx, caseRow.id, owner, { actor: 'system', by: 'casegate', messageRowId, reason: `rule ${routing.rule.name}; not emailed: ${old}`, notifyOwner: false });
        else await autoAssign(trx, ctx, caseRow, { quiet: old });
        return;
      }
      const notifyOwner = await staffMailAllowed(msg, ctx, trx);
      const assigned =
        owner !== null && routing.rule !== null
          ? (await assignCase(trx, ctx, caseRow.id, owner, { actor: 'system', by: 'casegate', reason: `rule ${routing.rule.name}`, messageRowId, notifyOwner })).caseRow
          : await autoAssign(trx, ctx, caseRow, { notifyOwner });
      if (assigned.owner !== null) noteStaffMail(msg, trx, 'assignment', [assigned.owner], !notifyOwner);
    }
  },
};
