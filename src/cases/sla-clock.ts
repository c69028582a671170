import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import type { Config } from '../config/schema.js';
import { lockCaseById, updateCase } from '../db/repos/cases.js';
import { addEvent } from '../db/repos/events.js';
import { clockCases, slaOfCase, updateSla, upsertSla } from '../db/repos/sla.js';
import type { CaseRow, CaseSlaRow, CaseStatus, Database, NewCaseSla } from '../db/schema.js';
import type { FirstResponse, LifecycleHook, PriorityChange, QueueChange, StatusChange, TeamUpdate } from './lifecycle.js';
import { nextPendingAction, pendingDueAt, reschedulePending } from './follow-up.js';
import { calendarNamed, calendarOf, isCritical, slaTerms, type SlaTerms } from './sla-policy.js';
import { dueTimes, firstResponseElapsed, openPause, pause, resolutionElapsed, resolutionRecordedMissed, resolutionUsedUpAt, resume, targetMissedAt, type ClockState, type Pause } from './sla-state.js';
import { lastMoveAt, parseMoves, stretchedClock, type Move } from './sla-stretches.js';

/**
 * The SLA clocks of a case, kept in the same transaction as what changes them (DESIGN §3). These
 * hooks of the case lifecycle (cases/lifecycle.ts, SLA_CLOCKS in its LIFECYCLE_HOOKS; nothing
 * else calls them) are the only writers of case_sla and of cases.first_response_due_at /
 * resolution_due_at:
 *
 *   onCaseCreated      a new case (not feedback): both clocks start
 *   onStatusChange     pending pauses resolution (on_hold too if the policy says so), resolved/closed
 *                      stop it, back to open resumes it (also after a reopen)
 *   onFirstResponse    the first response (cases.first_response_at, written by the lifecycle: the
 *                      first agent reply, or the end of a case nobody answered) stops the
 *                      first-response clock: business time and met/missed are measured
 *   onTeamUpdate       a later update from the team (reply, note): restarts the critical "no update" watch
 *   onPriorityChange   every due time recomputed for the new priority's targets
 *   onQueueChange      a move to another queue: the stretch in the queue left is recorded (measured in
 *                      its calendar, targets missed by then stay missed; sla-stretches.ts), every due
 *                      time recomputed for the new queue's calendar and targets
 *
 * Each records an `sla.*` event for every clock change, and stores the next time the jobs must
 * look at the case (next_check_at, pending_next_at, stale_check_at) so they query an index.
 */

const MIN = 60_000;
const ACTIVE: readonly CaseStatus[] = ['new', 'open', 'on_hold'];

type Trx = Transaction<Database>;

function stateOf(row: CaseSlaRow, caseRow: CaseRow): ClockState {
  const missed = { ...(row.fr_missed_at != null ? { fr: row.fr_missed_at } : {}), ...(row.res_missed_at != null ? { res: row.res_missed_at } : {}) };
  return { startedAt: row.started_at, firstResponseAt: caseRow.first_response_at, pauses: JSON.parse(row.res_pauses_json) as Pause[], moves: parseMoves(row.moves_json), missed };
}

/**
 * The terms of the case's queue and priority, measured over its stretches: a case moved between
 * queues counts each queue's time in that queue's calendar (sla-stretches.ts); 24/7 coverage
 * counts every minute wherever the case was.
 */
function termsOf(ctx: Pick<AppContext, 'config'>, caseRow: Pick<CaseRow, 'queue' | 'priority'>, state: ClockState): SlaTerms {
  const terms = slaTerms(ctx.config, caseRow.queue, caseRow.priority);
  const moves = state.moves ?? [];
  if (moves.length === 0 || terms.coverage === '24x7') return terms;
  return { ...terms, clock: stretchedClock(moves.map((m) => ({ to: new Date(m.to), clock: calendarNamed(ctx.config, m.calendar) })), terms.clock) };
}

