import type { Kysely } from 'kysely';

/**
 * outbox.pending_rcpt_json: when the relay took an email for some of its recipients and refused
 * the others for now (RCPT TO answered 4xx), the addresses still to send it to, as a JSON array;
 * the next attempts go to them alone (the same message, the same Message-ID), so nobody who got it
 * gets it twice. Null: every recipient of its To and Cc.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('outbox').addColumn('pending_rcpt_json', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('outbox').dropColumn('pending_rcpt_json').execute();
}
