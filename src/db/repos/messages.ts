import type { Kysely } from 'kysely';
import { insertReturningId } from '../prepared.js';
import type { AttachmentRow, CaseRow, Database, MessageRow, NewMessage } from '../schema.js';
import type { StoredAttachment } from '../../mail-in/parsed-mail.js';
import { indexNewMessage, reindexMessages } from './search.js';

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

/** The case of our outgoing message with one of these Message-IDs (a bounce's), newest first. */
export async function caseByOutgoingMessageIds(db: Q, ids: readonly string[]): Promise<CaseRow | undefined> {
  if (ids.length === 0) return undefined;
  return db
    .selectFrom('messages')
    .innerJoin('cases', 'cases.id', 'messages.case_id')
    .selectAll('cases')
    .where('messages.message_id', 'in', [...ids])
    .where('messages.direction', '=', 'out')
    .orderBy('messages.id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/**
 * Lower-case To/Cc addresses of our outgoing messages with these Message-IDs (the
 * messages_message_id index), each with when it was last handed to the relay (sent, else last
 * attempted, else queued).
 */
export async function outgoingRecipients(db: Q, ids: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (ids.length === 0) return out;
  const rows = await db
    .selectFrom('messages')
    .leftJoin('outbox', 'outbox.id', 'messages.outbox_id')
    .select(['messages.to_json', 'messages.cc_json', 'messages.created_at', 'outbox.sent_at', 'outbox.last_attempt_at'])
    .where('messages.message_id', 'in', [...ids])
    .where('messages.direction', '=', 'out')
    .execute();
  for (const r of rows) {
    const at = r.sent_at ?? r.last_attempt_at ?? r.created_at;
    for (const json of [r.to_json, r.cc_json]) {
      for (const a of JSON.parse(json) as { address?: unknown }[]) {
        if (typeof a.address !== 'string') continue;
        const key = a.address.toLowerCase();
        const seen = out.get(key);
        if (seen === undefined || seen < at) out.set(key, at);
      }
    }
  }
  return out;
}

/** Whether a stored message already owns this Message-ID (messages.message_id is unique). */
export async function messageIdTaken(db: Q, id: string): Promise<boolean> {
  return (await db.selectFrom('messages').select('id').where('message_id', '=', id).executeTakeFirst()) !== undefined;
}

/** Stores a message, and its words in the search index (repos/search.ts) when people wrote it. */
export async function insertMessage(db: Q, values: NewMessage): Promise<number> {
  const id = await insertReturningId(db, 'messages', values);
  await indexNewMessage(db, id, { direction: values.direction, author: values.author ?? null, subject: values.subject, visible_text: values.visible_text, from_name: values.from_name, from_address: values.from_address });
  return id;
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
  // The files' names are searched with the message's words.
  await reindexMessages(db, [messageRowId]);
}

/**
 * The inbound messages `from` wrote on these cases (at most `limit`, newest first): what a forward
 * of one of them is compared with (stages/thread.ts). On messages' case index.
 */
export async function messagesFromOnCases(db: Q, caseIds: readonly number[], from: string, limit = 100): Promise<Pick<MessageRow, 'case_id' | 'sent_at' | 'visible_text'>[]> {
  if (caseIds.length === 0) return [];
  return db
    .selectFrom('messages')
    .select(['case_id', 'sent_at', 'visible_text'])
    .where('case_id', 'in', [...caseIds])
    .where('direction', '=', 'in')
    .where('from_address', '=', from)
    .orderBy('id', 'desc')
    .limit(limit)
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

/** A stored file with the message it came with (`casegate cases files`, files for staff mail). */
export interface MessageFileRow extends AttachmentRow {
  readonly case_id: number;
  readonly case_number: number;
  readonly direction: string;
  readonly internal: number;
  readonly from_address: string;
  readonly from_name: string;
  readonly created_at: string;
  /** The message's HTML: which Content-IDs it shows (an embedded logo is no attached file). */
  readonly html: string | null;
}

/**
 * The files of a case's messages (or of one message), in the order they were stored. The copies
 * that staff mail carried (outgoing internal messages: notifications, alerts) are left out: they are
 * the customer's files again, listed with the message that brought them.
 */
export async function storedFiles(db: Q, of: { readonly caseId: number } | { readonly messageRowId: number }): Promise<MessageFileRow[]> {
  let q = db
    .selectFrom('attachments')
    .innerJoin('messages', 'messages.id', 'attachments.message_row_id')
    .innerJoin('cases', 'cases.id', 'messages.case_id')
    .selectAll('attachments')
    .select(['messages.case_id', 'cases.number as case_number', 'messages.direction', 'messages.internal', 'messages.from_address', 'messages.from_name', 'messages.created_at', 'messages.html'])
    .where((eb) => eb.or([eb('messages.direction', '!=', 'out'), eb('messages.internal', '=', 0)]));
  q = 'caseId' in of ? q.where('messages.case_id', '=', of.caseId) : q.where('messages.id', '=', of.messageRowId);
  return q.orderBy('attachments.id').execute();
}
