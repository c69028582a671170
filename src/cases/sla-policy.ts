import type { Config } from '../config/schema.js';
import { alwaysOpen, businessCalendar, type BusinessClock } from './business-calendar.js';
import { priorityScheme } from './priority.js';
import { queueSettings } from './staff.js';

/**
 * Which promise applies to a case: its queue's calendar and SLA policy (queues.<q>.calendar /
 * slaPolicy, else sla.defaultCalendar / defaultPolicy) and the policy's targets for the case's
 * priority. Pure lookups over the configuration; calendars are built once per configuration.
 */

export const DEFAULT_CALENDAR = { name: 'default', zone: 'UTC', hours: { 'mon-fri': '09:00-17:00' } } as const;

export interface SlaTerms {
  /** Policy name, '' when the queue has none (no targets). */
  readonly policy: string;
  /** The queue's business calendar (pending reminders count its business days; times are shown in its zone). */
  readonly calendar: BusinessClock;
  /** The clock the targets run on: the calendar, or 24/7 for a 24x7 priority. */
  readonly clock: BusinessClock;
  readonly coverage: 'business-hours' | '24x7';
  readonly firstResponseMin: number | null;
  readonly resolutionMin: number | null;
  readonly afterHours: 'business-time' | 'next-business-day';
  readonly onHoldPauses: boolean;
  /** Share of a target after which the warning goes out. */
  readonly warnAt: number;
}

const calendars = new WeakMap<Config['sla'], Map<string, BusinessClock>>();

/** The business calendar of a queue. */
export function calendarOf(config: Pick<Config, 'sla' | 'queues'>, queue: string): BusinessClock {
  return calendarNamed(config, queueSettings(config, queue)?.calendar ?? config.sla.defaultCalendar ?? DEFAULT_CALENDAR.name);
}

/** A calendar of sla.calendars by name (the default Mon–Fri 09:00–17:00 UTC when there is none by that name, e.g. removed by a reload). */
export function calendarNamed(config: Pick<Config, 'sla'>, name: string): BusinessClock {
  let cache = calendars.get(config.sla);
  if (cache === undefined) calendars.set(config.sla, (cache = new Map()));
  let cal = cache.get(name);
  if (cal === undefined) {
    const spec = Object.hasOwn(config.sla.calendars, name) ? config.sla.calendars[name] : undefined;
    cal = spec !== undefined ? businessCalendar({ name, ...spec }) : businessCalendar(DEFAULT_CALENDAR);
    cache.set(name, cal);
  }
  return cal;
}

export function slaTerms(config: Pick<Config, 'sla' | 'queues' | 'priorities'>, queue: string, priority: string): SlaTerms {
  const calendar = calendarOf(config, queue);
  const policyName = queueSettings(config, queue)?.slaPolicy ?? config.sla.defaultPolicy ?? '';
  const policy = policyName !== '' && Object.hasOwn(config.sla.policies, policyName) ? config.sla.policies[policyName] : undefined;
  const level = priorityScheme(config).resolve(priority) ?? priority;
  const entry = policy === undefined ? undefined : Object.entries(policy.targets).find(([k]) => k.toLowerCase() === level.toLowerCase())?.[1];
  const coverage = entry?.coverage ?? 'business-hours';
  return {
    policy: policy !== undefined ? policyName : '',
    calendar,
    clock: coverage === '24x7' ? alwaysOpen(`${calendar.name} 24/7`, calendar.zone) : calendar,
    coverage,
    firstResponseMin: entry?.firstResponse ?? null,
    resolutionMin: entry?.resolution ?? null,
    afterHours: entry?.afterHours ?? 'business-time',
    onHoldPauses: policy?.onHoldPauses ?? false,
    warnAt: config.sla.warnAt,
  };
}

/** Priority levels the critical-reminder job watches (default: the most severe level). */
export function criticalLevels(config: Pick<Config, 'jobs' | 'priorities'>): string[] {
  const scheme = priorityScheme(config);
  const list = config.jobs.criticalReminder.priorities ?? [scheme.levels[0]?.name ?? 'urgent'];
  return list.map((p) => scheme.resolve(p) ?? p);
}

export function isCritical(config: Pick<Config, 'jobs' | 'priorities'>, priority: string): boolean {
  return criticalLevels(config).some((l) => l.toLowerCase() === priority.toLowerCase());
}
