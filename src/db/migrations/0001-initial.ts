import { sql, type Kysely } from 'kysely';
import { idColumn } from '../dialect.js';

/** Portable DDL (SQLite and PostgreSQL, see ../dialect.ts): integer ids, text timestamps, 0/1 flags. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('cases')
    .addColumn('id', 'integer', idColumn(db))
    .addColumn('number', 'integer', (c) => c.notNull().unique())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('requester_address', 'text', (c) => c.notNull())
    .addColumn('requester_name', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('priority', 'text', (c) => c.notNull())
    .addColumn('queue', 'text', (c) => c.notNull())
    .addColumn('mailbox', 'text', (c) => c.notNull())
    .addColumn('language', 'text', (c) => c.notNull())
    .addColumn('linked_case_id', 'integer', (c) => c.references('cases.id'))
    .addColumn('escalated', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('escalation_level', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('owner', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('resolved_at', 'text')
    .addColumn('closed_at', 'text')
    .addColumn('last_customer_at', 'text')
    .addColumn('first_response_due_at', 'text')
    .addColumn('resolution_due_at', 'text')
    .execute();
  await db.schema.createIndex('cases_status').on('cases').columns(['status', 'updated_at']).execute();
  await db.schema.createIndex('cases_requester').on('cases').column('requester_address').execute();

  await db.schema
    .createTable('case_participants')
    .addColumn('id', 'integer', idColumn(db))
    .addColumn('case_id', 'integer', (c) => c.notNull().references('cases.id'))
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('case_participants_case_address', ['case_id', 'address'])
    .execute();
  await db.schema.createIndex('case_participants_address').on('case_participants').column('address').execute();

  await db.schema
    .createTable('receipts')
    .addColumn('id', 'integer', idColumn(db))
    .addColumn('dedupe_key', 'text', (c) => c.notNull())
    .addColumn('is_primary', 'integer', (c) => c.notNull())
    .addColumn('message_id', 'text')
    .addColumn('raw_sha256', 'text', (c) => c.notNull())
    .addColumn('raw_size', 'integer', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('mailbox', 'text', (c) => c.notNull())
    .addColumn('envelope_from', 'text')
    .addColumn('envelope_to_json', 'text', (c) => c.notNull())
    .addColumn('from_address', 'text')
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('stage', 'text', (c) => c.notNull())
    .addColumn('case_id', 'integer', (c) => c.references('cases.id'))
    .addColumn('message_row_id', 'integer')
    .addColumn('duplicate_of', 'integer', (c) => c.references('receipts.id'))
    .addColumn('retried_as', 'integer', (c) => c.references('receipts.id'))
    .execute();
  await db.schema.createIndex('receipts_dedupe_primary').on('receipts').column('dedupe_key').unique().where(sql.ref('is_primary'), '=', 1).execute();
  await db.schema.createIndex('receipts_outcome').on('receipts').columns(['outcome', 'received_at']).execute();

  await db.schema
    .createTable('messages')
    .addColumn('id', 'integer', idColumn(db))
    .addColumn('case_id', 'integer', (c) => c.notNull().references('cases.id'))
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text')
    .addColumn('in_reply_to', 'text')
    .addColumn('references_json', 'text', (c) => c.notNull())
    .addColumn('from_address', 'text', (c) => c.notNull())
    .addColumn('from_name', 'text', (c) => c.notNull())
    .addColumn('to_json', 'text', (c) => c.notNull())
    .addColumn('cc_json', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('sent_at', 'text')
    .addColumn('text', 'text')
    .addColumn('html', 'text')
    .addColumn('visible_text', 'text', (c) => c.notNull())
    .addColumn('body_truncated', 'integer', (c) => c.notNull())
    .addColumn('raw_sha256', 'text')
    .addColumn('raw_size', 'integer')
    .addColumn('automated', 'text')
    .addColumn('thread_rule', 'text', (c) => c.notNull())
    .addColumn('receipt_id', 'integer', (c) => c.references('receipts.id'))
    .addColumn('outbox_id', 'integer')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('messages_message_id').on('messages').column('message_id').unique().where(sql.ref('message_id'), 'is not', null).execute();
  await db.schema.createIndex('messages_case').on('messages').columns(['case_id', 'id']).execute();

  await db.schema
    .createTable('attachments')
    .addColumn('id', 'integer', idColumn(db))
    .addColumn('message_row_id', 'integer', (c) => c.notNull().references('messages.id'))
    .addColumn('filename', 'text', (c) => c.notNull())
    .addColumn('content_type', 'text', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('content_id', 'text')
    .addColumn('disposition', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('attachments_message').on('attachments').column('message_row_id').execute();

  await db.schema
    .createTable('events')
    .addColumn('id', 'integer', idColumn(db))
    .addColumn('case_id', 'integer', (c) => c.references('cases.id'))
    .addColumn('message_row_id', 'integer')
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('data_json', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('events_case').on('events').columns(['case_id', 'id']).execute();

  await db.schema
    .createTable('outbox')
    .addColumn('id', 'integer', idColumn(db))
    .addColumn('case_id', 'integer', (c) => c.references('cases.id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('auto_reply', 'integer', (c) => c.notNull())
    .addColumn('from_address', 'text', (c) => c.notNull())
    .addColumn('from_name', 'text', (c) => c.notNull())
    .addColumn('to_address', 'text', (c) => c.notNull())
    .addColumn('to_name', 'text', (c) => c.notNull())
    .addColumn('reply_to', 'text')
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull().unique())
    .addColumn('in_reply_to', 'text')
    .addColumn('references_text', 'text')
    .addColumn('headers_json', 'text', (c) => c.notNull())
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('html', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('next_attempt_at', 'text', (c) => c.notNull())
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('sent_at', 'text')
    .execute();
  await db.schema.createIndex('outbox_due').on('outbox').columns(['status', 'next_attempt_at']).execute();
  await db.schema.createIndex('outbox_rate').on('outbox').columns(['to_address', 'auto_reply', 'created_at']).execute();

  await db.schema
    .createTable('address_status')
    .addColumn('address', 'text', (c) => c.primaryKey())
    .addColumn('bouncing', 'integer', (c) => c.notNull())
    .addColumn('bounce_count', 'integer', (c) => c.notNull())
    .addColumn('last_bounce_at', 'text')
    .addColumn('last_reason', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('mailbox_state')
    .addColumn('mailbox', 'text', (c) => c.primaryKey())
    .addColumn('uidvalidity', 'text')
    .addColumn('last_uid', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('mailbox_health')
    .addColumn('mailbox', 'text', (c) => c.primaryKey())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('detail', 'text')
    .addColumn('last_success_at', 'text')
    .addColumn('failing_since', 'text')
    .addColumn('backlog', 'integer', (c) => c.notNull())
    .addColumn('alerted', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['mailbox_health', 'mailbox_state', 'address_status', 'outbox', 'events', 'attachments', 'messages', 'receipts', 'case_participants', 'cases']) {
    await db.schema.dropTable(t).execute();
  }
}
