import type { Config } from '../config/schema.js';
import type { BusinessClock } from './business-calendar.js';

/**
 * What happens to a case waiting for the customer (status pending): a reminder after each of
 * jobs.pendingReminder.remindAfterBusinessDays (business days of the queue's calendar), then the
 * automatic close after autoCloseAfterDays calendar days. Pure: the job and the SLA hooks use it
 * to store the next action time on the case. After a downtime the schedule is paced (pendingStep):
 * the latest missed reminder, not each of them, then the rest with its configured gaps.
 */

export type PendingAction = { readonly kind: 'reminder'; readonly number: number; readonly at: Date } | { readonly kind: 'close'; readonly at: Date };

const DAY = 86_400_000;

export function autoCloseAt(config: Pick<Config, 'jobs'>, pendingSince: Date): Date | null {
  const days = config.jobs.pendingReminder.autoCloseAfterDays;
  return days > 0 ? new Date(pendingSince.getTime() + days * DAY) : null;
}

/** The next action after `remindersSent` reminders, or null when nothing is left. */
export function nextPendingAction(config: Pick<Config, 'jobs'>, calendar: BusinessClock, pendingSince: Date, remindersSent: number): PendingAction | null {
  const close = autoCloseAt(config, pendingSince);
  const days = config.jobs.pendingReminder.remindAfterBusinessDays;
  const next = days[remindersSent];
  if (next !== undefined) {
    const at = calendar.addBusinessDays(pendingSince, next);
    if (close === null || at < close) return { kind: 'reminder', number: remindersSent + 1, at };
  }
  return close !== null ? { kind: 'close', at: close } : null;
}

/**
 * How late an action may be taken and leave the rest of the schedule where it was: the job runs
 * every 15 minutes, a restart takes a minute. Later than this (the daemon was down for a weekend,
 * an upgrade, a crash loop), the rest of the schedule moves by the delay: each step keeps its gap.
 */
export const ON_TIME_MS = 60 * 60_000;

export interface PendingStep {
  /** The action to take now. */
  readonly action: PendingAction;
  /** When it was due, in the (possibly delayed) schedule. */
  readonly dueAt: Date;
  /** When the action after it is due (null: none): stored as the case's next action time. */
  readonly nextAt: Date | null;
  /** When the case will be closed without a reply, as the reminder says (null: never). */
  readonly closesAt: Date | null;
}

/**
 * The step to take at `now` after `remindersSent` reminders, or null when none is due yet.
 * `scheduledAt` is the case's stored next action time: later than the schedule computed from the
 * start of the waiting when an earlier step came late, and the whole rest of the schedule is later
 * by as much. After a downtime: of the reminders that came due only the latest is sent (not each
 * missed one within minutes), the automatic close never comes before the last reminder was sent
 * — a customer is not closed without the warning that says when — and a step taken late moves
 * the rest of the schedule by its delay, so the close comes the configured time after the
 * reminder that announced it.
 */
export function pendingStep(config: Pick<Config, 'jobs'>, calendar: BusinessClock, pendingSince: Date, remindersSent: number, scheduledAt: Date | null, now: Date): PendingStep | null {
  const first = nextPendingAction(config, calendar, pendingSince, remindersSent);
  if (first === null) return null;
  const shift = scheduledAt === null ? 0 : Math.max(0, scheduledAt.getTime() - first.at.getTime());
  const at = (a: PendingAction) => new Date(a.at.getTime() + shift);
  if (at(first) > now) return null;
  let action = first;
  while (action.kind === 'reminder') {
    const later = nextPendingAction(config, calendar, pendingSince, action.number);
    if (later === null || later.kind !== 'reminder' || at(later) > now) break;
    action = later;
  }
  const dueAt = at(action);
  const late = now.getTime() - dueAt.getTime();
  const moved = shift + (late > ON_TIME_MS ? late : 0);
  const next = action.kind === 'reminder' ? nextPendingAction(config, calendar, pendingSince, action.number) : null;
  const close = autoCloseAt(config, pendingSince);
  return { action, dueAt, nextAt: next === null ? null : new Date(next.at.getTime() + moved), closesAt: close === null ? null : new Date(close.getTime() + moved) };
}

/** When the case's next step is due, in its (possibly delayed) schedule: `scheduledAt` kept when it is later. */
export function pendingDueAt(config: Pick<Config, 'jobs'>, calendar: BusinessClock, pendingSince: Date, remindersSent: number, scheduledAt: Date | null): Date | null {
  const next = nextPendingAction(config, calendar, pendingSince, remindersSent);
  if (next === null) return null;
  return scheduledAt !== null && scheduledAt > next.at ? scheduledAt : next.at;
}

/**
 * The next action time of a case waiting since `pendingSince`, `remindersSent` reminders sent, when
 * a reload changed jobs.pendingReminder from `before` to `after` (`stored`: its next action time
 * under `before`). The new schedule applies to the cases already waiting — a schedule shortened
 * from [3, 7] to [1, 2] reminds a case waiting for a day now, not in two — counted in reminders
 * sent, so no step already sent comes again; and:
 * - a delay the old schedule carried (a step taken late after a downtime) is kept;
 * - the next reminder comes no sooner after the last one than the new schedule puts between them
 *   (a case reminded an hour ago under [3, 7] is not reminded again at once under [1, 2], but a
 *   business day after its reminder) — the rest of the schedule, the close too, moves with it;
 * - when the next step is the close, it never comes before the date the last reminder announced
 *   (a shorter autoCloseAfterDays closes the cases reminded meanwhile on the date they were told).
 * Null: nothing is left to do.
 */
export function reschedulePending(
  before: Pick<Config, 'jobs'>,
  after: Pick<Config, 'jobs'>,
  calendars: { readonly before: BusinessClock; readonly after: BusinessClock },
  pendingSince: Date,
  remindersSent: number,
  stored: Date | null,
): Date | null {
  const next = nextPendingAction(after, calendars.after, pendingSince, remindersSent);
  if (next === null) return null;
  const old = nextPendingAction(before, calendars.before, pendingSince, remindersSent);
  const delay = stored !== null && old !== null ? Math.max(0, stored.getTime() - old.at.getTime()) : 0;
  let at = next.at.getTime() + delay;
  if (remindersSent > 0) {
    const oldDays = before.jobs.pendingReminder.remindAfterBusinessDays;
    const newDays = after.jobs.pendingReminder.remindAfterBusinessDays;
    // When the last reminder went: its place in the old schedule, with the delay it carried.
    const lastDay = oldDays[remindersSent - 1];
    const last = (lastDay !== undefined ? calendars.before.addBusinessDays(pendingSince, lastDay) : pendingSince).getTime() + delay;
    if (next.kind === 'reminder') {
      const gap = (newDays[remindersSent] ?? 0) - (newDays[remindersSent - 1] ?? 0);
      at = Math.max(at, calendars.after.addBusinessDays(new Date(last), Math.max(1, gap)).getTime());
    } else {
      const announced = autoCloseAt(before, pendingSince);
      if (announced !== null) at = Math.max(at, announced.getTime() + delay);
    }
  }
  return new Date(at);
}
