import type { BusinessClock } from './business-calendar.js';

/**
 * A case moved between queues is measured stretch by stretch: each queue's time in that queue's
 * calendar (DESIGN §3, docs/business-time.md "A case moved to another queue"). Without this, every
 * move re-measured the case from its opening in the new queue's calendar: a weekend waited in a
 * 24/7 queue vanished when the case moved to a Mon–Fri queue (a missed target became met, its
 * breach alert unsaid), and the other way round a case was breached the moment it arrived.
 *
 * A move (stored in case_sla.moves_json, 0034) closes the stretch in the queue left: until `to`
 * the case was measured in `calendar`, and a target already missed by then keeps the instant it was
 * missed at — a breach stays a breach, whatever the new queue's targets. The stretch after the
 * last move is measured in the current queue's calendar.
 */

export interface Move {
  /** The move: end of the stretch measured in `calendar`. */
  readonly to: string;
  /** The calendar of the queue left (its name in sla.calendars; the default one when none). */
  readonly calendar: string;
  /** The first-response target was missed before this move, at this instant. */
  readonly frMissedAt?: string;
  /** The resolution target was missed before this move, at this instant. */
  readonly resMissedAt?: string;
}

interface Piece {
  readonly clock: BusinessClock;
  /** Exclusive end; null for the current stretch (open-ended). */
  readonly end: number | null;
}

/**
 * One clock over the stretches: before the first move `stretches[0].clock`, …, after the last
 * move `current`. Business time is the sum of each stretch's business time in its own calendar;
 * `add` spends what each stretch holds and carries the rest into the next. Reminders in business
 * days (addBusinessDays, isBusinessDay) are the current queue's; the end of the next business day
 * is that of the calendar the case was in at the time asked.
 */
export function stretchedClock(stretches: readonly { readonly to: Date; readonly clock: BusinessClock }[], current: BusinessClock): BusinessClock {
  if (stretches.length === 0) return current;
  const pieces: Piece[] = [...stretches.map((s) => ({ clock: s.clock, end: s.to.getTime() })), { clock: current, end: null }];
  const pieceAt = (t: number): number => {
    const i = pieces.findIndex((p) => p.end === null || t < p.end);
    return i < 0 ? pieces.length - 1 : i;
  };
  const startOf = (i: number): number => (i === 0 ? -Infinity : (pieces[i - 1]!.end as number));
  const clock: BusinessClock = {
    name: current.name,
    zone: current.zone,
    always: pieces.every((p) => p.clock.always),
    isOpen: (at) => pieces[pieceAt(at.getTime())]!.clock.isOpen(at),
    inBreak: (at) => pieces[pieceAt(at.getTime())]!.clock.inBreak(at),
    nextOpen(at) {
      for (let i = pieceAt(at.getTime()), t = at; ; i++, t = new Date(startOf(i))) {
        const p = pieces[i]!;
        const open = p.clock.nextOpen(t);
        if (p.end === null || open.getTime() < p.end) return open;
      }
    },
    between(a, b) {
      let total = 0;
      for (let i = 0; i < pieces.length; i++) {
        const from = Math.max(a.getTime(), startOf(i));
        const to = Math.min(b.getTime(), pieces[i]!.end ?? Infinity);
        if (to > from) total += pieces[i]!.clock.between(new Date(from), new Date(to));
      }
      return total;
    },
    add(at, ms) {
      let left = Math.max(0, ms);
      for (let i = pieceAt(at.getTime()), t = at; ; i++, t = new Date(startOf(i))) {
        const p = pieces[i]!;
        if (p.end === null) return p.clock.add(t, left);
        const holds = p.clock.between(t, new Date(p.end));
        if (left < holds || (left === holds && left > 0)) return p.clock.add(t, left);
        left -= holds;
      }
    },
    // A promise by a day's end (afterHours next-business-day, a case opened after hours) is the one
    // the customer was given when the case arrived: the end of that calendar's next business day.
    endOfNextBusinessDay: (at) => pieces[pieceAt(at.getTime())]!.clock.endOfNextBusinessDay(at),
    addBusinessDays: (at, days) => current.addBusinessDays(at, days),
    isBusinessDay: (date) => current.isBusinessDay(date),
  };
  return clock;
}

export function parseMoves(json: string | undefined | null): Move[] {
  if (json == null || json === '') return [];
  return JSON.parse(json) as Move[];
}

/** The instant of the last move (the current stretch began), or null for a case never moved. */
export function lastMoveAt(moves: readonly Move[] | undefined): Date | null {
  const last = moves?.[moves.length - 1];
  return last === undefined ? null : new Date(last.to);
}

/** The earliest instant a target was recorded missed at a move, or null. */
export function missedAt(moves: readonly Move[] | undefined, target: 'fr' | 'res'): Date | null {
  const times = (moves ?? []).map((m) => (target === 'fr' ? m.frMissedAt : m.resMissedAt)).filter((t): t is string => t !== undefined).sort();
  return times[0] !== undefined ? new Date(times[0]) : null;
}
