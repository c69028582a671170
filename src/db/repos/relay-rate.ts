import type { Kysely } from 'kysely';
import { skipLocked } from '../dialect.js';
import type { Database } from '../schema.js';
import type { FromFilter } from './outbox.js';

type Q = Kysely<Database>;

/**
 * A relay's maxPerMinute, shared by every daemon of the database (migration 0039,
 * mail-out/relay-rate.ts): slot 0 … max − 1 of a relay, each free once its used_at is 60 s old.
 */

/** Slots written per statement when a relay's slots are made. */
const WRITE = 500;

/** The relay's slots 0 … max − 1 exist (a daemon starting, or a larger maxPerMinute); existing ones are left as they are. */
export async function ensureRateSlots(db: Q, relay: string, max: number): Promise<void> {
  const have = await db.selectFrom('relay_rate_slots').select((eb) => eb.fn.countAll<number>().as('n')).where('relay', '=', relay).where('slot', '<', max).executeTakeFirst();
  if (Number(have?.n ?? 0) >= max) return;
  for (let from = 0; from < max; from += WRITE) {
    const values = Array.from({ length: Math.min(WRITE, max - from) }, (_, i) => ({ relay, slot: from + i, used_at: '' }));
    await db.insertInto('relay_rate_slots').values(values).onConflict((oc) => oc.columns(['relay', 'slot']).doNothing()).execute();
  }
}

export interface TakeSlots {
  readonly relay: string;
  /** The relay's maxPerMinute: slots from max on (left by a larger setting) are not used. */
  readonly max: number;
  readonly n: number;
  /** Written as used_at. */
  readonly now: string;
  /** Slots used at or before this (now − 60 s) are free. */
  readonly cut: string;
}

/**
 * Take up to `n` free slots of the relay, oldest first, in one statement; returns the slots taken
 * (fewer when the minute has less room). PostgreSQL: the sub-select locks the free slots FOR
 * UPDATE SKIP LOCKED and the UPDATE re-checks that each is still free, so two daemons taking room
 * at the same instant never take the same slot (neither loses nor counts one twice); SQLite runs it
 * under its write lock. Index relay_rate_slots_free (relay, used_at): reads the free slots alone.
 */
export async function takeRateSlots(db: Q, t: TakeSlots): Promise<number[]> {
  if (t.n <= 0) return [];
  // A MATERIALIZED CTE, run once: PostgreSQL may run a sub-select in `slot in (…)` more than once
  // (a nested loop over this small table), each run skipping its own locks' rows anew — it took 3
  // slots for n = 2 (seen in relay-rate-shared.test.ts).
  const rows = await db
    .with(
      (cte) => cte('free').materialized(),
      (qb) => skipLocked(db, qb.selectFrom('relay_rate_slots').select('slot').where('relay', '=', t.relay).where('used_at', '<=', t.cut).where('slot', '<', t.max).orderBy('used_at').orderBy('slot').limit(t.n)),
    )
    .updateTable('relay_rate_slots')
    .set({ used_at: t.now })
    .where('relay', '=', t.relay)
    .where('used_at', '<=', t.cut)
    .where('slot', 'in', (eb) => eb.selectFrom('free').select('free.slot'))
    .returning('slot')
    .execute();
  return rows.map((r) => r.slot);
}

/**
 * Slots taken for a transaction that could not have all it needed (mail-out/relay-rate.ts): free
 * again at once ('' is older than any minute). Only slots still holding this `now` are given back.
 */
export async function giveBackRateSlots(db: Q, relay: string, slots: readonly number[], now: string): Promise<void> {
  if (slots.length === 0) return;
  await db.updateTable('relay_rate_slots').set({ used_at: '' }).where('relay', '=', relay).where('slot', 'in', [...slots]).where('used_at', '=', now).execute();
}

/** How many of the relay's slots were used in its last minute (after `cut`): index relay_rate_slots_free, the used ones alone. */
export async function usedRateSlots(db: Q, relay: string, max: number, cut: string): Promise<number> {
  const row = await db.selectFrom('relay_rate_slots').select((eb) => eb.fn.countAll<number>().as('n')).where('relay', '=', relay).where('used_at', '>', cut).where('slot', '<', max).executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** When the `k`-th oldest slot of the relay's last minute was used (k ≥ 1), or null: fewer are used. */
export async function nthUsedRateSlot(db: Q, relay: string, max: number, cut: string, k: number): Promise<string | null> {
  const row = await db.selectFrom('relay_rate_slots').select('used_at').where('relay', '=', relay).where('used_at', '>', cut).where('slot', '<', max).orderBy('used_at').limit(1).offset(k - 1).executeTakeFirst();
  return row?.used_at ?? null;
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

