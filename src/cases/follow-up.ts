import type { Config } from '../config/schema.js';
import type { BusinessClock } from './business-calendar.js';

/**
 * What happens to a case waiting for the customer (status pending): a reminder after each of
 * jobs.pendingReminder.remindAfterBusinessDays (business days of the queue's calendar), then the
 * automatic close after autoCloseAfterDays calendar days. Pure: the job and the SLA hooks use it
 * to store the next action time on the case. After a downtime only the latest action that came
 * due is taken (dueAction): not every missed reminder and the close within minutes of each other.
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
 * The action to take at `now` after `remindersSent` reminders: the latest one that is due (the
 * close when it is due, else the latest due reminder — earlier ones missed while the job did not
 * run are skipped), or null when none is due yet.
 */
export function dueAction(config: Pick<Config, 'jobs'>, calendar: BusinessClock, pendingSince: Date, remindersSent: number, now: Date): PendingAction | null {
  let action = nextPendingAction(config, calendar, pendingSince, remindersSent);
  if (action === null || action.at > now) return null;
  while (action.kind === 'reminder') {
    const later = nextPendingAction(config, calendar, pendingSince, action.number);
    if (later === null || later.at > now) break;
    action = later;
  }
  return action;
}