function iso(d: Date | null): string | null {
  return d === null ? null : d.toISOString();
}

function fresh(caseRow: CaseRow, terms: SlaTerms, now: string): NewCaseSla {
  return {
    case_id: caseRow.id,
    policy: terms.policy,
    calendar: terms.calendar.name,
    coverage: terms.coverage,
    started_at: caseRow.created_at,
    fr_target_min: terms.firstResponseMin,
    fr_warn_at: null,
    fr_due_at: null,
    fr_business_sec: null,
    fr_met: null,
    fr_warned_at: null,
    fr_breached_at: null,
    res_target_min: terms.resolutionMin,
    res_pauses_json: '[]',
    moves_json: '[]',
    fr_missed_at: null,
    res_missed_at: null,
    res_warn_at: null,
    res_due_at: null,
    res_done_at: null,
    res_business_sec: null,
    res_met: null,
    res_warned_at: null,
    res_breached_at: null,
    next_check_at: null,
    pending_since: null,
    pending_next_at: null,
    pending_reminders: 0,
    last_update_at: caseRow.created_at,
    stale_check_at: null,
    updated_at: now,
  };
}

/** The earliest warn/due time the sla-check job has not handled yet (`firstResponseAt`: the case's). */
export function nextCheck(row: Pick<CaseSlaRow, 'fr_warn_at' | 'fr_due_at' | 'fr_warned_at' | 'fr_breached_at' | 'res_done_at' | 'res_warn_at' | 'res_due_at' | 'res_warned_at' | 'res_breached_at'>, firstResponseAt: string | null): string | null {
  const out: string[] = [];
  if (firstResponseAt === null && row.fr_due_at !== null) {
    if (row.fr_warned_at === null && row.fr_warn_at !== null) out.push(row.fr_warn_at);
    else if (row.fr_breached_at === null) out.push(row.fr_due_at);
  }
  if (row.res_done_at === null && row.res_due_at !== null) {
    if (row.res_warned_at === null && row.res_warn_at !== null) out.push(row.res_warn_at);
    else if (row.res_breached_at === null) out.push(row.res_due_at);
  }
  return out.sort()[0] ?? null;
}

/**
 * When a critical, active case counts as "without an update" (null when it is not watched). On
 * hold under a policy that pauses the clock there (onHoldPauses) is not watched: the team said what
 * it waits for, and the clock agrees; the watch starts again when the case is back to open.
 */
export function staleCheck(ctx: Pick<AppContext, 'config'>, caseRow: Pick<CaseRow, 'priority' | 'status' | 'queue'>, lastUpdateAt: string): string | null {
  if (!ctx.config.jobs.criticalReminder.enabled || !isCritical(ctx.config, caseRow.priority) || !ACTIVE.includes(caseRow.status)) return null;
  if (caseRow.status === 'on_hold' && slaTerms(ctx.config, caseRow.queue, caseRow.priority).onHoldPauses) return null;
  return new Date(new Date(lastUpdateAt).getTime() + ctx.config.jobs.criticalReminder.afterMinutes * MIN).toISOString();
}

