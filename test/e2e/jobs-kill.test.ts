import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeContext, createContext } from '../../src/context.js';
import { insertCase } from '../../src/db/repos/cases.js';
import { upsertSla } from '../../src/db/repos/sla.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { CliSandbox, jsonLines, spawnCli, type CliProcess } from '../helpers/cli.js';
import { peekConfig, type DbPeek } from '../helpers/db-peek.js';

/**
 * Jobs survive kill -9: a real daemon (`casegate start`, a child process) catches up at start on
 * 400 due SLA breaches and 400 pending reminders; it is killed with SIGKILL in the middle of
 * the run; started again, it finishes the run — and every case got its alert and its reminder
 * exactly once, because each claim is committed in the same transaction as its outbox row (an
 * SLA alert: as a staged row, which the run's end turns into the recipient's one digest).
 */

/**
 * Due items of each job: two batches (src/jobs/job.ts BATCH, 200). The kill comes right after the
 * first committed claim (a few more may commit before the test sees it; the count at the kill is
 * logged), so the restarted daemon's catch-up still pages through more than one batch of each job
 * while a loaded machine lets up to ~200 claims through before the kill. Was 600 (1,500 before
 * that: 50 s on PostgreSQL): the same checks at two thirds of the daemon's work (each item a
 * transaction and a rendered email).
 */
const N = 400;
const running: CliProcess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill('SIGKILL');
});

let box: CliSandbox;
beforeAll(async () => {
  box = CliSandbox.create({
    mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
    instance: { name: 'Example Support', domain: 'support.example.com', secret: 'test-secret-0123456789abcdef-0123456789', adminAddress: 'admin@example.com' },
    queues: { support: { calendar: 'always', slaPolicy: 'std', tiers: { 1: { addresses: ['lead@example.com'] } } } },
    sla: { calendars: { always: { zone: 'UTC', hours: { daily: '00:00-24:00' } } }, policies: { std: { targets: { normal: { firstResponse: '1h', resolution: '8h' } } } } },
    listener: { port: 0 },
    // Keep the outbox quiet: nothing is sent during the test (rows stay queued, which is what we count).
    outgoing: { transport: 'file', sweepSeconds: 3600 },
    log: { level: 'info' },
    // PostgreSQL: the killed run's lease must lapse before the restarted daemon may take it over.
    database: { leaseSeconds: 3 },
    // Only the start-up catch-up runs the jobs here: a scheduled tick (sla-check every minute,
    // pending-reminder at :00/:15/…) landing while the restarted daemon waits out the dead run's
    // lease would do the work under another reason, and the test would stop the daemon on its line.
    jobs: Object.fromEntries(['slaCheck', 'criticalReminder', 'pendingReminder', 'resolvedClose', 'survey', 'dailyReport'].map((k) => [k, { schedule: '0 0 1 1 *' }])),
  });
  // 2 × N cases, written the way the product writes them (repos), due since yesterday.
  const r = loadConfig({ path: box.configPath, env: {} });
  const ctx = await createContext({ resolved: r, log: silentLogger() });
  const now = Date.now();
  const ago = (h: number) => new Date(now - h * 3_600_000).toISOString();
  try {
    await ctx.db.transaction().execute(async (trx) => {
      for (let i = 0; i < 2 * N; i++) {
        const pending = i >= N;
        const c = await insertCase(trx, {
          number: 10001 + i,
          subject: `Case ${i}`,
          requester_address: `customer${i}@customer.example`,
          requester_name: '',
          status: pending ? 'pending' : 'open',
          priority: 'normal',
          queue: 'support',
          mailbox: 'support',
          language: 'en',
          linked_case_id: null,
          owner: null,
          created_at: ago(30),
          updated_at: ago(30),
          resolved_at: null,
          closed_at: null,
          last_customer_at: ago(30),
          first_response_due_at: pending ? null : ago(29),
          resolution_due_at: null,
          first_response_at: pending ? ago(29.5) : null,
        });
        await upsertSla(trx, {
          case_id: c.id,
          policy: 'std',
          calendar: 'always',
          coverage: 'business-hours',
          started_at: ago(30),
          fr_target_min: 60,
          fr_warn_at: pending ? null : ago(29.2),
          fr_due_at: pending ? null : ago(29),
          fr_business_sec: null,
          fr_met: null,
          fr_warned_at: pending ? null : ago(29.2),
          fr_breached_at: null,
          res_target_min: 480,
          res_pauses_json: pending ? JSON.stringify([{ from: ago(29), to: null, why: 'pending' }]) : '[]',
          res_warn_at: null,
          res_due_at: null,
          res_done_at: null,
          res_business_sec: null,
          res_met: null,
          res_warned_at: null,
          res_breached_at: null,
          next_check_at: pending ? null : ago(29),
          pending_since: pending ? ago(29 * 3) : null,
          pending_next_at: pending ? ago(24) : null,
          pending_reminders: 0,
          last_update_at: ago(30),
          stale_check_at: null,
          updated_at: ago(30),
        });
      }
    });
  } finally {
    await closeContext(ctx);
  }
});
afterAll(() => box.cleanup());

