import type { Kysely, Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { agentRepliedSince, autoReplyHolds, outboxMessageId } from '../db/repos/agent-work.js';
import { addEvent } from '../db/repos/events.js';
import type { CaseRow, Database } from '../db/schema.js';
import { queueStaffEmail } from '../mail-out/compose.js';

/**
 * An agent's mail that reads like an out-of-office reply nobody marked (mail-in/auto-reply-wording.ts:
 * "I am out of the office until …" answering a notification, from a phone's vacation responder or
 * a webmail that sets no Auto-Submitted) is held instead of relayed: a text reaches the customer
 * only when the agent meant it. Held, nothing of it is done — no reply, no first response, no
 * owner, nobody copied in — it stays on the case as the agent's (staff-only) mail with the event
 * agent.auto-reply-held, and the agent gets the out-of-office-held email saying so, with the words
 * that matched (at most one per case an hour: an auto-responder answering that email must not start
 * a ping-pong). A reply to that email with a text is deliberate and goes — unless it is the held
 * text once more (the auto-responder answering our notice with the same words). A reply to it with
 * nothing written (no text, no command, no file) sends the held text as it was: one step for a real
 * answer that only read like an absence ("I'm away until Monday, but here is the fix: …") — an
 * auto-responder never answers with nothing.
 *
 * Only mail that would be relayed is judged: a note, commands, a mail with command errors are
 * what the agent wrote on purpose.
 */

/** A hold notice is sent at most once per case and agent in this time. */
const NOTICE_INTERVAL_MS = 3_600_000;
/** A reply to a hold notice is recognised for this long. */
const NOTICE_LIFE_MS = 30 * 86_400_000;

function sameText(a: string, b: string): boolean {
  const norm = (s: string) => s.replace(/\s+/g, ' ').trim().toLowerCase();
  return norm(a) === norm(b);
}

/**
 * Why the agent's mail is held as a suspected out-of-office, or null when it goes. `suspected` is
 * the pipeline's wording verdict (automated stage); `references` the mail's In-Reply-To and References.
 */
export async function autoReplyHoldReason(
  db: Kysely<Database>,
  ctx: AppContext,
  caseRow: CaseRow,
  mail: { readonly agent: string; readonly suspected: string | null | undefined; readonly text: string; readonly references: readonly string[] },
): Promise<string | null> {
  if (mail.suspected == null) return null;
  const since = new Date(ctx.clock.now().getTime() - NOTICE_LIFE_MS).toISOString();
  const holds = await autoReplyHolds(db, caseRow.id, mail.agent, since);
  const refs = new Set(mail.references.map((r) => r.replace(/^<|>$/g, '')));
  const answered = holds.find((h) => h.notice !== null && refs.has(h.notice));
  if (answered === undefined) return `it reads like an automatic out-of-office reply (${mail.suspected})`;
  if (holds.some((h) => sameText(h.text, mail.text))) return `it repeats the out-of-office text held before (${mail.suspected}): an auto-responder answering our notice`;
  return null;
}

/** Hold it: the event, the log line, and (at most one an hour per case) the out-of-office-held email telling the agent. */
export async function holdAutoReply(
  trx: Transaction<Database>,
  ctx: AppContext,
  caseRow: CaseRow,
  held: { readonly agent: string; readonly agentName: string; readonly reason: string; readonly matched: string; readonly subject: string; readonly text: string; readonly messageId: string | null; readonly messageRowId: number },
): Promise<void> {
  const now = ctx.clock.now();
  const recent = await autoReplyHolds(trx, caseRow.id, held.agent, new Date(now.getTime() - NOTICE_INTERVAL_MS).toISOString());
  let notice: string | null = null;
  if (!recent.some((h) => h.notice !== null)) {
    const outboxId = await queueStaffEmail(trx, ctx, caseRow, 'out-of-office-held', { address: held.agent, name: held.agentName }, {
      held: { subject: held.subject, text: held.text, matched: held.matched },
    });
    notice = await outboxMessageId(trx, outboxId);
  }
  await addEvent(trx, {
    caseId: caseRow.id,
    messageRowId: held.messageRowId,
    type: 'agent.auto-reply-held',
    actor: `agent:${held.agent}`,
    reason: `not relayed: ${held.reason}; ${notice !== null ? `${held.agent} told` : `${held.agent} was told within the hour`}`,
    data: { notice },
    at: now.toISOString(),
  });
  ctx.log.info({ caseId: caseRow.id, caseNumber: caseRow.number, messageId: held.messageId, agent: held.agent, reason: held.reason, told: notice !== null }, 'agent mail held: it reads like an out-of-office reply');
}

/**
 * For a mail with nothing written (no text, no command, no file, not a note): whether it answers a
 * hold notice of this agent (the newest hold whose notice it names) and the held text it sends —
 * null when the agent answered the customer since (that text went already, or a newer one did: a
 * second empty reply sends nothing twice). Such a mail sends that text or nothing, never what
 * its client quoted below (Outlook's From:/Sent: block reads as a forward).
 */
export async function heldTextToSend(
  db: Kysely<Database>,
  ctx: AppContext,
  caseRow: CaseRow,
  mail: { readonly agent: string; readonly references: readonly string[] },
): Promise<{ readonly answersNotice: boolean; readonly text: string | null }> {
  const since = new Date(ctx.clock.now().getTime() - NOTICE_LIFE_MS).toISOString();
  const refs = new Set(mail.references.map((r) => r.replace(/^<|>$/g, '')));
  const holds = await autoReplyHolds(db, caseRow.id, mail.agent, since);
  const answered = holds.find((h) => h.notice !== null && refs.has(h.notice));
  if (answered === undefined) return { answersNotice: false, text: null };
  if (answered.text.trim() === '' || (await agentRepliedSince(db, caseRow.id, mail.agent, answered.at))) return { answersNotice: true, text: null };
  return { answersNotice: true, text: answered.text };
}
