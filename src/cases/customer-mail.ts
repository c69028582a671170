import type { Kysely, Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { bouncingAmong } from '../db/repos/addresses.js';
import { participants } from '../db/repos/cases.js';
import { addEvent } from '../db/repos/events.js';
import { customerThreadAnchor } from '../db/repos/agent-work.js';
import type { CaseRow, Database } from '../db/schema.js';
import { commonData, queueEmail, requesterOf, type OutgoingAttachment, type Recipient } from '../mail-out/compose.js';
import type { MailboxConfig } from '../config/schema.js';
import { recipientRefusal } from '../mail-out/recipient-refusal.js';
import type { BugTimeline } from './agent-commands.js';
import { customerUpdateOf, statusLabel, type StatusChange } from './lifecycle.js';
import { priorityLabel, priorityScheme } from './priority.js';
import { customerTexts } from './customer-texts.js';
import { hasOwnGreeting, hasOwnSignOff } from './reply-text.js';
import { isStaff, ownerName } from './staff.js';
import { revokeLinksInFiles } from './link-exposure.js';

/**
 * What customers receive when agents work their case: the agent's reply and status updates,
 * each to the requester (To) and every external participant (Cc), threaded into the customer's
 * own conversation (In-Reply-To/References of their last message), stating the current status.
 */

export interface CustomerRecipients {
  readonly to: Recipient | null;
  readonly cc: readonly Recipient[];
  /** Addresses left out, with why (bouncing, no-reply, our own). */
  readonly refused: readonly string[];
  /** Addresses included although marked as bouncing (an agent's reply: `human`). */
  readonly bouncing: readonly string[];
}

/**
 * The requester and the external participants (never staff, never our own addresses) that may get
 * mail. `also`: addresses counted as participants although not enrolled yet (those an agent's mail
 * copies in, weighed before the mail is recorded). A requester who is staff — a colleague of
 * another queue asking this one for help, an agent's own laptop — is this case's customer and gets
 * its mail like any other (their confirmation went to them too); staff copied in never do.
 */
export async function customerRecipients(trx: Kysely<Database>, ctx: AppContext, caseRow: CaseRow, opts: { readonly human?: boolean; readonly also?: readonly Recipient[] } = {}): Promise<CustomerRecipients> {
  const all: Recipient[] = [requesterOf(caseRow)];
  for (const p of [...(await participants(trx, caseRow.id)), ...(opts.also ?? []).map((a) => ({ ...a, role: 'cc' }))]) {
    if (p.role === 'agent' || all.some((r) => r.address === p.address)) continue;
    all.push({ address: p.address, name: p.name });
  }
  const ok: Recipient[] = [];
  const refused: string[] = [];
  for (const r of all) {
    if (r !== all[0] && isStaff(ctx.config, r.address)) continue;
    const why = await recipientRefusal(ctx, trx, r.address, opts);
    if (why !== null) refused.push(`${r.address}: ${why}`);
    else ok.push(r);
  }
  const bouncing = opts.human === true ? (await bouncingAmong(trx, ok.map((r) => r.address))).map((b) => b.address) : [];
  return { to: ok[0] ?? null, cc: ok.slice(1), refused, bouncing };
}

/**
 * The customer recipients of a `kind` email; null when no customer address may get mail, recorded
 * on the case as an `email.suppressed` event naming why.
 */
async function recipientsFor(trx: Transaction<Database>, ctx: AppContext, caseRow: CaseRow, kind: string, opts: { readonly human?: boolean } = {}): Promise<(CustomerRecipients & { readonly to: Recipient }) | null> {
  const rcpt = await customerRecipients(trx, ctx, caseRow, opts);
  if (rcpt.to !== null) return { ...rcpt, to: rcpt.to };
  await addEvent(trx, { caseId: caseRow.id, type: 'email.suppressed', actor: 'system', reason: `${kind} not sent: no customer address may get mail (${rcpt.refused.join('; ')})`, at: ctx.clock.now().toISOString() });
  return null;
}

/** In-Reply-To and References for mail into the customer's conversation. */
export async function customerThread(trx: Transaction<Database>, caseId: number): Promise<{ inReplyTo: string | null; references: string[] }> {
  const anchor = await customerThreadAnchor(trx, caseId);
  if (anchor === undefined) return { inReplyTo: null, references: [] };
  return { inReplyTo: anchor.message_id, references: JSON.parse(anchor.references_json) as string[] };
}

export interface AgentReply {
  /** Display name on From (the agent's name). */
  readonly agentName: string;
  /** The agent's address (messages.author). */
  readonly author: string | null;
  readonly text: string;
  readonly attachments: readonly OutgoingAttachment[];
  /** A status change made with the reply (told to the customer when cases.customerUpdates lists it). */
  readonly change: StatusChange | null;
  readonly holdExpected: string;
  readonly bug: BugTimeline | null;
  /** Readers the agent's own mail reached directly (its To/Cc): not sent to again (compose.ts `reached`). */
  readonly reached?: readonly string[];
}

/** Relay an agent's answer: human mail (no Auto-Submitted) From the mailbox with the agent's name. Returns the recipients, or null when nobody may get it. */
export async function sendAgentReply(trx: Transaction<Database>, ctx: AppContext, caseRow: CaseRow, r: AgentReply): Promise<CustomerRecipients | null> {
  const rcpt = await recipientsFor(trx, ctx, caseRow, 'agent-reply', { human: true });
  if (rcpt === null) return null;
  // The agent's files go to every reader as they are: a link of ours in one that names someone else is ended (an attached email, a saved text or calendar).
  await revokeLinksInFiles(trx, ctx, r.attachments, [rcpt.to.address, ...rcpt.cc.map((c) => c.address)], (f) => `the file "${f.filename}" an agent's reply relayed`);
  const mailbox = ctx.mailboxes.ofCase(caseRow);
  const tells = r.change !== null && tellsCustomer(ctx, r.change);
  await queueEmail(trx, ctx, {
    caseRow,
    mailbox,
    kind: 'agent-reply',
    to: rcpt.to,
    cc: rcpt.cc,
    fromName: r.agentName,
    author: r.author,
    attachments: r.attachments,
    autoReply: false,
    ...(r.reached !== undefined ? { reached: r.reached } : {}),
    ...(await customerThread(trx, caseRow.id)),
    data: {
      ...commonData(ctx, caseRow, mailbox, requesterOf(caseRow)),
      agent: { name: r.agentName },
      reply: { text: r.text, attachments: r.attachments.map((a) => a.filename), ownGreeting: hasOwnGreeting(r.text), ownSignOff: hasOwnSignOff(r.text, r.agentName) },
      statusChange: tells && r.change !== null ? { to: r.change.to, label: statusLabel(r.change.to, caseRow.language), expected: r.change.to === 'on_hold' ? r.holdExpected : '' } : { to: '', label: '', expected: '' },
      bug: { timeline: r.bug ?? '' },
      reopenDays: ctx.config.cases.reopenWindowDays,
    },
  });
  return rcpt;
}

/** Whether the customer hears about this status change (cases.customerUpdates). */
export function tellsCustomer(ctx: Pick<AppContext, 'config'>, change: Pick<StatusChange, 'from' | 'to'>): boolean {
  const u = customerUpdateOf(change.from, change.to);
  return u !== null && ctx.config.cases.customerUpdates.includes(u);
}

/** Whether a priority change is a raise the customer hears about. */
export function tellsPriority(ctx: Pick<AppContext, 'config'>, from: string, to: string): boolean {
  const scheme = priorityScheme(ctx.config);
  return ctx.config.cases.customerUpdates.includes('priority-raised') && scheme.orderOf(to) < scheme.orderOf(from);
}

/** The expected time of a technical review for the case's queue. */
export function onHoldExpected(ctx: Pick<AppContext, 'config'>, queue: string, language: string): string {
  return customerTexts(ctx.config, queue, language).onHoldExpected;
}

export interface StatusUpdate {
  readonly change: StatusChange | null;
  readonly priority: { readonly from: string; readonly to: string } | null;
  readonly holdExpected: string;
  readonly bug: BugTimeline | null;
  /** Text for the customer with the change ("" for none). */
  readonly note: string;
}

/** The status-changed email (a status change without a reply, or a raised priority). */
export async function sendStatusUpdate(trx: Transaction<Database>, ctx: AppContext, caseRow: CaseRow, u: StatusUpdate): Promise<CustomerRecipients | null> {
  const rcpt = await recipientsFor(trx, ctx, caseRow, 'status-changed');
  if (rcpt === null) return null;
  const mailbox = ctx.mailboxes.ofCase(caseRow);
  const to = u.change?.to ?? caseRow.status;
  await queueEmail(trx, ctx, {
    caseRow,
    mailbox,
    kind: 'status-changed',
    to: rcpt.to,
    cc: rcpt.cc,
    autoReply: false,
    generated: true,
    ...(await customerThread(trx, caseRow.id)),
    data: {
      ...commonData(ctx, caseRow, mailbox, requesterOf(caseRow)),
      status: {
        from: u.change?.from ?? caseRow.status,
        to,
        label: statusLabel(to, caseRow.language),
        note: u.note,
        changed: u.change !== null,
        expected: to === 'on_hold' ? u.holdExpected : '',
      },
      priorityChange:
        u.priority !== null
          ? { ...u.priority, fromLabel: priorityLabel(u.priority.from, caseRow.language), toLabel: priorityLabel(u.priority.to, caseRow.language) }
          : { from: '', to: '', fromLabel: '', toLabel: '' },
      bug: { timeline: u.bug ?? '' },
      reopenDays: ctx.config.cases.reopenWindowDays,
    },
  });
  return rcpt;
}

/**
 * The case-moved email: the case went to a queue whose mailbox has another address (queue-move.ts),
 * so from now on its mail comes from there. Told From the new address, in the customer's thread,
 * naming the address they wrote to before (replies to either still reach the case).
 */
export async function sendCaseMoved(trx: Transaction<Database>, ctx: AppContext, caseRow: CaseRow, previous: MailboxConfig): Promise<CustomerRecipients | null> {
  const rcpt = await recipientsFor(trx, ctx, caseRow, 'case-moved');
  if (rcpt === null) return null;
  const mailbox = ctx.mailboxes.ofCase(caseRow);
  await queueEmail(trx, ctx, {
    caseRow,
    mailbox,
    kind: 'case-moved',
    to: rcpt.to,
    cc: rcpt.cc,
    autoReply: false,
    generated: true,
    ...(await customerThread(trx, caseRow.id)),
    data: {
      ...commonData(ctx, caseRow, mailbox, requesterOf(caseRow)),
      move: { previousAddress: previous.addresses[0] ?? '', fromName: mailbox.fromName ?? '' },
    },
  });
  return rcpt;
}

/**
 * The answer to a customer's "status" / "?": a templated summary to them (an automatic reply:
 * the caller checked the auto-reply rules), in the thread of their question.
 */
export async function sendStatusSummary(
  trx: Transaction<Database>,
  ctx: AppContext,
  caseRow: CaseRow,
  to: Recipient,
  thread: { readonly inReplyTo: string | null; readonly references: readonly string[] },
): Promise<void> {
  const mailbox = ctx.mailboxes.ofCase(caseRow);
  const owner = ownerName(ctx.config, caseRow.queue, caseRow.owner);
  await queueEmail(trx, ctx, {
    caseRow,
    mailbox,
    kind: 'status-summary',
    to,
    autoReply: true,
    inReplyTo: thread.inReplyTo,
    references: thread.references,
    data: {
      ...commonData(ctx, caseRow, mailbox, to),
      owner: { firstName: owner.split(/\s+/)[0] ?? '' },
      lastUpdate: caseRow.updated_at,
      expectedResponse: customerTexts(ctx.config, caseRow.queue, caseRow.language).expectedResponse,
      onHoldExpected: onHoldExpected(ctx, caseRow.queue, caseRow.language),
      reopenDays: ctx.config.cases.reopenWindowDays,
    },
  });
}
