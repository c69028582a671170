import type { AppContext } from '../context.js';
import { tellOwnerOfBounce } from '../cases/bounce-notice.js';
import { caseById } from '../db/repos/cases.js';
import type { OutboxRow } from '../db/schema.js';
import type { Logger } from '../log.js';
import { pendingRecipientsOf } from './outbox-mail.js';
import type { Outcome } from './outbox-outcome.js';
import { customerTemplateNames } from './template-data.js';

const CUSTOMER_KINDS: ReadonlySet<string> = new Set(customerTemplateNames);

/**
 * Who did not get an email to a customer, by the relay's own answer: the recipients it refused
 * for good while it took the email for the others (some others perhaps refused for now), or every recipient of an email that failed
 * (refused, or given up after outgoing.retry.giveUpHours). [] for anything else.
 */
export function refusedByRelay(row: OutboxRow, o: Outcome): { address: string; diagnostic: string }[] {
  if (row.case_id === null || !CUSTOMER_KINDS.has(row.kind)) return [];
  if (o.kind === 'sent' || o.kind === 'partly-sent') return (o.refused ?? []).map((r) => ({ address: r.address, diagnostic: r.response }));
  if (o.kind === 'failed') return (pendingRecipientsOf(row) ?? [row.to_address]).map((address) => ({ address, diagnostic: `${o.why}: ${o.error}` }));
  return [];
}

/**
 * The relay refused an email on a case at send time (no DSN will come to say so): the case's
 * owner (or the queue's agents, or instance.adminAddress) gets a bounce-notice per recipient, as
 * for a bounce — not marked permanent: the address is not marked bouncing, a refusal by our own
 * relay may be about this email (too large, its content) or a typo in a Cc. Its own transaction,
 * after the outcome was recorded; a failure is logged and costs nothing but the notice (the
 * email.failed / email.recipient-refused event stays on the case).
 */
export async function tellOwnerOfRefusal(ctx: AppContext, row: OutboxRow, refused: readonly { address: string; diagnostic: string }[], log: Logger): Promise<void> {
  if (refused.length === 0 || row.case_id === null) return;
  const caseId = row.case_id;
  try {
    await ctx.db.transaction().execute(async (trx) => {
      const caseRow = await caseById(trx, caseId);
      if (caseRow === undefined) return;
      for (const r of refused) {
        const status = /\b[45]\.\d{1,3}\.\d{1,3}\b/.exec(r.diagnostic)?.[0] ?? null;
        await tellOwnerOfBounce(trx, ctx, caseRow, { address: r.address, status, diagnostic: r.diagnostic, originalMessageIds: [row.message_id], messageRowId: null, permanent: false });
      }
    });
    ctx.outboxSignal.wake();
  } catch (err) {
    log.error({ err, refused: refused.map((r) => r.address) }, 'could not queue the bounce-notice about an email the relay refused; the case has its event');
  }
}
