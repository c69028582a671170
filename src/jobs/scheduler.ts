import { createTask, type ScheduledTask } from 'node-cron';
import type { AppContext } from '../context.js';
import { jobRun, recordJobEnd, recordJobStart } from '../db/repos/jobs.js';
import { previousRun } from './cron-time.js';
import type { JobDefinition, JobResult } from './job.js';
import { JOBS, jobSettings } from './registry.js';

/**
 * Runs the jobs of the registry on their cron schedules (node-cron, in jobs.timezone) inside the
 * daemon. At start it catches up: a job whose last scheduled time passed while the daemon was
 * down — or whose last run was interrupted (crash, kill -9) — runs at once. A job never runs twice
 * at the same time; what it sends is claimed per item, so a repeated run sends nothing twice.
 * Every run is recorded in job_runs. Time for the jobs' decisions comes from ctx.clock.
 */

export type RunReason = 'scheduled' | 'catch-up' | 'manual';

export interface JobScheduler {
  /** The node-cron tasks by job name (enabled jobs only). */
  readonly tasks: ReadonlyMap<string, ScheduledTask>;
  /** Run one job now; null when it is running already (or the scheduler is stopping). */
  run(name: string, reason: RunReason): Promise<JobResult | null>;
  /** Run every enabled job that came due while we were down, in registry order; their names. */
  catchUp(): Promise<string[]>;
  /** Resolves when the start-up catch-up is done. */
  readonly caughtUp: Promise<string[]>;
  stop(): Promise<void>;
}

export function createJobScheduler(ctx: AppContext, jobs: readonly JobDefinition[] = JOBS): Omit<JobScheduler, 'caughtUp' | 'tasks'> & { schedule(): Map<string, ScheduledTask> } {
  const log = ctx.log.child({ component: 'jobs' });
  const running = new Map<string, Promise<JobResult | null>>();
  const tasks = new Map<string, ScheduledTask>();
  let stopping = false;
  const enabled = jobs.filter((j) => jobSettings(ctx.config, j).enabled);

  async function execute(def: JobDefinition, reason: RunReason): Promise<JobResult | null> {
    const now = ctx.clock.now();
    const started = performance.now();
    const jlog = log.child({ job: def.name });
    await recordJobStart(ctx.db, def.name, now.toISOString());
    try {
      const result = await def.run({ ctx, now, log: jlog, stopping: () => stopping });
      await recordJobEnd(ctx.db, def.name, ctx.clock.now().toISOString(), null);
      const line = { job: def.name, reason, processed: result.processed, sent: result.sent, ms: Math.round(performance.now() - started) };
      if (result.processed > 0 || reason !== 'scheduled') jlog.info(line, 'job finished');
      else jlog.debug(line, 'job finished');
      ctx.telemetry.jobRun({ job: def.name, ok: true, seconds: (performance.now() - started) / 1000 });
      return result;
    } catch (err) {
      await recordJobEnd(ctx.db, def.name, ctx.clock.now().toISOString(), err instanceof Error ? err.message.slice(0, 500) : String(err)).catch(() => undefined);
      jlog.error({ err, job: def.name, reason }, 'job failed; it runs again on its next schedule');
      ctx.telemetry.jobRun({ job: def.name, ok: false, seconds: (performance.now() - started) / 1000 });
      return null;
    }
  }

  function run(name: string, reason: RunReason): Promise<JobResult | null> {
    const def = jobs.find((j) => j.name === name);
    if (def === undefined) return Promise.reject(new Error(`no job "${name}" (jobs: ${jobs.map((j) => j.name).join(', ')})`));
    if (stopping) return Promise.resolve(null);
    const busy = running.get(name);
    if (busy !== undefined) {
      log.debug({ job: name, reason }, 'job still running; this run is skipped');
      return Promise.resolve(null);
    }
    const p = execute(def, reason).finally(() => running.delete(name));
    running.set(name, p);
    return p;
  }

  async function catchUp(): Promise<string[]> {
    const ran: string[] = [];
    for (const def of enabled) {
      if (stopping) break;
      const { schedule } = jobSettings(ctx.config, def);
      const now = ctx.clock.now();
      const last = await jobRun(ctx.db, def.name);
      const due = previousRun(schedule, ctx.config.jobs.timezone, now);
      let why: string | null = null;
      if (last === undefined) {
        if (def.runOnFirstStart) why = 'first start';
        else {
          // First start ever: nothing was missed; from now on missed runs are caught up.
          await recordJobStart(ctx.db, def.name, now.toISOString());
          await recordJobEnd(ctx.db, def.name, now.toISOString(), null);
        }
      } else if (last.last_finished_at === null || last.last_finished_at < last.last_started_at) {
        why = `the run started ${last.last_started_at} did not finish`;
      } else if (due !== null && last.last_started_at < due.toISOString()) {
        why = `due ${due.toISOString()} while the daemon was down (last run ${last.last_started_at})`;
      }
      if (why === null) continue;
      log.info({ job: def.name, why }, 'job catches up');
      await run(def.name, 'catch-up');
      ran.push(def.name);
    }
    return ran;
  }

  function schedule(): Map<string, ScheduledTask> {
    for (const def of enabled) {
      const { schedule: expr } = jobSettings(ctx.config, def);
      const jlog = log.child({ job: def.name });
      const task = createTask(expr, () => run(def.name, 'scheduled'), {
        name: def.name,
        timezone: ctx.config.jobs.timezone,
        noOverlap: true,
        logger: {
          info: (m) => jlog.debug(m),
          warn: (m) => jlog.debug(m),
          error: (m, e) => jlog.warn({ err: e ?? m }, 'node-cron error'),
          debug: (m) => jlog.trace(String(m)),
        },
      });
      void task.start();
      tasks.set(def.name, task);
    }
    log.info({ jobs: enabled.map((d) => `${d.name} (${jobSettings(ctx.config, d).schedule})`), timezone: ctx.config.jobs.timezone }, 'jobs scheduled');
    return tasks;
  }

  async function stop(): Promise<void> {
    stopping = true;
    for (const t of tasks.values()) await t.destroy();
    tasks.clear();
    await Promise.allSettled([...running.values()]);
  }

  return { run, catchUp, stop, schedule };
}

/** Start the jobs in the daemon (src/main.ts): schedule them, and catch up in the background. */
export function startJobs(ctx: AppContext): JobScheduler {
  const s = createJobScheduler(ctx);
  const tasks = s.schedule();
  const caughtUp = s.catchUp().catch((err: unknown) => {
    ctx.log.error({ err, component: 'jobs' }, 'catch-up failed');
    return [];
  });
  return { tasks, caughtUp, run: s.run, catchUp: s.catchUp, stop: s.stop };
}
