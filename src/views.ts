import { readFile } from 'node:fs/promises';
import type { AppContext } from './context.js';
import type { Db } from './db/database.js';
import { caseByNumber, caseNumberOf, participants } from './db/repos/cases.js';
import { continuedAs } from './db/repos/case-merge.js';
import { eventsOfCase } from './db/repos/events.js';
import { bouncingAmong } from './db/repos/addresses.js';
import { tagsOfCase } from './db/repos/tags.js';
import { attachmentsOfMessages, messagesOfCase } from './db/repos/messages.js';
import { outboxOfCase, type OutboxSummary } from './db/repos/outbox.js';
import { receiptById } from './db/repos/receipts.js';
import { slaOfCase } from './db/repos/sla.js';
import { parseMoves, type Move } from './cases/sla-stretches.js';
import { safeLine, safeText } from './cli/terminal.js';
import { UTC_DISPLAY, zoneNote, type TimeDisplay } from './cli/display-time.js';
import type { AttachmentRow, CaseRow, EventRow, MessageRow, OutboxRow, ParticipantRow, ReceiptRow } from './db/schema.js';
import { SIZE_LIMIT_STAGE } from './pipeline/types.js';

/** Read models for the CLI (and later a web view): plain data, JSON-friendly, plus text formatting (mail's text made safe for a terminal). */

export interface CaseDetail {
  readonly case: CaseRow;
  readonly tags: string[];
  readonly participants: ParticipantRow[];
  readonly messages: (Omit<MessageRow, 'html' | 'text'> & { attachments: AttachmentRow[] })[];
  readonly events: EventRow[];
  readonly outbox: Omit<OutboxRow, 'html' | 'text'>[];
  /** Addresses of the case (requester, participants) that bounced hard and were not written from since: casegate sends them nothing. */
  readonly bouncing: { readonly address: string; readonly since: string | null; readonly reason: string | null; readonly bounces: number }[];
  /**
   * Reports that an address of the case could not be reached which nothing proves a mail system
   * wrote (pipeline/bounce-standing.ts): the newest per address not marked bouncing and not written
   * from since. Mail to it still goes; the agent sees "unverified bounce report", never "bouncing".
   */
  readonly unverifiedBounces: { readonly address: string; readonly at: string; readonly reason: string | null; readonly reporter: string | null }[];
  /** The number of the case this one was merged into and continues as (cases merge), else null. */
  readonly mergedInto: number | null;
  /** The number of the case this one was opened linked to (a stranger's tag or reference, a forward, past the reopen window), else null. */
  readonly linkedTo: number | null;
  /** The queues' calendars the SLA clocks measured before the case's moves (sla-stretches.ts), oldest first; [] when never moved. */
  readonly slaMoves: readonly Move[];
}

/** The newest unverified bounce report per address (events of the case), of addresses neither bouncing nor heard from since. */
function unverifiedBouncesOf(events: readonly EventRow[], messages: readonly Pick<MessageRow, 'direction' | 'from_address' | 'created_at'>[], bouncing: ReadonlySet<string>): CaseDetail['unverifiedBounces'] {
  const newest = new Map<string, CaseDetail['unverifiedBounces'][number]>();
  for (const e of events) {
    if (e.type !== 'address.unverified-bounce') continue;
    const data = JSON.parse(e.data_json) as { address?: string; status?: string | null; unproven?: string; reporter?: string };
    if (typeof data.address !== 'string') continue;
    const key = data.address.toLowerCase();
    const before = newest.get(key);
    if (before === undefined || before.at <= e.created_at) newest.set(key, { address: data.address, at: e.created_at, reason: data.status ?? null, reporter: data.reporter ?? null });
  }
  return [...newest.entries()]
    .filter(([key, r]) => !bouncing.has(key) && !messages.some((m) => m.direction === 'in' && m.from_address.toLowerCase() === key && m.created_at > r.at))
    .map(([, r]) => r);
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
  const events = await eventsOfCase(db, c.id);
  const bouncing = (await bouncingAmong(db, [c.requester_address, ...people.map((p) => p.address)])).map((b) => ({ address: b.address, since: b.last_bounce_at, reason: b.last_reason, bounces: b.bounce_count }));
  return {
    case: c,
    tags: await tagsOfCase(db, c.id),
    participants: people,
    messages: msgs.map(({ html: _h, text: _t, ...m }) => ({ ...m, attachments: atts.filter((a) => a.message_row_id === m.id) })),
    events,
    outbox: (await outboxOfCase(db, c.id)).map(({ html: _h, text: _t, ...o }) => o),
    bouncing,
    unverifiedBounces: unverifiedBouncesOf(events, msgs, new Set(bouncing.map((b) => b.address.toLowerCase()))),
    mergedInto: c.merged_into !== null ? (await continuedAs(db, c)).number : null,
    linkedTo: c.linked_case_id !== null ? await caseNumberOf(db, c.linked_case_id) : null,
    slaMoves: parseMoves((await slaOfCase(db, c.id))?.moves_json),
  };
}