/** Recompute due and check times from the state, store the row and mirror the due times on the case. */
async function write(trx: Trx, ctx: AppContext, caseRow: CaseRow, row: NewCaseSla, state: ClockState, terms: SlaTerms, now: string): Promise<{ caseRow: CaseRow; sla: CaseSlaRow }> {
  const due = dueTimes(state, terms);
  // A first response already measured keeps the target and due time it was measured against (a
  // later priority change moves only what still runs; its met/missed stays true to its due time).
  const frMeasured = row.fr_business_sec != null;
  const next: NewCaseSla = {
    ...row,
    policy: terms.policy,
    calendar: terms.calendar.name,
    coverage: terms.coverage,
    fr_target_min: frMeasured ? (row.fr_target_min ?? null) : terms.firstResponseMin,
    res_target_min: terms.resolutionMin,
    res_pauses_json: JSON.stringify(state.pauses),
    moves_json: JSON.stringify(state.moves ?? []),
    fr_missed_at: state.missed?.fr ?? row.fr_missed_at ?? null,
    res_missed_at: state.missed?.res ?? row.res_missed_at ?? null,
    fr_due_at: frMeasured ? (row.fr_due_at ?? null) : iso(due.frDue),
    fr_warn_at: frMeasured ? (row.fr_warn_at ?? null) : iso(due.frWarn),
    res_due_at: row.res_done_at != null ? null : iso(due.resDue),
    res_warn_at: row.res_done_at != null ? null : iso(due.resWarn),
    updated_at: now,
  };
  next.next_check_at = nextCheck({
    fr_warn_at: next.fr_warn_at ?? null,
    fr_due_at: next.fr_due_at ?? null,
    fr_warned_at: next.fr_warned_at ?? null,
    fr_breached_at: next.fr_breached_at ?? null,
    res_done_at: next.res_done_at ?? null,
    res_warn_at: next.res_warn_at ?? null,
    res_due_at: next.res_due_at ?? null,
    res_warned_at: next.res_warned_at ?? null,
    res_breached_at: next.res_breached_at ?? null,
  }, caseRow.first_response_at);
  // The critical-reminder job moves the watch on after each reminder (stale_check_at: the next quiet
  // period); a recompute (a priority, a queue, a reload) keeps that, not back to the first period
  // of the stretch — whose claim is taken: no reminder then, and the rest of the schedule shifted.
  const fresh = staleCheck(ctx, caseRow, next.last_update_at);
  next.stale_check_at = fresh !== null && row.stale_check_at != null && row.stale_check_at > fresh ? row.stale_check_at : fresh;
  const sla = await upsertSla(trx, next);
  const updated =
    caseRow.first_response_due_at !== sla.fr_due_at || caseRow.resolution_due_at !== sla.res_due_at
      ? await updateCase(trx, caseRow.id, { first_response_due_at: sla.fr_due_at, resolution_due_at: sla.res_due_at })
      : caseRow;
  return { caseRow: updated, sla };
}

function dueSummary(sla: Pick<CaseSlaRow, 'fr_due_at' | 'res_due_at' | 'res_done_at'>, firstResponseAt: string | null): string {
  const fr = firstResponseAt !== null ? 'first response done' : sla.fr_due_at !== null ? `first response due ${sla.fr_due_at}` : 'no first-response target';
  const res = sla.res_done_at !== null ? 'resolution stopped' : sla.res_due_at !== null ? `resolution due ${sla.res_due_at}` : 'resolution paused or no target';
  return `${fr}; ${res}`;
}

async function load(trx: Trx, ctx: AppContext, caseRow: CaseRow, now: string): Promise<{ row: NewCaseSla; state: ClockState } | null> {
  if (caseRow.kind === 'feedback') return null;
  const existing = await slaOfCase(trx, caseRow.id);
  if (existing !== undefined) return { row: { ...existing }, state: stateOf(existing, caseRow) };
  // A case from before the clocks existed: start them from its opening.
  const row = fresh(caseRow, slaTerms(ctx.config, caseRow.queue, caseRow.priority), now);
  return { row, state: { startedAt: row.started_at, firstResponseAt: caseRow.first_response_at, pauses: [], moves: [] } };
}

