import type { CaseRow, OutboxStatus } from '../db/schema.js';
import type { CaseDetail } from '../views.js';
import { UTC_DISPLAY, zoneNote, type TimeDisplay } from './display-time.js';
import { fit, safeLine, safeText } from './terminal.js';

/**
 * How `casegate cases list` and `cases show` print (text; --json prints the read model). Every
 * string that came from mail passes safeLine/safeText: nothing from a customer reaches the
 * terminal raw.
 */

export interface ListFormat {
  /** Total width (a terminal); null = no limit (pipes, files). */
  readonly width: number | null;
  /** Display name of an owner address ("" when unknown). */
  readonly ownerName: (address: string) => string;
  /** With --search: per case id, the newest message that matched, shown under the case. */
  readonly matches?: ReadonlyMap<number, SearchMatch>;
  /** A DUE column: the next SLA target of each case (--overdue, --due-within). */
  readonly due?: boolean;
  /** How times are shown (display-time.ts); default UTC. */
  readonly time?: TimeDisplay;
}

/** The SLA target a case is measured against next: the first response while none was given, else the resolution; its time (to the minute, in `time`'s zone) or "-". */
export function nextDue(c: Pick<CaseRow, 'first_response_at' | 'first_response_due_at' | 'resolution_due_at'>, time: TimeDisplay = UTC_DISPLAY): string {
  const at = c.first_response_at === null && c.first_response_due_at !== null ? c.first_response_due_at : c.resolution_due_at;
  return at === null ? '-' : `${time.at(at)}${at === c.first_response_due_at && c.first_response_at === null ? ' 1st' : ''}`;
}

/** The newest message of a case that contains every searched word, as `cases list --search` shows it. */
export interface SearchMatch {
  readonly message: number;
  readonly from: string;
  readonly at: string;
  readonly excerpt: string;
}

interface Column {
  readonly head: string;
  readonly width: number;
  readonly value: (c: CaseRow) => string;
  /** Dropped first when the terminal is narrow (lower = dropped earlier). */
  readonly keep: number;
}

export function formatCaseList(rows: readonly CaseRow[], f: ListFormat): string {
  if (rows.length === 0) return 'no cases\n';
  const owner = (c: CaseRow): string => (c.owner === null ? '-' : f.ownerName(c.owner) || c.owner);
  const time = f.time ?? UTC_DISPLAY;
  const all: Column[] = [
    { head: 'CASE', width: 8, value: (c) => String(c.number), keep: 9 },
    { head: 'STATUS', width: 9, value: (c) => c.status, keep: 8 },
    { head: 'PRIORITY', width: 9, value: (c) => c.priority, keep: 7 },
    { head: 'QUEUE', width: 12, value: (c) => c.queue, keep: 2 },
    { head: 'OWNER', width: 16, value: owner, keep: 5 },
    { head: 'REQUESTER', width: 28, value: (c) => c.requester_address, keep: 3 },
    { head: 'UPDATED', width: 25, value: (c) => time.at(c.updated_at), keep: 1 },
    ...(f.due === true ? [{ head: 'DUE', width: 29, value: (c: CaseRow) => nextDue(c, time), keep: 6 }] : []),
  ];
  const subject = (c: CaseRow): string => `${c.escalated === 1 ? `[esc ${c.escalation_level}] ` : ''}${safeLine(c.subject)}`;
  let cols = all;
  if (f.width !== null) {
    // Keep at least 20 characters for the subject; drop the least useful columns until it fits.
    const used = (cs: Column[]): number => cs.reduce((n, c) => n + c.width + 1, 0);
    const order = [...all].sort((a, b) => a.keep - b.keep);
    while (f.width - used(cols) < 20 && cols.length > 3) {
      const drop = order.shift()!;
      cols = cols.filter((c) => c !== drop);
    }
  }
  const subjectWidth = f.width === null ? null : Math.max(10, f.width - cols.reduce((n, c) => n + c.width + 1, 0));
  const line = (cells: string[], subj: string): string => `${cells.join(' ')} ${subjectWidth === null ? subj : fit(subj, subjectWidth, false)}`.trimEnd() + '\n';
  const head = line(
    cols.map((c) => fit(c.head, c.width)),
    'SUBJECT',
  );
  const excerpt = (r: CaseRow): string => {
    const m = f.matches?.get(r.id);
    if (m === undefined) return '';
    const text = `${time.at(m.at)} ${m.from}: ${safeLine(m.excerpt)}`;
    return `  ↳ ${f.width === null ? text : fit(text, Math.max(20, f.width - 4), false)}`.trimEnd() + '\n';
  };
  return head + rows.map((r) => line(cols.map((c) => fit(safeLine(c.value(r)), c.width)), subject(r)) + excerpt(r)).join('') + `${f.width === null ? `(${zoneNote(time)})` : fit(`(${zoneNote(time)})`, f.width, false)}\n`;
}

