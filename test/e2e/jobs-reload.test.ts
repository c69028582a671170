import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { setPriority, setStatus } from '../../src/cases/lifecycle.js';
import { recomputeRunningClocks } from '../../src/cases/sla-clock.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { caseById } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { claimsOf } from '../../src/db/repos/jobs.js';
import { outboxOfCase } from '../../src/db/repos/outbox.js';
import { slaOfCase } from '../../src/db/repos/sla.js';
import { createJobScheduler } from '../../src/jobs/scheduler.js';
import { startDaemon, type Daemon } from '../../src/main.js';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import { eml, TRUSTED_SENDER_AUTH, writeConfig } from '../helpers/context.js';
import { SLA_CONFIG } from '../helpers/sla-config.js';
import { tempDir } from '../helpers/temp-dirs.js';
import { captureLogger, removeDir, until, type LogLine } from '../imap/imap-env.js';

/**
 * SIGHUP reloads that change only a job's settings, in a real daemon (in this process, a manual
 * clock). jobs.pendingReminder (the reminders to customers whose case waits for their answer): the
 * cases already waiting go by the new schedule — not by the days planned when they went pending —
 * without a second reminder for a step already sent, and never closed before the date their last
 * reminder named. jobs.criticalReminder (which levels are critical, the quiet time): the open cases
 * are watched by the new terms, not only those opened afterwards.
 */

const BASE: ConfigInput = {
  ...SLA_CONFIG,
  mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
  instance: { name: 'Example Support', domain: 'support.example.com', secret: 'test-secret-0123456789abcdef-0123456789', adminAddress: 'admin@example.com' },
  listener: { enabled: false },
  templates: { watch: false },
  outgoing: { transport: 'file', sweepSeconds: 3600 },
  security: { senderAuth: TRUSTED_SENDER_AUTH },
  // The test runs the job by hand at the times it sets; a reload reschedules the waiting cases all the same.
  jobs: { enabled: false, timezone: 'America/Chicago', pendingReminder: { remindAfterBusinessDays: [2, 4], autoCloseAfterDays: 14 } },
};

async function newCase(ctx: Daemon['ctx'], clock: ManualClock, from: string, subject: string): Promise<number> {
  const raw = await ctx.blobs.put(Readable.from([Buffer.from(eml({ from, subject, messageId: `${from.split('@')[0]}.${subject.length}@customer.example` }))]));
  const out = await runPipeline(ctx, { channel: 'test', mailbox: ctx.mailboxes.default, envelopeFrom: null, envelopeTo: [], receivedAt: clock.now(), raw });
  if (out.kind !== 'stored') throw new Error(out.reason);
  return out.caseId;
}

let daemon: Daemon | null = null;
let dir: string | null = null;
afterEach(async () => {
  await daemon?.stop();
  daemon = null;
  if (dir !== null) removeDir(dir);
  dir = null;
});

