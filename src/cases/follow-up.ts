import type { Config } from '../config/schema.js';
import type { BusinessClock } from './business-calendar.js';

/**
 * What happens to a case waiting for the customer (status pending): a reminder after each of
 * jobs.pendingReminder.remindAfterBusinessDays (business days of the queue's calendar), then the
 * automatic close after autoCloseAfterDays calendar days. Pure: the job and the SLA hooks use it
 * to store the next action time on the case.
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
