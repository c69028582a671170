import { createTask, type ScheduledTask } from 'node-cron';
import type { AppContext } from '../context.js';
import { claimJobSlot, forgetFutureSlots, jobRun, recordJobEnd, recordJobStart, renewJobLease, type JobRunRow } from '../db/repos/jobs.js';
import { nextSkippedRun, previousRun } from './cron-time.js';
import type { JobDefinition, JobResult } from './job.js';
import { JOBS, jobSettings } from './registry.js';

/**
 * Runs the jobs of the registry on their cron schedules (node-cron, in jobs.timezone) inside the
 * daemon. At start it catches up: a job whose last scheduled time passed while the daemon was
 * down — or whose last run was interrupted (crash, kill -9) — runs at once. A job never runs twice
 * at the same time; what it sends is claimed per item, so a repeated run sends nothing twice.
 * Every run is recorded in job_runs. Time for the jobs' decisions comes from ctx.clock.
 *
 * Several daemons on one PostgreSQL database: every daemon schedules every job, and each scheduled
 * time (slot) is claimed in job_runs by one of them (claimJobSlot): the job runs once per schedule
 * across the cluster. A run holds a lease (database.leaseSeconds, renewed while it runs); a run
 * whose daemon died is caught up by another daemon's next start or slot once its lease ran out.
 * Manual runs (`casegate jobs run`) always run; their items are claimed like any other run's.
 */

/** How late a node-cron tick may fire and still run (bounded by the gap to the next tick). */
const MISSED_TICK_TOLERANCE_MS = 10 * 60_000;

/**
 * A scheduled run that failed (a database hiccup, a template error) is tried once more after
 * this long, for the same slot: a daily job would otherwise lose its day (its slot was claimed;
 * the next tick is tomorrow, and a restart sees a finished run). Claims make the retry safe.
 */
const RETRY_AFTER_FAILURE_MS = 5 * 60_000;

/** Timers for skipped times are armed at most this far ahead (and re-armed then): setTimeout's limit is 24.8 days. */
const SKIP_TIMER_MAX_MS = 7 * 86_400_000;

/**
 * How often the scheduler compares the wall clock with the monotonic one, and how far back the
 * wall clock may go before the schedules are restarted. node-cron arms its next tick for the wall
 * time it expected: after a step back by an hour it waits that hour, and every slot claimed before
 * the step lies in the future of the new time and refuses the claims — every job (SLA alerts,
 * reminders, the report) was silent until the clock caught up, without a word in the log.
 */
const CLOCK_WATCH_MS = 30_000;
const CLOCK_BACK_TOLERANCE_MS = 60_000;

/**
 * At start the jobs wait this long at most for the mailboxes' first look at their folders (the mail
 * that waited while the daemon was down): a mailbox that is slow or unreachable does not hold them
 * for longer.
 */
const INBOUND_WAIT_MS = 60_000;

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

