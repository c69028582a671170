import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.js';

type Q = Kysely<Database>;

/** Tables counted in a backup manifest (and compared after a restore). */
export const COUNTED_TABLES = ['cases', 'messages', 'attachments', 'receipts', 'outbox', 'events', 'case_participants'] as const;
export type CountedTable = (typeof COUNTED_TABLES)[number];

export async function tableCounts(db: Q): Promise<Record<CountedTable, number>> {
  const out = {} as Record<CountedTable, number>;
  for (const t of COUNTED_TABLES) {
    const row = await db.selectFrom(t).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
    out[t] = Number(row?.n ?? 0);
  }
  return out;
}

/** Every blob a row names (raw messages, quarantined raw mail, attachments), each once. */
export async function referencedBlobs(db: Q): Promise<string[]> {
  const rows = await db
    .selectFrom('messages')
    .select('raw_sha256 as sha256')
    .where('raw_sha256', 'is not', null)
    .union(db.selectFrom('receipts').select('raw_sha256 as sha256'))
    .union(db.selectFrom('attachments').select('sha256'))
    .execute();
  return rows.map((r) => r.sha256).filter((s): s is string => s !== null);
}

/** Names of the applied migrations, oldest first. */
export async function appliedMigrations(db: Q): Promise<string[]> {
  const rows = await sql<{ name: string }>`select name from casegate_migrations order by name`.execute(db);
  return rows.rows.map((r) => r.name);
}
