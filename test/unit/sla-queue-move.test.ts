import { afterEach, describe, expect, it } from 'vitest';
import { priorityFromCli } from '../../src/cases/case-commands.js';
import { recordAgentResponse, setStatus } from '../../src/cases/lifecycle.js';
import { moveCase } from '../../src/cases/queue-move.js';
import { recomputeRunningClocks } from '../../src/cases/sla-clock.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { caseById } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { slaOfCase } from '../../src/db/repos/sla.js';
import { createJobScheduler } from '../../src/jobs/scheduler.js';
import { buildReport } from '../../src/reports/report.js';
import { formatCaseDetail } from '../../src/cli/case-views.js';
import { caseDetail } from '../../src/views.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { SLA_CONFIG } from '../helpers/sla-config.js';

/**
 * A case moved between queues with different calendars, zones and targets (real database, manual
 * clock): the time it spent in a queue stays measured in that queue's calendar, the time after the
 * move counts in the new one, a target missed before the move stays missed (its alert goes out,
 * the report counts it), and the stored due times — what `cases show`, the case page, `cases list
 * --overdue` and the sla-check job read — say so. Before (until 2026-12-07) a move re-measured the
 * whole case from its opening in the new queue's calendar.
 */

const STD = SLA_CONFIG.sla!.policies!['std']!;
const CONFIG: ConfigInput = {
  ...SLA_CONFIG,
  queues: {
    ...SLA_CONFIG.queues,
    // Fed by the billing mailbox: 24/7, every minute is business time.
    billing: { calendar: 'always', slaPolicy: 'std', tiers: { 1: { addresses: ['night-lead@example.com'] } } },
    berlin: { calendar: 'berlin', slaPolicy: 'std' },
    relaxed: { calendar: 'us', slaPolicy: 'relaxed' },
    strict: { calendar: 'us', slaPolicy: 'strict' },
  },
  sla: {
    ...SLA_CONFIG.sla,
    calendars: {
      ...SLA_CONFIG.sla!.calendars,
      always: { zone: 'UTC', hours: { daily: '00:00-24:00' } },
      berlin: { zone: 'Europe/Berlin', hours: { 'mon-fri': '09:00-17:00' } },
    },
    policies: {
      std: STD,
      relaxed: { targets: { normal: { firstResponse: '8h', resolution: '40h' } } },
      strict: { targets: { normal: { firstResponse: '1h', resolution: '8h' } } },
    },
  },
};

let env: TestEnv;
afterEach(async () => env?.close());

async function open(at: string, mailbox: 'support' | 'billing' = 'support'): Promise<number> {
  env = await testEnv(CONFIG, at);
  const out = await env.ingest(eml({ to: `${mailbox}@example.com`, messageId: 'first@customer.example' }), { mailbox });
  if (out.kind !== 'stored') throw new Error(`not stored: ${out.reason}`);
  return out.caseId;
}

async function move(id: number, queue: string, at: string): Promise<void> {
  env.clock.set(at);
  await env.ctx.db.transaction().execute((trx) => moveCase(trx, env.ctx, id, queue, { actor: 'cli:lead', reason: 'right team', quiet: true }));
}

async function status(id: number, to: 'pending' | 'open' | 'resolved', at: string, actor = 'agent:erika@example.com'): Promise<void> {
  env.clock.set(at);
  await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, id, to, { actor, reason: 'test' }));
}

async function respond(id: number, at: string): Promise<void> {
  env.clock.set(at);
  await env.ctx.db.transaction().execute((trx) => recordAgentResponse(trx, env.ctx, id, { actor: 'agent:erika@example.com', reason: 'reply' }));
}

async function slaCheck(at: string): Promise<void> {
  env.clock.set(at);
  await createJobScheduler(env.ctx).run('sla-check', 'manual');
}

async function due(id: number) {
  const c = (await caseById(env.ctx.db, id))!;
  return { fr: c.first_response_due_at, res: c.resolution_due_at };
}

async function alerts(id: number) {
  return (await eventsOfCase(env.ctx.db, id)).filter((e) => e.type === 'sla.breach' || e.type === 'sla.warning').map((e) => `${e.type} ${(JSON.parse(e.data_json ?? '{}') as { target: string; dueAt: string }).target} ${(JSON.parse(e.data_json ?? '{}') as { dueAt: string }).dueAt}`);
}