function who(name: string, address: string): string {
  return name !== '' ? `${safeLine(name)} <${address}>` : address;
}

/** Lines of a message's text `cases show` prints unless --full (a thread of our long confirmations stays readable). */
const MESSAGE_LINES = 40;

export function formatCaseDetail(d: CaseDetail, ownerName: (address: string) => string, full = false, time: TimeDisplay = UTC_DISPLAY): string {
  const c = d.case;
  const t = (iso: string): string => time.at(iso, { seconds: true });
  const lines = [
    `Case ${c.number}: ${safeLine(c.subject)}`,
    ...(d.mergedInto !== null ? [`  MERGED into case ${d.mergedInto}: its messages, mail and people are there (casegate cases show ${d.mergedInto})`] : []),
    `  status ${c.status} · priority ${c.priority} · queue ${c.queue} · mailbox ${c.mailbox} · language ${c.language}${d.linkedTo !== null ? ` · linked to case ${d.linkedTo} (possibly related: casegate cases show ${d.linkedTo})` : ''}`,
    `  requester ${who(c.requester_name, c.requester_address)} · created ${t(c.created_at)} · updated ${t(c.updated_at)}`,
    `  ${c.spam === 1 ? 'SUSPECTED SPAM (casegate cases ham to release) · ' : ''}${c.kind === 'feedback' ? 'feedback · ' : ''}owner ${c.owner !== null ? who(ownerName(c.owner), c.owner) : 'none'} · ${c.escalated === 1 ? `escalated, level ${c.escalation_level} since ${c.escalated_at !== null ? t(c.escalated_at) : '?'}` : 'not escalated'}${d.tags.length > 0 ? ` · tags ${d.tags.join(', ')}` : ''}`,
    `  first response ${c.first_response_at !== null ? t(c.first_response_at) : 'not yet'}${c.resolved_at !== null ? ` · resolved ${t(c.resolved_at)}` : ''}${c.closed_at !== null ? ` · closed ${t(c.closed_at)}` : ''}`,
    `  participants: ${d.participants.map((p) => `${p.address} (${p.role})`).join(', ')}`,
    ...d.bouncing.map((b) => `  BOUNCING: ${b.address} bounced hard${b.since !== null ? ` at ${t(b.since)}` : ''}${b.reason !== null ? ` (${safeLine(b.reason)})` : ''}: casegate sends it nothing until it writes again`),
    ...d.unverifiedBounces.map(
      (u) =>
        `  UNVERIFIED BOUNCE REPORT: ${safeLine(u.address)} reported undeliverable at ${t(u.at)}${u.reason !== null ? ` (${safeLine(u.reason)})` : ''}${u.reporter !== null ? ` by ${safeLine(u.reporter)}` : ''} — nothing proves a mail system wrote it (a forged report?): not marked, mail to it still goes`,
    ),
    ...(c.first_response_due_at !== null || c.resolution_due_at !== null
      ? [`  due: first response ${c.first_response_due_at !== null ? time.at(c.first_response_due_at) : '–'} · resolution ${c.resolution_due_at !== null ? time.at(c.resolution_due_at) : c.status === 'pending' ? 'paused (pending)' : '–'}`]
      : []),
    ...(d.slaMoves.length > 0
      ? [
          `  SLA measured in: ${d.slaMoves
            .map((m) => {
              const missed = [...(m.frMissedAt !== undefined ? [`first response missed ${time.at(m.frMissedAt)}`] : []), ...(m.resMissedAt !== undefined ? [`resolution missed ${time.at(m.resMissedAt)}`] : [])];
              return `calendar ${m.calendar} until ${time.at(m.to)}${missed.length > 0 ? ` (${missed.join(', ')})` : ''}`;
            })
            .join(' · ')} · then queue ${c.queue}'s calendar`,
        ]
      : []),
    `  (${zoneNote(time)})`,
    '',
    'Thread (← in, → out; [INTERNAL] = staff only, never shown to the customer):',
  ];
  const outgoing = new Map(d.outbox.map((o) => [o.id, o]));
  for (const m of d.messages) {
    const flags = [m.thread_rule, ...(m.automated !== null ? [m.automated] : []), ...(m.spam === 1 ? ['suspected spam'] : []), ...(m.sender_auth === 'fail' ? ['SENDER CHECK FAILED: the From may be forged'] : [])].join(', ');
    const state = m.direction === 'out' ? ` ${outgoingState(m.sent_at, m.outbox_id !== null ? outgoing.get(m.outbox_id)?.status : undefined)}` : '';
    const by = m.author !== null && m.direction === 'out' ? ` for ${m.author}` : '';
    lines.push(`--- ${m.direction === 'in' ? '←' : '→'} ${t(m.created_at)} ${m.from_address}${by} [${flags}]${state}${m.internal === 1 ? ' [INTERNAL]' : ''}`);
    const to = (JSON.parse(m.to_json) as { address: string }[]).map((r) => r.address);
    const cc = (JSON.parse(m.cc_json) as { address: string }[]).map((r) => r.address);
    lines.push(`    Subject: ${safeLine(m.subject)}`);
    if (m.direction === 'out') lines.push(`    To: ${to.join(', ')}${cc.length > 0 ? ` · Cc: ${cc.join(', ')}` : ''}`);
    const text = safeText(m.visible_text).split('\n');
    for (const l of full ? text : text.slice(0, MESSAGE_LINES)) lines.push(`    ${l}`);
    // Never cut silently: the agent must know there is more of the customer's text.
    if (!full && text.length > MESSAGE_LINES) lines.push(`    … ${text.length - MESSAGE_LINES} more lines (casegate cases show ${c.number} --full)`);
    // A file of the case by its id (`cases files N --id ID --save DIR`); staff mail's copies are the customer's files again.
    const copies = m.direction === 'out' && m.internal === 1;
    for (const a of m.attachments) lines.push(`    📎 ${safeLine(a.filename)} (${safeLine(a.content_type)}, ${a.size} bytes)${copies ? ' (a copy)' : ` · file ${a.id}`}`);
  }
  if (d.messages.some((m) => m.attachments.length > 0)) lines.push('', `Files: casegate cases files ${c.number} lists them; --id ID --save DIR saves one, --save DIR all.`);
  lines.push('', 'Events:');
  for (const e of d.events) lines.push(`  ${t(e.created_at)} ${fit(e.type, 22)} ${fit(safeLine(e.actor), 30)} ${safeLine(e.reason)}`);
  if (d.outbox.length > 0) {
    lines.push('', 'Outgoing mail:');
    for (const o of d.outbox) lines.push(`  #${o.id} ${fit(o.kind, 14)} ${fit(o.status, 10)} to ${o.to_address} attempts ${o.attempts}${o.last_error !== null ? ` — ${safeLine(o.last_error)}` : ''}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * What became of an outgoing thread entry, by its email's outbox row: an entry whose email failed,
 * was cancelled or suppressed is not "queued". `sentAt`: it went to (some of) its recipients.
 */
function outgoingState(sentAt: string | null, status: OutboxStatus | undefined): string {
  switch (status) {
    case undefined:
      return sentAt !== null ? 'sent' : 'queued';
    case 'sent':
      return 'sent';
    case 'queued':
      return sentAt !== null ? 'partly sent (some recipients still to go)' : 'queued';
    case 'failed':
      return sentAt !== null ? 'partly sent, then FAILED for the others' : 'FAILED, not sent';
    case 'cancelled':
    case 'suppressed':
      return sentAt !== null ? `partly sent, then ${status} for the others` : `not sent (${status})`;
  }
}
