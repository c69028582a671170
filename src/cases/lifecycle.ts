import type { Transaction } from 'kysely';
import type { CustomerUpdate } from '../config/schema.js';
import type { AppContext } from '../context.js';
import { caseById, updateCase } from '../db/repos/cases.js';
import { addEvent } from '../db/repos/events.js';
import type { CaseRow, CaseStatus, CaseUpdate, Database } from '../db/schema.js';

/**
 * Case life (DESIGN §3): the one place that changes a case's status and records its first
 * response. States new → open → pending (waiting on the customer) / on_hold (technical review) →
 * resolved → closed; every change is an event (who, when, why). Nothing here sends mail: callers
 * decide what the customer hears (cases.customerUpdates).
 *
 * Hooks: modules that keep derived state (the SLA clocks: pause while pending, stop the response
 * clock at the first response) add themselves to LIFECYCLE_HOOKS; they run inside the same
 * transaction, after the change is written.
 */

export interface StatusChange {
  readonly caseRow: CaseRow;
  readonly from: CaseStatus;
  readonly to: CaseStatus;
  readonly at: string;
  readonly actor: string;
  readonly reason: string;
}

export interface FirstResponse {
  readonly caseRow: CaseRow;
  readonly at: string;
  readonly actor: string;
}

export interface LifecycleHook {
  readonly name: string;
  statusChanged?(trx: Transaction<Database>, ctx: AppContext, change: StatusChange): Promise<void>;
  firstResponse?(trx: Transaction<Database>, ctx: AppContext, response: FirstResponse): Promise<void>;
}

/** The static list of hooks (the SLA module registers here, like the migrations and the jobs). */
export const LIFECYCLE_HOOKS: LifecycleHook[] = [];

export interface Who {
  /** Event actor: customer:<address>, agent:<address>, cli:<user>, system. */
  readonly actor: string;
  readonly reason: string;
  readonly messageRowId?: number | null;
}

export const STATUSES: readonly CaseStatus[] = ['new', 'open', 'pending', 'on_hold', 'resolved', 'closed'];

const LABELS: Readonly<Record<string, Readonly<Record<CaseStatus, string>>>> = {
  en: {
    new: 'received, waiting for an agent',
    open: 'open, we are working on it',
    pending: 'waiting for your reply',
    on_hold: 'on hold for technical review',
    resolved: 'resolved',
    closed: 'closed',
  },
  de: {
    new: 'eingegangen, wartet auf Bearbeitung',
    open: 'in Bearbeitung',
    pending: 'wartet auf Ihre Antwort',
    on_hold: 'in technischer Prüfung',
    resolved: 'gelöst',
    closed: 'geschlossen',
  },
};

/**
 * The status in words for customers, in the case's language ("de-AT" → German; English for
 * languages without labels; an unknown status with its underscores as spaces).
 */
export function statusLabel(status: string, language: string): string {
  const primary = language.toLowerCase().split(/[-_]/)[0] ?? 'en';
  return LABELS[primary]?.[status as CaseStatus] ?? LABELS['en']?.[status as CaseStatus] ?? status.replace(/_/g, ' ');
}

export function isEnded(status: CaseStatus): boolean {
  return status === 'resolved' || status === 'closed';
}

/** Which customer update a status change is (cases.customerUpdates), or null for changes customers are not told about. */
export function customerUpdateOf(from: CaseStatus, to: CaseStatus): CustomerUpdate | null {
  if (to === 'open') return isEnded(from) ? 'reopened' : null;
  if (to === 'new') return null;
  return to;
}

/** The columns a change to `to` writes besides the status. */
function columnsFor(from: CaseStatus, to: CaseStatus, now: string): CaseUpdate {
  const set: CaseUpdate = { status: to, updated_at: now };
  if (to === 'resolved') set.resolved_at = now;
  if (to === 'closed') set.closed_at = now;
  if (isEnded(from) && !isEnded(to)) {
    set.resolved_at = null;
    set.closed_at = null;
  }
  return set;
}

/**
 * Set the status; an event `case.status` (`case.reopened` when an ended case opens again) and the
 * hooks. Returns null when the case already has that status.
 */
export async function setStatus(trx: Transaction<Database>, ctx: AppContext, caseId: number, to: CaseStatus, who: Who, extra: CaseUpdate = {}): Promise<StatusChange | null> {
  const before = await caseById(trx, caseId);
  if (before === undefined) throw new Error(`setStatus: no case with id ${caseId}`);
  const from = before.status;
  if (from === to) return null;
  const at = ctx.clock.now().toISOString();
  const caseRow = await updateCase(trx, caseId, { ...columnsFor(from, to, at), ...extra });
  const reopened = to === 'open' && isEnded(from);
  await addEvent(trx, {
    caseId,
    messageRowId: who.messageRowId ?? null,
    type: reopened ? 'case.reopened' : 'case.status',
    actor: who.actor,
    reason: reopened ? who.reason : `${from} → ${to}${who.reason !== '' ? `: ${who.reason}` : ''}`,
    data: { from, to },
    at,
  });
  const change: StatusChange = { caseRow, from, to, at, actor: who.actor, reason: who.reason };
  for (const hook of LIFECYCLE_HOOKS) await hook.statusChanged?.(trx, ctx, change);
  ctx.log.info({ caseNumber: caseRow.number, from, to, actor: who.actor }, 'case status changed');
  return change;
}

/**
 * An agent answered the customer. The first time: first_response_at and a `case.first-response`
 * event (the response clock stops there), and a new case becomes open. Later answers change nothing.
 */
export async function recordAgentResponse(trx: Transaction<Database>, ctx: AppContext, caseId: number, who: Who): Promise<CaseRow> {
  let caseRow = await caseById(trx, caseId);
  if (caseRow === undefined) throw new Error(`recordAgentResponse: no case with id ${caseId}`);
  if (caseRow.status === 'new') caseRow = (await setStatus(trx, ctx, caseId, 'open', { ...who, reason: 'an agent answered' }))?.caseRow ?? caseRow;
  if (caseRow.first_response_at !== null) return caseRow;
  const at = ctx.clock.now().toISOString();
  caseRow = await updateCase(trx, caseId, { first_response_at: at, updated_at: at });
  await addEvent(trx, { caseId, messageRowId: who.messageRowId ?? null, type: 'case.first-response', actor: who.actor, reason: who.reason, data: { at, createdAt: caseRow.created_at }, at });
  for (const hook of LIFECYCLE_HOOKS) await hook.firstResponse?.(trx, ctx, { caseRow, at, actor: who.actor });
  ctx.log.info({ caseNumber: caseRow.number, actor: who.actor }, 'first response');
  return caseRow;
}