export function pad(s: string, n: number): string {
  return s.length >= n ? s.slice(0, n - 1) + '…' : s.padEnd(n);
}

export function formatQuarantineList(rows: readonly ReceiptRow[], time: TimeDisplay = UTC_DISPLAY): string {
  if (rows.length === 0) return 'quarantine is empty\n';
  return rows.map((r) => `${pad(String(r.id), 6)} ${pad(time.at(r.received_at, { seconds: true }), 28)} ${pad(safeLine(r.from_address ?? '?'), 28)} ${pad(safeLine(r.subject), 30)} ${safeLine(r.reason)}\n`).join('') + `(${zoneNote(time)})\n`;
}

export function formatOutboxList(rows: readonly (OutboxSummary & { readonly held_sender?: boolean })[], now: Date, time: TimeDisplay = UTC_DISPLAY): string {
  if (rows.length === 0) return 'no emails\n';
  const head = `${pad('ID', 7)} ${pad('STATUS', 10)} ${pad('KIND', 16)} ${pad('CASE', 7)} ${pad('TO', 28)} ${pad('QUEUED', 28)} ${pad('TRIES', 6)} NEXT / ERROR\n`;
  return (
    head +
    rows
      .map((o) => {
        const queued = time.at(o.queued_at ?? o.created_at, { seconds: true });
        // A sender the relay refuses (sender-holds.ts): not due, not given up — it waits for the relay.
        const next = o.held_sender === true ? `held: the relay refuses the sender ${safeLine(o.from_address)} (never given up; goes once the relay takes it, or outbox cancel)` : o.status === 'queued' ? (o.claimed_by !== null && o.claim_expires_at !== null && o.claim_expires_at > now.toISOString() ? 'sending now' : o.next_attempt_at <= now.toISOString() ? 'due now' : `next ${time.at(o.next_attempt_at, { seconds: true })}`) : o.status === 'sent' ? `sent ${o.sent_at != null ? time.at(o.sent_at, { seconds: true }) : ''}` : '';
        const err = o.last_error !== null && o.status !== 'sent' ? safeLine(o.last_error) : '';
        const tail = [next, err].filter((x) => x !== '').join(' — ');
        // Sent to the others already: who it is still to go to.
        const to = o.pending_rcpt_json !== null && o.status !== 'sent' ? `only ${(JSON.parse(o.pending_rcpt_json) as string[]).join(', ')}` : o.to_address;
        return `${pad(String(o.id), 7)} ${pad(o.status, 10)} ${pad(o.kind, 16)} ${pad(o.case_number !== null ? String(o.case_number) : '-', 7)} ${pad(safeLine(to), 28)} ${pad(queued, 28)} ${pad(String(o.attempts), 6)} ${tail}\n`;
      })
      .join('') +
    `(${zoneNote(time)})\n`
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
    `  from ${safeLine(r.from_address ?? '(none)')} · envelope ${safeLine(r.envelope_from ?? '(none)')} → ${safeLine(r.envelope_to_json)}`,
    `  subject ${safeLine(r.subject)}`,
    `  message-id ${safeLine(r.message_id ?? '(none)')}`,
    `  stage ${r.stage}: ${safeLine(r.reason)}`,
    r.stage === SIZE_LIMIT_STAGE
      ? `  header only ${d.rawPath} (the message, ${r.raw_size} bytes, was not downloaded: it stays on the IMAP server)`
      : `  raw ${d.rawPath} (${r.raw_size} bytes)`,
  ];
  // Shown made safe for a terminal; the exact bytes are the file above.
  if (d.raw !== undefined) lines.push('', safeText(d.raw));
  return lines.join('\n') + '\n';
}
