import type { AppContext } from '../context.js';
import { addEvent } from '../db/repos/events.js';
import { heldSenderAddresses, senderHealth } from '../db/repos/transport-health.js';
import { claimantGone } from './claim-owner.js';
import { cancelRow, failedIds, listOutbox, outboxRow, requeue, type OutboxSummary } from '../db/repos/outbox.js';
import type { Db } from '../db/database.js';
import type { OutboxRow, OutboxStatus } from '../db/schema.js';

/**
 * What `casegate outbox list | retry | cancel` do (the CLI only parses and prints). Each change is
 * one transaction with an event (actor cli:<user>); the running daemon picks retried rows up with
 * its next sweep (outgoing.sweepSeconds).
 */

export const OUTBOX_STATUSES: readonly OutboxStatus[] = ['queued', 'sent', 'failed', 'suppressed', 'cancelled'];

export interface RowResult {
  readonly id: number;
  readonly ok: boolean;
  /** The row's status afterwards (null when there is no such row). */
  readonly status: OutboxStatus | null;
  /** One line for the person at the terminal. */
  readonly message: string;
}

/** The rows as they are; a claim of a sender that is gone (claimantGone) is shown as none: nobody is sending it. */
/** A listed email; `held_sender`: queued, and the relay refuses its From (sender-holds.ts): it waits for the relay, never given up. */
export type ListedOutboxRow = OutboxSummary & { readonly held_sender: boolean };

export async function listOutboxRows(ctx: AppContext, statuses: readonly OutboxStatus[], limit: number): Promise<ListedOutboxRow[]> {
  const rows = await listOutbox(ctx.db, { statuses, limit });
  const held = new Set(heldSenderAddresses(await senderHealth(ctx.db)));
  return rows.map((r) => {
    const row = r.claimed_by !== null && claimantGone(r.claimed_by) ? { ...r, claimed_by: null, claim_expires_at: null } : r;
    return { ...row, held_sender: row.status === 'queued' && held.has(row.from_address.toLowerCase()) };
  });
}

/** A claim that has not lapsed, of a sender that still runs: the daemon is sending this row right now. */
function beingSent(row: OutboxRow, now: string): boolean {
  return row.claimed_by !== null && row.claim_expires_at !== null && row.claim_expires_at > now && !claimantGone(row.claimed_by);
}

/** Put failed rows (or queued rows waiting for their next attempt) back in the queue, due now. */
export async function retryOutbox(ctx: AppContext, ids: readonly number[], actor: string): Promise<RowResult[]> {
  return eachRow(ctx, ids, async (trx, row, now) => {
    const id = row.id;
    if (row.status === 'sent') return { id, ok: false, status: row.status, message: `email #${id} was already sent at ${row.sent_at ?? '?'}; not sending it again` };
    // Cancelled by an operator, or historic mail `casegate import` recorded as cancelled: for good.
    if (row.status === 'cancelled') return { id, ok: false, status: row.status, message: `email #${id} was cancelled (${row.last_error ?? 'not sent'}); not sending it` };
    // Held first: a held sender's email is claimed now and then as its probe, and "being sent right
    // now" would hide why it waits.
    if (row.status === 'queued' && heldSenderAddresses(await senderHealth(trx)).includes(row.from_address.toLowerCase())) {
      const probing = beingSent(row, now) ? ' (it is being tried right now, as the probe of that sender)' : '';
      return { id, ok: false, status: row.status, message: `email #${id} is held: the relay refuses its sender ${row.from_address} (casegate status, check sender:${row.from_address}); it goes once the relay takes that sender — allow it there, or cancel the email${probing}` };
    }
    if (beingSent(row, now)) return { id, ok: false, status: row.status, message: `email #${id} is being sent right now; look again in a moment` };
    if (row.status === 'queued' && row.next_attempt_at <= now) return { id, ok: true, status: row.status, message: `email #${id} is already due; the daemon sends it with its next pass` };
    await requeue(trx, id, now);
    await addEvent(trx, { caseId: row.case_id, type: 'email.retried', actor, reason: `${row.kind} to ${row.to_address}: back in the queue (was ${row.status}${row.last_error !== null ? `: ${row.last_error}` : ''})`.slice(0, 500), data: { outboxId: id, previous: row.status }, at: now });
    return { id, ok: true, status: 'queued', message: `email #${id} (${row.kind} to ${row.to_address}) is queued again and due now` };
  });
}

export async function retryAllFailed(ctx: AppContext, actor: string): Promise<RowResult[]> {
  return retryOutbox(ctx, await failedIds(ctx.db), actor);
}

/** Withdraw queued (or failed) rows: they are never sent. */
export async function cancelOutbox(ctx: AppContext, ids: readonly number[], actor: string, reason: string | null): Promise<RowResult[]> {
  return eachRow(ctx, ids, async (trx, row, now) => {
    const id = row.id;
    if (row.status === 'sent') return { id, ok: false, status: row.status, message: `email #${id} was already sent at ${row.sent_at ?? '?'}; it cannot be cancelled` };
    if (row.status === 'cancelled') return { id, ok: true, status: row.status, message: `email #${id} was already cancelled` };
    if (row.status === 'suppressed') return { id, ok: false, status: row.status, message: `email #${id} was suppressed (${row.last_error ?? 'not sent'}); nothing to cancel` };
    if (beingSent(row, now)) return { id, ok: false, status: row.status, message: `email #${id} is being sent right now; it cannot be cancelled any more` };
    const why = `cancelled by ${actor}${reason !== null ? `: ${reason}` : ''}`;
    await cancelRow(trx, id, why.slice(0, 500));
    await addEvent(trx, { caseId: row.case_id, type: 'email.cancelled', actor, reason: `${row.kind} to ${row.to_address}: ${why}`.slice(0, 500), data: { outboxId: id, previous: row.status }, at: now });
    return { id, ok: true, status: 'cancelled', message: `email #${id} (${row.kind} to ${row.to_address}) is cancelled and will not be sent` };
  });
}

/** One transaction per row, in the order given: the row as it is now (a missing one is answered here). */
async function eachRow(ctx: AppContext, ids: readonly number[], change: (trx: Db, row: OutboxRow, now: string) => Promise<RowResult>): Promise<RowResult[]> {
  const out: RowResult[] = [];
  for (const id of ids) {
    out.push(
      await ctx.db.transaction().execute(async (trx): Promise<RowResult> => {
        const row = await outboxRow(trx, id);
        if (row === undefined) return { id, ok: false, status: null, message: `no email #${id} in the outbox` };
        return change(trx, row, ctx.clock.now().toISOString());
      }),
    );
  }
  return out;
}
