import type { Kysely } from 'kysely';
import type { Database, NewOutbox, OutboxRow } from '../schema.js';

type Q = Kysely<Database>;

/** The columns of a freshly queued row: due now, never tried. */
export function freshlyQueued(now: string) {
  return { status: 'queued', attempts: 0, next_attempt_at: now, last_error: null, created_at: now, sent_at: null } as const;
}

export async function enqueue(db: Q, values: NewOutbox): Promise<number> {
  const row = await db.insertInto('outbox').values(values).returning('id').executeTakeFirstOrThrow();
  return row.id;
}

export async function autoRepliesSince(db: Q, address: string, since: string): Promise<number> {
  const row = await db
    .selectFrom('outbox')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('to_address', '=', address)
    .where('auto_reply', '=', 1)
    .where('status', '!=', 'suppressed')
    .where('created_at', '>', since)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

export async function dueRows(db: Q, now: string, limit: number): Promise<OutboxRow[]> {
  // Oldest due first, in the order of the (status, next_attempt_at) index: no sort of the queue.
  return db.selectFrom('outbox').selectAll().where('status', '=', 'queued').where('next_attempt_at', '<=', now).orderBy('next_attempt_at').orderBy('id').limit(limit).execute();
}

export async function nextDueAt(db: Q): Promise<string | null> {
  const row = await db.selectFrom('outbox').select((eb) => eb.fn.min('next_attempt_at').as('at')).where('status', '=', 'queued').executeTakeFirst();
  return row?.at ?? null;
}

export async function markSent(db: Q, id: number, attempts: number, at: string): Promise<void> {
  await db.updateTable('outbox').set({ status: 'sent', sent_at: at, attempts, last_error: null }).where('id', '=', id).execute();
}

export async function markRetry(db: Q, id: number, attempts: number, nextAt: string, error: string): Promise<void> {
  await db.updateTable('outbox').set({ attempts, next_attempt_at: nextAt, last_error: error }).where('id', '=', id).execute();
}

export async function markFailed(db: Q, id: number, attempts: number, error: string): Promise<void> {
  await db.updateTable('outbox').set({ status: 'failed', attempts, last_error: error }).where('id', '=', id).execute();
}

export async function outboxOfCase(db: Q, caseId: number): Promise<OutboxRow[]> {
  return db.selectFrom('outbox').selectAll().where('case_id', '=', caseId).orderBy('id').execute();
}

export async function statusCounts(db: Q): Promise<Record<string, number>> {
  const rows = await db.selectFrom('outbox').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('status').execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}
