import type { Kysely, Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { caseById, raiseEscalationLevel, updateCase } from '../db/repos/cases.js';
import { addEvent } from '../db/repos/events.js';
import { lastEventWithTrigger, lastStaffEvent, recentHumanMessages } from '../db/repos/thread-history.js';
import type { CaseRow, Database } from '../db/schema.js';
import { commonData, queueEmail, queueStaffEmail, type Recipient } from '../mail-out/compose.js';
import { messageFiles, NO_FILES, withoutFiles, type MessageFiles } from './customer-files.js';
import { TransientError } from '../pipeline/types.js';
import { attentionAddresses, isStaff, ownerName, tierAddresses } from './staff.js';

/**
 * Escalation: a flag plus a level (the tier, 1–3) on the case. Whenever the level rises, the
 * addresses of every tier it passes (of the case's queue; none configured: instance.adminAddress)
 * and the case's owner (unowned: the queue's available agents) get one templated alert, and — when someone asked for it — the customer a templated
 * acknowledgement. The level never rises twice for one request: the decision is taken inside the
 * transaction that writes the outbox rows, on the case row as it is now, so a message seen twice,
 * two messages processed at once or a retry cannot alert twice. A level that does not rise (already
 * there, or a customer asking again within escalation.customerRepeatHours) is recorded as an
 * `escalation.repeated` event and sends nothing.
 */

export type EscalationTrigger = 'urgent-subject' | 'keyword' | 'rule' | 'command' | 'cli';

/** A fixed level (may lower it: staff only), at least a level, or one above the current. */
export type EscalationTarget = { readonly level: number } | { readonly atLeast: number } | 'raise';

export const MAX_LEVEL = 3;

/** A customer's message as staff mail shows it, with its files (customer-files.ts). */
export interface LastMessage extends MessageFiles {
  readonly from: string;
  readonly at: string;
  readonly visibleText: string;
  /** Its From failed the sender check (messages.sender_auth fail). */
  readonly forged: boolean;
}

export interface EscalateOptions {
  readonly target: EscalationTarget;
  readonly trigger: EscalationTrigger;
  /** Event actor: customer:<address>, agent:<address>, cli:<user>, system. */
  readonly actor: string;
  /** Who escalated, for the leads: a name ("Jane Customer", "Erika Musterfrau", "rule vip-customers"). */
  readonly by: string;
  /** Why, for the leads (never sent to the customer). */
  readonly reason: string;
  /** Acknowledge to this customer when the level rises; `refusal()` says why it must not be sent. */
  readonly ack: { readonly to: Recipient; readonly autoReply: boolean; refusal(): Promise<string | null> } | null;
  readonly lastMessage: LastMessage | null;
  /** The customer message being answered (for the acknowledgement's threading). */
  readonly inReplyTo: string | null;
  readonly references: readonly string[];
  readonly messageRowId?: number | null;
  /** No alert to anyone, for this reason (old mail: pipeline/old-mail.ts); the level rises all the same. */
  readonly quiet?: string | null;
  /** false: the level rises as always, but no alert email goes out (the sender is over agentMail.notifyPerSenderPerHour); `held` says who it would have reached. Default true. */
  readonly alertStaff?: boolean;
}

export interface EscalationOutcome {
  readonly caseRow: CaseRow;
  readonly from: number;
  readonly to: number;
  /** raised: alerts queued; lowered: staff de-escalated; unchanged: nothing sent. */
  readonly change: 'raised' | 'lowered' | 'unchanged';
  readonly alerted: readonly string[];
  /** Who the alert would have reached when alertStaff was false. */
  readonly held: readonly string[];
  readonly acknowledged: boolean;
  /** Human-readable summary (CLI output, logs). */
  readonly summary: string;
}

/**
 * Addresses alerted when a case of `queue` goes from level `from` to `to`: every tier passed;
 * when none of those has addresses, the nearest lower tier that has (the leads hear about every
 * raise); when the queue has no tier addresses at all, instance.adminAddress.
 */
export function alertRecipients(ctx: Pick<AppContext, 'config'>, queue: string, from: number, to: number): string[] {
  const out = new Set<string>();
  for (let t = from + 1; t <= to; t++) for (const a of tierAddresses(ctx.config, queue, t)) out.add(a);
  for (let t = from; out.size === 0 && t >= 1; t--) for (const a of tierAddresses(ctx.config, queue, t)) out.add(a);
  if (out.size === 0 && ctx.config.instance.adminAddress !== undefined) out.add(ctx.config.instance.adminAddress);
  return [...out];
}

export async function escalateCase(trx: Transaction<Database>, ctx: AppContext, caseId: number, o: EscalateOptions): Promise<EscalationOutcome> {
  const now = ctx.clock.now().toISOString();
  const before = await caseById(trx, caseId);
  if (before === undefined) throw new Error(`escalate: no case with id ${caseId}`);
  const from = before.escalation_level;
  const t = o.target;
  let to = t === 'raise' ? Math.min(MAX_LEVEL, from + 1) : 'level' in t ? t.level : Math.max(from, t.atLeast);
  to = Math.max(0, Math.min(MAX_LEVEL, to));
  const base = { caseId, messageRowId: o.messageRowId ?? null, actor: o.actor, at: now };
  const data = { from, to, trigger: o.trigger, by: o.by };

  let why: string | null = null;
  if (to > from && (o.trigger === 'keyword' || o.trigger === 'urgent-subject') && o.actor.startsWith('customer:')) {
    // A lead who lowered the escalation decided: the customer's next mail does not undo it at once.
    const lowered = await staffLoweredSince(trx, ctx, caseId, 'case.deescalated');
    if (lowered !== null) {
      why = `staff lowered the escalation at ${lowered}; a customer's request within ${ctx.config.escalation.customerRepeatHours} h of that does not raise it again`;
      to = from;
    }
  }
  if (to > from && o.trigger === 'keyword') {
    // A customer repeating "please escalate" does not climb the ladder mail by mail.
    const hours = ctx.config.escalation.customerRepeatHours;
    const since = new Date(ctx.clock.now().getTime() - hours * 3_600_000).toISOString();
    const last = hours > 0 ? await lastEventWithTrigger(trx, caseId, 'case.escalated', 'keyword', since) : null;
    if (last !== null) {
      why = `the customer already had the case escalated at ${last}; asking again within ${hours} h does not raise the level`;
      to = from;
    }
  }
  if (to === from) {
    const reason = why ?? (from >= MAX_LEVEL ? `already at the highest level (${from})` : `already at level ${from}`);
    await addEvent(trx, { ...base, type: 'escalation.repeated', reason: `${o.trigger}: ${reason}; no alert`, data: { ...data, to: from } });
    return { caseRow: before, from, to: from, change: 'unchanged', alerted: [], held: [], acknowledged: false, summary: `case ${before.number} stays at level ${from}: ${reason}` };
  }
  if (to < from) {
    const caseRow = await updateCase(trx, caseId, { escalation_level: to, escalated: to > 0 ? 1 : 0, updated_at: now });
    await addEvent(trx, { ...base, type: 'case.deescalated', reason: `level ${from} → ${to}${o.reason !== '' ? `: ${o.reason}` : ''}`, data });
    return { caseRow, from, to, change: 'lowered', alerted: [], held: [], acknowledged: false, summary: `case ${before.number} lowered from level ${from} to ${to}` };
  }

  // Conditional on the level read above: if it changed under us, nothing is written twice.
  const caseRow = await raiseEscalationLevel(trx, caseId, from, to, now);
  if (caseRow === undefined) throw new TransientError(`case ${before.number}: escalation level changed concurrently`);
  await addEvent(trx, { ...base, type: 'case.escalated', reason: `level ${from} → ${to} (${o.trigger}, by ${o.by})${o.reason !== '' ? `: ${o.reason}` : ''}`, data: { ...data, reason: o.reason } });

  const mailbox = ctx.mailboxes.ofCase(caseRow);
  const quiet = o.quiet ?? null;
  const recipients = quiet !== null ? [] : alertRecipients(ctx, caseRow.queue, from, to);
  if (quiet !== null) {
    await addEvent(trx, { ...base, actor: 'system', type: 'escalation.unalerted', reason: `no alert: ${quiet}`, data });
  } else if (recipients.length === 0) {
    await addEvent(trx, { ...base, actor: 'system', type: 'escalation.unalerted', reason: `no addresses for tier ${to} of queue ${caseRow.queue} and no instance.adminAddress`, data });
    ctx.log.warn({ caseId: caseRow.id, caseNumber: caseRow.number, queue: caseRow.queue, level: to }, 'escalation alert has no recipient: configure queues.<queue>.tiers or instance.adminAddress');
  }
  // The case's owner (unowned: the queue's available agents) hears about it too, once — never
  // the agent who escalated it, also when they are one of the tier's addresses (a lead's #escalate).
  const byThem = (address: string): boolean => o.actor === `agent:${address}`;
  const alerted = recipients.filter((a) => !byThem(a));
  for (const a of quiet !== null ? [] : attentionAddresses(ctx.config, caseRow.queue, caseRow.owner)) {
    if (!alerted.includes(a.address) && !byThem(a.address)) alerted.push(a.address);
  }
  const [lastMessage, files] = withoutFiles(o.lastMessage ?? NO_MESSAGE);
  const held = o.alertStaff === false ? alerted.splice(0) : [];
  for (const address of alerted) {
    await queueStaffEmail(trx, ctx, caseRow, 'escalation-alert', { address, name: '' }, {
      escalation: { level: to, reason: o.reason, by: o.by, at: now },
      owner: { name: ownerName(ctx.config, caseRow.queue, caseRow.owner) },
      lastMessage,
    }, files);
  }

  let acknowledged = false;
  if (o.ack !== null) {
    const refusal = await o.ack.refusal();
    if (refusal !== null) {
      await addEvent(trx, { ...base, actor: 'system', type: 'auto-reply.suppressed', reason: `escalation-ack not sent: ${refusal}` });
    } else {
      await queueEmail(trx, ctx, {
        caseRow,
        mailbox,
        kind: 'escalation-ack',
        to: o.ack.to,
        autoReply: o.ack.autoReply,
        inReplyTo: o.inReplyTo,
        references: o.references,
        // What the customer may read: the level, never the internal reason.
        data: { ...commonData(ctx, caseRow, mailbox, o.ack.to), escalation: { level: to, reason: '' } },
      });
      acknowledged = true;
    }
  }
  ctx.log.info({ caseId: caseRow.id, caseNumber: caseRow.number, from, to, trigger: o.trigger, by: o.by, alerted, ...(held.length > 0 ? { held } : {}), acknowledged }, 'case escalated');
  return {
    caseRow,
    from,
    to,
    change: 'raised',
    alerted,
    held,
    acknowledged,
    summary: `case ${caseRow.number} escalated from level ${from} to ${to}; alert to ${alerted.join(', ') || 'nobody'}${held.length > 0 ? ` (held: ${held.join(', ')})` : ''}${acknowledged ? `; acknowledgement to ${o.ack?.to.address}` : ''}`,
  };
}

/**
 * When staff last lowered the case's escalation (`case.deescalated`) or set its priority
 * (`case.priority`) within escalation.customerRepeatHours, else null: a customer's "urgent" or
 * "escalate" does not undo that decision within those hours.
 */
export async function staffLoweredSince(db: Kysely<Database>, ctx: Pick<AppContext, 'config' | 'clock'>, caseId: number, type: 'case.deescalated' | 'case.priority'): Promise<string | null> {
  const hours = ctx.config.escalation.customerRepeatHours;
  if (hours <= 0) return null;
  const since = new Date(ctx.clock.now().getTime() - hours * 3_600_000).toISOString();
  return lastStaffEvent(db, caseId, type, since);
}

/** The customer's newest message on the case (not staff, not automated), for the leads' alert: its visible text as stored (a forward included, as in the agents' notification). */
export async function lastCustomerMessage(db: Kysely<Database>, ctx: Pick<AppContext, 'config' | 'blobs'>, caseId: number): Promise<LastMessage | null> {
  for (const m of await recentHumanMessages(db, caseId, 20)) {
    if (isStaff(ctx.config, m.from_address)) continue;
    return { from: m.from_name !== '' ? `${m.from_name} <${m.from_address}>` : m.from_address, at: m.created_at, visibleText: m.visible_text, forged: m.sender_auth === 'fail', ...(await messageFiles(db, ctx, m.id)) };
  }
  return null;
}

/** No customer message (a case opened by an agent): every field empty. */
export const NO_MESSAGE: LastMessage = { from: '', at: '', visibleText: '', forged: false, ...NO_FILES };
