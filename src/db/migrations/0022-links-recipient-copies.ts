import type { Kysely } from 'kysely';

/**
 * outbox.copies_json: the per-recipient renderings of a customer email written to several people
 * (requester To, participants Cc), each carrying a case-page link that names its reader
 * (src/web/links.ts recipientCaseLink). JSON array of { address, text, html }, one per Cc
 * recipient; the row's own text and html are the To recipient's. The visible To and Cc headers,
 * the Message-ID and everything else are the same in every copy; each copy goes in its own SMTP
 * transaction to its one recipient, and pending_rcpt_json (0017) holds those still to get theirs.
 * Null: one email to every recipient (no link in it, or nobody but the To).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('outbox').addColumn('copies_json', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('outbox').dropColumn('copies_json').execute();
}
