/**
 * The honest floor: a minimal pipeline doing only the essential work of one message with the
 * same libraries casegate uses, none of casegate's own code on the message path:
 *
 *   raw bytes kept (sha256 + one file write)  → mailparser simpleParser
 *   → ONE better-sqlite3 write transaction with prepared statements writing the rows casegate
 *     writes for it (dedupe check, thread lookup by Message-ID, receipt, case or case update,
 *     participant, message, attachment rows, event; for a new case the confirmation's outbox row,
 *     its thread entry and event). Three of casegate's rows it leaves out: a new case's SLA clock
 *     (case_sla) and its `sla.started` event, and the IMAP checkpoint (mailbox_state, the channel
 *     floor); so the floor is a little faster than the same rows would make it, never slower
 *   → Handlebars render of the real confirmation templates (inside the transaction: the rows need it)
 *   → nodemailer MIME build of the confirmation (after the commit), discarded.
 *
 * The schema is casegate's (its migrations create the floor's database), so the rows and indexes
 * are the same. In process (bench/run.ts) nothing is sent over the network; the channel floor
 * (bench/floor-channel.ts) gives it an SMTP transport: the confirmation is sent to the relay and
 * marked sent (one UPDATE of the outbox row and its message row, in one transaction).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import Handlebars from 'handlebars';
import { DateTime } from 'luxon';
import { simpleParser, type AddressObject } from 'mailparser';
import nodemailer, { type Transporter } from 'nodemailer';
import { subjectKey } from '../src/cases/subject-key.js';
import { migrateToLatest, openDatabase } from '../src/db/database.js';
import { BackgroundCheckpointer } from '../src/db/sqlite-checkpointer.js';
import { ADDRESS, type BenchMessage } from './mix.js';

const REPLY_MARKER = '##- Please type your reply above this line -##';

interface Templates {
  subject: Handlebars.TemplateDelegate;
  text: Handlebars.TemplateDelegate;
  html: Handlebars.TemplateDelegate;
  layoutText: Handlebars.TemplateDelegate;
  layoutHtml: Handlebars.TemplateDelegate;
  partials: { text: Record<string, Handlebars.TemplateDelegate>; html: Record<string, Handlebars.TemplateDelegate> };
}

function loadConfirmation(dir: string): Templates {
  const hb = Handlebars.create();
  hb.registerHelper('eq', (a: unknown, b: unknown): boolean => a === b);
  hb.registerHelper('formatDate', (value: unknown) => (typeof value === 'string' ? DateTime.fromISO(value, { setZone: true }).setLocale('en').toLocaleString(DateTime.DATETIME_MED) : ''));
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  const compile = (f: string, html: boolean): Handlebars.TemplateDelegate => hb.compile(read(f), { noEscape: !html });
  const partials = (part: 'text' | 'html'): Record<string, Handlebars.TemplateDelegate> => {
    const out: Record<string, Handlebars.TemplateDelegate> = {};
    for (const name of ['greeting', 'case-details', 'signature', 'reply-marker', 'footer', 'test-notice']) {
      let file = `partials/${name}.${part}.hbs`;
      try {
        readFileSync(join(dir, file));
      } catch {
        file = `partials/${name}.hbs`;
      }
      out[name] = compile(file, part === 'html');
    }
    return out;
  };
  return {
    subject: compile('confirmation.subject.hbs', false),
    text: compile('confirmation.text.hbs', false),
    html: compile('confirmation.html.hbs', true),
    layoutText: compile('layouts/default.text.hbs', false),
    layoutHtml: compile('layouts/default.html.hbs', true),
    partials: { text: partials('text'), html: partials('html') },
  };
}

export interface Floor {
  /** The whole essential work of one message; resolves when its confirmation (if any) is built, or sent and marked sent. */
  handle(m: Pick<BenchMessage, 'raw'>, onCommitted?: () => void): Promise<void>;
  close(): Promise<void>;
}

function firstAddress(a: AddressObject | AddressObject[] | undefined): { address: string; name: string } {
  const v = (Array.isArray(a) ? a[0] : a)?.value[0];
  return { address: (v?.address ?? '').toLowerCase(), name: v?.name ?? '' };
}

const bare = (id: string | undefined): string | null => (id === undefined ? null : id.replace(/^<|>$/g, ''));

