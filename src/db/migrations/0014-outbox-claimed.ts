import { sql, type Kysely } from 'kysely';

/**
 * Flat cost at any history size (issue 12): the outbox rows a sender holds, found without reading
 * the outbox. The outbox worker lets go of claims when it starts (every claim, under the instance
 * lock) and when it stops (its own) — an UPDATE … WHERE claimed_by IS NOT NULL that scanned every
 * outbox row ever written: 87 ms at 100,000 rows of 0.5 KB, and a read of the whole table (each
 * row holds its email's text and HTML, behind which claimed_by sits) at every start and stop of a
 * desk with years of mail. Partial: only rows held right now are in it (a few dozen at most), so
 * a claim and its release each add one small index write.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('outbox_claimed').on('outbox').column('claimed_by').where(sql.ref('claimed_by'), 'is not', null).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('outbox_claimed').execute();
}
