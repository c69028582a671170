import { readFile } from 'node:fs/promises';
import type { AppContext } from './context.js';
import type { Db } from './db/database.js';
import { caseByNumber, participants } from './db/repos/cases.js';
import { eventsOfCase } from './db/repos/events.js';
import { tagsOfCase } from './db/repos/tags.js';
import { attachmentsOfMessages, messagesOfCase } from './db/repos/messages.js';
import { outboxOfCase, statusCounts } from './db/repos/outbox.js';
import { listQuarantine, outcomeCounts, receiptById } from './db/repos/receipts.js';
import type { AttachmentRow, CaseRow, EventRow, MailboxHealthTable, MessageRow, OutboxRow, ParticipantRow, ReceiptRow } from './db/schema.js';
import type { Selectable } from 'kysely';

/** Read models for the CLI (and later a web view): plain data, JSON-friendly, plus text formatting. */

export interface CaseDetail {
  readonly case: CaseRow;
  readonly tags: string[];
  readonly participants: ParticipantRow[];
  readonly messages: (Omit<MessageRow, 'html' | 'text'> & { attachments: AttachmentRow[] })[];
  readonly events: EventRow[];
  readonly outbox: Omit<OutboxRow, 'html' | 'text'>[];
}

export async function caseDetail(db: Db, number: number): Promise<CaseDetail | null> {
  const c = await caseByNumber(db, number);
  if (c === undefined) return null;
  const msgs = await messagesOfCase(db, c.id);
  const atts = await attachmentsOfMessages(
    db,
    msgs.map((m) => m.id),
  );
  return {
    case: c,
    tags: await tagsOfCase(db, c.id),
    participants: await participants(db, c.id),
    messages: msgs.map(({ html: _h, text: _t, ...m }) => ({ ...m, attachments: atts.filter((a) => a.message_row_id === m.id) })),
    events: await eventsOfCase(db, c.id),
    outbox: (await outboxOfCase(db, c.id)).map(({ html: _h, text: _t, ...o }) => o),
  };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s.slice(0, n - 1) + '…' : s.padEnd(n);
}

export function formatCaseList(rows: readonly CaseRow[]): string {
  if (rows.length === 0) return 'no cases\n';
  const head = `${pad('CASE', 8)} ${pad('STATUS', 9)} ${pad('PRIORITY', 9)} ${pad('QUEUE', 12)} ${pad('REQUESTER', 28)} ${pad('UPDATED', 20)} SUBJECT\n`;
  return head + rows.map((c) => `${pad(String(c.number), 8)} ${pad(c.status, 9)} ${pad(c.priority, 9)} ${pad(c.queue, 12)} ${pad(c.requester_address, 28)} ${pad(c.updated_at.slice(0, 19).replace('T', ' '), 20)} ${c.escalated === 1 ? `[esc ${c.escalation_level}] ` : ''}${c.subject}\n`).join('');
}

export function formatCaseDetail(d: CaseDetail): string {
  const c = d.case;
  const lines = [
    `Case ${c.number}: ${c.subject}`,
    `  status ${c.status} · priority ${c.priority} · queue ${c.queue} · mailbox ${c.mailbox} · language ${c.language}${c.linked_case_id !== null ? ` · linked to case id ${c.linked_case_id}` : ''}`,
    `  requester ${c.requester_name !== '' ? `${c.requester_name} <${c.requester_address}>` : c.requester_address} · created ${c.created_at} · updated ${c.updated_at}`,
    `  ${c.kind === 'feedback' ? 'feedback · ' : ''}owner ${c.owner ?? 'none'} · ${c.escalated === 1 ? `escalated, level ${c.escalation_level} since ${c.escalated_at ?? '?'}` : 'not escalated'}${d.tags.length > 0 ? ` · tags ${d.tags.join(', ')}` : ''}`,
    `  participants: ${d.participants.map((p) => `${p.address} (${p.role})`).join(', ')}`,
    ...(c.first_response_due_at !== null || c.resolution_due_at !== null
      ? [`  due: first response ${c.first_response_due_at ?? '–'} · resolution ${c.resolution_due_at ?? (c.status === 'pending' ? 'paused (pending)' : '–')}`]
      : []),
    '',
    'Thread:',
  ];
  for (const m of d.messages) {
    lines.push(`--- ${m.direction === 'in' ? '←' : '→'} ${m.created_at} ${m.from_address} [${m.thread_rule}${m.automated !== null ? `, ${m.automated}` : ''}]${m.direction === 'out' ? (m.sent_at !== null ? ' sent' : ' queued') : ''}`);
    lines.push(`    Subject: ${m.subject}`);
    for (const l of m.visible_text.split('\n').slice(0, 40)) lines.push(`    ${l}`);
    for (const a of m.attachments) lines.push(`    📎 ${a.filename} (${a.content_type}, ${a.size} bytes)`);
  }
  lines.push('', 'Events:');
  for (const e of d.events) lines.push(`  ${e.created_at} ${pad(e.type, 22)} ${pad(e.actor, 30)} ${e.reason}`);
  if (d.outbox.length > 0) {
    lines.push('', 'Outgoing mail:');
    for (const o of d.outbox) lines.push(`  #${o.id} ${pad(o.kind, 14)} ${pad(o.status, 10)} to ${o.to_address} attempts ${o.attempts}${o.last_error !== null ? ` — ${o.last_error}` : ''}`);
  }
  return lines.join('\n') + '\n';
}