async function onCaseCreated(trx: Trx, ctx: AppContext, caseRow: CaseRow): Promise<CaseRow> {
  if (caseRow.kind === 'feedback') return caseRow;
  const now = ctx.clock.now().toISOString();
  const terms = slaTerms(ctx.config, caseRow.queue, caseRow.priority);
  const row = fresh(caseRow, terms, now);
  const out = await write(trx, ctx, caseRow, row, { startedAt: row.started_at, firstResponseAt: null, pauses: [] }, terms, now);
  await addEvent(trx, {
    caseId: caseRow.id,
    type: 'sla.started',
    actor: 'system',
    reason: terms.policy === '' ? `no SLA policy for queue ${caseRow.queue}` : `policy ${terms.policy}, priority ${caseRow.priority} (${terms.coverage}, calendar ${terms.calendar.name}): ${dueSummary(out.sla, null)}`,
    data: { policy: terms.policy, calendar: terms.calendar.name, coverage: terms.coverage, firstResponseDueAt: out.sla.fr_due_at, resolutionDueAt: out.sla.res_due_at },
    at: now,
  });
  ctx.log.info({ component: 'sla', caseId: caseRow.id, caseNumber: caseRow.number, policy: terms.policy, firstResponseDueAt: out.sla.fr_due_at, resolutionDueAt: out.sla.res_due_at }, 'sla clocks started');
  return out.caseRow;
}

/**
 * A status change (the lifecycle's setStatus; `change.caseRow` has the new status): customer
 * replies, reopenings, agents' commands, the jobs' automatic closes.
 */
async function onStatusChange(trx: Trx, ctx: AppContext, change: StatusChange): Promise<CaseRow> {
  const { from, to, actor, caseRow: after } = change;
  const now = ctx.clock.now().toISOString();
  const loaded = await load(trx, ctx, after, now);
  if (loaded === null) return after;
  let { row, state } = loaded;
  const terms = termsOf(ctx, after, state);
  const events: { type: string; reason: string }[] = [];
  const wasPaused = openPause(state);

  if (to === 'resolved' || to === 'closed') {
    // (The first-response clock stopped already: a case that ends unanswered has its first response then.)
    if (row.res_done_at == null) {
      const used = resolutionElapsed(state, terms.clock, new Date(now));
      row = { ...row, res_done_at: now, res_business_sec: Math.round(used / 1000), res_met: terms.resolutionMin === null ? null : used <= terms.resolutionMin * MIN && !resolutionRecordedMissed(state) ? 1 : 0 };
      state = pause(state, now, 'resolved');
      events.push({ type: 'sla.stopped', reason: `${to}: resolution clock stopped after ${Math.round(used / MIN)} business minutes${terms.resolutionMin !== null ? ` of ${terms.resolutionMin} (${row.res_met === 1 ? 'met' : 'missed'})` : ''}` });
    }
  } else if (to === 'pending' || (to === 'on_hold' && terms.onHoldPauses)) {
    if (wasPaused?.why !== to) {
      state = pause(state, now, to);
      events.push({ type: 'sla.paused', reason: `${to}: resolution clock paused` });
    }
  } else if (wasPaused !== null) {
    // Back to work (open/new, or on_hold that does not pause): the clock runs again.
    state = resume(state, now);
    const reopened = row.res_done_at != null;
    row = { ...row, res_done_at: null, res_business_sec: null, res_met: null };
    events.push({ type: 'sla.resumed', reason: `${from} → ${to}: resolution clock ${reopened ? 'runs again after the reopening' : 'resumed'}` });
  }

  if (to === 'pending') {
    const action = nextPendingAction(ctx.config, terms.calendar, new Date(now), 0);
    row = { ...row, pending_since: now, pending_reminders: 0, pending_next_at: ctx.config.jobs.pendingReminder.enabled ? iso(action?.at ?? null) : null };
  } else if (from === 'pending') {
    row = { ...row, pending_since: null, pending_next_at: null, pending_reminders: 0 };
  }
  if (!actor.startsWith('customer:') && actor !== 'system') row = { ...row, last_update_at: now };

  const out = await write(trx, ctx, after, row, state, terms, now);
  for (const e of events) {
    await addEvent(trx, { caseId: after.id, type: e.type, actor, reason: `${e.reason}; ${dueSummary(out.sla, after.first_response_at)}`, data: { from, to, firstResponseDueAt: out.sla.fr_due_at, resolutionDueAt: out.sla.res_due_at }, at: now });
  }
  if (events.length > 0) ctx.log.info({ component: 'sla', caseId: after.id, caseNumber: after.number, from, to, events: events.map((e) => e.type), resolutionDueAt: out.sla.res_due_at }, 'sla clocks changed');
  return out.caseRow;
}

