import { sql, type Kysely } from 'kysely';
import { insertReturningId, runPrepared } from '../prepared.js';
import type { Database, InboundOutcome, NewReceipt, ReceiptRow } from '../schema.js';
import type { MailboxCheckpoint } from '../../pipeline/types.js';
import { addEvent, type NewEvent } from './events.js';
import { saveCheckpoint } from './mailbox-state.js';

type Q = Kysely<Database>;

export async function primaryReceipt(db: Q, dedupeKey: string): Promise<ReceiptRow | undefined> {
  // The literal 1 (not a bound parameter) lets the planner prove the partial unique index applies.
  return db.selectFrom('receipts').selectAll().where('dedupe_key', '=', dedupeKey).where('is_primary', '=', sql.lit(1)).executeTakeFirst();
}

/**
 * The primary receipts of any of these dedupe keys (one indexed look-up). The literal 1 matters
 * here too: with a bound parameter, SQLite re-prepares the statement on every call to decide
 * whether the partial index applies (measured: 19.5 µs against 1.3 µs a look-up).
 */
export async function primaryReceipts(db: Q, dedupeKeys: readonly string[]): Promise<ReceiptRow[]> {
  if (dedupeKeys.length === 0) return [];
  return (
    await runPrepared(db, `receipts.primaryOf:${dedupeKeys.length}`, dedupeKeys, (q, keys) =>
      q
        .selectFrom('receipts')
        .selectAll()
        .where('dedupe_key', 'in', keys as string[])
        .where('is_primary', '=', sql.lit(1)),
    )
  ).rows;
}

export type ResendCandidate = Pick<ReceiptRow, 'id' | 'received_at' | 'sent_at' | 'content_digest' | 'stage' | 'duplicate_of'> & { readonly case_id: number };

/**
 * The receipts, newest first, of messages with this resend key received since `since` that went
 * into a case: stored ones and re-sent copies already ignored (stages/resend.ts). On the
 * receipts_resend index (0027); a quarantine retry does not find its own receipt.
 */
export async function resendCandidates(db: Q, resendKey: string, since: string, retryOf: number | undefined, limit = 20): Promise<ResendCandidate[]> {
  // Run twice for every message (the resend stage, then again inside the commit): compiled once.
  const { rows } = await runPrepared(db, 'receipts.resendCandidates', [resendKey, since, retryOf ?? 0, limit], (q, [k, s, r, l]) =>
    q
      .selectFrom('receipts')
      .select(['id', 'received_at', 'sent_at', 'content_digest', 'stage', 'duplicate_of', 'case_id'])
      .where('resend_key', '=', k as string)
      .where('received_at', '>=', s as string)
      .where('case_id', 'is not', null)
      .where((eb) => eb.or([eb('outcome', '=', 'stored'), eb('stage', '=', 'resend')]))
      .where('id', '!=', r as number)
      .orderBy('received_at', 'desc')
      .limit(l as number),
  );
  return rows.filter((r): r is typeof r & { case_id: number } => r.case_id !== null);
}

export async function insertReceipt(db: Q, values: NewReceipt): Promise<number> {
  return insertReturningId(db, 'receipts', values);
}

export async function setReceiptCase(db: Q, id: number, caseId: number, messageRowId: number | null): Promise<void> {
  await runPrepared(db, 'receipts.setCase', [id, caseId, messageRowId], (q, [i, c, m]) =>
    q
      .updateTable('receipts')
      .set({ case_id: c as number, message_row_id: m as number | null })
      .where('id', '=', i as number),
  );
}

