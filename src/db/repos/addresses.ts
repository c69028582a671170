import type { Kysely } from 'kysely';
import { addressKey, addressSpellings } from '../../address-form.js';
import { runPrepared } from '../prepared.js';
import type { AddressStatusTable, Database } from '../schema.js';

type Q = Kysely<Database>;

/*
 * An address of an internationalised domain has two spellings (`müller@bücher.example`,
 * `müller@xn--bcher-kva.example`, address-form.ts): a row is written under the spelling we mail to,
 * and every look-up here finds it under either.
 */

export async function isBouncing(db: Q, address: string): Promise<boolean> {
  const spellings = addressSpellings(address);
  if (spellings.length === 1) {
    const { rows } = await runPrepared(db, 'address_status.bouncing', [spellings[0]], (q, [a]) => q.selectFrom('address_status').select('bouncing').where('address', '=', a as string));
    return rows[0]?.bouncing === 1;
  }
  const rows = await db.selectFrom('address_status').select('bouncing').where('address', 'in', spellings).execute();
  return rows.some((r) => r.bouncing === 1);
}

/** Record a bounce; a permanent one marks the address as bouncing (we stop mailing it). */
export async function recordBounce(db: Q, address: string, permanent: boolean, reason: string, at: string): Promise<void> {
  await db
    .insertInto('address_status')
    .values({ address, bouncing: permanent ? 1 : 0, bounce_count: 1, last_bounce_at: at, last_reason: reason, updated_at: at })
    .onConflict((oc) =>
      oc.column('address').doUpdateSet((eb) => ({
        bouncing: permanent ? 1 : eb.ref('address_status.bouncing'),
        bounce_count: eb('address_status.bounce_count', '+', 1),
        last_bounce_at: at,
        last_reason: reason,
        updated_at: at,
      })),
    )
    .execute();
}

/** An address that writes to us again is evidently reachable. Returns whether it was marked bouncing. */
export async function clearBouncing(db: Q, address: string, at: string): Promise<boolean> {
  const spellings = addressSpellings(address);
  if (spellings.length > 1) {
    const r = await db.updateTable('address_status').set({ bouncing: 0, updated_at: at }).where('address', 'in', spellings).where('bouncing', '=', 1).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
  const r = await runPrepared(db, 'address_status.clearBouncing', [spellings[0], at], (q, [a, t]) =>
    q
      .updateTable('address_status')
      .set({ bouncing: 0, updated_at: t as string })
      .where('address', '=', a as string)
      .where('bouncing', '=', 1),
  );
  return Number(r.numAffectedRows ?? 0) > 0;
}

/** The addresses among these that are marked bouncing (hard bounce, not written from since), with the last reason. */
export async function bouncingAmong(db: Q, addresses: readonly string[]): Promise<Pick<AddressStatusTable, 'address' | 'last_bounce_at' | 'last_reason' | 'bounce_count'>[]> {
  if (addresses.length === 0) return [];
  const asked = [...new Set(addresses.map((a) => a.toLowerCase()))];
  const spellings = [...new Set(asked.flatMap(addressSpellings))];
  const rows = await db
    .selectFrom('address_status')
    .select(['address', 'last_bounce_at', 'last_reason', 'bounce_count'])
    .where('address', 'in', spellings)
    .where('bouncing', '=', 1)
    .orderBy('address')
    .execute();
  if (spellings.length === asked.length) return rows;
  // Each row under the spelling the caller asked about (the outbox compares with its to_address).
  const byKey = new Map(rows.map((r) => [addressKey(r.address), r]));
  return asked.flatMap((a) => {
    const row = byKey.get(addressKey(a));
    return row !== undefined ? [{ ...row, address: a }] : [];
  }).sort((x, y) => (x.address < y.address ? -1 : x.address > y.address ? 1 : 0));
}

/** The address asked for no more satisfaction surveys (the survey's one-click List-Unsubscribe); the first time counts. Returns whether it is new. */
export async function refuseSurveys(db: Q, address: string, at: string): Promise<boolean> {
  const key = addressKey(address);
  if (await surveysRefused(db, key)) return false;
  await db
    .insertInto('address_status')
    .values({ address: key, bouncing: 0, bounce_count: 0, last_bounce_at: null, last_reason: null, updated_at: at, surveys_refused_at: at })
    .onConflict((oc) => oc.column('address').doUpdateSet({ surveys_refused_at: at, updated_at: at }))
    .execute();
  return true;
}

/** Whether the address asked for no more satisfaction surveys (under either spelling of its domain). */
export async function surveysRefused(db: Q, address: string): Promise<boolean> {
  const rows = await db.selectFrom('address_status').select('surveys_refused_at').where('address', 'in', addressSpellings(address)).execute();
  return rows.some((r) => r.surveys_refused_at !== null);
}
