import type { BusinessClock } from './business-calendar.js';
import type { SlaTerms } from './sla-policy.js';
import { lastMoveAt, missedAt, type Move } from './sla-stretches.js';

/**
 * The SLA clocks of one case as plain data, and the pure arithmetic over them (DESIGN §3):
 *  - first response runs from opening until the first agent reply (no pauses); a case opened
 *    outside hours with afterHours next-business-day is due at the end of the next business day;
 *  - resolution runs from opening until resolved, minus pauses (pending; on hold when the policy
 *    says so); a resolved period is a pause too, so a reopened case continues where it stopped.
 * Pauses are kept as periods, so a change of priority (a different target, or 24/7 instead of
 * business hours) recomputes every due time exactly.
 */

const MIN = 60_000;

export type PauseReason = 'pending' | 'on_hold' | 'resolved';

export interface Pause {
  readonly from: string;
  readonly to: string | null;
  readonly why: PauseReason;
}

export interface ClockState {
  readonly startedAt: string;
  readonly firstResponseAt: string | null;
  readonly pauses: readonly Pause[];
  /** Moves to other queues (sla-stretches.ts): none for a case measured in one queue. */
  readonly moves?: readonly Move[];
  /** Targets found missed at a change of priority, and when (case_sla.fr_missed_at, res_missed_at). */
  readonly missed?: { readonly fr?: string; readonly res?: string };
}

export interface DueTimes {
  /** First response: due and warn time (null without a target). */
  readonly frDue: Date | null;
  readonly frWarn: Date | null;
  /** Resolution: null without a target or while paused/stopped. */
  readonly resDue: Date | null;
  readonly resWarn: Date | null;
}

export function openPause(state: ClockState): Pause | null {
  const last = state.pauses[state.pauses.length - 1];
  return last !== undefined && last.to === null ? last : null;
}

export function pause(state: ClockState, at: string, why: PauseReason): ClockState {
  const open = openPause(state);
  if (open !== null) {
    // Already paused: a change of reason (pending → resolved) closes one period and opens the next.
    if (open.why === why) return state;
    return { ...state, pauses: [...state.pauses.slice(0, -1), { ...open, to: at }, { from: at, to: null, why }] };
  }
  return { ...state, pauses: [...state.pauses, { from: at, to: null, why }] };
}

export function resume(state: ClockState, at: string): ClockState {
  const open = openPause(state);
  if (open === null) return state;
  return { ...state, pauses: [...state.pauses.slice(0, -1), { ...open, to: at }] };
}

/** Resolution time counted up to `at` (business ms on `clock`), pauses excluded. */
export function resolutionElapsed(state: ClockState, clock: BusinessClock, at: Date): number {
  const start = new Date(state.startedAt);
  let total = clock.between(start, at);
  for (const p of state.pauses) {
    const from = new Date(p.from);
    if (from >= at) continue;
    const to = p.to === null ? at : new Date(Math.min(new Date(p.to).getTime(), at.getTime()));
    total -= clock.between(from, to);
  }
  return Math.max(0, total);
}

/** First-response time counted up to `at` (business ms). */
export function firstResponseElapsed(state: ClockState, clock: BusinessClock, at: Date): number {
  return clock.between(new Date(state.startedAt), at);
}

/**
 * Whether a first response is due at the end of the next business day: afterHours
 * next-business-day and the case opened after hours — closed, and not just in a break within the
 * business day (a case that arrives at lunch gets the target like one a minute before it).
 */
export function dueNextBusinessDay(terms: Pick<SlaTerms, 'afterHours' | 'clock'>, start: Date): boolean {
  return terms.afterHours === 'next-business-day' && !terms.clock.isOpen(start) && !terms.clock.inBreak(start);
}

/**
 * The instant a target was recorded missed — at a move (sla-stretches.ts) or at a change of
 * priority — or null: a breach stays a breach, whatever terms the case goes by later.
 */
export function targetMissedAt(state: ClockState, target: 'fr' | 'res'): Date | null {
  const atMove = missedAt(state.moves, target);
  const recorded = state.missed?.[target];
  const atChange = recorded === undefined ? null : new Date(recorded);
  if (atMove === null) return atChange;
  return atChange === null || atMove <= atChange ? atMove : atChange;
}