/** The first response (`response.caseRow.first_response_at` is set): the first-response clock stops, measured once. */
async function onFirstResponse(trx: Trx, ctx: AppContext, response: FirstResponse): Promise<CaseRow> {
  const { caseRow, at, actor } = response;
  const now = ctx.clock.now().toISOString();
  const loaded = await load(trx, ctx, caseRow, now);
  if (loaded === null) return caseRow;
  let { row } = loaded;
  const { state } = loaded;
  const terms = termsOf(ctx, caseRow, state);
  const measure = row.fr_business_sec == null;
  if (measure) {
    const used = firstResponseElapsed(state, terms.clock, new Date(at));
    row = { ...row, fr_business_sec: Math.round(used / 1000), fr_met: row.fr_due_at == null ? null : at <= row.fr_due_at ? 1 : 0 };
  }
  row = { ...row, last_update_at: now };
  const out = await write(trx, ctx, caseRow, row, state, terms, now);
  if (measure) {
    await addEvent(trx, {
      caseId: caseRow.id,
      type: 'sla.first-response',
      actor,
      reason: `first response after ${Math.round((out.sla.fr_business_sec ?? 0) / 60)} business minutes${out.sla.fr_due_at !== null ? ` (due ${out.sla.fr_due_at}: ${out.sla.fr_met === 1 ? 'met' : 'missed'})` : ''}: first-response clock stopped`,
      data: { dueAt: out.sla.fr_due_at, met: out.sla.fr_met, businessSeconds: out.sla.fr_business_sec },
      at: now,
    });
    ctx.log.info({ component: 'sla', caseId: caseRow.id, caseNumber: caseRow.number, met: out.sla.fr_met }, 'first response: clock stopped');
  }
  return out.caseRow;
}

/** A later update from the team (reply, note): the critical "no update" watch starts again. */
async function onTeamUpdate(trx: Trx, ctx: AppContext, update: TeamUpdate): Promise<CaseRow> {
  const { caseRow } = update;
  const now = ctx.clock.now().toISOString();
  const loaded = await load(trx, ctx, caseRow, now);
  if (loaded === null) return caseRow;
  const out = await write(trx, ctx, caseRow, { ...loaded.row, last_update_at: now }, loaded.state, termsOf(ctx, caseRow, loaded.state), now);
  return out.caseRow;
}

/**
 * The targets the case had missed by `at` under `terms` (the priority or queue it leaves) and that
 * are not recorded missed yet: the first response by its stored due time, the resolution by the
 * business time it used up. A breach stays a breach, whatever terms come next.
 */
function missedBy(caseRow: CaseRow, row: NewCaseSla, state: ClockState, terms: SlaTerms, at: Date): { fr?: string; res?: string } {
  const missed: { fr?: string; res?: string } = {};
  if (caseRow.first_response_at === null && row.fr_due_at != null && new Date(row.fr_due_at) <= at && targetMissedAt(state, 'fr') === null) missed.fr = new Date(row.fr_due_at).toISOString();
  if (terms.resolutionMin !== null && targetMissedAt(state, 'res') === null) {
    const usedUp = resolutionUsedUpAt(state, terms.clock, terms.resolutionMin * MIN, at);
    if (usedUp !== null) missed.res = usedUp.toISOString();
  }
  return missed;
}

function missedNote(missed: { fr?: string; res?: string }): string {
  return `${missed.fr !== undefined ? `; first response already missed (due ${missed.fr})` : ''}${missed.res !== undefined ? `; resolution already missed (due ${missed.res})` : ''}`;
}

/**
 * A new priority (`change.caseRow` carries it): every due time follows the new targets, measured
 * from the opening — except a target the case had already missed under the old priority: that
 * stays missed at the instant it was (a late case lowered to a longer target is not on time again;
 * its breach was alerted and is reported).
 */
