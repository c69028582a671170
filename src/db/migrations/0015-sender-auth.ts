import type { Kysely } from 'kysely';

/**
 * What sender authentication (security.senderAuth) found for each inbound message: pass, none or
 * fail. Agents see a message whose From failed the check marked as such (the notification,
 * `cases show`, the case page) instead of as the customer's own. Null on outgoing mail and on
 * messages stored before this column.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').addColumn('sender_auth', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').dropColumn('sender_auth').execute();
}
