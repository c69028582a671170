import { readFile } from 'node:fs/promises';
import type { AppContext } from './context.js';
import type { Db } from './db/database.js';
import { caseByNumber, participants } from './db/repos/cases.js';
import { eventsOfCase } from './db/repos/events.js';
import { bouncingAmong } from './db/repos/addresses.js';
import { tagsOfCase } from './db/repos/tags.js';
import { attachmentsOfMessages, messagesOfCase } from './db/repos/messages.js';
import { allMailboxHealth } from './db/repos/mailbox-health.js';
import { oldestQueued, outboxOfCase, statusCounts, type OutboxSummary } from './db/repos/outbox.js';
import { allTransportHealth } from './db/repos/transport-health.js';
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
  /** Addresses of the case (requester, participants) that bounced hard and were not written from since: casegate sends them nothing. */
  readonly bouncing: { readonly address: string; readonly since: string | null; readonly reason: string | null; readonly bounces: number }[];
}

export async function caseDetail(db: Db, number: number): Promise<CaseDetail | null> {
  const c = await caseByNumber(db, number);
  if (c === undefined) return null;
  const msgs = await messagesOfCase(db, c.id);
  const people = await participants(db, c.id);
  const atts = await attachmentsOfMessages(
    db,
    msgs.map((m) => m.id),
  );
  return {
    case: c,
    tags: await tagsOfCase(db, c.id),
    participants: people,
    messages: msgs.map(({ html: _h, text: _t, ...m }) => ({ ...m, attachments: atts.filter((a) => a.message_row_id === m.id) })),
    events: await eventsOfCase(db, c.id),
    outbox: (await outboxOfCase(db, c.id)).map(({ html: _h, text: _t, ...o }) => o),
    bouncing: (await bouncingAmong(db, [c.requester_address, ...people.map((p) => p.address)])).map((b) => ({ address: b.address, since: b.last_bounce_at, reason: b.last_reason, bounces: b.bounce_count })),
  };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s.slice(0, n - 1) + '…' : s.padEnd(n);
}

export function formatQuarantineList(rows: readonly ReceiptRow[]): string {
  if (rows.length === 0) return 'quarantine is empty\n';
  return rows.map((r) => `${pad(String(r.id), 6)} ${r.received_at.slice(0, 19).replace('T', ' ')} ${pad(r.from_address ?? '?', 28)} ${pad(r.subject, 30)} ${r.reason}\n`).join('');
}

