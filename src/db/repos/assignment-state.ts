import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

type Q = Kysely<Database>;

/** The agent (address) round-robin gave the queue's last case to, or null. */
export async function lastAssigned(db: Q, queue: string): Promise<string | null> {
  const row = await db.selectFrom('assignment_state').select('last_agent').where('queue', '=', queue).executeTakeFirst();
  return row?.last_agent ?? null;
}

export async function setLastAssigned(db: Q, queue: string, agent: string, at: string): Promise<void> {
  await db
    .insertInto('assignment_state')
    .values({ queue, last_agent: agent, updated_at: at })
    .onConflict((oc) => oc.column('queue').doUpdateSet({ last_agent: agent, updated_at: at }))
    .execute();
}
