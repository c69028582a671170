import type { BusinessClock } from './business-calendar.js';
import type { SlaTerms } from './sla-policy.js';

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

export function firstResponseTimes(state: ClockState, terms: SlaTerms): { due: Date | null; warn: Date | null } {
  if (terms.firstResponseMin === null) return { due: null, warn: null };
  const start = new Date(state.startedAt);
  const clock = terms.clock;
  const due = dueNextBusinessDay(terms, start) ? clock.endOfNextBusinessDay(start) : clock.add(start, terms.firstResponseMin * MIN);
  const warn = clock.add(start, Math.round(terms.warnAt * clock.between(start, due)));
  return { due, warn };
}

/** Resolution due and warn time while running; null while paused or without a target. */
export function resolutionTimes(state: ClockState, terms: SlaTerms): { due: Date; warn: Date } | null {
  if (terms.resolutionMin === null || openPause(state) !== null) return null;
  const clock = terms.clock;
  const resumedAt = new Date(Math.max(new Date(state.startedAt).getTime(), ...state.pauses.map((p) => (p.to === null ? 0 : new Date(p.to).getTime()))));
  const used = resolutionElapsed(state, clock, resumedAt);
  const target = terms.resolutionMin * MIN;
  const warnTarget = Math.round(terms.warnAt * target);
  return {
    due: clock.add(resumedAt, Math.max(0, target - used)),
    warn: used >= warnTarget ? resumedAt : clock.add(resumedAt, warnTarget - used),
  };
}

export function dueTimes(state: ClockState, terms: SlaTerms): DueTimes {
  const fr = firstResponseTimes(state, terms);
  const res = resolutionTimes(state, terms);
  return { frDue: fr.due, frWarn: fr.warn, resDue: res?.due ?? null, resWarn: res?.warn ?? null };
}