export function formatOutboxList(rows: readonly OutboxSummary[], now: Date): string {
  if (rows.length === 0) return 'no emails\n';
  const head = `${pad('ID', 7)} ${pad('STATUS', 10)} ${pad('KIND', 16)} ${pad('CASE', 7)} ${pad('TO', 28)} ${pad('QUEUED', 20)} ${pad('TRIES', 6)} NEXT / ERROR\n`;
  return (
    head +
    rows
      .map((o) => {
        const queued = (o.queued_at ?? o.created_at).slice(0, 19).replace('T', ' ');
        const next = o.status === 'queued' ? (o.claimed_by !== null && o.claim_expires_at !== null && o.claim_expires_at > now.toISOString() ? 'sending now' : o.next_attempt_at <= now.toISOString() ? 'due now' : `next ${o.next_attempt_at.slice(0, 19).replace('T', ' ')}`) : o.status === 'sent' ? `sent ${o.sent_at?.slice(0, 19).replace('T', ' ') ?? ''}` : '';
        const err = o.last_error !== null && o.status !== 'sent' ? o.last_error : '';
        const tail = [next, err].filter((x) => x !== '').join(' — ');
        return `${pad(String(o.id), 7)} ${pad(o.status, 10)} ${pad(o.kind, 16)} ${pad(o.case_number !== null ? String(o.case_number) : '-', 7)} ${pad(o.to_address, 28)} ${pad(queued, 20)} ${pad(String(o.attempts), 6)} ${tail}\n`;
      })
      .join('')
  );
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

export interface OutgoingStatus {
  /** The transport the daemon last reported about (smtp:<host>:<port> or file:<dir>); null before any. */
  readonly transport: string | null;
  /** ok | failing | paused (the transport is broken: sending stopped and it is being probed). */
  readonly state: string | null;
  readonly lastError: string | null;
  /** auth | tls | connection | recipient | message | unknown */
  readonly lastErrorClass: string | null;
  readonly lastErrorAt: string | null;
  readonly lastErrorAgeSeconds: number | null;
  readonly lastSuccessAt: string | null;
  readonly failingSince: string | null;
  readonly pausedSince: string | null;
  readonly alerted: boolean;
  /** The queued email waiting longest. */
  readonly oldestQueued: { readonly id: number; readonly kind: string; readonly to: string; readonly queuedAt: string; readonly ageSeconds: number; readonly attempts: number; readonly lastError: string | null } | null;
}

export interface StatusReport {
  readonly receipts: Record<string, number>;
  readonly quarantineWaiting: number;
  readonly outbox: Record<string, number>;
  readonly outgoing: OutgoingStatus;
  readonly mailboxes: Selectable<MailboxHealthTable>[];
}

export async function statusReport(ctx: AppContext): Promise<StatusReport> {
  const now = ctx.clock.now().getTime();
  const age = (at: string | null): number | null => (at === null ? null : Math.max(0, Math.round((now - new Date(at).getTime()) / 1000)));
  const health = (await allTransportHealth(ctx.db))[0];
  const oldest = await oldestQueued(ctx.db);
  return {
    receipts: await outcomeCounts(ctx.db),
    quarantineWaiting: (await listQuarantine(ctx.db, false, 100_000)).length,
    outbox: await statusCounts(ctx.db),
    outgoing: {
      transport: health?.transport ?? null,
      state: health?.state ?? null,
      lastError: health?.last_error ?? null,
      lastErrorClass: health?.last_error_class ?? null,
      lastErrorAt: health?.last_error_at ?? null,
      lastErrorAgeSeconds: age(health?.last_error_at ?? null),
      lastSuccessAt: health?.last_success_at ?? null,
      failingSince: health?.failing_since ?? null,
      pausedSince: health?.paused_since ?? null,
      alerted: health?.alerted === 1,
      oldestQueued:
        oldest === undefined
          ? null
          : { id: oldest.id, kind: oldest.kind, to: oldest.to_address, queuedAt: oldest.queued_at, ageSeconds: age(oldest.queued_at) ?? 0, attempts: oldest.attempts, lastError: oldest.last_error },
    },
    mailboxes: await allMailboxHealth(ctx.db),
  };
}

/** "42 s", "12 min", "3 h 5 min", "2 d 4 h". */
export function formatAge(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  const min = Math.floor(seconds / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h${min % 60 > 0 ? ` ${min % 60} min` : ''}`;
  return `${Math.floor(h / 24)} d${h % 24 > 0 ? ` ${h % 24} h` : ''}`;
}

function formatOutgoing(o: OutgoingStatus): string[] {
  const lines: string[] = [];
  if (o.transport !== null) {
    const state = o.state === 'paused' ? `PAUSED since ${o.pausedSince ?? '?'} (${o.lastErrorClass ?? '?'}: transport broken, being probed)` : o.state === 'failing' ? 'FAILING' : 'ok';
    lines.push(`  transport ${o.transport} · ${state}${o.failingSince !== null ? ` · failing since ${o.failingSince}` : ''}${o.alerted ? ' · admin alerted' : ''} · last success ${o.lastSuccessAt ?? 'never'}`);
  }
  if (o.lastError !== null && o.lastErrorAgeSeconds !== null) {
    lines.push(`  last send error ${formatAge(o.lastErrorAgeSeconds)} ago (${o.lastErrorAt}) [${o.lastErrorClass ?? '?'}]: ${o.lastError}`);
  }
  const q = o.oldestQueued;
  if (q !== null) {
    lines.push(`  oldest queued email #${q.id} (${q.kind} to ${q.to}) waiting ${formatAge(q.ageSeconds)} since ${q.queuedAt}, ${q.attempts} attempt(s)${q.lastError !== null ? ` — ${q.lastError}` : ''}`);
  }
  return lines;
}

export function formatStatus(s: StatusReport): string {
  const kv = (o: Record<string, number>): string => (Object.keys(o).length === 0 ? 'none' : Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', '));
  const lines = [`Inbound messages: ${kv(s.receipts)}`, `Quarantine awaiting action: ${s.quarantineWaiting}`, `Outbox: ${kv(s.outbox)}`, ...formatOutgoing(s.outgoing), 'Mailboxes:'];
  if (s.mailboxes.length === 0) lines.push('  (no IMAP mailboxes running)');
  for (const m of s.mailboxes) {
    lines.push(`  ${pad(m.mailbox, 16)} ${pad(m.state, 14)} last success ${m.last_success_at ?? 'never'} · backlog ${m.backlog}${m.failing_since !== null ? ` · failing since ${m.failing_since}` : ''}${m.alerted === 1 ? ' · admin alerted' : ''}${m.detail !== null ? ` · ${m.detail}` : ''}`);
  }
  return lines.join('\n') + '\n';
}
