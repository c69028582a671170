import type { Kysely } from 'kysely';
import { lockKey } from '../dialect.js';
import type { AttachmentRow, Database, MessageRow } from '../schema.js';

type Q = Kysely<Database>;

/**
 * The message our mail to the customer answers: their newest human message with a Message-ID,
 * else our newest customer-facing message (never staff-only mail).
 */
export async function customerThreadAnchor(db: Q, caseId: number): Promise<Pick<MessageRow, 'message_id' | 'references_json'> & { message_id: string } | undefined> {
  const base = db
    .selectFrom('messages')
    .select(['message_id', 'references_json'])
    .where('case_id', '=', caseId)
    .where('internal', '=', 0)
    .where('message_id', 'is not', null)
    .orderBy('id', 'desc')
    .limit(1);
  const row = (await base.where('direction', '=', 'in').where('automated', 'is', null).executeTakeFirst()) ?? (await base.where('direction', '=', 'out').executeTakeFirst());
  return row?.message_id != null ? { message_id: row.message_id, references_json: row.references_json } : undefined;
}

/** Files to attach to an outgoing email: the attachments of its (one) messages row, in order along attachments_message. */
export async function attachmentsOfOutbox(db: Q, outboxId: number): Promise<AttachmentRow[]> {
  return db
    .selectFrom('attachments')
    .selectAll()
    .where('message_row_id', '=', (eb) => eb.selectFrom('messages').select('messages.id').where('messages.outbox_id', '=', outboxId).limit(1))
    .orderBy('id')
    .execute();
}

/** Emails of a kind queued to an address since a time (rate limits of notices; serialised per address like autoRepliesSince). */
export async function queuedSince(db: Q, kind: string, address: string, since: string): Promise<number> {
  await lockKey(db, `notice:${kind}:${address}`);
  const row = await db
    .selectFrom('outbox')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('to_address', '=', address)
    .where('kind', '=', kind)
    .where('created_at', '>', since)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}