async function onPriorityChange(trx: Trx, ctx: AppContext, change: PriorityChange): Promise<CaseRow> {
  const { caseRow: after, from } = change;
  let note = '';
  const missedBefore = (row: NewCaseSla, state: ClockState): ClockState => {
    const at = ctx.clock.now();
    const old = termsOf(ctx, { queue: after.queue, priority: from }, state);
    const now = missedBy(after, row, state, old, at);
    note = missedNote(now);
    return { ...state, missed: { ...state.missed, ...now } };
  };
  return recompute(
    trx,
    ctx,
    after,
    change.actor,
    (terms) => ({
      why: `priority ${from} → ${after.priority} (${terms.coverage}${note})`,
      data: { from, to: after.priority },
    }),
    false,
    missedBefore,
  );
}

/**
 * A case moved to another queue. The time it spent so far stays measured in the calendar of the
 * queue it leaves (a move is recorded: case_sla.moves_json), the time from now on counts in the new
 * queue's calendar, and the new queue's targets (its policy, for the case's priority) apply to the
 * business time used in all of them. A target already missed in the queue left stays missed, at the
 * time it was missed (its breach alert goes out if it has not yet); one the new target has used up
 * is due at the move.
 */
async function onQueueChange(trx: Trx, ctx: AppContext, change: QueueChange): Promise<CaseRow> {
  const { caseRow: after, from } = change;
  let note = '';
  const moved = (row: NewCaseSla, state: ClockState): ClockState => {
    const at = new Date(change.at);
    const left = termsOf(ctx, { queue: from, priority: after.priority }, state);
    const missed = missedBy(after, row, state, left, at);
    const move: Move = { to: change.at, calendar: calendarOf(ctx.config, from).name, ...(missed.fr !== undefined ? { frMissedAt: missed.fr } : {}), ...(missed.res !== undefined ? { resMissedAt: missed.res } : {}) };
    const since = lastMoveAt(state.moves) ?? new Date(state.startedAt);
    const spent = Math.round(resolutionElapsed(state, left.clock, at) / MIN);
    note = `; ${spent} business minute(s) of resolution time so far kept as measured in calendar ${left.calendar.name}${since.getTime() !== new Date(state.startedAt).getTime() ? ' (and the calendars before)' : ''}${missedNote(missed)}`;
    return { ...state, moves: [...(state.moves ?? []), move] };
  };
  return recompute(
    trx,
    ctx,
    after,
    change.actor,
    (terms) => ({
      why: `queue ${from} → ${after.queue} (${terms.policy === '' ? 'no SLA policy' : `policy ${terms.policy}`}, calendar ${terms.calendar.name}${note})`,
      data: { fromQueue: from, toQueue: after.queue },
    }),
    false,
    moved,
  );
}

