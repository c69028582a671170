import type { Config } from '../config/schema.js';
import { criticalReminderJob } from './critical-reminder.js';
import { dailyReportJob } from './daily-report.js';
import type { JobDefinition } from './job.js';
import { pendingReminderJob } from './pending-reminder.js';
import { resolvedCloseJob } from './resolved-close.js';
import { sentBodiesJob } from './sent-bodies.js';
import { slaCheckJob } from './sla-check.js';
import { surveyJob } from './survey.js';

/** Every scheduled job, one file each; the schedules and knobs live in config (jobs.<key>). */
export const JOBS: readonly JobDefinition[] = [slaCheckJob, criticalReminderJob, pendingReminderJob, resolvedCloseJob, surveyJob, dailyReportJob, sentBodiesJob];

export function jobSettings(config: Pick<Config, 'jobs'>, job: JobDefinition): { readonly enabled: boolean; readonly schedule: string } {
  const s = config.jobs[job.configKey];
  return { enabled: config.jobs.enabled && s.enabled, schedule: s.schedule };
}

export function jobByName(name: string): JobDefinition | undefined {
  return JOBS.find((j) => j.name === name);
}