describe('a reload that changes only jobs.pendingReminder', () => {
  it('moves the next reminder of every waiting case to the new schedule: no step twice, none sooner after the last than the new gap, no close before the date announced', async () => {
    dir = tempDir('casegate-pending-reload-');
    const clock = new ManualClock('2026-03-03T16:00:00Z'); // Tue 10:00 CST
    const { log, lines } = captureLogger();
    daemon = await startDaemon({ resolved: writeConfig(dir, BASE), log, clock });
    const { ctx } = daemon;
    const open = async (from: string): Promise<number> => {
      const id = await newCase(ctx, clock, from, `Question from ${from}`);
      await ctx.db.transaction().execute((trx) => setStatus(trx, ctx, id, 'pending', { actor: 'agent:erika@example.com', reason: 'asked for details' }));
      return id;
    };
    const run = () => createJobScheduler(ctx).run('pending-reminder', 'manual');
    const nextAt = async (id: number) => (await slaOfCase(ctx.db, id))!.pending_next_at;
    const reminders = async (id: number) => (await outboxOfCase(ctx.db, id)).filter((r) => r.kind === 'reminder');
    const reload = async (pendingReminder: Record<string, unknown>, wait: boolean) => {
      const done = lines.filter((l: LogLine) => l.msg.startsWith('reminder schedule of waiting cases changed')).length;
      writeConfig(dir!, { ...BASE, jobs: { ...BASE.jobs, pendingReminder } });
      const report = await daemon!.reload();
      expect(report.ok).toBe(true);
      if (wait) return (await until(() => lines.filter((l: LogLine) => l.msg.startsWith('reminder schedule of waiting cases changed'))[done], 'the waiting cases rescheduled', 20_000))['cases'];
      expect(report.actions.join('; ')).not.toContain('reminders of cases waiting');
      return null;
    };

    const bob = await open('bob@customer.example'); // waiting since Tue 3 Mar: reminders Thu 5, Mon 9 Mar
    clock.set('2026-03-05T16:00:00Z');
    const ann = await open('ann@customer.example'); // waiting since Thu 5 Mar: reminders Mon 9, Wed 11 Mar
    clock.set('2026-03-05T16:01:00Z');
    expect(await run()).toEqual({ processed: 1, sent: 1 }); // bob's first reminder
    expect(await nextAt(ann)).toBe('2026-03-09T15:00:00.000Z');
    expect(await nextAt(bob)).toBe('2026-03-09T15:00:00.000Z');

    // Friday 08:00 CST the admin shortens the schedule to 1 and 2 business days, the close to 10 days, and sends SIGHUP.
    clock.set('2026-03-06T14:00:00Z');
    expect(await reload({ remindAfterBusinessDays: [1, 2], autoCloseAfterDays: 10 }, true)).toBe(2);
    // ann (nothing sent): her first reminder one business day after Thursday 10:00 — today 10:00, not Monday.
    expect(await nextAt(ann)).toBe('2026-03-06T16:00:00.000Z');
    // bob: his second reminder was due under the new days yesterday, the moment his first went —
    // not at once now, but one business day (the new gap) after the first.
    expect(await nextAt(bob)).toBe('2026-03-06T16:00:00.000Z');
    expect((await eventsOfCase(ctx.db, ann)).find((e) => e.type === 'case.reminder-rescheduled')?.reason).toBe(
      'reminder schedule changed (jobs.pendingReminder: reminders after [1, 2] business days, close after 10 days): 0 reminder(s) sent, next step due 2026-03-06T16:00:00.000Z (was 2026-03-09T15:00:00.000Z)',
    );
    expect(await run()).toEqual({ processed: 0, sent: 0 });
    clock.set('2026-03-06T16:01:00Z');
    expect(await run()).toEqual({ processed: 2, sent: 2 });
    const annReminder = await reminders(ann);
    expect(annReminder).toHaveLength(1);
    expect(annReminder[0]!.text).toMatch(/If we do not hear from you by Mar 15, 2026, .*, we will close the case\./);
    // bob: reminder 1 once, reminder 2 now; it names the close the new schedule gives (10 days, moved by the day his reminder waited).
    const bobReminders = await reminders(bob);
    expect(bobReminders).toHaveLength(2);
    expect(bobReminders[1]!.text).toMatch(/If we do not hear from you by Mar 14, 2026, .*, we will close the case\./);
    expect((await claimsOf(ctx.db, 'pending-reminder')).filter((c) => c.case_id === bob).map((c) => c.claim_key)).toEqual(['reminder:2026-03-03T16:00:00.000Z:1', 'reminder:2026-03-03T16:00:00.000Z:2']);
    expect(await nextAt(bob)).toBe('2026-03-14T16:00:00.000Z');

    // A reload that changes only when the job runs: nothing to reschedule.
    expect(await reload({ remindAfterBusinessDays: [1, 2], autoCloseAfterDays: 10, schedule: '*/5 * * * *' }, false)).toBeNull();

    // The close shortened to 7 days: bob was told "by Mar 14" in his last reminder — he is not
    // closed before; ann's next step is her second reminder (Mon 9 Mar), which will name the new close.
    clock.set('2026-03-06T17:00:00Z');
    expect(await reload({ remindAfterBusinessDays: [1, 2], autoCloseAfterDays: 7 }, true)).toBe(0);
    expect(await nextAt(bob)).toBe('2026-03-14T16:00:00.000Z');
    expect(await nextAt(ann)).toBe('2026-03-09T15:00:00.000Z');
    clock.set('2026-03-11T16:01:00Z'); // bob's new 7 days have passed (10 Mar): still waiting
    await run();
    expect((await caseById(ctx.db, bob))!.status).toBe('pending');
    clock.set('2026-03-14T16:01:00Z');
    await run();
    expect((await caseById(ctx.db, bob))!.status).toBe('closed');

    // Switched off, a case that goes pending has no next step; switched on again, it gets one.
    expect(await reload({ enabled: false, remindAfterBusinessDays: [1, 2], autoCloseAfterDays: 7 }, true)).toBe(0);
    clock.set('2026-03-16T15:00:00Z'); // Mon 10:00 CDT
    const cy = await open('cy@customer.example');
    expect(await nextAt(cy)).toBeNull();
    clock.set('2026-03-16T16:00:00Z');
    expect(await reload({ remindAfterBusinessDays: [1, 2], autoCloseAfterDays: 7 }, true)).toBe(1);
    expect(await nextAt(cy)).toBe('2026-03-17T15:00:00.000Z');
  }, 120_000);
});

