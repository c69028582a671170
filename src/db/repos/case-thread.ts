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

/** The email of ours a bounce is about (its template kind and subject), from the Message-IDs the bounce quotes. */
export async function bouncedEmail(db: Q, messageIds: readonly string[]): Promise<{ kind: string; subject: string } | undefined> {
  if (messageIds.length === 0) return undefined;
  return db
    .selectFrom('messages')
    .innerJoin('outbox', 'outbox.id', 'messages.outbox_id')
    .select(['outbox.kind', 'messages.subject'])
    .where('messages.message_id', 'in', [...messageIds])
    .where('messages.direction', '=', 'out')
    .limit(1)
    .executeTakeFirst();
}

/**
 * The staff mail of a case already written to one address (kinds: the staff templates), its
 * oldest and newest Message-ID, so the next one threads under them in that person's mail client;
 * undefined when there is none. Only mail to that very address: staff Message-IDs are signed for
 * their recipient (README, "Agent trust").
 */
export async function staffMailThread(db: Q, caseId: number, address: string, kinds: readonly string[]): Promise<{ first: string; last: string } | undefined> {
  if (kinds.length === 0) return undefined;
  const q = db.selectFrom('outbox').select('message_id').where('case_id', '=', caseId).where('to_address', '=', address).where('kind', 'in', [...kinds]);
  const first = await q.orderBy('id', 'asc').limit(1).executeTakeFirst();
  if (first === undefined) return undefined;
  const last = (await q.orderBy('id', 'desc').limit(1).executeTakeFirst()) ?? first;
  return { first: first.message_id, last: last.message_id };
}
