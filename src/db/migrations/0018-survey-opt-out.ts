import type { Kysely } from 'kysely';

/**
 * address_status.surveys_refused_at: when the address asked for no more satisfaction surveys (the
 * survey email's one-click List-Unsubscribe, RFC 8058, or the page it leads to). Null: surveys go
 * to it as usual. Only surveys stop: mail about the customer's cases never does.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('address_status').addColumn('surveys_refused_at', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('address_status').dropColumn('surveys_refused_at').execute();
}
