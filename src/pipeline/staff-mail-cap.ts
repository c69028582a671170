import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { addEvent, floodNoticeRecipients, senderNotifications } from '../db/repos/events.js';
import type { CaseRow, Database } from '../db/schema.js';
import { notifyAgents, type NotifiedMessage } from '../cases/staff-mail.js';
import { lastCustomerMessage, NO_MESSAGE } from '../cases/escalation.js';
import { ownerName } from '../cases/staff.js';
import { stripPlus } from '../cases/thread-token.js';
import { header, type ParsedMail } from '../mail-in/parsed-mail.js';
import { need, type Inbound } from './types.js';

/**
 * The per-sender cap on staff mail (agentMail.notifyPerSenderPerHour) — its one home. Every kind of
 * staff email one customer message causes counts: the agents' notification, the new owner's
 * assignment email, the leads' escalation alert. A message that caused any counts once
 * (`agents.notified`, actor `customer:<address>`, local+tag@ as local@; mail a mailing list
 * distributed counts as the list's, actor `list:<List-Id>`). Once that many of the
 * sender's messages caused staff mail within the past hour, the next ones cause none: the case is
 * still opened, assigned and escalated; what its emails would have reached is recorded on the case
 * (`agents.notify-suppressed`, with the kinds and addresses held). Everyone whose email is held
 * and who has not had a flood notice about this sender within the hour gets one instead (an
 * agent-notification with event sender-flood showing that message: "more than N messages from X,
 * not notified one by one", with how many went unnotified since the previous notice) — so each
 * agent a round-robin queue gives the flood's cases to, and each lead its escalations would alert,
 * hears of it once, and no one is told nothing.
 *
 * The stages ask `staffMailAllowed` before they queue staff mail (decided once per message and
 * transaction, on the first ask), say what they sent or held with `noteStaffMail`, and the last
 * stage (notify-staff) calls `settleStaffMail`, which sends the notices and writes the one event.
 */

interface Decision {
  readonly limit: number;
  readonly flooding: boolean;
  readonly notified: number;
  readonly lastNotice: string | null;
  readonly suppressed: number;
  readonly told: ReadonlySet<string>;
}

interface Mailed {
  readonly kind: string;
  readonly to: readonly string[];
}

export interface StaffMailLedger {
  /** The transaction it belongs to: a commit tried again starts a new ledger. */
  readonly trx: object;
  decision: Decision | null;
  readonly sent: Mailed[];
  readonly held: Mailed[];
}

function ledgerOf(msg: Inbound, trx: Transaction<Database>): StaffMailLedger {
  const l = msg.notes.staffMail;
  if (l !== undefined && l.trx === trx) return l;
  const fresh: StaffMailLedger = { trx, decision: null, sent: [], held: [] };
  msg.notes.staffMail = fresh;
  return fresh;
}

/**
 * Whose mail it counts as: the sender (local+tag@ as local@) — or, for mail a mailing list
 * distributed (its List-Id; not a list or group of our own, which carries every customer's mail),
 * the list: a list that added support@ floods with as many senders as it has posters.
 */
function actorOf(msg: Inbound): { readonly base: string; readonly actor: string } {
  const listId = msg.notes.ownList == null ? listIdOf(need(msg.notes.parsed, 'parsed')) : null;
  if (listId !== null) return { base: `the mailing list <${listId}>`, actor: `list:${listId}` };
  const base = stripPlus(need(msg.notes.sender, 'sender').address);
  return { base, actor: `customer:${base}` };
}

/** The list's identifier from List-Id (RFC 2919: "Name <id>" or a bare id), lower-case; null without one. */
function listIdOf(parsed: ParsedMail): string | null {
  const value = header(parsed, 'list-id');
  if (value === null) return null;
  const id = (/<([^<>\s]+)>/.exec(value)?.[1] ?? value.trim()).toLowerCase();
  return id !== '' && !/\s/.test(id) ? id.slice(0, 200) : null;
}

/** The cap's state for one actor now (read under the actor's lock until commit). */
async function decide(trx: Transaction<Database>, ctx: AppContext, actor: string): Promise<Decision> {
  const limit = ctx.config.agentMail.notifyPerSenderPerHour;
  if (limit === 0) return { limit, flooding: false, notified: 0, lastNotice: null, suppressed: 0, told: new Set() };
  const now = ctx.clock.now().getTime();
  const hourAgo = new Date(now - HOUR).toISOString();
  const t = await senderNotifications(trx, actor, hourAgo, new Date(now - DAY).toISOString());
  const flooding = t.notified >= limit;
  const told = flooding && t.lastNotice !== null && t.lastNotice > hourAgo ? await floodNoticeRecipients(trx, actor, hourAgo) : new Set<string>();
  return { limit, flooding, notified: t.notified, lastNotice: t.lastNotice, suppressed: t.suppressed, told };
}

/** May this message cause staff mail? false: the sender is over the cap; hold it and say so with noteStaffMail. */
export async function staffMailAllowed(msg: Inbound, ctx: AppContext, trx: Transaction<Database>): Promise<boolean> {
  const ledger = ledgerOf(msg, trx);
  ledger.decision ??= await decide(trx, ctx, actorOf(msg).actor);
  return !ledger.decision.flooding;
}

