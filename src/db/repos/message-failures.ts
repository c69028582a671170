import type { Kysely, Selectable } from 'kysely';
import type { Database, MessageFailuresTable } from '../schema.js';

type Q = Kysely<Database>;

export type MessageFailureRow = Selectable<MessageFailuresTable>;

export async function messageFailure(db: Q, sha256: string): Promise<MessageFailureRow | undefined> {
  return db.selectFrom('message_failures').selectAll().where('raw_sha256', '=', sha256).executeTakeFirst();
}

/** Write the message's row as it is after this attempt (inserted on its first failure). */
export async function saveMessageFailure(db: Q, row: MessageFailureRow): Promise<void> {
  const { raw_sha256: _key, first_failed_at: _first, ...update } = row;
  await db
    .insertInto('message_failures')
    .values(row)
    .onConflict((oc) => oc.column('raw_sha256').doUpdateSet(update))
    .execute();
}

/** The message reached an outcome (or was given up): its failures are history. */
export async function clearMessageFailure(db: Q, sha256: string): Promise<void> {
  await db.deleteFrom('message_failures').where('raw_sha256', '=', sha256).execute();
}

/**
 * Rows of messages not offered again since `before` (the sender gave up, a person deleted it, or it
 * went through later): a message that succeeds leaves its row (no delete on every commit), so
 * they are dropped here once they are old.
 */
export async function forgetOldFailures(db: Q, before: string): Promise<void> {
  await db.deleteFrom('message_failures').where('last_failed_at', '<', before).execute();
}
