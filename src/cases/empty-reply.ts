import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { emptyReplyNotices, outboxMessageId } from '../db/repos/agent-work.js';
import { addEvent } from '../db/repos/events.js';
import type { CaseRow, Database } from '../db/schema.js';
import { queueStaffEmail } from '../mail-out/compose.js';

/**
 * An agent's emailed reply with nothing of their own in it — no text above what their client
 * quoted (Outlook's empty reply keeps the answered email below its From:/Sent: block, which the
 * visible text reads as a forward: agent-request drops it), or only a signature ("Ben Agent /
 * Support Team", "Best, B.", "-- ", "Sent from my iPhone": signature.ts) — sends nothing to the customer.
 * Unless it also carries a command, a file or a #note, the agent is told with the empty-reply email
 * (the mail is stored on the case as every agent mail is; event agent.empty-reply): at most one an
 * hour per case and agent, and none for an empty reply to that email itself — an empty answer
 * to our notice never starts a ping-pong.
 */

/** An empty-reply notice is sent at most once per case and agent in this time. */
const NOTICE_INTERVAL_MS = 3_600_000;
/** A reply to an empty-reply notice is recognised for this long. */
const NOTICE_LIFE_MS = 30 * 86_400_000;

/** Nothing sent: the event, the log line and (see above) the empty-reply email telling the agent. */
export async function noticeEmptyReply(
  trx: Transaction<Database>,
  ctx: AppContext,
  caseRow: CaseRow,
  mail: { readonly agent: string; readonly agentName: string; readonly subject: string; readonly signature: string; readonly references: readonly string[]; readonly messageId: string | null; readonly messageRowId: number },
): Promise<void> {
  const now = ctx.clock.now();
  const notices = await emptyReplyNotices(trx, caseRow.id, mail.agent, new Date(now.getTime() - NOTICE_LIFE_MS).toISOString());
  const refs = new Set(mail.references.map((r) => r.replace(/^<|>$/g, '')));
  const answersNotice = notices.some((n) => refs.has(n.notice));
  const toldRecently = notices.some((n) => n.at > new Date(now.getTime() - NOTICE_INTERVAL_MS).toISOString());
  let notice: string | null = null;
  if (!answersNotice && !toldRecently) {
    const outboxId = await queueStaffEmail(trx, ctx, caseRow, 'empty-reply', { address: mail.agent, name: mail.agentName }, { reply: { subject: mail.subject, signature: mail.signature } });
    notice = await outboxMessageId(trx, outboxId);
  }
  const why = mail.signature !== '' ? 'nothing written but a signature' : 'nothing written above the quoted email';
  const told = notice !== null ? `${mail.agent} told` : answersNotice ? 'an empty reply to the empty-reply email: not told again' : `${mail.agent} was told within the hour`;
  await addEvent(trx, { caseId: caseRow.id, messageRowId: mail.messageRowId, type: 'agent.empty-reply', actor: `agent:${mail.agent}`, reason: `nothing sent to the customer: ${why}; ${told}`, data: { notice }, at: now.toISOString() });
  ctx.log.info({ caseId: caseRow.id, caseNumber: caseRow.number, messageId: mail.messageId, agent: mail.agent, told: notice !== null }, 'agent mail with nothing written: nothing sent');
}
