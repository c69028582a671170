import type { Kysely } from 'kysely';

/**
 * Agents work cases by email and CLI (issue 10):
 *  - cases.first_response_at: when an agent first answered the customer (the SLA clocks build on it);
 *  - messages.internal: 1 for staff-only messages (agents' mail, internal notes): never shown to customers;
 *  - messages.author: the agent (address) who wrote a message or the reply we sent for them, else null;
 *  - outbox.cc_json: further recipients of one email (an agent's reply goes to every external participant);
 *  (the index on messages.outbox_id comes from 0003).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('cases').addColumn('first_response_at', 'text').execute();
  await db.schema.alterTable('messages').addColumn('internal', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('messages').addColumn('author', 'text').execute();
  await db.schema.alterTable('outbox').addColumn('cc_json', 'text', (c) => c.notNull().defaultTo('[]')).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('outbox').dropColumn('cc_json').execute();
  await db.schema.alterTable('messages').dropColumn('author').execute();
  await db.schema.alterTable('messages').dropColumn('internal').execute();
  await db.schema.alterTable('cases').dropColumn('first_response_at').execute();
}
