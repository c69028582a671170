import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

type Q = Kysely<Database>;

/**
 * The messages a customer may see on their case page: inbound human mail (not automated) and our
 * replies of the given kinds (agent-reply) that were not withdrawn. Internal notes, agents' own mail (both stored as
 * internal: what they were when they arrived, whoever is staff today), mail to staff and automatic
 * notices are never selected. Oldest first.
 */
export async function publicMessages(db: Q, caseId: number, replyKinds: readonly string[]) {
  return db
    .selectFrom('messages')
    .leftJoin('outbox', 'outbox.id', 'messages.outbox_id')
    .select(['messages.id', 'messages.direction', 'messages.from_address', 'messages.from_name', 'messages.visible_text', 'messages.created_at', 'messages.sender_auth', 'outbox.kind'])
    .where('messages.case_id', '=', caseId)
    .where('messages.internal', '=', 0)
    .where((eb) =>
      eb.or([
        eb.and([eb('messages.direction', '=', 'in'), eb('messages.automated', 'is', null)]),
        // A reply withdrawn with `casegate outbox cancel` was never meant to be read.
        eb.and([eb('messages.direction', '=', 'out'), eb('outbox.kind', 'in', [...replyKinds]), eb('outbox.status', '!=', 'cancelled')]),
      ]),
    )
    .orderBy('messages.id')
    .execute();
}
