import { schemeLevels } from '../cases/priority.js';
import type { Config } from './schema.js';

type Report = (path: (string | number)[], message: string) => void;

/**
 * Cross-references of calendars, SLA policies, queues and jobs (issue 11), checked when the
 * configuration is loaded so that every problem is reported with its key path: a queue's calendar
 * and policy exist, policy targets name priority levels, critical priorities are levels.
 */
export function checkSla(cfg: Config, report: Report): void {
  const calendars = Object.keys(cfg.sla.calendars);
  const policies = Object.keys(cfg.sla.policies);
  const levels = schemeLevels(cfg.priorities).map((l) => l.name);
  const isLevel = (n: string): boolean => levels.some((l) => l.toLowerCase() === n.trim().toLowerCase());
  const calendarHint = `calendars: ${calendars.join(', ') || 'none configured under sla.calendars'}`;
  const policyHint = `policies: ${policies.join(', ') || 'none configured under sla.policies'}`;

  if (cfg.sla.defaultCalendar !== undefined && !calendars.includes(cfg.sla.defaultCalendar)) report(['sla', 'defaultCalendar'], `no calendar "${cfg.sla.defaultCalendar}" (${calendarHint})`);
  if (cfg.sla.defaultPolicy !== undefined && !policies.includes(cfg.sla.defaultPolicy)) report(['sla', 'defaultPolicy'], `no policy "${cfg.sla.defaultPolicy}" (${policyHint})`);
  for (const [name, q] of Object.entries(cfg.queues)) {
    if (q.calendar !== undefined && !calendars.includes(q.calendar)) report(['queues', name, 'calendar'], `no calendar "${q.calendar}" (${calendarHint})`);
    if (q.slaPolicy !== undefined && !policies.includes(q.slaPolicy)) report(['queues', name, 'slaPolicy'], `no policy "${q.slaPolicy}" (${policyHint})`);
    if (q.feedback && q.slaPolicy !== undefined) report(['queues', name, 'slaPolicy'], 'a feedback queue has no SLA (feedback is recorded closed)');
  }
  for (const [name, p] of Object.entries(cfg.sla.policies)) {
    for (const [level, t] of Object.entries(p.targets)) {
      if (!isLevel(level)) report(['sla', 'policies', name, 'targets', level], `"${level}" is not a priority level (levels: ${levels.join(', ')})`);
      if (t.firstResponse === undefined && t.resolution === undefined) report(['sla', 'policies', name, 'targets', level], 'give firstResponse, resolution or both');
      if (t.coverage === '24x7' && t.afterHours === 'next-business-day') report(['sla', 'policies', name, 'targets', level, 'afterHours'], 'a 24x7 target has no after-hours');
    }
  }
  (cfg.jobs.criticalReminder.priorities ?? []).forEach((p, i) => {
    if (!isLevel(p)) report(['jobs', 'criticalReminder', 'priorities', i], `"${p}" is not a priority level (levels: ${levels.join(', ')})`);
  });
  const days = cfg.jobs.pendingReminder.remindAfterBusinessDays;
  if (days.some((d, i) => i > 0 && d <= (days[i - 1] ?? 0))) report(['jobs', 'pendingReminder', 'remindAfterBusinessDays'], 'list the business days in increasing order');
}
