import type { Transaction } from 'kysely';
import type { CustomerUpdate } from '../config/schema.js';
import type { AppContext } from '../context.js';
import { caseById, updateCase } from '../db/repos/cases.js';
import { addEvent } from '../db/repos/events.js';
import type { CaseRow, CaseStatus, CaseUpdate, Database } from '../db/schema.js';
import { priorityScheme } from './priority.js';
import { SLA_CLOCKS } from './sla-clock.js';

/**
 * Case life (DESIGN §3): the one place that opens a case's clocks, changes its status or priority,
 * and records its first response and the team's later updates. States new → open → pending
 * (waiting on the customer) / on_hold (technical review) → resolved → closed; every change is an
 * event (who, when, why). Nothing here sends mail: callers decide what the customer hears
 * (cases.customerUpdates).
 *
 * Hooks: modules that keep derived state (the SLA clocks: start with the case, pause while
 * pending, stop the response clock at the first response, recompute on a new priority) are listed
 * in LIFECYCLE_HOOKS; they run inside the caller's transaction, after the change is written, and
 * return the case row as they left it (the due times are mirrored on the case), so every function
 * here returns the case with its current due times.
 */

type Trx = Transaction<Database>;

export interface StatusChange {
  /** The case after the change. */
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

export interface TeamUpdate {
  readonly caseRow: CaseRow;
  readonly at: string;
  readonly actor: string;
}

export interface PriorityChange {
  /** The case with its new priority. */
  readonly caseRow: CaseRow;
  readonly from: string;
  readonly to: string;
  readonly at: string;
  readonly actor: string;
}

export interface QueueChange {
  /** The case in its new queue. */
  readonly caseRow: CaseRow;
  readonly from: string;
  readonly to: string;
  readonly at: string;
  readonly actor: string;
}

export interface LifecycleHook {
  readonly name: string;
  caseCreated?(trx: Trx, ctx: AppContext, caseRow: CaseRow): Promise<CaseRow>;
  statusChanged?(trx: Trx, ctx: AppContext, change: StatusChange): Promise<CaseRow>;
  firstResponse?(trx: Trx, ctx: AppContext, response: FirstResponse): Promise<CaseRow>;
  teamUpdate?(trx: Trx, ctx: AppContext, update: TeamUpdate): Promise<CaseRow>;
  priorityChanged?(trx: Trx, ctx: AppContext, change: PriorityChange): Promise<CaseRow>;
  queueChanged?(trx: Trx, ctx: AppContext, change: QueueChange): Promise<CaseRow>;
}

/** The static list of hooks (like the migrations and the jobs). */
export const LIFECYCLE_HOOKS: readonly LifecycleHook[] = [SLA_CLOCKS];

/** Run one kind of hook in order, each getting the row the previous one returned. */
async function runHooks<E extends { readonly caseRow: CaseRow }>(
  trx: Trx,
  ctx: AppContext,
  pick: (h: LifecycleHook) => ((trx: Trx, ctx: AppContext, e: E) => Promise<CaseRow>) | undefined,
  event: E,
): Promise<CaseRow> {
  let caseRow = event.caseRow;
  for (const hook of LIFECYCLE_HOOKS) {
    const fn = pick(hook);
    if (fn !== undefined) caseRow = await fn.call(hook, trx, ctx, { ...event, caseRow });
  }
  return caseRow;
}

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

/**
 * The columns a change to `to` writes besides the status. Closing a case that was never resolved
 * ends it too (resolved_at = the close), so surveys and reports see when it ended.
 */
function columnsFor(before: CaseRow, to: CaseStatus, now: string): CaseUpdate {
  const set: CaseUpdate = { status: to, updated_at: now };
  if (to === 'resolved') set.resolved_at = now;
  if (to === 'closed') {
    set.closed_at = now;
    if (before.resolved_at === null || !isEnded(before.status)) set.resolved_at = now;
  }
  if (isEnded(before.status) && !isEnded(to)) {
    set.resolved_at = null;
    set.closed_at = null;
  }
  return set;
}

/** A new case was written (persist stage): its clocks start. Feedback has none. */
export async function caseOpened(trx: Trx, ctx: AppContext, caseRow: CaseRow): Promise<CaseRow> {
  if (caseRow.kind === 'feedback') return caseRow;
  let row = caseRow;
  for (const hook of LIFECYCLE_HOOKS) if (hook.caseCreated !== undefined) row = await hook.caseCreated(trx, ctx, row);
  return row;
}

/**
 * Set the status; an event `case.status` (`case.reopened` when an ended case opens again) and the
 * hooks. A case that ends (resolved, closed) before any agent answered has its first response then:
 * the end is what the customer hears. Returns null when the case already has that status.
 */
export async function setStatus(trx: Trx, ctx: AppContext, caseId: number, to: CaseStatus, who: Who, extra: CaseUpdate = {}): Promise<StatusChange | null> {
  const before = await caseById(trx, caseId);
  if (before === undefined) throw new Error(`setStatus: no case with id ${caseId}`);
  const from = before.status;
  if (from === to) return null;
  const at = ctx.clock.now().toISOString();
  let caseRow = await updateCase(trx, caseId, { ...columnsFor(before, to, at), ...extra });
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
  if (isEnded(to) && caseRow.first_response_at === null && caseRow.kind !== 'feedback') {
    caseRow = await firstResponse(trx, ctx, caseRow, { ...who, reason: `${to} before any agent reply` }, 'end');
  }
  caseRow = await runHooks(trx, ctx, (h) => h.statusChanged, { caseRow, from, to, at, actor: who.actor, reason: who.reason });
  ctx.log.info({ caseId, caseNumber: caseRow.number, from, to, actor: who.actor, reason: who.reason }, 'case status changed');
  return { caseRow, from, to, at, actor: who.actor, reason: who.reason };
}

/** cases.first_response_at (the one record of it), the event and the hooks; `at` earlier than now only for a merge's. */
async function firstResponse(trx: Trx, ctx: AppContext, caseRow: CaseRow, who: Who, by: 'reply' | 'end' | 'merge', at = ctx.clock.now().toISOString()): Promise<CaseRow> {
  const now = ctx.clock.now().toISOString();
  const row = await updateCase(trx, caseRow.id, { first_response_at: at, updated_at: now });
  await addEvent(trx, { caseId: row.id, messageRowId: who.messageRowId ?? null, type: 'case.first-response', actor: who.actor, reason: who.reason, data: { at, createdAt: row.created_at, by }, at: now });
  ctx.log.info({ caseId: row.id, caseNumber: row.number, actor: who.actor, by }, 'first response');
  return runHooks(trx, ctx, (h) => h.firstResponse, { caseRow: row, at, actor: who.actor });
}

/**
 * A case merged in (case-merge.ts) was answered after this one was opened: the customer had our
 * first response then, in the other thread that now goes on here. Recorded at that time (the
 * clock measures it against this case's due time) while this case has none.
 */
export async function firstResponseByMerge(trx: Trx, ctx: AppContext, caseId: number, at: string, who: Who): Promise<CaseRow> {
  let caseRow = await caseById(trx, caseId);
  if (caseRow === undefined) throw new Error(`firstResponseByMerge: no case with id ${caseId}`);
  if (caseRow.first_response_at !== null || caseRow.kind === 'feedback' || at < caseRow.created_at) return caseRow;
  // Answered: no longer "new, waiting for an agent" (as recordAgentResponse does).
  if (caseRow.status === 'new') caseRow = (await setStatus(trx, ctx, caseId, 'open', who))?.caseRow ?? caseRow;
  return firstResponse(trx, ctx, caseRow, who, 'merge', at);
}

/**
 * An agent answered the customer. The first time: first_response_at and a `case.first-response`
 * event (the response clock stops there), and a new case becomes open. A later answer is an update
 * from the team (recordTeamUpdate).
 */
export async function recordAgentResponse(trx: Trx, ctx: AppContext, caseId: number, who: Who): Promise<CaseRow> {
  let caseRow = await caseById(trx, caseId);
  if (caseRow === undefined) throw new Error(`recordAgentResponse: no case with id ${caseId}`);
  if (caseRow.status === 'new') caseRow = (await setStatus(trx, ctx, caseId, 'open', { ...who, reason: 'an agent answered' }))?.caseRow ?? caseRow;
  if (caseRow.first_response_at === null) return firstResponse(trx, ctx, caseRow, who, 'reply');
  return teamUpdate(trx, ctx, caseRow, who);
}

/** An update from the team that is not a first response (an internal note, a later reply): the hooks. */
export async function recordTeamUpdate(trx: Trx, ctx: AppContext, caseId: number, who: Who): Promise<CaseRow> {
  const caseRow = await caseById(trx, caseId);
  if (caseRow === undefined) throw new Error(`recordTeamUpdate: no case with id ${caseId}`);
  return teamUpdate(trx, ctx, caseRow, who);
}

async function teamUpdate(trx: Trx, ctx: AppContext, caseRow: CaseRow, who: Who): Promise<CaseRow> {
  return runHooks(trx, ctx, (h) => h.teamUpdate, { caseRow, at: ctx.clock.now().toISOString(), actor: who.actor });
}

/**
 * Set the priority (a level of the scheme, any spelling); an event `case.priority` and the hooks
 * (the due times follow the new priority's targets) when it changes.
 */
export async function setPriority(trx: Trx, ctx: AppContext, caseId: number, level: string, who: Who): Promise<{ readonly caseRow: CaseRow; readonly changed: boolean }> {
  const scheme = priorityScheme(ctx.config);
  const name = scheme.resolve(level);
  if (name === null) throw new Error(`"${level}" is not a priority level (${scheme.levels.map((l) => l.name).join(', ')})`);
  const before = await caseById(trx, caseId);
  if (before === undefined) throw new Error(`setPriority: no case with id ${caseId}`);
  if (before.priority === name) return { caseRow: before, changed: false };
  const at = ctx.clock.now().toISOString();
  const caseRow = await updateCase(trx, caseId, { priority: name, updated_at: at });
  await addEvent(trx, { caseId, messageRowId: who.messageRowId ?? null, type: 'case.priority', actor: who.actor, reason: `${before.priority} → ${name}${who.reason !== '' ? `: ${who.reason}` : ''}`, data: { from: before.priority, to: name }, at });
  ctx.log.info({ caseId, caseNumber: caseRow.number, from: before.priority, to: name, actor: who.actor }, 'case priority changed');
  return { caseRow: await runHooks(trx, ctx, (h) => h.priorityChanged, { caseRow, from: before.priority, to: name, at, actor: who.actor }), changed: true };
}

/** After a case moved to another queue (cases/queue-move.ts): the hooks (SLA clocks: the new queue's calendar and policy). */
export async function queueChanged(trx: Trx, ctx: AppContext, change: QueueChange): Promise<CaseRow> {
  return runHooks(trx, ctx, (h) => h.queueChanged, change);
}