export async function createFloor(dir: string, templatesDir: string, relay?: Transporter): Promise<Floor> {
  const dbPath = join(dir, 'floor.db');
  const kdb = openDatabase({ path: dbPath });
  await migrateToLatest(kdb);
  await kdb.destroy();
  const db = new SQLite(dbPath);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  // Checkpoints off the event loop as the daemon does them (not on the message path, but the
  // floor must not pay on its thread what casegate moved to a worker).
  const checkpointer = new BackgroundCheckpointer(db, dbPath, (reason) => console.error(`floor: ${reason}`));
  const blobDir = join(dir, 'blobs');
  await mkdir(blobDir, { recursive: true });
  const t = loadConfirmation(templatesDir);
  const mime = relay ?? nodemailer.createTransport({ streamTransport: true, buffer: true });

  const s = {
    dedupe: db.prepare('select id from receipts where dedupe_key = ? and is_primary = 1'),
    thread: db.prepare('select c.* from messages m join cases c on c.id = m.case_id where m.message_id = ?'),
    maxNumber: db.prepare('select max(number) as n from cases'),
    receipt: db.prepare(
      `insert into receipts (dedupe_key, is_primary, message_id, raw_sha256, raw_size, channel, mailbox, envelope_from, envelope_to_json, from_address, subject, received_at, outcome, reason, stage, case_id, message_row_id)
       values (?, 1, ?, ?, ?, 'imap', 'support', null, '[]', ?, ?, ?, 'stored', ?, 'persist', ?, null)`,
    ),
    receiptMessage: db.prepare('update receipts set message_row_id = ? where id = ?'),
    newCase: db.prepare(
      `insert into cases (number, subject, subject_key, requester_address, requester_name, status, priority, queue, mailbox, language, created_at, updated_at, last_customer_at)
       values (?, ?, ?, ?, ?, 'new', 'normal', 'support', 'support', 'en', ?, ?, ?)`,
    ),
    touchCase: db.prepare('update cases set updated_at = ?, last_customer_at = ? where id = ?'),
    participant: db.prepare(`insert into case_participants (case_id, address, name, role, created_at) values (?, ?, ?, 'requester', ?) on conflict do nothing`),
    message: db.prepare(
      `insert into messages (case_id, direction, message_id, in_reply_to, references_json, from_address, from_name, to_json, cc_json, subject, sent_at, text, html, visible_text, body_truncated, raw_sha256, raw_size, automated, thread_rule, receipt_id, outbox_id, created_at)
       values (?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, null, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    attachment: db.prepare(`insert into attachments (message_row_id, filename, content_type, size, sha256, content_id, disposition) values (?, ?, ?, ?, ?, null, 'attachment')`),
    event: db.prepare(`insert into events (case_id, message_row_id, type, actor, reason, data_json, created_at) values (?, ?, ?, ?, ?, '{}', ?)`),
    outbox: db.prepare(
      `insert into outbox (case_id, kind, auto_reply, from_address, from_name, to_address, to_name, reply_to, subject, message_id, in_reply_to, references_text, headers_json, text, html, status, attempts, next_attempt_at, created_at)
       values (?, 'confirmation', 1, ?, 'Bench Support', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?)`,
    ),
    sentOutbox: db.prepare(`update outbox set status = 'sent', sent_at = ?, attempts = 1 where id = ?`),
    sentMessage: db.prepare('update messages set sent_at = ? where outbox_id = ?'),
  };
  const markSent = db.transaction((outboxId: number) => {
    const now = new Date().toISOString();
    s.sentOutbox.run(now, outboxId);
    s.sentMessage.run(now, outboxId);
  });

  const render = (data: Record<string, unknown>): { subject: string; text: string; html: string } => {
    const subject = t.subject(data).trim();
    const text = t.layoutText({ ...data, body: t.text(data, { partials: t.partials.text }) }, { partials: t.partials.text, data: { language: 'en', subject } });
    const html = t.layoutHtml({ ...data, body: t.html(data, { partials: t.partials.html }) }, { partials: t.partials.html, data: { language: 'en', subject } });
    return { subject, text, html };
  };

  const commit = db.transaction((mail: Awaited<ReturnType<typeof simpleParser>>, sha: string, size: number) => {
    const now = new Date().toISOString();
    const messageId = bare(mail.messageId);
    const key = messageId !== null ? `mid:${messageId}` : `sha256:${sha}`;
    if (s.dedupe.get(key) !== undefined) return null;
    const from = firstAddress(mail.from);
    const refs = [bare(typeof mail.inReplyTo === 'string' ? mail.inReplyTo : undefined), ...[mail.references ?? []].flat().map((r) => bare(r))].filter((r): r is string => r !== null);
    let caseRow = refs.length > 0 ? (s.thread.get(refs[0]) as { id: number; number: number; subject: string; created_at: string } | undefined) : undefined;
    const created = caseRow === undefined;
    if (caseRow === undefined) {
      const number = Number((s.maxNumber.get() as { n: number | null }).n ?? 10000) + 1;
      const id = Number(s.newCase.run(number, mail.subject ?? '', subjectKey(mail.subject ?? ''), from.address, from.name, now, now, now).lastInsertRowid);
      caseRow = { id, number, subject: mail.subject ?? '', created_at: now };
      s.participant.run(id, from.address, from.name, now);
    } else {
      s.touchCase.run(now, now, caseRow.id);
    }
    const receiptId = Number(s.receipt.run(key, messageId, sha, size, from.address, mail.subject ?? '', now, created ? 'new' : 'known-reference', caseRow.id).lastInsertRowid);
    const text = mail.text ?? '';
    const rowId = Number(
      s.message.run(caseRow.id, 'in', messageId, refs[0] ?? null, JSON.stringify(refs), from.address, from.name, JSON.stringify([ADDRESS]), mail.subject ?? '', text, mail.html || null, text, sha, size, null, created ? 'new' : 'known-reference', receiptId, null, now)
        .lastInsertRowid,
    );
    s.receiptMessage.run(rowId, receiptId);
    for (const a of mail.attachments) s.attachment.run(rowId, a.filename ?? 'file', a.contentType, a.size, a.checksum);
    s.event.run(caseRow.id, rowId, created ? 'case.created' : 'message.received', `customer:${from.address}`, 'new email', now);
    if (!created) return null;
    const tag = `[Case #${caseRow.number}]`;
    const data = {
      instance: { name: 'Bench Support' },
      mailbox: { name: 'support', address: ADDRESS, queue: 'support' },
      case: { number: caseRow.number, tag, subject: caseRow.subject, status: 'new', priority: 'normal', createdAt: now, language: 'en' },
      customer: { name: from.name, address: from.address, greetingName: from.name || 'there' },
      replyMarker: REPLY_MARKER,
      isTest: false,
      expectedResponse: 'within one business day',
      helpfulInfo: ['Your account name', 'A screenshot of the error'],
    };
    const out = render(data);
    const ourId = `c${caseRow.number}.${randomBytes(6).toString('hex')}.${randomBytes(6).toString('hex')}@bench.example`;
    const headers = { 'X-Loop': 'casegate@bench.example', 'Auto-Submitted': 'auto-replied', 'X-Auto-Response-Suppress': 'All' };
    const references = messageId !== null ? `<${messageId}>` : null;
    const outboxId = Number(
      s.outbox.run(caseRow.id, ADDRESS, from.address, from.name, ADDRESS, out.subject, ourId, messageId, references, JSON.stringify(headers), out.text, out.html, now, now).lastInsertRowid,
    );
    const outRow = Number(
      s.message.run(caseRow.id, 'out', ourId, messageId, JSON.stringify(refs), ADDRESS, 'Bench Support', JSON.stringify([from]), out.subject, out.text, out.html, out.text, null, null, 'auto-reply', 'outgoing', null, outboxId, now).lastInsertRowid,
    );
    s.event.run(caseRow.id, outRow, 'email.queued', 'system', `confirmation to ${from.address}`, now);
    return { ...out, to: from, ourId, inReplyTo: messageId, references, headers, outboxId };
  });

  return {
    async handle(m, onCommitted) {
      const sha = createHash('sha256').update(m.raw).digest('hex');
      await writeFile(join(blobDir, sha), m.raw);
      const mail = await simpleParser(m.raw);
      const reply = commit(mail, sha, m.raw.length);
      checkpointer.committed();
      onCommitted?.();
      if (reply === null) return;
      await mime.sendMail({
        from: { name: 'Bench Support', address: ADDRESS },
        to: { name: reply.to.name, address: reply.to.address },
        subject: reply.subject,
        text: reply.text,
        html: reply.html,
        messageId: `<${reply.ourId}>`,
        ...(reply.inReplyTo !== null ? { inReplyTo: `<${reply.inReplyTo}>` } : {}),
        ...(reply.references !== null ? { references: reply.references } : {}),
        headers: reply.headers,
      });
      if (relay !== undefined) {
        markSent(reply.outboxId);
        checkpointer.committed();
      }
    },
    async close() {
      mime.close();
      await checkpointer.close();
      db.close();
    },
  };
}