describe('a case moved to a queue with another calendar', () => {
  it('24/7 → Mon–Fri after a weekend: the targets missed on Saturday stay missed, alerted once each, and the report counts them missed', async () => {
    const id = await open('2026-03-06T20:00:00Z', 'billing'); // Fri 20:00 UTC, 24/7 queue: normal 4 h / 24 h
    expect(await due(id)).toEqual({ fr: '2026-03-07T00:00:00.000Z', res: '2026-03-07T20:00:00.000Z' });
    await slaCheck('2026-03-07T00:01:00Z'); // Sat: first response missed, alerted
    expect(await alerts(id)).toEqual(['sla.breach first-response 2026-03-07T00:00:00.000Z']);
    // Monday morning the night team hands it to support (Chicago, Mon–Fri 07–17). Measured from
    // the opening in support's calendar the weekend would not count: first response "due" Mon 13:00Z.
    await move(id, 'support', '2026-03-09T12:30:00Z');
    expect(await due(id)).toEqual({ fr: '2026-03-07T00:00:00.000Z', res: '2026-03-07T20:00:00.000Z' });
    const recomputed = (await eventsOfCase(env.ctx.db, id)).filter((e) => e.type === 'sla.recomputed').at(-1)!;
    expect(recomputed.reason).toContain('queue billing → support (policy std, calendar us; 3870 business minute(s) of resolution time so far kept as measured in calendar always; first response already missed (due 2026-03-07T00:00:00.000Z); resolution already missed (due 2026-03-07T20:00:00.000Z))');
    expect(JSON.parse((await slaOfCase(env.ctx.db, id))!.moves_json)).toEqual([{ to: '2026-03-09T12:30:00.000Z', calendar: 'always', frMissedAt: '2026-03-07T00:00:00.000Z', resMissedAt: '2026-03-07T20:00:00.000Z' }]);
    // `casegate cases show`: the due times that were missed, and where the time was measured.
    const shown = formatCaseDetail((await caseDetail(env.ctx.db, (await caseById(env.ctx.db, id))!.number))!, () => '');
    expect(shown).toContain('  due: first response 2026-03-07 00:00 UTC · resolution 2026-03-07 20:00 UTC\n');
    expect(shown).toContain('  SLA measured in: calendar always until 2026-03-09 12:30 UTC (first response missed 2026-03-07 00:00 UTC, resolution missed 2026-03-07 20:00 UTC) · then queue support\'s calendar\n');
    // The resolution breach (Saturday 20:00, not alerted yet: the job was not run since) goes out now; the first-response one is not repeated.
    await slaCheck('2026-03-09T12:31:00Z');
    expect(await alerts(id)).toEqual(['sla.breach first-response 2026-03-07T00:00:00.000Z', 'sla.breach resolution 2026-03-07T20:00:00.000Z']);
    await respond(id, '2026-03-09T12:45:00Z');
    await status(id, 'resolved', '2026-03-09T13:00:00Z');
    expect(await slaOfCase(env.ctx.db, id)).toMatchObject({ fr_met: 0, res_met: 0, fr_due_at: '2026-03-07T00:00:00.000Z' });
    const report = await buildReport(env.ctx.db, env.ctx.config, { from: new Date('2026-03-06T00:00:00Z'), to: new Date('2026-03-10T00:00:00Z'), periodName: 'custom', zone: 'UTC', now: new Date('2026-03-10T00:00:00Z') });
    expect(report.compliance.find((c) => c.priority === 'normal')).toMatchObject({ firstResponse: { met: 0, total: 1 }, resolution: { met: 0, total: 1 } });
    expect(report.breaches.map((b) => b.kind)).toEqual(['first-response', 'resolution']);
  });

  it('Mon–Fri → 24/7 on Saturday: only Friday’s business hour counts before the move, not the night: no breach at the move', async () => {
    const id = await open('2026-03-06T22:00:00Z'); // Fri 16:00 CST, support: 1 business hour left on Friday
    expect(await due(id)).toEqual({ fr: '2026-03-09T15:00:00.000Z', res: '2026-03-11T15:00:00.000Z' });
    await move(id, 'billing', '2026-03-07T12:00:00Z'); // Sat 06:00 CST: 1 h used; the rest counts every minute
    expect(await due(id)).toEqual({ fr: '2026-03-07T15:00:00.000Z', res: '2026-03-08T11:00:00.000Z' });
    // Warning at 80 % of the 4 h: 1 h on Friday, 2 h 12 min on Saturday.
    expect((await slaOfCase(env.ctx.db, id))!.fr_warn_at).toBe('2026-03-07T14:12:00.000Z');
    await slaCheck('2026-03-07T12:01:00Z');
    expect(await alerts(id)).toEqual([]);
    await slaCheck('2026-03-07T14:13:00Z');
    expect(await alerts(id)).toEqual(['sla.warning first-response 2026-03-07T15:00:00.000Z']);
    await respond(id, '2026-03-07T14:30:00Z');
    expect(await slaOfCase(env.ctx.db, id)).toMatchObject({ fr_met: 1, fr_business_sec: 3600 + 150 * 60 });
  });

  it('Chicago → Berlin: the hour in Chicago stays an hour; from the move Berlin’s hours count (closed at 22:00 CET)', async () => {
    const id = await open('2026-03-02T20:00:00Z'); // Mon 14:00 CST
    await move(id, 'berlin', '2026-03-02T21:00:00Z'); // 15:00 CST = 22:00 CET: 1 h used
    // 3 h left: Tue 09:00 CET + 3 h → 12:00 CET (11:00Z); 23 h left of 24: Tue 8, Wed 8, Thu 7 → Thu 16:00 CET.
    expect(await due(id)).toEqual({ fr: '2026-03-03T11:00:00.000Z', res: '2026-03-05T15:00:00.000Z' });
    await respond(id, '2026-03-03T10:00:00Z');
    expect(await slaOfCase(env.ctx.db, id)).toMatchObject({ fr_met: 1, fr_business_sec: 3 * 3600 });
  });

  it('moved there and back across the US change to daylight saving time: each stretch in its own calendar and zone', async () => {
    const id = await open('2026-03-06T22:00:00Z'); // Fri 16:00 CST: 1 h on Friday
    await move(id, 'berlin', '2026-03-09T08:00:00Z'); // Mon 09:00 CET (03:00 CDT, Chicago closed)
    expect(await due(id)).toEqual({ fr: '2026-03-09T11:00:00.000Z', res: '2026-03-11T15:00:00.000Z' });
    await move(id, 'support', '2026-03-09T09:00:00Z'); // 10:00 CET: 1 h in Berlin, 2 h used
    // Chicago opens Mon 07:00 CDT (12:00Z): first response 2 h later; resolution 22 h: Mon 10, Tue 10, Wed 2.
    expect(await due(id)).toEqual({ fr: '2026-03-09T14:00:00.000Z', res: '2026-03-11T14:00:00.000Z' });
    expect(JSON.parse((await slaOfCase(env.ctx.db, id))!.moves_json)).toEqual([
      { to: '2026-03-09T08:00:00.000Z', calendar: 'us' },
      { to: '2026-03-09T09:00:00.000Z', calendar: 'berlin' },
    ]);
    // A reload recomputes the running clocks: the stretches stay as they are.
    expect(await recomputeRunningClocks(env.ctx)).toBe(0);
    await respond(id, '2026-03-09T13:00:00Z');
    await status(id, 'resolved', '2026-03-09T14:00:00Z');
    expect(await slaOfCase(env.ctx.db, id)).toMatchObject({ fr_met: 1, fr_business_sec: 3 * 3600, res_met: 1, res_business_sec: 4 * 3600 });
  });

  it('moved while waiting for the customer: the pause goes on, the time before it stays as measured, the customer’s reply resumes it in the new calendar', async () => {
    const id = await open('2026-03-06T22:00:00Z'); // Fri 16:00 CST
    await status(id, 'pending', '2026-03-09T13:00:00Z'); // Mon 08:00 CDT: 1 h Friday + 1 h Monday used
    await move(id, 'billing', '2026-03-10T10:00:00Z');
    expect((await due(id)).res).toBeNull();
    expect((await slaOfCase(env.ctx.db, id))!.res_due_at).toBeNull();
    await status(id, 'open', '2026-03-10T12:00:00Z', 'customer:jane@customer.example');
    // 22 h left, every minute from Tue 12:00Z (re-measured 24/7 from Friday the case was missed long ago).
    expect((await due(id)).res).toBe('2026-03-11T10:00:00.000Z');
    await slaCheck('2026-03-10T12:01:00Z');
    expect((await alerts(id)).filter((a) => a.includes('resolution'))).toEqual([]);
  });
  it('opened Saturday under "next business day" and moved to Berlin on Sunday: still due when the confirmation said, Monday 17:00 CDT', async () => {
    const id = await open('2026-03-07T15:00:00Z'); // Sat 09:00 CST, support closed
    await priorityFromCli(env.ctx, (await caseById(env.ctx.db, id))!.number, 'low', { actor: 'cli:lead' });
    expect((await due(id)).fr).toBe('2026-03-09T22:00:00.000Z'); // end of Monday, CDT
    await move(id, 'berlin', '2026-03-08T12:00:00Z');
    // Not the end of Berlin's Monday (16:00Z), nor 10 Chicago business hours spent in Berlin (Tue 10:00Z).
    // Resolution: 48 business hours, none used in Chicago: Berlin's six 8-hour days from Monday → Mon 16 Mar 17:00 CET.
    expect(await due(id)).toEqual({ fr: '2026-03-09T22:00:00.000Z', res: '2026-03-16T16:00:00.000Z' });
    await respond(id, '2026-03-09T20:00:00Z'); // 21:00 CET: after Berlin closed, within the promise
    expect((await slaOfCase(env.ctx.db, id))!.fr_met).toBe(1);
  });
});