/**
 * A target missed before a move stays missed at the instant it was; one the new queue's target has
 * used up meanwhile is due at the move, not before it — the case was not in that queue then. A
 * target missed before a change of priority is due then at the latest: a longer target does not
 * put it off, a shorter one measured from the opening (a case raised to urgent) may make it
 * earlier. Never moved and nothing missed: the times as measured.
 */
function afterChanges(times: { due: Date; warn: Date }, state: ClockState, target: 'fr' | 'res'): { due: Date; warn: Date } {
  const atMove = missedAt(state.moves, target);
  const recorded = state.missed?.[target];
  const atChange = recorded === undefined ? null : new Date(recorded);
  if (atMove !== null && (atChange === null || atMove <= atChange)) return { due: atMove, warn: atMove };
  const moved = lastMoveAt(state.moves);
  const later = (d: Date) => (moved !== null && d < moved ? moved : d);
  const measured = { due: later(times.due), warn: later(times.warn) };
  if (atChange === null) return measured;
  const earlier = (d: Date) => (d < atChange ? d : atChange);
  return { due: earlier(measured.due), warn: earlier(measured.warn) };
}

export function firstResponseTimes(state: ClockState, terms: SlaTerms): { due: Date | null; warn: Date | null } {
  if (terms.firstResponseMin === null) return { due: null, warn: null };
  const start = new Date(state.startedAt);
  const clock = terms.clock;
  const due = dueNextBusinessDay(terms, start) ? clock.endOfNextBusinessDay(start) : clock.add(start, terms.firstResponseMin * MIN);
  const warn = clock.add(start, Math.round(terms.warnAt * clock.between(start, due)));
  return afterChanges({ due, warn }, state, 'fr');
}

/** Resolution due and warn time while running; null while paused or without a target. */
export function resolutionTimes(state: ClockState, terms: SlaTerms): { due: Date; warn: Date } | null {
  if (terms.resolutionMin === null || openPause(state) !== null) return null;
  const clock = terms.clock;
  const resumedAt = new Date(Math.max(new Date(state.startedAt).getTime(), ...state.pauses.map((p) => (p.to === null ? 0 : new Date(p.to).getTime()))));
  const used = resolutionElapsed(state, clock, resumedAt);
  const target = terms.resolutionMin * MIN;
  const warnTarget = Math.round(terms.warnAt * target);
  const times = {
    due: clock.add(resumedAt, Math.max(0, target - used)),
    warn: used >= warnTarget ? resumedAt : clock.add(resumedAt, warnTarget - used),
  };
  return afterChanges(times, state, 'res');
}

/**
 * When the resolution clock used up `targetMs` of business time, if it did by `until` (pauses
 * excluded): the instant the target was missed, or null while it still holds. A move records it
 * for the queue left (a breach stays a breach).
 */
export function resolutionUsedUpAt(state: ClockState, clock: BusinessClock, targetMs: number, until: Date): Date | null {
  let used = 0;
  let from = new Date(state.startedAt);
  const stretches: [Date, Date][] = [];
  for (const p of state.pauses) {
    const pf = new Date(p.from);
    if (pf > from) stretches.push([from, pf]);
    if (p.to === null) {
      from = until;
      break;
    }
    from = new Date(Math.max(from.getTime(), new Date(p.to).getTime()));
  }
  if (until > from) stretches.push([from, until]);
  for (const [a, b0] of stretches) {
    const b = b0 > until ? until : b0;
    if (b <= a) continue;
    const d = clock.between(a, b);
    if (used + d > targetMs) return clock.add(a, targetMs - used);
    used += d;
  }
  return null;
}

/** Whether the resolution target was recorded missed at a move or a change of priority (then it stays missed, whatever the time counted later). */
export function resolutionRecordedMissed(state: ClockState): boolean {
  return targetMissedAt(state, 'res') !== null;
}

export function dueTimes(state: ClockState, terms: SlaTerms): DueTimes {
  const fr = firstResponseTimes(state, terms);
  const res = resolutionTimes(state, terms);
  return { frDue: fr.due, frWarn: fr.warn, resDue: res?.due ?? null, resWarn: res?.warn ?? null };
}
