import type { Command } from 'commander';
import { jobRuns } from '../db/repos/jobs.js';
import { nextRun } from '../jobs/cron-time.js';
import { JOBS, jobByName, jobSettings } from '../jobs/registry.js';
import { createJobScheduler } from '../jobs/scheduler.js';
import { print, withContext, withReadContext } from './shared.js';
import { timeDisplay, zoneNote } from './display-time.js';

/** The scheduled jobs: their schedules and last runs; run one now. */
export function registerJobCommands(program: Command): void {
  const jobs = program.command('jobs').description('scheduled jobs: SLA alerts, reminders, auto-close, surveys, daily report');
  jobs
    .command('list')
    .description('every job with its schedule, last and next run')
    .option('--utc', 'times in UTC (default: jobs.timezone, or the queues’ one calendar zone)')
    .option('--json', 'JSON output (times ISO-8601 UTC)')
    .action(async (opts: { json?: boolean; utc?: boolean }) => {
      await withReadContext(async (ctx) => {
        const runs = new Map((await jobRuns(ctx.db)).map((r) => [r.job, r]));
        const zone = ctx.config.jobs.timezone;
        const rows = JOBS.map((j) => {
          const s = jobSettings(ctx.config, j);
          const r = runs.get(j.name);
          return { job: j.name, enabled: s.enabled, schedule: s.schedule, lastStarted: r?.last_started_at ?? null, lastFinished: r?.last_finished_at ?? null, lastError: r?.last_error ?? null, next: s.enabled ? (nextRun(s.schedule, zone, ctx.clock.now())?.toISOString() ?? null) : null };
        });
        const time = timeDisplay(ctx.config, opts.utc === true);
        print(rows, opts.json === true, () => rows.map((r) => `${r.job.padEnd(18)} ${(r.enabled ? r.schedule : 'disabled').padEnd(14)} last ${r.lastStarted !== null ? time.at(r.lastStarted, { seconds: true }) : 'never'}${r.lastError !== null ? ` (failed: ${r.lastError})` : ''}  next ${r.next !== null ? time.at(r.next) : '–'}\n`).join('') + `(schedules in ${zone}; ${zoneNote(time)})\n`);
      });
    });
  jobs
    .command('run')
    .description('run one job now in this process (what it sends is claimed: a run beside the daemon sends nothing twice)')
    .argument('<name>', `job: ${JOBS.map((j) => j.name).join(', ')}`)
    .option('--json', 'JSON output')
    .action(async (name: string, opts: { json?: boolean }) => {
      if (jobByName(name) === undefined) {
        process.stderr.write(`casegate: no job "${name}" (jobs: ${JOBS.map((j) => j.name).join(', ')})\n`);
        process.exitCode = 1;
        return;
      }
      await withContext(async (ctx) => {
        const result = await createJobScheduler(ctx).run(name, 'manual');
        print({ job: name, ...result }, opts.json === true, () => (result === null ? `${name} failed (see the log)\n` : `${name}: ${result.processed} looked at, ${result.sent} emails queued (the daemon's outbox sends them)\n`));
        if (result === null) process.exitCode = 1;
      }, { logLevel: 'info' });
    });
}
