import { sql, type Kysely } from 'kysely';

/**
 * The agents' notification cap (agentMail.notifyPerSenderPerHour) counts, for every message that
 * notifies, what one sender's mail caused within the hour. By type and time alone (events_type_time)
 * that count reads every notification of the hour — in a flood or a backlog, every message reads
 * all the ones before it. This index holds only the three event types the cap reads, by actor
 * (customer:<address>): a count reads that sender's rows and no others. Partial, so the other
 * events (most of them) cost no extra index write; the queries name the types as literals, which
 * is how both SQLite and PostgreSQL match a partial index, and the condition is written with OR:
 * SQLite sees that "type = 'agents.notified'" implies an OR of equalities, not an IN list.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index events_notify_actor on events (actor, type, created_at) where type = 'agents.notified' or type = 'agents.flood-notice' or type = 'agents.notify-suppressed'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('events_notify_actor').execute();
}