describe('a reload that changes only jobs.criticalReminder', () => {
  it('a level made critical watches its open cases from their last update; a shorter quiet time applies to the next reminder of a case already reminded', async () => {
    dir = tempDir('casegate-critical-reload-');
    const clock = new ManualClock('2026-03-02T14:00:00Z'); // Mon 08:00 CST
    const { log, lines } = captureLogger();
    const critical = (over: Record<string, unknown>): ConfigInput => ({ ...BASE, jobs: { ...BASE.jobs, criticalReminder: { afterMinutes: 60, ...over } } });
    daemon = await startDaemon({ resolved: writeConfig(dir, critical({})), log, clock });
    const { ctx } = daemon;
    const reload = async (config: ConfigInput) => {
      const done = lines.filter((l: LogLine) => l.msg.startsWith('SLA due times recomputed after the reload')).length;
      writeConfig(dir!, config);
      expect((await daemon!.reload()).ok).toBe(true);
      await until(() => lines.filter((l: LogLine) => l.msg.startsWith('SLA due times recomputed after the reload'))[done], 'the running cases recomputed', 20_000);
    };
    const run = () => createJobScheduler(ctx).run('critical-reminder', 'manual');
    const staleAt = async (id: number) => (await slaOfCase(ctx.db, id))!.stale_check_at;
    const urgent = await newCase(ctx, clock, 'ann@customer.example', 'Urgent – payments down');
    const high = await newCase(ctx, clock, 'bob@customer.example', 'Checkout is slow');
    await ctx.db.transaction().execute((trx) => setPriority(trx, ctx, high, 'high', { actor: 'agent:erika@example.com', reason: 'test' }));
    expect(await staleAt(urgent)).toBe('2026-03-02T15:00:00.000Z');
    expect(await staleAt(high)).toBeNull();
    clock.set('2026-03-02T15:01:00Z');
    expect((await run()).processed).toBe(1); // the urgent case's first quiet hour
    expect(await staleAt(urgent)).toBe('2026-03-02T16:01:00.000Z');

    // 15:10: high cases become critical, and a quiet time of 30 minutes.
    clock.set('2026-03-02T15:10:00Z');
    await reload(critical({ priorities: ['urgent', 'high'], afterMinutes: 30 }));
    // The high case, quiet since 14:00, is due at once; the urgent one 30 min after its reminder, not 60.
    expect(await staleAt(high)).toBe('2026-03-02T14:30:00.000Z');
    expect(await staleAt(urgent)).toBe('2026-03-02T15:31:00.000Z');
    expect((await run()).processed).toBe(1);
    expect((await outboxOfCase(ctx.db, high)).filter((r) => r.kind === 'stale-reminder').map((r) => r.to_address)).toEqual(['erika@example.com']);
    clock.set('2026-03-02T15:32:00Z');
    expect((await run()).processed).toBe(1);
    expect((await outboxOfCase(ctx.db, urgent)).filter((r) => r.kind === 'stale-reminder')).toHaveLength(2);
    // A recompute (the next reload's, a priority change) keeps the watch where the reminders moved
    // it: not back to the stretch's first period, whose claim is taken (no reminder at 16:02 then).
    expect(await staleAt(urgent)).toBe('2026-03-02T16:02:00.000Z');
    expect(await recomputeRunningClocks(ctx)).toBe(0);
    expect(await staleAt(urgent)).toBe('2026-03-02T16:02:00.000Z');
  }, 60_000);
});
