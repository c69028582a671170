import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { lockCaseById, updateCase } from '../db/repos/cases.js';
import { addEvent } from '../db/repos/events.js';
import type { CaseRow, Database } from '../db/schema.js';
import { autoAssign } from './assignment.js';
import { lastCustomerMessage } from './escalation.js';
import { isEnded, queueChanged } from './lifecycle.js';
import { agentsOf, findAgent, knownQueues, queueSettings } from './staff.js';
import { notifyAgents } from './staff-mail.js';
import { sendCaseMoved } from './customer-mail.js';

export interface MoveOutcome {
  readonly caseRow: CaseRow;
  readonly from: { readonly queue: string; readonly mailbox: string; readonly owner: string | null };
  readonly summary: string;
  /** Whether the customer was sent the case-moved email (the case's mail now comes from another address). */
  readonly customerTold: boolean;
}

export interface MoveRequest {
  readonly actor: string;
  readonly reason: string;
  /** The agent asked for a silent move (`--quiet`, `#queue <name> quiet`): the customer is not told of a new From address. */
  readonly quiet?: boolean;
}

/** Why a case cannot move to `queue`, or null. */
export function moveRefusal(ctx: Pick<AppContext, 'config'>, caseRow: Pick<CaseRow, 'queue' | 'kind' | 'number'>, queue: string): string | null {
  const known = knownQueues(ctx.config);
  if (!known.has(queue)) return `no queue "${queue}" (queues: ${[...known].sort().join(', ')})`;
  if (caseRow.kind === 'feedback') return `case ${caseRow.number} is feedback: it stays in its feedback queue`;
  if (queueSettings(ctx.config, queue)?.feedback === true) return `queue ${queue} is a feedback queue: it takes new messages only`;
  if (caseRow.queue === queue) return `case ${caseRow.number} is in queue ${queue} already`;
  return null;
}

/**
 * A case that landed in the wrong queue (a rule that did not fit, a customer writing to the wrong
 * address) goes to the right team. Everything that follows is the new queue's: its agents (the
 * owner stays only when they are an agent of it too; else the queue's assignment runs, and
 * without an owner its available agents are notified), its escalation tiers, language of staff
 * mail, templates, calendar and SLA policy (the running clocks' due times are recomputed). The
 * mail goes out from the new queue's mailbox when one feeds that queue (the customer's replies to
 * the old mailbox's mail still thread: references are signed per case, not per mailbox).
 *
 * The customer is told (case-moved email, From the new address) when the move changes the address
 * their mail comes from: otherwise the next mail would come from an address they never wrote to.
 * A move within one mailbox (to a queue no mailbox feeds, or one fed by the same mailbox) is
 * silent: the customer sees the same From, subject and case number, and queue names are internal.
 * Not told either: a silent move on request (`quiet`), `moved` left out of cases.customerUpdates, a
 * resolved or closed case (they expect no mail; their own reply still threads), spam.
 */
export async function moveCase(trx: Transaction<Database>, ctx: AppContext, caseId: number, queue: string, who: MoveRequest): Promise<MoveOutcome> {
  const before = await lockCaseById(trx, caseId);
  if (before === undefined) throw new Error(`moveCase: no case with id ${caseId}`);
  const refusal = moveRefusal(ctx, before, queue);
  if (refusal !== null) throw new Error(refusal);
  const at = ctx.clock.now().toISOString();
  const current = ctx.mailboxes.ofCase(before);
  const mailbox = ctx.mailboxes.queueOf(current) === queue ? current : (ctx.mailboxes.all.find((mb) => ctx.mailboxes.queueOf(mb) === queue) ?? current);
  const owner = before.owner !== null && findAgent(agentsOf(ctx.config, queue), before.owner) !== null ? before.owner : null;
  let caseRow = await updateCase(trx, caseId, { queue, mailbox: mailbox.name, owner, updated_at: at });
  const newAddress = (mailbox.addresses[0] ?? '') !== (current.addresses[0] ?? '');
  const changes = [
    `queue ${before.queue} → ${queue}`,
    ...(mailbox.name !== before.mailbox ? [`mail from ${mailbox.addresses[0] ?? mailbox.name}`] : []),
    ...(before.owner !== null && owner === null ? [`owner ${before.owner} is no agent of ${queue}: unowned`] : []),
  ];
  // Why the customer is not told of the new From address (null: they are).
  const tell = !newAddress ? 'same address' : who.quiet === true ? 'quiet' : !ctx.config.cases.customerUpdates.includes('moved') ? 'cases.customerUpdates has no moved' : before.spam !== 0 ? 'spam' : isEnded(before.status) ? `case ${before.status}` : null;
  if (newAddress && tell !== null) changes.push(`customer not told (${tell})`);
  await addEvent(trx, {
    caseId,
    type: 'case.moved',
    actor: who.actor,
    reason: `${changes.join('; ')}${who.reason !== '' ? ` (${who.reason})` : ''}`,
    data: { from: { queue: before.queue, mailbox: before.mailbox, owner: before.owner }, to: { queue, mailbox: mailbox.name, owner }, quiet: who.quiet === true },
    at,
  });
  ctx.log.info({ caseId, caseNumber: caseRow.number, from: before.queue, to: queue, mailbox: mailbox.name, actor: who.actor }, 'case moved to another queue');
  caseRow = await queueChanged(trx, ctx, { caseRow, from: before.queue, to: queue, at, actor: who.actor });
  const customerTold = tell === null && (await sendCaseMoved(trx, ctx, caseRow, current)) !== null;
  const told = customerTold ? '; customer told' : newAddress && tell === null ? '; customer not told (no address may get mail)' : '';
  // The new team learns of it: an owner by the queue's assignment (notified), else its available agents.
  if (!isEnded(caseRow.status) && caseRow.spam === 0 && caseRow.owner === null) {
    caseRow = await autoAssign(trx, ctx, caseRow);
    if (caseRow.owner === null) {
      const last = await lastCustomerMessage(trx, ctx, caseId);
      if (last !== null) await notifyAgents(trx, ctx, caseRow, { event: 'new-case', message: last });
    }
  }
  return {
    caseRow,
    from: { queue: before.queue, mailbox: before.mailbox, owner: before.owner },
    summary: `case ${caseRow.number}: ${changes.join('; ')}${told}${caseRow.owner !== null && caseRow.owner !== owner ? `; owner ${caseRow.owner}` : ''}`,
    customerTold,
  };
}
