import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

type Q = Kysely<Database>;

/**
 * The Message-ID that starts the case's conversation as customers see it: its oldest message
 * that is not staff-only (normally the customer's first email). Null when none has one.
 */
export async function caseThreadRoot(db: Q, caseId: number): Promise<string | null> {
  const row = await db
    .selectFrom('messages')
    .select('message_id')
    .where('case_id', '=', caseId)
    .where('internal', '=', 0)
    .where('message_id', 'is not', null)
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
  return row?.message_id ?? null;
}
