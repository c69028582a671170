import { sql, type Kysely } from 'kysely';

/**
 * A forward of a customer's own message (stages/thread.ts, forwarded-copy) is matched by the
 * forwarded message's Date. With 0035 only her cases of that subject opened around that Date were
 * searched: a later reply in an old case (an "Invoice" case she answered weeks after it opened,
 * among 20+ of that subject) was never found. messages_from_sent holds her inbound messages by
 * sender and Date: the look-up reads her messages of those few hours, whatever case they are on and
 * however long her history. One entry per inbound message with a Date (not our own mail).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index messages_from_sent on messages (from_address, sent_at) where direction = 'in' and sent_at is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('messages_from_sent').execute();
}