export function createJobScheduler(
  ctx: AppContext,
  jobs: readonly JobDefinition[] = JOBS,
  opts: {
    readonly retryAfterFailureMs?: number;
    /**
     * Resolves when the mail that waited while the daemon was down has been taken in (the IMAP
     * mailboxes' first pass): scheduled and catch-up runs wait for it (at most INBOUND_WAIT_MS), so
     * a customer's reply from the weekend reopens its case before the catch-up closes it for want
     * of a reply, reminds them or sends the survey. Manual runs do not wait.
     */
    readonly inbound?: Promise<unknown>;
    readonly inboundWaitMs?: number;
  } = {},
): Omit<JobScheduler, 'caughtUp' | 'tasks'> & { schedule(): Map<string, ScheduledTask> } {
  const log = ctx.log.child({ component: 'jobs' });
  const running = new Map<string, Promise<JobResult | null>>();
  const retryMs = opts.retryAfterFailureMs ?? RETRY_AFTER_FAILURE_MS;
  /** The slot each job last retried after a failure (once per slot), and the pending retries. */
  const retriedSlot = new Map<string, string>();
  const retries = new Set<NodeJS.Timeout>();
  const tasks = new Map<string, ScheduledTask>();
  /** Per job, the timer for the next time the clock skips over one of its times (DST; cron-time.ts). */
  const skipTimers = new Map<string, NodeJS.Timeout>();
  let clockWatch: NodeJS.Timeout | null = null;
  let stopping = false;
  const enabled = jobs.filter((j) => jobSettings(ctx.config, j).enabled);
  /** Several daemons may share the database (PostgreSQL): runs hold leases. */
  const shared = ctx.config.database.driver === 'postgres';
  let inboundGate: Promise<void> | null = null;
  /** Resolved by stop(): a run waiting for the mailboxes stops waiting (the daemon stops its jobs before its mailboxes). */
  let stopped: () => void = () => undefined;
  const stopSignal = new Promise<'stopped'>((r) => {
    stopped = () => r('stopped');
  });

  /** The wait for the mail of the downtime (opts.inbound), once, bounded; resolved at once without one. */
  function inboundTakenIn(): Promise<void> {
    if (opts.inbound === undefined) return Promise.resolve();
    inboundGate ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const waitMs = opts.inboundWaitMs ?? INBOUND_WAIT_MS;
      const started = performance.now();
      const done = await Promise.race([
        opts.inbound!.then(
          () => true,
          () => true,
        ),
        new Promise<false>((r) => {
          timer = setTimeout(() => r(false), waitMs);
          timer.unref();
        }),
        stopSignal,
      ]);
      clearTimeout(timer);
      if (done === 'stopped') return;
      if (done) log.info({ waitedMs: Math.round(performance.now() - started) }, 'jobs start: the mail that waited in the mailboxes was taken in first');
      else log.warn({ waitedSeconds: Math.round(waitMs / 1000) }, 'jobs start without waiting any longer for the mailboxes (slow or unreachable): a reply still in a mailbox may come after a reminder or an automatic close');
    })();
    return inboundGate;
  }

  /** A run that started and never finished, and that no daemon is still running (its lease ran out; SQLite: nobody else runs). */
  function interrupted(last: JobRunRow, now: Date): boolean {
    if (!unfinished(last)) return false;
    return !shared || last.lease_until === null || last.lease_until <= now.toISOString();
  }

  function unfinished(last: JobRunRow): boolean {
    return last.last_finished_at === null || last.last_finished_at < last.last_started_at;
  }

  async function execute(def: JobDefinition, reason: RunReason, again: boolean): Promise<JobResult | null> {
    if (reason !== 'manual') await inboundTakenIn();
    if (stopping) return null;
    const now = ctx.clock.now();
    const started = performance.now();
    const jlog = log.child({ job: def.name });
    const leaseMs = ctx.config.database.leaseSeconds * 1000;
    let runner: string | undefined;
    let renewal: NodeJS.Timeout | undefined;
    let slot: string | null = null;
    if (reason === 'manual') {
      await recordJobStart(ctx.db, def.name, now.toISOString());
    } else {
      slot = (previousRun(jobSettings(ctx.config, def).schedule, ctx.config.jobs.timezone, now) ?? now).toISOString();
      const leaseUntil = shared ? new Date(now.getTime() + leaseMs).toISOString() : null;
      let claimed: boolean;
      try {
        claimed = await claimJobSlot(ctx.db, { job: def.name, slot, runner: ctx.nodeId, now: now.toISOString(), leaseUntil, again });
      } catch (err) {
        // The database was away (or locked) at the tick: the slot was not run here; a daily job
        // would lose its day. Tried once more like a failed run (unless another daemon ran it meanwhile).
        const retry = retryLater(def.name, slot, again);
        jlog.error({ err, slot, reason, ...(retry ? { retryInSeconds: Math.round(retryMs / 1000) } : {}) }, retry ? 'could not claim the job slot (database unavailable); it is tried once more for this slot' : 'could not claim the job slot (database unavailable); it runs again on its next schedule');
        ctx.telemetry.jobRun({ job: def.name, ok: false, seconds: (performance.now() - started) / 1000 });
        return null;
      }
      if (!claimed) {
        jlog.debug({ slot, reason }, 'job slot already run (or running) on another daemon; skipped');
        return null;
      }
      runner = ctx.nodeId;
      if (shared) {
        jlog.debug({ slot, reason }, 'job slot claimed');
        renewal = setInterval(() => {
          renewJobLease(ctx.db, def.name, ctx.nodeId, new Date(ctx.clock.now().getTime() + leaseMs).toISOString()).catch((err: unknown) => jlog.warn({ err }, 'could not renew the job lease'));
        }, leaseMs / 3);
        renewal.unref();
      }
    }
    try {
      const result = await def.run({ ctx, now, log: jlog, stopping: () => stopping });
      clearInterval(renewal);
      await recordJobEnd(ctx.db, def.name, ctx.clock.now().toISOString(), null, runner);
      const line = { reason, processed: result.processed, sent: result.sent, ms: Math.round(performance.now() - started) };
      if (result.processed > 0 || reason !== 'scheduled') jlog.info(line, 'job finished');
      else jlog.debug(line, 'job finished');
      ctx.telemetry.jobRun({ job: def.name, ok: true, seconds: (performance.now() - started) / 1000 });
      return result;
    } catch (err) {
      clearInterval(renewal);
      await recordJobEnd(ctx.db, def.name, ctx.clock.now().toISOString(), err instanceof Error ? err.message.slice(0, 500) : String(err), runner).catch(() => undefined);
      const retry = slot !== null && retryLater(def.name, slot, true);
      jlog.error({ err, reason, ...(retry ? { retryInSeconds: Math.round(retryMs / 1000) } : {}) }, retry ? 'job failed; it is tried once more for this slot' : 'job failed; it runs again on its next schedule');
      ctx.telemetry.jobRun({ job: def.name, ok: false, seconds: (performance.now() - started) / 1000 });
      return null;
    }
  }

  /**
   * Try `slot` of the job once more after retryMs (once per slot); false when it was retried
   * already (or the scheduler stops). `again`: its claim is taken again (the run failed after claiming it).
   */
  function retryLater(name: string, slot: string, again: boolean): boolean {
    if (stopping || retriedSlot.get(name) === slot) return false;
    retriedSlot.set(name, slot);
    const t = setTimeout(() => {
      retries.delete(t);
      run(name, 'catch-up', again).catch((e: unknown) => log.error({ err: e, job: name }, 'job failed; it runs again on its next schedule'));
    }, retryMs);
    t.unref();
    retries.add(t);
    return true;
  }

  function run(name: string, reason: RunReason, again = false): Promise<JobResult | null> {
    const def = jobs.find((j) => j.name === name);
    if (def === undefined) return Promise.reject(new Error(`no job "${name}" (jobs: ${jobs.map((j) => j.name).join(', ')})`));
    if (stopping) return Promise.resolve(null);
    const busy = running.get(name);
    if (busy !== undefined) {
      log.debug({ job: name, reason }, 'job still running; this run is skipped');
      return Promise.resolve(null);
    }
    const p = execute(def, reason, again).finally(() => running.delete(name));
    running.set(name, p);
    return p;
  }

  async function catchUp(): Promise<string[]> {
    const ran: string[] = [];
    for (const def of enabled) {
      if (stopping) break;
      const { schedule } = jobSettings(ctx.config, def);
      let now = ctx.clock.now();
      let last = await jobRun(ctx.db, def.name);
      // A tick of this daemon got there first (its run is under way here): nothing to catch up —
      // its own run is neither interrupted nor another daemon's lease to wait for.
      if (running.has(def.name)) {
        log.debug({ job: def.name }, 'job already running in this daemon; no catch-up');
        continue;
      }
      if (shared && last !== undefined && unfinished(last) && last.lease_until !== null && last.lease_until > now.toISOString()) {
        // Another daemon — or this host's previous process, killed — holds a run of it: wait out its
        // lease; a live holder renews it (and finishes), a dead one's run is caught up here.
        const waitMs = Math.min(Date.parse(last.lease_until) - now.getTime() + 100, ctx.config.database.leaseSeconds * 1000 + 100);
        log.info({ job: def.name, runner: last.runner, until: last.lease_until }, 'job is running on another daemon (or its run was interrupted); waiting for its lease');
        await new Promise((r) => setTimeout(r, Math.max(0, waitMs)));
        if (stopping) break;
        now = ctx.clock.now();
        last = await jobRun(ctx.db, def.name);
        if (running.has(def.name)) {
          log.debug({ job: def.name }, 'job started by a tick of this daemon while waiting; no catch-up');
          continue;
        }
      }
      const due = previousRun(schedule, ctx.config.jobs.timezone, now);
      let why: string | null = null;
      let again = false;
      if (last === undefined) {
        if (def.runOnFirstStart) why = 'first start';
        else {
          // First start ever: nothing was missed; from now on missed runs are caught up.
          await recordJobStart(ctx.db, def.name, now.toISOString());
          await recordJobEnd(ctx.db, def.name, now.toISOString(), null);
        }
      } else if (interrupted(last, now)) {
        why = `the run started ${last.last_started_at} did not finish`;
        again = true;
      } else if (due !== null && last.last_started_at < due.toISOString()) {
        why = `due ${due.toISOString()} while the daemon was down (last run ${last.last_started_at})`;
      }
      if (why === null) continue;
      log.info({ job: def.name, why }, 'job catches up');
      await run(def.name, 'catch-up', again);
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
        // node-cron skips a tick that fires more than 1 s late (its default), silently: a busy or
        // loaded daemon (an import, a backlog, a 2-core host shared with its database) then loses
        // whole runs, and of several daemons none may reach a slot. A tick runs when it is late by
        // less than the gap to the next one; a slot missed altogether (the host slept, the event
        // loop stalled longer than a gap) is run once at once, loudly, below.
        missedExecutionTolerance: MISSED_TICK_TOLERANCE_MS,
        logger: {
          info: (m) => jlog.debug(m),
          warn: (m) => jlog.debug(m),
          error: (m, e) => jlog.warn({ err: e ?? m }, 'node-cron error'),
          debug: (m) => jlog.trace(String(m)),
        },
      });
      // A stall over several slots reports them all at once: one line and one run for the burst.
      let missed: string[] = [];
      task.on('execution:missed', (c) => {
        missed.push(c.date.toISOString());
        if (missed.length > 1) return;
        setImmediate(() => {
          const slots = missed;
          missed = [];
          jlog.warn({ missed: slots.length, first: slots[0], last: slots.at(-1) }, 'scheduled runs were missed (the host slept or the daemon was blocked); running the job now');
          run(def.name, 'catch-up').catch((err: unknown) => jlog.error({ err }, 'job failed; it runs again on its next schedule'));
        });
      });
      void task.start();
      tasks.set(def.name, task);
      armSkippedRun(def, expr);
    }
    log.info({ jobs: enabled.map((d) => `${d.name} (${jobSettings(ctx.config, d).schedule})`), timezone: ctx.config.jobs.timezone }, 'jobs scheduled');
    watchClock();
    return tasks;
  }

  /**
   * A time of the job's schedule the clock skips (02:30 when daylight saving time starts) is run at
   * the change, once: node-cron never fires it. Its slot is the change's instant (previousRun), so
   * a tick of node-cron at the same instant ("0 * * * *" at 03:00) claims the same slot and only one runs.
   */
  function armSkippedRun(def: JobDefinition, expr: string): void {
    clearTimeout(skipTimers.get(def.name));
    skipTimers.delete(def.name);
    if (stopping) return;
    const now = ctx.clock.now();
    const at = nextSkippedRun(expr, ctx.config.jobs.timezone, now);
    if (at === null) return;
    const delay = at.getTime() - now.getTime();
    const timer = setTimeout(() => {
      skipTimers.delete(def.name);
      if (delay > SKIP_TIMER_MAX_MS) {
        armSkippedRun(def, expr);
        return;
      }
      log.info({ job: def.name, schedule: expr, at: at.toISOString(), timezone: ctx.config.jobs.timezone }, 'the clock skipped a scheduled time (daylight saving time): running the job now');
      run(def.name, 'scheduled')
        .catch((err: unknown) => log.error({ err, job: def.name }, 'job failed; it runs again on its next schedule'))
        .finally(() => armSkippedRun(def, expr));
      // A second late: the run reads the clock, and its slot is the change itself (previousRun).
    }, Math.min(delay + 1000, SKIP_TIMER_MAX_MS));
    timer.unref();
    skipTimers.set(def.name, timer);
  }

  /** Restart the schedules when the wall clock goes back (see CLOCK_BACK_TOLERANCE_MS); a step forward is node-cron's missed slots. */
  function watchClock(): void {
    let wall = ctx.clock.now().getTime();
    let mono = performance.now();
    clockWatch = setInterval(() => {
      const w = ctx.clock.now().getTime();
      const m = performance.now();
      const backMs = m - mono - (w - wall);
      wall = w;
      mono = m;
      if (backMs < CLOCK_BACK_TOLERANCE_MS || stopping) return;
      const now = new Date(w).toISOString();
      log.warn({ backSeconds: Math.round(backMs / 1000), now }, `the system clock went back by ${Math.round(backMs / 1000)} s; job schedules restarted from the new time`);
      void (async () => {
        for (const def of enabled) await forgetFutureSlots(ctx.db, def.name, now);
      })()
        .catch((err: unknown) => log.error({ err }, 'could not forget the job slots claimed ahead of the new clock; jobs run again once the clock passes them'))
        .finally(() => {
          if (stopping) return;
          for (const t of tasks.values()) {
            void t.stop();
            void t.start();
          }
          // The skipped DST times too: their timers were armed from the old clock.
          for (const def of enabled) if (tasks.has(def.name)) armSkippedRun(def, jobSettings(ctx.config, def).schedule);
        });
    }, CLOCK_WATCH_MS);
    clockWatch.unref();
  }

  async function stop(): Promise<void> {
    stopping = true;
    stopped();
    if (clockWatch !== null) clearInterval(clockWatch);
    for (const t of retries) clearTimeout(t);
    retries.clear();
    for (const t of skipTimers.values()) clearTimeout(t);
    skipTimers.clear();
    for (const t of tasks.values()) await t.destroy();
    tasks.clear();
    await Promise.allSettled([...running.values()]);
  }

  return { run, catchUp, stop, schedule };
}

/** Start the jobs in the daemon (src/main.ts): schedule them, and catch up in the background. */
export function startJobs(ctx: AppContext, inbound?: Promise<unknown>): JobScheduler {
  const s = createJobScheduler(ctx, JOBS, inbound !== undefined ? { inbound } : {});
  const tasks = s.schedule();
  const caughtUp = s.catchUp().catch((err: unknown) => {
    ctx.log.error({ err, component: 'jobs' }, 'catch-up failed');
    return [];
  });
  return { tasks, caughtUp, run: s.run, catchUp: s.catchUp, stop: s.stop };
}
