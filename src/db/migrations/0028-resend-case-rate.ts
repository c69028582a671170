import type { Kysely } from 'kysely';

/**
 * The new-case rate alert (pipeline/case-rate-alert.ts, alerts.newCasesPerMailboxPerHour) counts
 * a mailbox's cases of the past hour after every new case: this index reads that hour of that
 * mailbox only, not every mailbox's.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('cases_mailbox_created').on('cases').columns(['mailbox', 'created_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('cases_mailbox_created').execute();
}
