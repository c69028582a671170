import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { createJobScheduler } from '../../src/jobs/scheduler.js';
import type { JobDefinition } from '../../src/jobs/job.js';
import { testEnv, type TestEnv } from '../helpers/context.js';
import { SLA_CONFIG } from '../helpers/sla-config.js';

/**
 * The scheduler when the machine's wall clock steps back (an NTP correction of a clock that ran
 * ahead, a VM restored from a snapshot, a wrong RTC fixed after boot). node-cron and the scheduler
 * read the system clock: both are faked here (vitest fake timers), so an hour passes in a second.
 * SQLite only: the PostgreSQL driver's own timers do not run under fake timers; the SQL involved
 * (job_runs.last_slot) is the same on both.
 */

let env: TestEnv;
afterEach(async () => {
  vi.useRealTimers();
  await env?.close();
});

async function start(at: string) {
  // No templates: the jobs here send no mail, and compiling them was nearly all of this file's time
  // (the fake-timer part takes ~0.1 s): up to the 60 s test timeout on a loaded CI machine.
  env = await testEnv({ ...SLA_CONFIG, jobs: { timezone: 'America/Chicago' } }, at, { templates: 'none' });
}

describe('scheduler: the wall clock stepping back', () => {
  it('the wall clock stepping back an hour (NTP, a restored VM) does not silence the jobs for that hour: one warning, the schedules start over from the new time', async () => {
    await start('2026-03-02T13:30:00Z');
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const runs: string[] = [];
    const probe: JobDefinition = { name: 'probe', configKey: 'slaCheck', runOnFirstStart: false, run: async () => (runs.push(new Date().toISOString()), { processed: 0, sent: 0 }) };
    // node-cron reads the system clock: so does this scheduler's (faked) clock.
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'] });
    vi.setSystemTime(new Date('2026-03-02T13:30:30Z'));
    const s = createJobScheduler({ ...env.ctx, clock: { now: () => new Date() }, log }, [probe]);
    try {
      s.schedule();
      await vi.advanceTimersByTimeAsync(3 * 60_000);
      expect(runs).toHaveLength(3);
      vi.setSystemTime(new Date(Date.now() - 3_600_000));
      await vi.advanceTimersByTimeAsync(10 * 60_000);
      // Every minute of the ten (less the one the step-back is noticed in): not one run before 14:33.
      expect(runs.length - 3).toBeGreaterThanOrEqual(8);
      const warnings = lines.filter((l) => String(l['msg']).startsWith('the system clock went back by'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ level: 40 });
      expect(Number(warnings[0]!['backSeconds'])).toBeGreaterThanOrEqual(3_599);
    } finally {
      await s.stop();
      vi.useRealTimers();
    }
  });

});