/** Messages that came in through the case page for a case since a time (its rate limit). */
export async function webRepliesSince(db: Q, caseId: number, since: string): Promise<number> {
  const row = await db
    .selectFrom('receipts')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('case_id', '=', caseId)
    .where('channel', '=', 'web')
    .where('received_at', '>', since)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

export async function receiptById(db: Q, id: number): Promise<ReceiptRow | undefined> {
  return db.selectFrom('receipts').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Quarantined receipts that have not been retried successfully yet, newest first. */
export async function listQuarantine(db: Q, includeRetried = false, limit = 100): Promise<ReceiptRow[]> {
  let q = db.selectFrom('receipts').selectAll().where('outcome', '=', sql.lit('quarantined'));
  if (!includeRetried) q = q.where('retried_as', 'is', null);
  // Newest first by arrival: what waits along receipts_quarantine_waiting (0033: its condition,
  // as literals), with the retried ones too along the (outcome, received_at) index.
  return q.orderBy('received_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}

/**
 * Take a quarantined message (not retried) out of the quarantine for good: its receipt becomes
 * `ignored` with `reason` (which keeps where and why it was quarantined); its raw mail and its
 * dedupe key stay, so the same message arriving again is still a duplicate. Whether it was one.
 */
export async function dismissQuarantined(db: Q, id: number, reason: string): Promise<boolean> {
  const r = await db.updateTable('receipts').set({ outcome: 'ignored', reason }).where('id', '=', id).where('outcome', '=', 'quarantined').where('retried_as', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Hand the dedupe key over from a quarantined receipt to its retry. */
export async function supersede(db: Q, oldId: number, newId: number): Promise<void> {
  await db.updateTable('receipts').set({ is_primary: 0, retried_as: newId }).where('id', '=', oldId).execute();
}

/**
 * A quarantined receipt being retried gives up its dedupe key before the retry's receipt takes it
 * (the unique index on primary receipts checks each statement); supersede() then links the two.
 */
export async function releasePrimary(db: Q, id: number): Promise<void> {
  await db.updateTable('receipts').set({ is_primary: 0 }).where('id', '=', id).execute();
}

/** The retry of a quarantined receipt that ended quarantined again takes the dedupe key over. */
export async function makePrimary(db: Q, id: number): Promise<void> {
  await db.updateTable('receipts').set({ is_primary: 1 }).where('id', '=', id).execute();
}

const OUTCOMES: readonly InboundOutcome[] = ['stored', 'ignored', 'quarantined'];

/**
 * Messages received since `since`, by outcome (`casegate status`): each outcome's range of the
 * index receipts_outcome (outcome, received_at), so the cost is the window's messages, not the
 * history's (every receipt ever was counted until 2026-12-07: ~0.5 s at 1 M messages on PostgreSQL).
 */
export async function outcomeCountsSince(db: Q, since: string): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('receipts')
    .select(['outcome', (eb) => eb.fn.countAll<number>().as('n')])
    .where('outcome', 'in', [...OUTCOMES])
    .where('received_at', '>=', since)
    .groupBy('outcome')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.outcome, Number(r.n)]));
}

/**
 * The quarantined receipt (not retried since) of exactly these raw bytes taken from this mailbox:
 * an IMAP message found again whose quarantine is already recorded (its MOVE failed, or the daemon
 * stopped before it). One look-up on receipts_raw_sha256.
 */
export async function quarantinedRaw(db: Q, mailbox: string, rawSha256: string): Promise<ReceiptRow | undefined> {
  return db
    .selectFrom('receipts')
    .selectAll()
    .where('raw_sha256', '=', rawSha256)
    .where('outcome', '=', 'quarantined')
    .where('retried_as', 'is', null)
    .where('mailbox', '=', mailbox)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** An oversized IMAP message (never downloaded): its quarantine receipt, the event and the checkpoint in one transaction. */
export async function recordOversized(db: Q, r: { receipt: NewReceipt; event: NewEvent; checkpoint: MailboxCheckpoint; at: string }): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const id = await insertReceipt(trx, r.receipt);
    await addEvent(trx, r.event);
    await saveCheckpoint(trx, { checkpoint: r.checkpoint }, r.at);
    return id;
  });
}
