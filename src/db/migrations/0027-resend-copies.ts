import { sql, type Kysely } from 'kysely';

/**
 * Re-sent copies (stages/resend.ts): a mail client, script or stuck outbox sending the same
 * message again under a new Message-ID. receipts.resend_key is what such a copy keeps (the sender,
 * the recipients, subject, text and attachments: content-digest.ts resendKey); the index finds a
 * message's earlier receipts with that key, newest first, in one look-up. Null on receipts the
 * stage did not see (mail that ended before it) and on older receipts. receipts.sent_at is the
 * message's Date header (ISO), which a copy re-stamped by its sender is compared by.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('receipts').addColumn('resend_key', 'text').execute();
  await db.schema.alterTable('receipts').addColumn('sent_at', 'text').execute();
  await db.schema.createIndex('receipts_resend').on('receipts').columns(['resend_key', 'received_at']).where(sql.ref('resend_key'), 'is not', null).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('receipts_resend').execute();
  await db.schema.alterTable('receipts').dropColumn('resend_key').execute();
  await db.schema.alterTable('receipts').dropColumn('sent_at').execute();
}