export function formatQuarantineList(rows: readonly ReceiptRow[]): string {
  if (rows.length === 0) return 'quarantine is empty\n';
  return rows.map((r) => `${pad(String(r.id), 6)} ${r.received_at.slice(0, 19).replace('T', ' ')} ${pad(r.from_address ?? '?', 28)} ${pad(r.subject, 30)} ${r.reason}\n`).join('');
}

export interface QuarantineDetail {
  readonly receipt: ReceiptRow;
  readonly rawPath: string;
  readonly raw?: string;
}

export async function quarantineDetail(ctx: AppContext, id: number, withRaw: boolean): Promise<QuarantineDetail | null> {
  const r = await receiptById(ctx.db, id);
  if (r === undefined || r.outcome !== 'quarantined') return null;
  const rawPath = ctx.blobs.pathFor(r.raw_sha256);
  return { receipt: r, rawPath, ...(withRaw ? { raw: await readFile(rawPath, 'latin1') } : {}) };
}

export function formatQuarantine(d: QuarantineDetail): string {
  const r = d.receipt;
  const lines = [
    `Quarantined message ${r.id}${r.retried_as !== null ? ` (retried as ${r.retried_as})` : ''}`,
    `  received ${r.received_at} via ${r.channel} in mailbox ${r.mailbox}`,
    `  from ${r.from_address ?? '(none)'} · envelope ${r.envelope_from ?? '(none)'} → ${r.envelope_to_json}`,
    `  subject ${r.subject}`,
    `  message-id ${r.message_id ?? '(none)'}`,
    `  stage ${r.stage}: ${r.reason}`,
    `  raw ${d.rawPath} (${r.raw_size} bytes)`,
  ];
  if (d.raw !== undefined) lines.push('', d.raw);
  return lines.join('\n') + '\n';
}

export interface StatusReport {
  readonly receipts: Record<string, number>;
  readonly quarantineWaiting: number;
  readonly outbox: Record<string, number>;
  readonly mailboxes: Selectable<MailboxHealthTable>[];
}

export async function statusReport(ctx: AppContext): Promise<StatusReport> {
  return {
    receipts: await outcomeCounts(ctx.db),
    quarantineWaiting: (await listQuarantine(ctx.db, false, 100_000)).length,
    outbox: await statusCounts(ctx.db),
    mailboxes: await ctx.db.selectFrom('mailbox_health').selectAll().orderBy('mailbox').execute(),
  };
}

export function formatStatus(s: StatusReport): string {
  const kv = (o: Record<string, number>): string => (Object.keys(o).length === 0 ? 'none' : Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', '));
  const lines = [`Inbound messages: ${kv(s.receipts)}`, `Quarantine awaiting action: ${s.quarantineWaiting}`, `Outbox: ${kv(s.outbox)}`, 'Mailboxes:'];
  if (s.mailboxes.length === 0) lines.push('  (no IMAP mailboxes running)');
  for (const m of s.mailboxes) {
    lines.push(`  ${pad(m.mailbox, 16)} ${pad(m.state, 14)} last success ${m.last_success_at ?? 'never'} · backlog ${m.backlog}${m.failing_since !== null ? ` · failing since ${m.failing_since}` : ''}${m.alerted === 1 ? ' · admin alerted' : ''}${m.detail !== null ? ` · ${m.detail}` : ''}`);
  }
  return lines.join('\n') + '\n';
}
