import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobRun } from '../../src/db/repos/jobs.js';
import type { JobDefinition } from '../../src/jobs/job.js';
import { createJobScheduler } from '../../src/jobs/scheduler.js';
import { testEnv, type TestEnv } from '../helpers/context.js';
import { testPgUrl } from '../helpers/test-db.js';
import { until } from '../imap/imap-env.js';

/**
 * The database refuses the claim of a scheduled slot (away for a restart, or job_runs locked by
 * another session longer than database.busyTimeoutMs) at the moment the tick fires. The claim's
 * error escaped the scheduler's handling: node-cron logged it as a warning and the slot was never
 * run — a daily job (the 07:00 report) lost its day. Now it is retried once for its slot, like a run
 * that failed.
 */

let env: TestEnv;
let admin: pg.Client;

beforeAll(async () => {
  env = await testEnv({ database: { busyTimeoutMs: 200 } }, '2026-03-02T13:30:00Z');
  admin = new pg.Client({ connectionString: testPgUrl() });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await env?.close();
});

describe('a scheduled slot whose claim the database refused', () => {
  it('is tried once more for its slot and runs once', async () => {
    let runs = 0;
    const probe: JobDefinition = { name: 'probe', configKey: 'dailyReport', runOnFirstStart: false, run: async () => (runs++, { processed: 1, sent: 0 }) };
    const s = createJobScheduler(env.ctx, [probe], { retryAfterFailureMs: 300 });
    await admin.query('begin');
    await admin.query(`lock table ${env.ctx.config.database.schema}.job_runs in access exclusive mode`);
    // The tick: the claim waits busyTimeoutMs for the lock and fails (55P03).
    await expect(s.run('probe', 'scheduled')).resolves.toBeNull();
    await admin.query('rollback');
    expect(runs).toBe(0);
    await until(() => runs === 1, 'the slot run after the database answered again', 5_000);
    await until(async () => (await jobRun(env.ctx.db, 'probe'))?.last_finished_at != null, 'the run recorded', 5_000);
    expect((await jobRun(env.ctx.db, 'probe'))!.last_slot).toBe('2026-03-02T07:00:00.000Z');
    await new Promise((r) => setTimeout(r, 600));
    expect(runs).toBe(1);
    await s.stop();
  });
});
