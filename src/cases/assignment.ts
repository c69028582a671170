import type { Transaction } from 'kysely';
import type { AgentConfig } from '../config/schema.js';
import type { AppContext } from '../context.js';
import { lastAssigned, setLastAssigned } from '../db/repos/assignment-state.js';
import { caseById, updateCase } from '../db/repos/cases.js';
import { addEvent } from '../db/repos/events.js';
import { lastHumanMessage } from '../db/repos/thread-history.js';
import type { CaseRow, Database } from '../db/schema.js';
import { commonData, queueEmail, queueStaffEmail, requesterOf, type Recipient } from '../mail-out/compose.js';
import { recipientRefusal } from '../mail-out/recipient-refusal.js';
import { lastCustomerMessage, NO_MESSAGE } from './escalation.js';
import { withoutFiles } from './customer-files.js';
import { findAgent, ownerName, queueSettings } from './staff.js';

/**
 * Ownership: a case may have an owner, an agent of its queue (stored by address). New cases get
 * one by rule (`set.owner`) or by the queue's `assignment`: none, fixed (`fixedOwner`) or
 * round-robin among the queue's `available` agents in configured order (the last one chosen is
 * stored per queue in assignment_state, in the same transaction). The new owner always gets an
 * `assignment` email; when the case had an owner before (a reassignment), the customer gets a
 * `reassignment` notice naming the new owner by display name only.
 */

/** The agent round-robin picks after `last` (address): the next available one in configured order, wrapping. */
export function nextRoundRobin(agents: readonly AgentConfig[], last: string | null): AgentConfig | null {
  if (agents.length === 0) return null;
  const start = last === null ? -1 : agents.findIndex((a) => a.address === last);
  for (let i = 1; i <= agents.length; i++) {
    const a = agents[(start + i + agents.length) % agents.length]!;
    if (a.available) return a;
  }
  return null;
}

export interface AssignOptions {
  readonly actor: string;
  /** Who assigned it, as the new owner reads it: an agent's display name, or "casegate". */
  readonly by: string;
  readonly reason: string;
  readonly note?: string;
  readonly messageRowId?: number | null;
  /** false: no assignment email to the new owner (an agent taking the case by answering it). Default true. */
  readonly notifyOwner?: boolean;
}

export interface AssignOutcome {
  readonly caseRow: CaseRow;
  readonly changed: boolean;
  readonly previous: string | null;
  readonly summary: string;
}

/**
 * Give a new case its owner by the queue's assignment mode (none: unchanged). `quiet`: no
 * assignment email, for this reason (old mail: pipeline/old-mail.ts); the event says so.
 * `notifyOwner` false: no assignment email (the sender is over agentMail.notifyPerSenderPerHour:
 * pipeline/staff-mail-cap.ts).
 */
export async function autoAssign(trx: Transaction<Database>, ctx: AppContext, caseRow: CaseRow, o: { readonly quiet?: string | null; readonly notifyOwner?: boolean } = {}): Promise<CaseRow> {
  const q = queueSettings(ctx.config, caseRow.queue);
  if (q === undefined || q.assignment === 'none') return caseRow;
  const now = ctx.clock.now().toISOString();
  let agent: AgentConfig | null;
  let reason: string;
  if (q.assignment === 'fixed') {
    agent = findAgent(q.agents, q.fixedOwner ?? '');
    reason = `fixed owner of queue ${caseRow.queue}`;
  } else {
    agent = nextRoundRobin(q.agents, await lastAssigned(trx, caseRow.queue));
    reason = `round-robin in queue ${caseRow.queue}`;
    if (agent !== null) await setLastAssigned(trx, caseRow.queue, agent.address, now);
  }
  if (agent === null) {
    await addEvent(trx, { caseId: caseRow.id, type: 'assignment.skipped', actor: 'system', reason: `${q.assignment}: no available agent in queue ${caseRow.queue}`, at: now });
    ctx.log.warn({ caseId: caseRow.id, caseNumber: caseRow.number, queue: caseRow.queue }, 'no available agent: case left unassigned');
    return caseRow;
  }
  const quiet = o.quiet ?? null;
  const how = quiet === null ? { reason, ...(o.notifyOwner !== undefined ? { notifyOwner: o.notifyOwner } : {}) } : { reason: `${reason}; not emailed: ${quiet}`, notifyOwner: false };
  return (await assignCase(trx, ctx, caseRow.id, agent, { actor: 'system', by: 'casegate', ...how })).caseRow;
}

export async function assignCase(trx: Transaction<Database>, ctx: AppContext, caseId: number, agent: AgentConfig, o: AssignOptions): Promise<AssignOutcome> {
  const now = ctx.clock.now().toISOString();
  const before = await caseById(trx, caseId);
  if (before === undefined) throw new Error(`assign: no case with id ${caseId}`);
  const previous = before.owner;
  if (previous === agent.address) {
    return { caseRow: before, changed: false, previous, summary: `case ${before.number} is already owned by ${agent.name}` };
  }
  const previousName = ownerName(ctx.config, before.queue, previous);
  const caseRow = await updateCase(trx, caseId, { owner: agent.address, updated_at: now });
  await addEvent(trx, {
    caseId,
    messageRowId: o.messageRowId ?? null,
    type: previous === null ? 'case.assigned' : 'case.reassigned',
    actor: o.actor,
    reason: `${previous === null ? 'owner' : `${previousName || previous} →`} ${agent.name} (${o.reason})`,
    data: { from: previous, to: agent.address, by: o.by },
    at: now,
  });
  const mailbox = ctx.mailboxes.ofCase(caseRow);
  const requester: Recipient = requesterOf(caseRow);
  if (o.notifyOwner !== false) {
    const [lastMessage, files] = withoutFiles((await lastCustomerMessage(trx, ctx, caseId)) ?? NO_MESSAGE);
    await queueStaffEmail(trx, ctx, caseRow, 'assignment', { address: agent.address, name: agent.name }, {
      owner: { name: agent.name },
      previousOwner: { name: previousName },
      assignedBy: o.by,
      note: o.note ?? '',
      // The owner sees what the customer wrote (for a new case: the mail that opened it), with its files.
      lastMessage,
    }, files);
  }
  let summary = `case ${caseRow.number} assigned to ${agent.name}${previous !== null ? ` (was ${previousName || previous})` : ''}`;
  if (previous !== null) {
    // A reassignment: the customer learns who handles the case now (display name only, never an address).
    const refusal = await recipientRefusal(ctx, trx, requester.address);
    if (refusal !== null) {
      await addEvent(trx, { caseId, type: 'email.suppressed', actor: 'system', reason: `reassignment not sent: ${refusal}`, at: now });
      summary += `; customer not notified (${refusal})`;
    } else {
      const last = await lastHumanMessage(trx, caseId);
      await queueEmail(trx, ctx, {
        caseRow,
        mailbox,
        kind: 'reassignment',
        to: requester,
        autoReply: false,
        inReplyTo: last?.message_id ?? null,
        references: last !== undefined ? (JSON.parse(last.references_json) as string[]) : [],
        data: { ...commonData(ctx, caseRow, mailbox, requester), owner: { name: agent.name }, previousOwner: { name: previousName } },
      });
      summary += `; customer notified`;
    }
  }
  ctx.log.info({ caseId: caseRow.id, caseNumber: caseRow.number, owner: agent.address, previous, by: o.by }, 'case assigned');
  return { caseRow, changed: true, previous, summary };
}