/** Every due time of the case's running clocks under its current terms, recorded as `sla.recomputed` with what changed (`what`). */
async function recompute(
  trx: Trx,
  ctx: AppContext,
  after: CaseRow,
  actor: string,
  what: (terms: SlaTerms) => { readonly why: string; readonly data: Record<string, unknown> },
  /** Record the event only when a due time changed (a reload goes through every running case). */
  onlyChanges = false,
  /** A change of the clocks' own state first (a move: the stretch in the queue left). */
  adjust: (row: NewCaseSla, state: ClockState) => ClockState = (_row, state) => state,
): Promise<CaseRow> {
  const now = ctx.clock.now().toISOString();
  const loaded = await load(trx, ctx, after, now);
  if (loaded === null) return after;
  const state = adjust(loaded.row, loaded.state);
  const terms = termsOf(ctx, after, state);
  const before = { fr: loaded.row.fr_due_at ?? null, res: loaded.row.res_due_at ?? null };
  let row = loaded.row;
  if (after.status === 'pending' && row.pending_since != null && ctx.config.jobs.pendingReminder.enabled) {
    // Reminders count the business days of the queue's calendar: of the new queue's after a move.
    // In the same calendar a schedule delayed by a downtime stays delayed (follow-up.ts pendingStep).
    const since = new Date(row.pending_since);
    const sent = row.pending_reminders ?? 0;
    const stored = row.calendar === terms.calendar.name && row.pending_next_at != null ? new Date(row.pending_next_at) : null;
    row = { ...row, pending_next_at: iso(pendingDueAt(ctx.config, terms.calendar, since, sent, stored)) };
  }
  const out = await write(trx, ctx, after, row, state, terms, now);
  if (onlyChanges && out.sla.fr_due_at === before.fr && out.sla.res_due_at === before.res) return out.caseRow;
  const w = what(terms);
  await addEvent(trx, {
    caseId: after.id,
    type: 'sla.recomputed',
    actor,
    reason: `${w.why}: first response due ${out.sla.fr_due_at ?? 'none'} (was ${before.fr ?? 'none'}), resolution due ${out.sla.res_due_at ?? 'none'} (was ${before.res ?? 'none'})`,
    data: { ...w.data, firstResponseDueAt: out.sla.fr_due_at, resolutionDueAt: out.sla.res_due_at, previous: before },
    at: now,
  });
  ctx.log.info({ component: 'sla', caseId: after.id, caseNumber: after.number, ...w.data, firstResponseDueAt: out.sla.fr_due_at, resolutionDueAt: out.sla.res_due_at }, 'sla due times recomputed');
  return out.caseRow;
}

/**
 * A reload changed the SLA terms (calendars, policies, queues, priorities): every running clock
 * under the new ones, each case in its own transaction. Stored due times are otherwise computed
 * when a clock starts or its terms change for the case (priority, queue, status): without this,
 * two cases opened together under the same policy had different due times after the policy was
 * edited — the one an agent had touched since (a status change) the new, the other the old one,
 * and sla-check alerted by the old. A case whose due times change records `sla.recomputed`.
 * Returns how many changed.
 */
export async function recomputeRunningClocks(ctx: AppContext, stopping: () => boolean = () => false, before?: Pick<Config, 'jobs'>): Promise<number> {
  // A reload that changed jobs.criticalReminder.afterMinutes: a watch already moved on by a
  // reminder (its next quiet period) keeps its place in the stretch, with the new length.
  const staleShift = before === undefined ? 0 : (ctx.config.jobs.criticalReminder.afterMinutes - before.jobs.criticalReminder.afterMinutes) * MIN;
  return eachClockCase(ctx, 'running', stopping, async (trx, id) => {
    const c = await lockCaseById(trx, id);
    if (c === undefined || c.status === 'resolved' || c.status === 'closed') return false;
    const before = await slaOfCase(trx, id);
    if (staleShift !== 0 && before?.stale_check_at != null) await updateSla(trx, id, { stale_check_at: new Date(new Date(before.stale_check_at).getTime() + staleShift).toISOString() });
    await recompute(trx, ctx, c, 'system', (terms) => ({ why: `configuration reloaded (policy ${terms.policy === '' ? 'none' : terms.policy}, calendar ${terms.calendar.name})`, data: { reload: true } }), true);
    const now = await slaOfCase(trx, id);
    return before?.fr_due_at !== now?.fr_due_at || before?.res_due_at !== now?.res_due_at;
  });
}

/** Runs `work` on each case of clockCases(`which`), each in its own transaction, until `stopping`; returns for how many it returned true. */
async function eachClockCase(ctx: AppContext, which: 'running' | 'waiting', stopping: () => boolean, work: (trx: Trx, id: number) => Promise<boolean>): Promise<number> {
  let after = 0;
  let changed = 0;
  for (;;) {
    const ids = await clockCases(ctx.db, which, after, 200);
    for (const id of ids) {
      if (stopping()) return changed;
      after = id;
      if (await ctx.db.transaction().execute((trx) => work(trx, id))) changed++;
    }
    if (ids.length < 200) return changed;
  }
}