/** What a stage sent (held: false) or held back (held: true) of this message's staff mail. */
export function noteStaffMail(msg: Inbound, trx: Transaction<Database>, kind: string, to: readonly string[], held: boolean): void {
  if (to.length === 0) return;
  (held ? ledgerOf(msg, trx).held : ledgerOf(msg, trx).sent).push({ kind, to: [...to] });
}

/**
 * After the stages: the flood notices to those whose email was held and who were not told within
 * the hour (showing `message`), and the message's one event. Nothing when nobody asked.
 */
export async function settleStaffMail(msg: Inbound, ctx: AppContext, trx: Transaction<Database>, caseRow: CaseRow, message: () => Promise<NotifiedMessage>): Promise<void> {
  const ledger = ledgerOf(msg, trx);
  if (ledger.decision === null) return;
  const { messageRowId } = need(msg.notes.persisted, 'persisted');
  await settle(trx, ctx, { ...actorOf(msg), caseRow, messageRowId, decision: ledger.decision, sent: ledger.sent, held: ledger.held, message, never: need(msg.notes.sender, 'sender').address });
}

/**
 * Staff mail a job sends about a case (SLA warnings and breaches) counts against the cap of the
 * case's requester, as the mail their messages cause does: a flood's cases breach together, and
 * two alerts each (owner, lead) for every one of them would bury the staff just the same. `send`
 * queues the email to the recipients it is given; returns who was mailed and who was held (those
 * told by a flood notice instead are among the held).
 */
export async function capCaseMail(
  trx: Transaction<Database>,
  ctx: AppContext,
  caseRow: CaseRow,
  kind: string,
  to: readonly string[],
  send: (to: readonly string[]) => Promise<void>,
): Promise<{ readonly sent: readonly string[]; readonly held: readonly string[] }> {
  if (to.length === 0) return { sent: [], held: [] };
  const base = stripPlus(caseRow.requester_address);
  const actor = `customer:${base}`;
  const decision = await decide(trx, ctx, actor);
  const mailed = [{ kind, to: [...to] }];
  if (!decision.flooding) await send(to);
  await settle(trx, ctx, {
    base,
    actor,
    caseRow,
    messageRowId: null,
    decision,
    sent: decision.flooding ? [] : mailed,
    held: decision.flooding ? mailed : [],
    message: async () => (await lastCustomerMessage(trx, ctx, caseRow.id)) ?? NO_MESSAGE,
    never: caseRow.requester_address,
  });
  return decision.flooding ? { sent: [], held: to } : { sent: to, held: [] };
}

const describe = (list: readonly Mailed[]): string => list.map((m) => `${m.kind} to ${m.to.join(', ')}`).join('; ');

interface Settlement {
  readonly base: string;
  readonly actor: string;
  readonly caseRow: CaseRow;
  readonly messageRowId: number | null;
  readonly decision: Decision;
  readonly sent: readonly Mailed[];
  readonly held: readonly Mailed[];
  readonly message: () => Promise<NotifiedMessage>;
  /** Never sent a flood notice (the sender themselves). */
  readonly never: string;
}

async function settle(trx: Transaction<Database>, ctx: AppContext, o: Settlement): Promise<void> {
  const { base, actor, caseRow, messageRowId, decision: d } = o;
  if (d.limit === 0) return;
  const at = ctx.clock.now().toISOString();
  if (!d.flooding) {
    if (o.sent.length === 0) return;
    const notified = [...new Set(o.sent.flatMap((m) => m.to))];
    await addEvent(trx, { caseId: caseRow.id, messageRowId, type: 'agents.notified', actor, reason: describe(o.sent), data: { notified, kinds: o.sent.map((m) => m.kind) }, at });
    return;
  }
  if (o.held.length === 0) return;
  const heldTo = [...new Set(o.held.flatMap((m) => m.to.map((a) => a.toLowerCase())))];
  const untold = heldTo.filter((a) => !d.told.has(a) && a !== o.never.toLowerCase());
  const held = o.held.map((m) => ({ kind: m.kind, to: m.to }));
  if (untold.length > 0) {
    const notified = await notifyAgents(trx, ctx, caseRow, {
      event: 'sender-flood',
      message: await o.message(),
      flood: { sender: base, limit: d.limit, suppressed: d.suppressed },
      to: untold.map((address) => ({ address, name: ownerName(ctx.config, caseRow.queue, address) })),
    });
    await addEvent(trx, {
      caseId: caseRow.id,
      messageRowId,
      type: 'agents.flood-notice',
      actor,
      reason: `mail from ${base} caused staff email more than ${d.limit} times within the hour (agentMail.notifyPerSenderPerHour): ${notified.join(', ')} told once instead of ${describe(o.held)}; no further staff email about it while the hour's count stays at the limit${d.suppressed > 0 ? ` (${d.suppressed} held since the previous notice)` : ''}`,
      data: { notified, held, suppressedBefore: d.suppressed },
      at,
    });
    return;
  }
  await addEvent(trx, {
    caseId: caseRow.id,
    messageRowId,
    type: 'agents.notify-suppressed',
    actor,
    reason: `agents not notified: ${d.notified} messages from ${base} notified within the hour (agentMail.notifyPerSenderPerHour ${d.limit}); the flood notice of ${d.lastNotice} said so; held: ${describe(o.held)}`,
    data: { held },
    at,
  });
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
