import { afterEach, describe, expect, it } from 'vitest';
import type { JobDefinition } from '../../src/jobs/job.js';
import { createJobScheduler } from '../../src/jobs/scheduler.js';
import { silentLogger } from '../../src/log.js';
import { Metrics } from '../../src/ops/metrics.js';
import { testEnv, type TestEnv } from '../helpers/context.js';
import { parseExposition } from '../helpers/prom-text.js';

/**
 * Scheduled jobs as Prometheus sees them. The run counters are in memory: they start at zero with
 * every restart, count only the runs of this daemon (on PostgreSQL another daemon may run the
 * slot), and a daily job that failed yesterday is a single increment nobody can alert on once the
 * daemon restarted. What the database records about each job's last run (job_runs) is exposed
 * too: when it last finished, and whether that run failed.
 */

let env: TestEnv | null = null;
afterEach(async () => {
  await env?.close();
  env = null;
});

describe('job metrics', () => {
  it('the last finished run of each job and whether it failed, from job_runs (any daemon, across restarts)', async () => {
    env = await testEnv({}, '2026-03-02T09:00:00Z');
    let fail = true;
    const flaky: JobDefinition = {
      name: 'flaky',
      configKey: 'slaCheck',
      runOnFirstStart: false,
      run: async () => {
        if (fail) throw new Error('boom');
        return { processed: 1, sent: 0 };
      },
    };
    const scheduler = createJobScheduler({ ...env.ctx, log: silentLogger() }, [flaky], { retryAfterFailureMs: 3_600_000 });
    const live = { outboxPaused: () => false };
    try {
      const none = parseExposition(await new Metrics('test').render(env.ctx, live));
      expect(none.all('casegate_job_last_finished_timestamp_seconds')).toHaveLength(0);

      await scheduler.run('flaky', 'manual');
      // A daemon started after the failure (fresh counters) still shows it.
      const failed = parseExposition(await new Metrics('test').render(env.ctx, live));
      expect(failed.value('casegate_job_last_run_failed', { job: 'flaky' })).toBe(1);
      expect(failed.value('casegate_job_last_finished_timestamp_seconds', { job: 'flaky' })).toBe(Date.parse('2026-03-02T09:00:00Z') / 1000);

      fail = false;
      env.clock.advance(60_000);
      await scheduler.run('flaky', 'manual');
      const ok = parseExposition(await new Metrics('test').render(env.ctx, live));
      expect(ok.value('casegate_job_last_run_failed', { job: 'flaky' })).toBe(0);
      expect(ok.value('casegate_job_last_finished_timestamp_seconds', { job: 'flaky' })).toBe(Date.parse('2026-03-02T09:01:00Z') / 1000);
    } finally {
      await scheduler.stop();
    }
  });
});
