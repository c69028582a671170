import type { Kysely, Selectable } from 'kysely';
import type { Database, LeasesTable } from '../schema.js';

type Q = Kysely<Database>;

export type LeaseRow = Selectable<LeasesTable>;

/**
 * Take or renew the lease `name` for `holder` until `until`: succeeds when nobody holds it, when
 * `holder` holds it already, or when the holder's lease expired (it died or lost the database).
 * One statement (INSERT … ON CONFLICT DO UPDATE … WHERE), so two daemons can never both win.
 */
export async function takeLease(db: Q, name: string, holder: string, now: string, until: string): Promise<boolean> {
  const row = await db
    .insertInto('leases')
    .values({ name, holder, expires_at: until, acquired_at: now, renewed_at: now })
    .onConflict((oc) =>
      oc
        .column('name')
        .doUpdateSet((eb) => ({
          holder,
          expires_at: until,
          renewed_at: now,
          acquired_at: eb.case().when('leases.holder', '=', holder).then(eb.ref('leases.acquired_at')).else(now).end(),
        }))
        .where((eb) => eb.or([eb('leases.holder', '=', holder), eb('leases.expires_at', '<=', now)])),
    )
    .returning('holder')
    .executeTakeFirst();
  return row !== undefined;
}

/** Give a lease up at once (a daemon stopping): another daemon takes it at its next attempt. */
export async function releaseLease(db: Q, name: string, holder: string): Promise<void> {
  await db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
}

export async function leaseOf(db: Q, name: string): Promise<LeaseRow | undefined> {
  return db.selectFrom('leases').selectAll().where('name', '=', name).executeTakeFirst();
}

export async function allLeases(db: Q): Promise<LeaseRow[]> {
  return db.selectFrom('leases').selectAll().orderBy('name').execute();
}
