import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { staffAskedSinceLastAnswer } from '../db/repos/agent-work.js';
import { addEvent } from '../db/repos/events.js';
import type { CaseRow, Database } from '../db/schema.js';
import { queueStaffEmail } from '../mail-out/compose.js';
import { isStaffOf, ownerName } from './staff.js';

/**
 * Nobody answers a customer twice. A customer's message goes to every available agent of an
 * unowned queue (or the owner, and on escalation the leads); when one of them answers, the others
 * still hold a notification that asks them to. They get a `colleague-answered` email with the
 * answer, threaded under what they got about the case — staff mail signed for them, so a reply
 * to it still works the case. Who counts: the recipients of the case's agent-notification,
 * assignment and escalation-alert emails since its previous answer, still staff of its queue,
 * not the agent who answered (agentMail.tellColleaguesOnAnswer).
 */

export type AskedStaff = readonly { readonly address: string; readonly name: string }[];

/** Who would be told, read before the answer is queued (the answer itself starts the next round). */
export async function staffAskedToAnswer(trx: Transaction<Database>, ctx: AppContext, caseId: number): Promise<AskedStaff> {
  if (!ctx.config.agentMail.tellColleaguesOnAnswer) return [];
  return staffAskedSinceLastAnswer(trx, caseId);
}

/** Tell them; returns the addresses told. */
export async function tellColleagues(
  trx: Transaction<Database>,
  ctx: AppContext,
  caseRow: CaseRow,
  asked: AskedStaff,
  answer: { readonly by: string; readonly address: string | null; readonly text: string; readonly actor: string; readonly messageRowId: number | null },
): Promise<string[]> {
  const me = answer.address?.toLowerCase() ?? null;
  const to = asked.filter((r) => r.address.toLowerCase() !== me && isStaffOf(ctx.config, caseRow.queue, r.address));
  if (to.length === 0) return [];
  const at = ctx.clock.now().toISOString();
  for (const r of to) {
    await queueStaffEmail(trx, ctx, caseRow, 'colleague-answered', { address: r.address, name: ownerName(ctx.config, caseRow.queue, r.address) || r.name }, {
      owner: { name: ownerName(ctx.config, caseRow.queue, caseRow.owner) },
      answer: { by: answer.by, at, text: answer.text },
    });
  }
  const told = to.map((r) => r.address);
  await addEvent(trx, { caseId: caseRow.id, messageRowId: answer.messageRowId, type: 'agents.told-answered', actor: answer.actor, reason: `${told.join(', ')} told that ${answer.by} answered`, at });
  return told;
}