async function counts(db: DbPeek) {
  const one = async (sql: string) => (await db.get<{ n: number }>(sql))!.n;
  return {
    breachClaims: await one(`select count(*) n from case_sla where fr_breached_at is not null`),
    // SLA alerts are staged with the flag and written per recipient at the run's end (one sla-digest for many cases).
    breachStaged: await one(`select count(*) n from job_claims where job = 'sla-alert'`),
    breachMails: await one(`select count(*) n from outbox where kind in ('sla-breach', 'sla-digest')`),
    breachEvents: await one(`select count(*) n from events where type = 'sla.breach'`),
    reminderClaims: await one(`select count(*) n from job_claims where job = 'pending-reminder'`),
    reminderMails: await one(`select count(*) n from outbox where kind = 'reminder'`),
    reminderEvents: await one(`select count(*) n from events where type = 'case.reminder'`),
    twiceMailed: await one(`select count(*) n from (select case_id, kind from outbox where kind = 'reminder' group by case_id, kind having count(*) > 1) x`),
  };
}

describe('kill -9 in the middle of a job run', () => {
  it('the restarted daemon finishes the run; nothing is sent twice, nothing is lost', async () => {
    const first = spawnCli(['--config', box.configPath, 'start'], { cwd: box.dir, env: { HOME: box.dir } });
    running.push(first);
    const db = peekConfig(box.configPath);
    try {
      // Kill as soon as part of the catch-up run is committed.
      const probe = async () => (await db.get<{ n: number }>(`select count(*) n from case_sla where fr_breached_at is not null`))!.n;
      const until = Date.now() + 60_000;
      while ((await probe()) < 1) {
        if (Date.now() > until) throw new Error(`the run did not start\n${first.stdout()}\n${first.stderr()}`);
        await new Promise((r) => setTimeout(r, 1));
      }
      first.kill('SIGKILL');
      const exit = await first.exited;
      expect(exit.signal).toBe('SIGKILL');
      const atKill = await counts(db);
      console.log(`[jobs-kill] at the kill: ${atKill.breachClaims} of ${N} breaches and ${atKill.reminderClaims} of ${N} reminders claimed`);
      // Mid-run: some, not all; every claim has its mail and its event (same transaction).
      expect(atKill.breachClaims).toBeGreaterThan(0);
      expect(atKill.breachClaims + atKill.reminderClaims).toBeLessThan(2 * N);
      expect(atKill.breachStaged).toBe(atKill.breachClaims);
      expect(atKill.breachMails).toBe(0);
      expect(atKill.breachEvents).toBe(atKill.breachClaims);
      expect(atKill.reminderMails).toBe(atKill.reminderClaims);
      const run = (await db.get<{ last_started_at: string; last_finished_at: string | null }>(`select last_started_at, last_finished_at from job_runs where job = 'sla-check'`))!;
      expect(run.last_finished_at === null || run.last_finished_at < run.last_started_at).toBe(true);

      const second = spawnCli(['--config', box.configPath, 'start'], { cwd: box.dir, env: { HOME: box.dir } });
      running.push(second);
      await second.waitForLine(/"job":"pending-reminder".*"job finished"|"job finished".*"job":"pending-reminder"/, 120_000);
      second.kill('SIGTERM');
      await second.exited;
      const logs = jsonLines(second.stdout());
      expect(logs.find((l) => l['msg'] === 'job catches up' && l['job'] === 'sla-check')?.['why']).toMatch(/did not finish/);
      // The run's own figures add up (on PostgreSQL several items run at once: src/jobs/job.ts itemsAtOnce).
      const finished = (job: string) => logs.find((l) => l['msg'] === 'job finished' && l['job'] === job);
      expect(finished('pending-reminder')).toMatchObject({ processed: N - atKill.reminderClaims, sent: N - atKill.reminderClaims });
      expect(finished('sla-check')).toMatchObject({ processed: N - atKill.breachClaims, sent: 1 });

      const done = await counts(db);
      expect(done).toEqual({ breachClaims: N, breachStaged: 0, breachMails: 1, breachEvents: N, reminderClaims: N, reminderMails: N, reminderEvents: N, twiceMailed: 0 });
      // The lead's one digest names every breach: those the killed run staged and the rest.
      const digest = (await db.get<{ a: string; subject: string }>(`select to_address a, subject from outbox where kind = 'sla-digest'`))!;
      expect(digest).toEqual({ a: 'lead@example.com', subject: `[casegate] SLA: ${N} missed (${N} cases)` });
    } finally {
      await db.close();
    }
  }, 240_000);
});
