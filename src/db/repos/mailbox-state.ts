import { sql, type Kysely } from 'kysely';
import type { Database, MailboxStateTable } from '../schema.js';
import type { Selectable } from 'kysely';
import type { Arrival } from '../../pipeline/types.js';

type Q = Kysely<Database>;

/** Record the IMAP checkpoint of an arrival (no-op for other channels); the highest UID wins within one UIDVALIDITY. */
export async function saveCheckpoint(db: Q, arrival: Arrival, at: string): Promise<void> {
  const cp = arrival.checkpoint;
  if (cp === undefined) return;
  await db
    .insertInto('mailbox_state')
    .values({ mailbox: cp.mailbox, uidvalidity: cp.uidvalidity, last_uid: cp.uid, updated_at: at })
    .onConflict((oc) =>
      oc.column('mailbox').doUpdateSet({
        uidvalidity: cp.uidvalidity,
        // Portable (no max()/greatest()): keep the higher UID unless UIDVALIDITY changed.
        last_uid: sql<number>`CASE WHEN mailbox_state.uidvalidity = ${cp.uidvalidity} AND mailbox_state.last_uid > ${cp.uid} THEN mailbox_state.last_uid ELSE ${cp.uid} END`,
        updated_at: at,
      }),
    )
    .execute();
}

export async function mailboxState(db: Q, mailbox: string): Promise<Selectable<MailboxStateTable> | undefined> {
  return db.selectFrom('mailbox_state').selectAll().where('mailbox', '=', mailbox).executeTakeFirst();
}

/** A changed UIDVALIDITY: start over (dedupe makes the rescan safe). */
export async function resetMailboxState(db: Q, mailbox: string, uidvalidity: string, at: string): Promise<void> {
  await db
    .insertInto('mailbox_state')
    .values({ mailbox, uidvalidity, last_uid: 0, updated_at: at })
    .onConflict((oc) => oc.column('mailbox').doUpdateSet({ uidvalidity, last_uid: 0, updated_at: at }))
    .execute();
}
