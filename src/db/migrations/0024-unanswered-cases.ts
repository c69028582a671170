import { sql, type Kysely } from 'kysely';

/**
 * Cases nobody has answered yet (cases.first_response_at is null: a case gets it with its first
 * reply, or when it ends without one), by status. Every /metrics scrape and `casegate status`
 * counts the open cases past their first-response target (repos/ops.ts openSlaBreaches): without
 * it SQLite walked every open case and read its row (5 ms at 2,500 open cases, ~50 ms at 12,500,
 * on the event loop at each scrape); with it, the cases still waiting for an answer, from the
 * index alone (0.24 ms). Partial, so it stays as small as the queue of unanswered cases.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index cases_unanswered on cases (status) where first_response_at is null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('cases_unanswered').execute();
}
