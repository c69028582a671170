import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { addEvent, freshLinkRequestsSince } from '../db/repos/events.js';
import { autoRepliesSince } from '../db/repos/outbox.js';
import { lockKey } from '../db/dialect.js';
import type { CaseRow, Database } from '../db/schema.js';
import type { Recipient } from '../mail-out/compose.js';
import { recipientRefusal } from '../mail-out/recipient-refusal.js';
import { customerThread, sendStatusSummary } from './customer-mail.js';

/**
 * "Email me a fresh link" on the notice page of an expired or revoked case link (web/routes/case-page.ts):
 * the status-summary email — the case's status and a fresh link for its reader — to the person the
 * link names, never to whoever clicked (the colleague a reply-all showed it to may be the one
 * clicking). At most web.freshLinksPerHour requests per case and reader in an hour, each an event
 * `link.fresh-requested`. The summary is an automatic reply: an address no automatic mail may go
 * to (bouncing, no-reply, autoReply.neverTo, autoReply.perSenderPerHour reached) gets nothing, and
 * the page says "sent" all the same (it must not tell a stranger holding the link about the address).
 */

export type FreshLinkOutcome = { readonly kind: 'sent' } | { readonly kind: 'suppressed'; readonly reason: string } | { readonly kind: 'too-many' };

export async function requestFreshLink(trx: Transaction<Database>, ctx: AppContext, caseRow: CaseRow, owner: Recipient, why: string): Promise<FreshLinkOutcome> {
  const now = ctx.clock.now();
  const actor = `customer:${owner.address.toLowerCase()}`;
  const since = new Date(now.getTime() - 3_600_000).toISOString();
  // The count and the request it admits are one step, across daemons too.
  await lockKey(trx, `fresh-link:${caseRow.id}`);
  if ((await freshLinkRequestsSince(trx, caseRow.id, actor, since)) >= ctx.config.web.freshLinksPerHour) return { kind: 'too-many' };
  let refusal = await recipientRefusal(ctx, trx, owner.address);
  if (refusal === null) {
    const limit = ctx.config.autoReply.perSenderPerHour;
    if ((await autoRepliesSince(trx, owner.address, since)).count >= limit) refusal = `rate limit: ${limit} automatic replies per hour to ${owner.address}`;
  }
  const at = now.toISOString();
  if (refusal === null) await sendStatusSummary(trx, ctx, caseRow, owner, await customerThread(trx, caseRow.id));
  await addEvent(trx, {
    caseId: caseRow.id,
    type: 'link.fresh-requested',
    actor,
    reason: refusal === null ? `a fresh link was asked for on the page of a ${why} link naming ${owner.address}: status-summary sent to ${owner.address}` : `a fresh link was asked for on the page of a ${why} link naming ${owner.address}: status-summary not sent (${refusal})`,
    at,
  });
  return refusal === null ? { kind: 'sent' } : { kind: 'suppressed', reason: refusal };
}