describe('a case moved to a queue with other targets', () => {
  it('a first response missed in the old queue stays missed in a queue with a longer target; the resolution goes by the new one', async () => {
    const id = await open('2026-03-02T14:00:00Z'); // Mon 08:00 CST, support: first response due 12:00 CST
    await slaCheck('2026-03-02T18:01:00Z');
    expect(await alerts(id)).toEqual(['sla.breach first-response 2026-03-02T18:00:00.000Z']);
    await move(id, 'relaxed', '2026-03-02T19:00:00Z'); // 8 h first response, 40 h resolution
    // Resolution: 40 h from Mon 08:00 CST (Mon 9, Tue–Thu 30, Fri 1) → Fri 08:00 CST.
    expect(await due(id)).toEqual({ fr: '2026-03-02T18:00:00.000Z', res: '2026-03-06T14:00:00.000Z' });
    await respond(id, '2026-03-02T20:00:00Z');
    expect(await slaOfCase(env.ctx.db, id)).toMatchObject({ fr_met: 0, fr_due_at: '2026-03-02T18:00:00.000Z' });
    await slaCheck('2026-03-02T20:01:00Z');
    expect(await alerts(id)).toEqual(['sla.breach first-response 2026-03-02T18:00:00.000Z']);
  });

  it('a queue with a shorter target: a case that used it up is due at the move, not before it arrived', async () => {
    const id = await open('2026-03-02T14:00:00Z'); // Mon 08:00 CST
    await move(id, 'strict', '2026-03-02T16:00:00Z'); // 2 h used; strict wants a first response within 1 h
    expect((await due(id)).fr).toBe('2026-03-02T16:00:00.000Z');
    await slaCheck('2026-03-02T16:01:00Z');
    expect(await alerts(id)).toEqual(['sla.breach first-response 2026-03-02T16:00:00.000Z']);
    // Moved back: the breach stays (support's 4 h would still hold at 10:30 CST).
    await move(id, 'support', '2026-03-02T16:30:00Z');
    expect((await due(id)).fr).toBe('2026-03-02T16:00:00.000Z');
    await respond(id, '2026-03-02T16:45:00Z');
    expect((await slaOfCase(env.ctx.db, id))!.fr_met).toBe(0);
  });
});

