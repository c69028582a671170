import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { answersAfter } from '../db/repos/agent-work.js';
import { addEvent } from '../db/repos/events.js';
import type { CaseRow, Database } from '../db/schema.js';
import { queueStaffEmail } from '../mail-out/compose.js';
import { ownerName } from './staff.js';

/**
 * Reply collision (agentMail.collisionMinutes): two agents answering one customer message at the
 * same time. An agent's emailed reply is held when another agent's answer to the customer was
 * queued after the newest of our emails of the case the reply answers (the agent's mail names it
 * in In-Reply-To/References) and within the window before now — the agent was writing while the
 * colleague's answer went out. A mail that names none of our emails of the case tells nothing of
 * what its writer had seen, and an answer older than the window counts as seen: both go out as
 * before. Held, nothing of the mail is done (as with a command error); the agent gets a
 * reply-collision email with the colleague's answer and their own text, and since it is newer
 * than that answer, a reply to it goes out.
 */

export interface Collision {
  readonly by: string;
  readonly at: string;
  readonly text: string;
  /** Further answers by colleagues within the window, older than this one. */
  readonly more: number;
}

export async function replyCollision(trx: Transaction<Database>, ctx: AppContext, caseRow: CaseRow, mail: { readonly agent: string; readonly references: readonly string[] }): Promise<Collision | null> {
  const minutes = ctx.config.agentMail.collisionMinutes;
  if (minutes === 0) return null;
  const since = new Date(ctx.clock.now().getTime() - minutes * 60_000).toISOString();
  const answers = await answersAfter(trx, caseRow.id, mail.references, mail.agent, since);
  const [newest, ...older] = answers ?? [];
  if (newest === undefined) return null;
  return { by: ownerName(ctx.config, caseRow.queue, newest.author) || newest.author, at: newest.at, text: newest.text, more: older.length };
}

/** Hold the reply: the event, the log line and the reply-collision email to the agent. */
export async function holdCollidingReply(
  trx: Transaction<Database>,
  ctx: AppContext,
  caseRow: CaseRow,
  c: Collision,
  held: { readonly agent: string; readonly agentName: string; readonly subject: string; readonly text: string; readonly messageId: string | null; readonly messageRowId: number },
): Promise<void> {
  const at = ctx.clock.now().toISOString();
  await addEvent(trx, { caseId: caseRow.id, messageRowId: held.messageRowId, type: 'agent.reply-held', actor: `agent:${held.agent}`, reason: `reply held: ${c.by} answered the customer at ${c.at}, after the email it replied to; nothing of it done, ${held.agent} told`, at });
  await queueStaffEmail(trx, ctx, caseRow, 'reply-collision', { address: held.agent, name: held.agentName }, {
    colleague: { by: c.by, at: c.at, text: c.text, more: c.more },
    held: { subject: held.subject, text: held.text },
  });
  ctx.log.info({ caseId: caseRow.id, caseNumber: caseRow.number, messageId: held.messageId, agent: held.agent, colleague: c.by }, 'agent reply held: a colleague answered the customer meanwhile');
}