/**
 * A reload changed jobs.pendingReminder (the reminder days, the automatic close, switched on):
 * the next step of every case already waiting for the customer follows the new schedule
 * (follow-up.ts reschedulePending: counted in reminders sent — none comes twice —, a downtime's
 * delay kept, never sooner after the last reminder than the new gap, never closed before the date
 * a reminder announced). Without this, the stored next time kept the old schedule, and a shortened
 * one read it as a delay: the waiting cases went on by the old days. Each case in its own
 * transaction (locked, like the job's); `case.reminder-rescheduled` on each case whose next step
 * moved. Returns how many moved.
 */
export async function rescheduleWaitingCases(ctx: AppContext, before: Pick<Config, 'jobs' | 'sla' | 'queues'>, stopping: () => boolean = () => false): Promise<number> {
  const settings = ctx.config.jobs.pendingReminder;
  if (!settings.enabled) return 0;
  return eachClockCase(ctx, 'waiting', stopping, async (trx, id) => {
    const c = await lockCaseById(trx, id);
    const sla = await slaOfCase(trx, id);
    if (c === undefined || sla === undefined || c.status !== 'pending' || sla.pending_since === null) return false;
    // Kept while the job was switched off (a case that went pending meanwhile has none).
    const stored = sla.pending_next_at !== null ? new Date(sla.pending_next_at) : null;
    const calendars = { before: calendarOf(before, c.queue), after: calendarOf(ctx.config, c.queue) };
    const next = iso(reschedulePending(before, ctx.config, calendars, new Date(sla.pending_since), sla.pending_reminders, stored));
    if (next === sla.pending_next_at) return false;
    const now = ctx.clock.now().toISOString();
    await updateSla(trx, id, { pending_next_at: next });
    const days = settings.remindAfterBusinessDays.join(', ');
    await addEvent(trx, {
      caseId: id,
      type: 'case.reminder-rescheduled',
      actor: 'system',
      reason: `reminder schedule changed (jobs.pendingReminder: reminders after [${days}] business days, close after ${settings.autoCloseAfterDays} days): ${sla.pending_reminders} reminder(s) sent, next step due ${next ?? 'never'} (was ${sla.pending_next_at ?? 'none'})`,
      data: { remindersSent: sla.pending_reminders, nextAt: next, previous: sla.pending_next_at },
      at: now,
    });
    ctx.log.info({ component: 'sla', caseId: id, caseNumber: c.number, remindersSent: sla.pending_reminders, nextAt: next, previous: sla.pending_next_at }, 'pending case: reminder schedule changed');
    return true;
  });
}

/**
 * Suspected spam alerts nobody: sla-check and critical-reminder hold a spam case's checks
 * (next_check_at / stale_check_at null) instead of alerting. Marking it ham (spam-review) calls
 * this in its transaction: the checks are due again from the clocks, which ran from the opening
 * (a target already missed alerts at the next run).
 */
export async function releaseHeldChecks(trx: Trx, ctx: AppContext, caseRow: CaseRow): Promise<void> {
  const sla = await slaOfCase(trx, caseRow.id);
  if (sla === undefined) return;
  await updateSla(trx, caseRow.id, { next_check_at: nextCheck(sla, caseRow.first_response_at), stale_check_at: staleCheck(ctx, caseRow, sla.last_update_at) });
}

/** The SLA clocks as hooks of the case lifecycle (its LIFECYCLE_HOOKS). */
export const SLA_CLOCKS: LifecycleHook = {
  name: 'sla-clocks',
  caseCreated: onCaseCreated,
  statusChanged: onStatusChange,
  firstResponse: onFirstResponse,
  teamUpdate: onTeamUpdate,
  priorityChanged: onPriorityChange,
  queueChanged: onQueueChange,
};