async function prioritise(id: number, level: string, at: string): Promise<void> {
  env.clock.set(at);
  await priorityFromCli(env.ctx, (await caseById(env.ctx.db, id))!.number, level, { actor: 'cli:lead' });
}

async function recomputedReason(id: number): Promise<string> {
  return (await eventsOfCase(env.ctx.db, id)).filter((e) => e.type === 'sla.recomputed').at(-1)!.reason!;
}

/**
 * A new priority recomputes the due times from the opening — but a target already missed stays
 * missed at the instant it was, as across a move. Before (until 2026-12-07) a late case lowered to
 * a longer target was on time again: its breach alerted and listed in the report, and the same
 * report counted the target met.
 */
describe('a case whose priority changes after a target was missed', () => {
  it('lowered after its first response was missed: it stays missed (alerted once), the report counts it missed; the resolution goes by the new priority', async () => {
    const id = await open('2026-03-02T14:00:00Z'); // Mon 08:00 CST, normal: first response due 12:00 CST
    await slaCheck('2026-03-02T18:01:00Z');
    expect(await alerts(id)).toEqual(['sla.breach first-response 2026-03-02T18:00:00.000Z']);
    await prioritise(id, 'low', '2026-03-02T19:00:00Z'); // low: 8 h → Mon 16:00 CST, had it not been missed
    // Resolution: low's 48 h from Mon 08:00 CST (Mon 9, Tue–Thu 30, Fri 9) → Fri 16:00 CST.
    expect(await due(id)).toEqual({ fr: '2026-03-02T18:00:00.000Z', res: '2026-03-06T22:00:00.000Z' });
    expect(await recomputedReason(id)).toContain('priority normal → low (business-hours; first response already missed (due 2026-03-02T18:00:00.000Z))');
    await respond(id, '2026-03-02T20:00:00Z'); // within low's 8 h
    expect(await slaOfCase(env.ctx.db, id)).toMatchObject({ fr_met: 0, fr_due_at: '2026-03-02T18:00:00.000Z', fr_missed_at: '2026-03-02T18:00:00.000Z', res_missed_at: null });
    await slaCheck('2026-03-02T20:01:00Z');
    expect(await alerts(id)).toEqual(['sla.breach first-response 2026-03-02T18:00:00.000Z']);
    await status(id, 'resolved', '2026-03-03T15:00:00Z');
    expect((await slaOfCase(env.ctx.db, id))!.res_met).toBe(1);
    const report = await buildReport(env.ctx.db, env.ctx.config, { from: new Date('2026-03-02T00:00:00Z'), to: new Date('2026-03-04T00:00:00Z'), periodName: 'custom', zone: 'UTC', now: new Date('2026-03-04T00:00:00Z') });
    expect(report.compliance.find((c) => c.priority === 'low')).toMatchObject({ firstResponse: { met: 0, total: 1 }, resolution: { met: 1, total: 1 } });
    expect(report.breaches.map((b) => b.kind)).toEqual(['first-response']);
  });

  it('lowered while waiting for the customer, after its resolution was missed: still missed when resolved', async () => {
    const id = await open('2026-03-02T14:00:00Z'); // normal: resolution 24 h → Wed 12:00 CST
    await respond(id, '2026-03-02T15:00:00Z');
    expect((await due(id)).res).toBe('2026-03-04T18:00:00.000Z');
    await status(id, 'pending', '2026-03-04T19:30:00Z'); // 13:30 CST: missed 1.5 h ago (no sla-check ran)
    await prioritise(id, 'low', '2026-03-05T14:00:00Z'); // low: 48 h, 26.5 used
    expect(await recomputedReason(id)).toContain('resolution already missed (due 2026-03-04T18:00:00.000Z)');
    await status(id, 'open', '2026-03-05T15:00:00Z', 'customer:jane@customer.example');
    expect((await due(id)).res).toBe('2026-03-04T18:00:00.000Z');
    await slaCheck('2026-03-05T15:01:00Z');
    expect(await alerts(id)).toEqual(['sla.breach resolution 2026-03-04T18:00:00.000Z']);
    await status(id, 'resolved', '2026-03-05T16:00:00Z');
    expect(await slaOfCase(env.ctx.db, id)).toMatchObject({ res_met: 0, res_missed_at: '2026-03-04T18:00:00.000Z', fr_met: 1 });
  });

  it('lowered before any target was missed: the new targets hold from the opening (met)', async () => {
    const id = await open('2026-03-02T14:00:00Z');
    await prioritise(id, 'low', '2026-03-02T15:00:00Z');
    expect(await due(id)).toEqual({ fr: '2026-03-02T22:00:00.000Z', res: '2026-03-06T22:00:00.000Z' });
    await respond(id, '2026-03-02T21:00:00Z'); // past normal's 4 h, within low's 8 h
    expect(await slaOfCase(env.ctx.db, id)).toMatchObject({ fr_met: 1, fr_missed_at: null });
  });

  it('raised to urgent after its first response was missed: due from its first minute (24/7), earlier still; lowered back: missed as under normal, not on time again', async () => {
    const id = await open('2026-03-02T14:00:00Z'); // normal: first response due 18:00Z, missed at 19:00Z
    await prioritise(id, 'urgent', '2026-03-02T19:00:00Z'); // 15 min, 24/7, from the opening
    expect((await due(id)).fr).toBe('2026-03-02T14:15:00.000Z');
    await prioritise(id, 'low', '2026-03-02T19:05:00Z'); // low's 8 h would hold until 22:00Z
    expect((await due(id)).fr).toBe('2026-03-02T18:00:00.000Z');
    await respond(id, '2026-03-02T19:10:00Z');
    expect((await slaOfCase(env.ctx.db, id))!.fr_met).toBe(0);
  });

  it('raised to urgent in time, then lowered: the targets of the priority it has now, from the opening', async () => {
    const id = await open('2026-03-02T14:00:00Z');
    await prioritise(id, 'urgent', '2026-03-02T14:05:00Z');
    expect((await due(id)).fr).toBe('2026-03-02T14:15:00.000Z');
    await prioritise(id, 'normal', '2026-03-02T14:10:00Z'); // a mistake put right before the 15 min passed
    expect(await due(id)).toEqual({ fr: '2026-03-02T18:00:00.000Z', res: '2026-03-04T18:00:00.000Z' });
  });
});
