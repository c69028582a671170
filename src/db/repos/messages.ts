import type { Kysely } from 'kysely';
import { insertReturningId } from '../prepared.js';
import type { AttachmentRow, CaseRow, Database, MessageRow, NewMessage } from '../schema.js';
import type { StoredAttachment } from '../../mail-in/parsed-mail.js';

type Q = Kysely<Database>;

/** The case of the newest stored message whose Message-ID is one of `ids` (inbound or outbound). */
export async function caseByMessageIds(db: Q, ids: readonly string[]): Promise<CaseRow | undefined> {
  if (ids.length === 0) return undefined;
  // Outgoing mail has its messages row too (written with its outbox row), so one lookup covers both.
  // max(id) over the Message-ID index picks the newest without sorting (each id is unique).
  return db
    .selectFrom('messages')
    .innerJoin('cases', 'cases.id', 'messages.case_id')
    .selectAll('cases')
    .where('messages.id', '=', (eb) => eb.selectFrom('messages').select((e) => e.fn.max('id').as('id')).where('message_id', 'in', [...ids]))
    .executeTakeFirst();
}

/** Lower-case To/Cc addresses of our outgoing messages with these Message-IDs (the messages_message_id index). */
export async function outgoingRecipients(db: Q, ids: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  if (ids.length === 0) return out;
  const rows = await db.selectFrom('messages').select(['to_json', 'cc_json']).where('message_id', 'in', [...ids]).where('direction', '=', 'out').execute();
  for (const r of rows) {
    for (const json of [r.to_json, r.cc_json]) {
      for (const a of JSON.parse(json) as { address?: unknown }[]) if (typeof a.address === 'string') out.add(a.address.toLowerCase());
    }
  }
  return out;
}

/** Whether a stored message already owns this Message-ID (messages.message_id is unique). */
export async function messageIdTaken(db: Q, id: string): Promise<boolean> {
  return (await db.selectFrom('messages').select('id').where('message_id', '=', id).executeTakeFirst()) !== undefined;
}

export async function insertMessage(db: Q, values: NewMessage): Promise<number> {
  return insertReturningId(db, 'messages', values);
}

export async function insertAttachments(db: Q, messageRowId: number, list: readonly StoredAttachment[]): Promise<void> {
  if (list.length === 0) return;
  await db
    .insertInto('attachments')
    .values(
      list.map((a) => ({
        message_row_id: messageRowId,
        filename: a.filename,
        content_type: a.contentType,
        size: a.size,
        sha256: a.sha256,
        content_id: a.contentId,
        disposition: a.disposition,
      })),
    )
    .execute();
}

export async function messagesOfCase(db: Q, caseId: number): Promise<MessageRow[]> {
  return db.selectFrom('messages').selectAll().where('case_id', '=', caseId).orderBy('id').execute();
}

export async function attachmentsOfMessages(db: Q, messageRowIds: readonly number[]): Promise<AttachmentRow[]> {
  if (messageRowIds.length === 0) return [];
  // Message by message (the index order), each message's attachments in the order they were stored.
  return db.selectFrom('attachments').selectAll().where('message_row_id', 'in', [...messageRowIds]).orderBy('message_row_id').orderBy('id').execute();
}
