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
  const recorded = async (): Promise<number | null> => {
    const row = await db.selectFrom('counters').select('value').where('name', '=', NAME).executeTakeFirst();
    return row === undefined ? null : Number(row.value);
  };
  // Once recorded (the common case: every `casegate ingest` asks), one read.
  let value = await recorded();
  if (value === fingerprint) return value;
  if (value === null) await db.insertInto('counters').values({ name: NAME, value: fingerprint }).onConflict((oc) => oc.column('name').doNothing()).execute();
  else if (replacing.includes(value)) await db.updateTable('counters').set({ value: fingerprint }).where('name', '=', NAME).where('value', '=', value).execute();
  value = await recorded();
  return value ?? fingerprint;
}
