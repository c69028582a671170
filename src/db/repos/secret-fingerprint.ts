import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

type Q = Kysely<Database>;

/** The counters row holding the fingerprint of the instance secret the daemons of this database sign with. */
const NAME = 'instance-secret';

/**
 * Record `fingerprint` when none is, or replace `replacing` (a secret rotation) by it; returns the
 * fingerprint recorded afterwards (another daemon's, when it differs from both).
 */
export async function agreeOnSecretFingerprint(db: Q, fingerprint: number, replacing: readonly number[]): Promise<number> {
  await db.insertInto('counters').values({ name: NAME, value: fingerprint }).onConflict((oc) => oc.column('name').doNothing()).execute();
  if (replacing.length > 0) await db.updateTable('counters').set({ value: fingerprint }).where('name', '=', NAME).where('value', 'in', replacing).execute();
  const row = await db.selectFrom('counters').select('value').where('name', '=', NAME).executeTakeFirstOrThrow();
  return Number(row.value);
}
