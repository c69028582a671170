import type { Kysely } from 'kysely';
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

export async function insertMessage(db: Q, values: NewMessage): Promise<number> {
  const row = await db.insertInto('messages').values(values).returning('id').executeTakeFirstOrThrow();
  return row.id;
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
