import type { AppContext } from '../context.js';
import { caseByNumber, updateCase } from '../db/repos/cases.js';
import { addEvent, eventsOfCase } from '../db/repos/events.js';
import { messagesOfCase } from '../db/repos/messages.js';
import { autoRepliesSince, outboxOfCase } from '../db/repos/outbox.js';
import type { CaseRow } from '../db/schema.js';
import { recipientRefusal } from '../mail-out/recipient-refusal.js';
import { autoAssign } from './assignment.js';
import { CaseCommandError, cliActor } from './case-commands.js';
import { queueConfirmation } from './confirmation.js';
import { releaseHeldChecks } from './sla-clock.js';

export interface HamOutcome {
  readonly caseRow: CaseRow;
  /** The confirmation queued now, or why none was (never held, already sent, refused). */
  readonly confirmation: { readonly queued: true; readonly outboxId: number } | { readonly queued: false; readonly why: string };
  readonly summary: string;
}

/**
 * `casegate cases ham N`: a case our MX called spam is a real customer's after all. In one
 * transaction: the spam mark goes (the case joins the default list), an event records who said
 * so, the confirmation that spam held back is queued — when the react stage held it for spam
 * alone, and the address may still be written to (no-reply, bouncing, rate limit are checked
 * again now) — and the queue's assignment runs as it would have for a new case.
 */
export async function markHam(ctx: AppContext, number: number, opts: { actor?: string } = {}): Promise<HamOutcome> {
  const actor = opts.actor ?? cliActor();
  const found = await caseByNumber(ctx.db, number);
  if (found === undefined) throw new CaseCommandError(`no case ${number}`);
  if (found.spam !== 1) throw new CaseCommandError(`case ${number} is not marked as suspected spam`);
  const outcome = await ctx.db.transaction().execute(async (trx) => {
    const now = ctx.clock.now().toISOString();
    let caseRow = await updateCase(trx, found.id, { spam: 0, updated_at: now });
    await addEvent(trx, { caseId: caseRow.id, type: 'case.ham', actor, reason: 'marked as not spam: back in the case list', at: now });

    const held = (await eventsOfCase(trx, caseRow.id)).some((e) => e.type === 'auto-reply.held' && (JSON.parse(e.data_json) as { kind?: unknown }).kind === 'confirmation');
    const alreadySent = (await outboxOfCase(trx, caseRow.id)).some((o) => o.kind === 'confirmation');
    let confirmation: HamOutcome['confirmation'];
    if (!held || alreadySent) {
      confirmation = { queued: false, why: alreadySent ? 'a confirmation was already sent' : 'no confirmation was held back for spam (the message was automated or not answerable)' };
    } else {
      const address = caseRow.requester_address;
      const limit = ctx.config.autoReply.perSenderPerHour;
      const since = new Date(ctx.clock.now().getTime() - 3_600_000).toISOString();
      const refusal =
        (await recipientRefusal(ctx, trx, address)) ??
        ((await autoRepliesSince(trx, address, since)).count >= limit ? `rate limit: ${limit} automatic replies per hour to ${address}` : null);
      if (refusal !== null) {
        confirmation = { queued: false, why: refusal };
        await addEvent(trx, { caseId: caseRow.id, type: 'auto-reply.suppressed', actor: 'system', reason: `confirmation not sent: ${refusal}`, at: now });
      } else {
        const first = (await messagesOfCase(trx, caseRow.id)).find((m) => m.direction === 'in');
        const mailbox = ctx.mailboxes.ofCase(caseRow);
        const outboxId = await queueConfirmation(trx, ctx, {
          caseRow,
          mailbox,
          to: { address, name: caseRow.requester_name },
          inReplyTo: first?.message_id ?? null,
          references: first !== undefined ? (JSON.parse(first.references_json) as string[]) : [],
          threadRoot: null, // later mail may be in the case by now: looked up
        });
        confirmation = { queued: true, outboxId };
        await addEvent(trx, { caseId: caseRow.id, type: 'auto-reply.released', actor, reason: 'confirmation held for suspected spam sent after marking ham', data: { outboxId }, at: now });
      }
    }
    if (caseRow.owner === null && caseRow.kind === 'case') caseRow = await autoAssign(trx, ctx, caseRow);
    await releaseHeldChecks(trx, ctx, caseRow);
    return { caseRow, confirmation };
  });
  ctx.log.info({ caseId: outcome.caseRow.id, caseNumber: number, actor, confirmation: outcome.confirmation }, 'case marked ham');
  const summary = outcome.confirmation.queued
    ? `case ${number} marked ham; confirmation queued to ${outcome.caseRow.requester_address}`
    : `case ${number} marked ham; no confirmation: ${outcome.confirmation.why}`;
  return { ...outcome, summary };
}
