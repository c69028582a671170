import { sql, type Kysely } from 'kysely';
import { runPrepared } from '../prepared.js';
import type { Database, MailboxStateTable } from '../schema.js';
import type { Selectable } from 'kysely';
import type { Arrival } from '../../pipeline/types.js';

type Q = Kysely<Database>;

/** Record the IMAP checkpoint of an arrival (no-op for other channels); the highest UID wins within one UIDVALIDITY. */
export async function saveCheckpoint(db: Q, arrival: Pick<Arrival, 'checkpoint'>, at: string): Promise<void> {
  const cp = arrival.checkpoint;
  if (cp === undefined) return;
  await runPrepared(db, 'mailbox_state.checkpoint', [cp.mailbox, cp.uidvalidity, cp.uid, at], (q, [mailbox, uidvalidity, uid, t]) =>
    q
      .insertInto('mailbox_state')
      .values({ mailbox: mailbox as string, uidvalidity: uidvalidity as string, last_uid: uid as number, updated_at: t as string })
      .onConflict((oc) =>
        oc.column('mailbox').doUpdateSet({
          uidvalidity: uidvalidity as string,
          // Portable (no max()/greatest()): keep the higher UID unless UIDVALIDITY changed.
          last_uid: sql<number>`CASE WHEN mailbox_state.uidvalidity = ${uidvalidity} AND mailbox_state.last_uid > ${uid} THEN mailbox_state.last_uid ELSE ${uid} END`,
          updated_at: t as string,
        }),
      ),
  );
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
