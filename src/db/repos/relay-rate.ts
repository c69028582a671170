import type { Kysely } from 'kysely';
import { lockKey } from '../dialect.js';
import type { Database } from '../schema.js';
import type { FromFilter } from './outbox.js';

type Q = Kysely<Database>;

/**
 * A relay's maxPerMinute, shared by every daemon of the database (migration 0040,
 * mail-out/relay-rate.ts): per budget (the relay's host:port and login, mail-out/relays.ts
 * relayBudgetKey), each whole second room was taken in, with how many recipients. A use counts in
 * the second after it (a use at 10.2 s counts until 70 s: never less than a minute, at most a
 * second more); a second counts until 60 s after it. A budget has at most about 61 rows, whatever
 * its limit.
 */

const MINUTE_MS = 60_000;

/** The second a use at `ms` counts in (ISO): the next whole second, or `ms` itself when it is one. */
export function secondOf(ms: number): string {
  return new Date(Math.ceil(ms / 1000) * 1000).toISOString();
}

const cutOf = (nowMs: number): string => new Date(nowMs - MINUTE_MS).toISOString();

export interface TakeRoom {
  /** The budget (relayBudgetKey). */
  readonly relay: string;
  /** This daemon's maxPerMinute for it. */
  readonly max: number;
  readonly n: number;
  readonly nowMs: number;
  /** All n or none (an SMTP transaction goes with room for every recipient of it); else as many as the minute has room for. */
  readonly whole: boolean;
}

/**
 * Take room for up to `n` recipients now; returns how many got it. One short transaction under the
 * budget's lock (PostgreSQL: an advisory lock, so daemons taking room at the same instant count
 * each other; SQLite: its write lock): the minute's sum, then this second's count raised. A
 * second that starts a row also drops the budget's rows that left the minute.
 */
export async function takeRoom(db: Q, t: TakeRoom): Promise<number> {
  if (t.n <= 0) return 0;
  return db.transaction().execute(async (trx) => {
    await lockKey(trx, `relay-rate:${t.relay}`);
    const cut = cutOf(t.nowMs);
    const free = Math.max(0, t.max - (await usedSince(trx, t.relay, cut)));
    const got = t.whole ? (t.n <= free ? t.n : 0) : Math.min(t.n, free);
    if (got === 0) return 0;
    const row = await trx
      .insertInto('relay_rate_seconds')
      .values({ relay: t.relay, second: secondOf(t.nowMs), used: got })
      .onConflict((oc) => oc.columns(['relay', 'second']).doUpdateSet((eb) => ({ used: eb('relay_rate_seconds.used', '+', eb.ref('excluded.used')) })))
      .returning('used')
      .executeTakeFirstOrThrow();
    if (Number(row.used) === got) await trx.deleteFrom('relay_rate_seconds').where('relay', '=', t.relay).where('second', '<=', cut).execute();
    return got;
  });
}

/** Room taken at `atMs` for a transaction that did not go (sending stopped meanwhile): free again. */
export async function giveBackRoom(db: Q, relay: string, atMs: number, n: number): Promise<void> {
  if (n <= 0) return;
  await db.updateTable('relay_rate_seconds').set((eb) => ({ used: eb('used', '-', n) })).where('relay', '=', relay).where('second', '=', secondOf(atMs)).where('used', '>=', n).execute();
}

async function usedSince(db: Q, relay: string, cut: string): Promise<number> {
  const row = await db.selectFrom('relay_rate_seconds').select((eb) => eb.fn.sum<number>('used').as('n')).where('relay', '=', relay).where('second', '>', cut).executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** How many recipients the budget handed the relay in the last minute (every daemon). */
export async function usedLastMinute(db: Q, relay: string, nowMs: number): Promise<number> {
  return usedSince(db, relay, cutOf(nowMs));
}

/**
 * When the minute will have room for `k` (ms; k ≤ max): now when it has, else when enough of its
 * oldest seconds have left it. At most about 60 rows read.
 */
export async function roomFor(db: Q, relay: string, max: number, nowMs: number, k: number): Promise<number> {
  const rows = await db.selectFrom('relay_rate_seconds').select(['second', 'used']).where('relay', '=', relay).where('second', '>', cutOf(nowMs)).orderBy('second').execute();
  let free = max - rows.reduce((sum, r) => sum + Number(r.used), 0);
  if (free >= k) return nowMs;
  for (const r of rows) {
    free += Number(r.used);
    if (free >= k) return Date.parse(r.second) + MINUTE_MS;
  }
  return nowMs + MINUTE_MS;
}

/**
 * Queued emails of a relay that are due now (index outbox_due), and since when the oldest of them
 * is due: what waits to be sent through it this instant (`casegate status`, /metrics).
 */
export async function dueNow(db: Q, now: string, from: FromFilter & { readonly notHeld?: readonly string[] }): Promise<{ readonly n: number; readonly oldestDueAt: string | null }> {
  let q = db
    .selectFrom('outbox')
    .select([(eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.min('next_attempt_at').as('oldest')])
    .where('status', '=', 'queued')
    .where('next_attempt_at', '<=', now);
  if (from.fromIn !== undefined) q = q.where((w) => w.fn('lower', ['from_address']), 'in', from.fromIn.length > 0 ? [...from.fromIn] : ['']);
  const notIn = [...(from.fromNotIn ?? []), ...(from.notHeld ?? [])];
  if (notIn.length > 0) q = q.where((w) => w.fn('lower', ['from_address']), 'not in', notIn);
  const row = await q.executeTakeFirst();
  return { n: Number(row?.n ?? 0), oldestDueAt: (row?.oldest as string | null | undefined) ?? null };
}

