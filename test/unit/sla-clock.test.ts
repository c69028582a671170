import { afterEach, describe, expect, it } from 'vitest';
import { priorityFromCli } from '../../src/cases/case-commands.js';
import { mergeCases } from '../../src/cases/case-merge.js';
import { moveCase } from '../../src/cases/queue-move.js';
import { recordAgentResponse, setStatus } from '../../src/cases/lifecycle.js';
import { recomputeRunningClocks } from '../../src/cases/sla-clock.js';
import { replaceReloadableParts } from '../../src/context.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { caseById } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { outboxOfCase } from '../../src/db/repos/outbox.js';
import { createJobScheduler } from '../../src/jobs/scheduler.js';
import { slaOfCase } from '../../src/db/repos/sla.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { SLA_CONFIG } from '../helpers/sla-config.js';

/**
 * SLA clocks through the real pipeline on a real SQLite file, with a manual clock: due times on
 * the case, the promise in the confirmation, pauses, resumes, first response, priority changes —
 * and an event for every clock change.
 */


let env: TestEnv;
afterEach(async () => env?.close());

async function open(at: string, mail: Parameters<typeof eml>[0] = {}, config: ConfigInput = SLA_CONFIG) {
  env = await testEnv(config, at);
  const out = await env.ingest(eml({ messageId: 'first@customer.example', ...mail }));
  if (out.kind !== 'stored') throw new Error(`not stored: ${out.reason}`);
  return out.caseId;
}

async function confirmation(caseId: number) {
  const rows = await outboxOfCase(env.ctx.db, caseId);
  const c = rows.find((r) => r.kind === 'confirmation');
  if (c === undefined) throw new Error('no confirmation');
  return c;
}

async function types(caseId: number, prefix = 'sla.') {
  return (await eventsOfCase(env.ctx.db, caseId)).filter((e) => e.type.startsWith(prefix)).map((e) => e.type);
}

async function reply(caseId: number, body = 'Here is the screenshot you asked for.') {
  const conf = await confirmation(caseId);
  const out = await env.ingest(eml({ subject: 'Re: Printer on fire', inReplyTo: conf.message_id, body }));
  expect(out.kind).toBe('stored');
}

describe('due times and the promise in the confirmation', () => {
  it('inside hours: "We aim to reply within 4 business hours — by Monday 12:00 CST"', async () => {
    const id = await open('2026-03-02T14:00:00Z'); // Mon 08:00 CST
    const c = (await caseById(env.ctx.db, id))!;
    expect(c.first_response_due_at).toBe('2026-03-02T18:00:00.000Z');
    expect(c.resolution_due_at).toBe('2026-03-04T18:00:00.000Z'); // Mon 08:00 + 24 business h → Wed 12:00 CST
    const conf = await confirmation(id);
    expect(conf.text).toContain('- We aim to reply within 4 business hours — by Monday 12:00 CST.');
    expect(conf.text).not.toContain('out of the office');
    expect(conf.html).toContain('We aim to reply within 4 business hours — by <strong>Monday 12:00 CST</strong>.');
    // The confirmation keeps listing what helps.
    expect(conf.text).toContain('What helps us solve it faster');
    expect(await types(id)).toEqual(['sla.started']);
    const started = (await eventsOfCase(env.ctx.db, id)).find((e) => e.type === 'sla.started')!;
    expect(started.reason).toBe('policy std, priority normal (business-hours, calendar us): first response due 2026-03-02T18:00:00.000Z; resolution due 2026-03-04T18:00:00.000Z');
  });

  it('outside hours: when the team is back', async () => {
    const id = await open('2026-03-07T00:00:00Z'); // Fri 18:00 CST
    const conf = await confirmation(id);
    // Monday 9 March is the first day of daylight saving time: CDT.
    expect(conf.text).toContain('- We aim to reply within 4 business hours — by Monday 11:00 CDT.');
    expect(conf.text).toContain('- Our team is out of the office right now and back on Monday 07:00 CDT.');
  });

  it('German: in the case’s language and the queue’s zone', async () => {
    const id = await open('2026-03-02T14:00:00Z', { headers: { 'Content-Language': 'de' }, subject: 'Drucker brennt', body: 'Guten Tag, mein Drucker brennt. Bitte helfen Sie mir schnell.' });
    const conf = await confirmation(id);
    expect(conf.text).toContain('- Wir antworten innerhalb von 4 Geschäftsstunden — bis Montag, 12:00 Uhr GMT-6.');
  });

  it('a 24/7 priority at 3 a.m. on Christmas Day: 15 minutes', async () => {
    const id = await open('2026-12-25T09:00:00Z', { subject: 'Urgent – payments down' });
    const c = (await caseById(env.ctx.db, id))!;
    expect(c.priority).toBe('urgent');
    expect(c.first_response_due_at).toBe('2026-12-25T09:15:00.000Z');
    const ack = (await outboxOfCase(env.ctx.db, id)).find((r) => r.kind === 'escalation-ack' || r.kind === 'confirmation');
    expect(ack).toBeDefined();
  });

  it('a queue without a policy keeps the configured expected response', async () => {
    env = await testEnv(SLA_CONFIG, '2026-03-02T14:00:00Z');
    const out = await env.ingest(eml({ to: 'billing@example.com' }), { mailbox: 'billing' });
    if (out.kind !== 'stored') throw new Error(out.reason);
    const conf = await confirmation(out.caseId);
    expect(conf.text).toContain('get back to you within one business day.');
    const c = (await caseById(env.ctx.db, out.caseId))!;
    expect(c.first_response_due_at).toBeNull();
    expect((await eventsOfCase(env.ctx.db, out.caseId)).find((e) => e.type === 'sla.started')?.reason).toBe('no SLA policy for queue billing');
  });
});

describe('clocks', () => {
  it('a pending case moved to a queue with another calendar is reminded by that calendar’s business days', async () => {
    const config: ConfigInput = {
      ...SLA_CONFIG,
      queues: { ...SLA_CONFIG.queues, weekend: { calendar: 'daily', agents: [{ name: 'Sam', address: 'sam@example.com' }] } },
      sla: { ...SLA_CONFIG.sla, calendars: { ...SLA_CONFIG.sla!.calendars, daily: { zone: 'America/Chicago', hours: { daily: '08:00-20:00' } } } },
      jobs: { pendingReminder: { remindAfterBusinessDays: [2], autoCloseAfterDays: 14 } },
    };
    const id = await open('2026-03-06T22:00:00Z', {}, config); // Fri 16:00 CST
    await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, id, 'pending', { actor: 'agent:erika@example.com', reason: 'asked' }));
    expect((await slaOfCase(env.ctx.db, id))!.pending_next_at).toBe('2026-03-10T21:00:00.000Z'); // Tue 16:00 CDT (Mon–Fri)
    await env.ctx.db.transaction().execute((trx) => moveCase(trx, env.ctx, id, 'weekend', { actor: 'cli:lead', reason: 'weekend team', quiet: true }));
    expect((await slaOfCase(env.ctx.db, id))!.pending_next_at).toBe('2026-03-08T21:00:00.000Z'); // Sun 16:00 CDT (every day)
    env.clock.set('2026-03-08T21:05:00Z');
    expect((await createJobScheduler(env.ctx).run('pending-reminder', 'manual'))!.sent).toBe(1);
  });

  it('a merged case answered after the target was opened gives the target its first response: no breach alert for a customer who had our answer', async () => {
    const a = await open('2026-03-02T14:00:00Z'); // Mon 08:00 CST, from work
    const newCase = async (from: string, subject: string) => {
      const out = await env.ingest(eml({ from, subject, messageId: `${subject.length}-${from.length}@home.example` }));
      if (out.kind !== 'stored') throw new Error(out.reason);
      return out.caseId;
    };
    const respond = (id: number) => env.ctx.db.transaction().execute((trx) => recordAgentResponse(trx, env.ctx, id, { actor: 'agent:erika@example.com', reason: 'reply' }));
    const merge = (from: number, into: number) => env.ctx.db.transaction().execute((trx) => mergeCases(trx, env.ctx, from, into, { actor: 'cli:lead', reason: 'same printer' }));
    env.clock.set('2026-03-02T14:30:00Z');
    const b = await newCase('Jane <jane@home.example>', 'Printer still on fire'); // 08:30, from home
    env.clock.set('2026-03-02T15:00:00Z');
    await respond(a); // 09:00: answered in the work thread
    env.clock.set('2026-03-02T15:10:00Z');
    await merge(a, b);
    const c = (await caseById(env.ctx.db, b))!;
    expect(c.first_response_at).toBe('2026-03-02T15:00:00.000Z');
    expect(c.status).toBe('open'); // answered: no longer new
    expect(await slaOfCase(env.ctx.db, b)).toMatchObject({ fr_met: 1, fr_business_sec: 30 * 60 });
    env.clock.set('2026-03-02T19:00:00Z'); // 13:00, past b's due 12:30
    await createJobScheduler(env.ctx).run('sla-check', 'manual');
    expect((await outboxOfCase(env.ctx.db, b)).filter((r) => r.kind === 'sla-breach' || r.kind === 'sla-warning')).toEqual([]);
    // An answer given before the other case was opened did not answer it: its clock runs on.
    const d = await newCase('Jane <jane@home.example>', 'New question about toner');
    await merge(b, d);
    expect((await caseById(env.ctx.db, d))!.first_response_at).toBeNull();
  });

  it('pending pauses resolution; the customer’s reply resumes it and the due time moves by the paused business time', async () => {
    const id = await open('2026-03-02T14:00:00Z'); // Mon 08:00 CST
    expect((await caseById(env.ctx.db, id))!.resolution_due_at).toBe('2026-03-04T18:00:00.000Z'); // Wed 12:00
    env.clock.set('2026-03-02T16:00:00Z'); // Mon 10:00
    await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, id, 'pending', { actor: 'agent:erika@example.com', reason: 'asked for a screenshot' }));
    let c = (await caseById(env.ctx.db, id))!;
    expect(c.resolution_due_at).toBeNull();
    expect(c.first_response_due_at).toBe('2026-03-02T18:00:00.000Z'); // pending does not pause the first response
    env.clock.set('2026-03-04T16:00:00Z'); // Wed 10:00: 20 business hours later
    await reply(id);
    c = (await caseById(env.ctx.db, id))!;
    expect(c.status).toBe('open');
    // Wed 12:00 + 20 business hours (Wed 5, Thu 10, Fri 5) → Fri 12:00 CST
    expect(c.resolution_due_at).toBe('2026-03-06T18:00:00.000Z');
    expect(await types(id)).toEqual(['sla.started', 'sla.paused', 'sla.resumed']);
    const sla = (await slaOfCase(env.ctx.db, id))!;
    expect(JSON.parse(sla.res_pauses_json)).toEqual([{ from: '2026-03-02T16:00:00.000Z', to: '2026-03-04T16:00:00.000Z', why: 'pending' }]);
  });

  it('on hold keeps the clock running by default, and pauses it when the policy says so', async () => {
    const id = await open('2026-03-02T14:00:00Z');
    const before = (await caseById(env.ctx.db, id))!.resolution_due_at;
    await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, id, 'on_hold', { actor: 'agent:erika@example.com', reason: 'engineering' }));
    expect((await caseById(env.ctx.db, id))!.resolution_due_at).toBe(before);
    expect(await types(id)).toEqual(['sla.started']);
    await env.close();

    const pausing = structuredClone(SLA_CONFIG) as { sla: { policies: { std: { onHoldPauses?: boolean } } } };
    pausing.sla.policies.std.onHoldPauses = true;
    const id2 = await open('2026-03-02T14:00:00Z', {}, pausing as ConfigInput);
    await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, id2, 'on_hold', { actor: 'agent:erika@example.com', reason: 'engineering' }));
    expect((await caseById(env.ctx.db, id2))!.resolution_due_at).toBeNull();
    env.clock.set('2026-03-03T14:00:00Z'); // Tue 08:00
    await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, id2, 'open', { actor: 'agent:erika@example.com', reason: 'back from engineering' }));
    // Paused Mon 08:00 → Tue 08:00 (10 business hours): Wed 12:00 + 10 h → Thu 12:00 CST
    expect((await caseById(env.ctx.db, id2))!.resolution_due_at).toBe('2026-03-05T18:00:00.000Z');
    expect(await types(id2)).toEqual(['sla.started', 'sla.paused', 'sla.resumed']);
  });

  it('a new priority after the first response keeps the due time that response was measured against', async () => {
    const id = await open('2026-03-02T14:00:00Z'); // Mon 08:00 CST, normal: first response due 12:00 CST
    env.clock.set('2026-03-02T15:00:00Z'); // answered after 1 h: met
    await env.ctx.db.transaction().execute((trx) => recordAgentResponse(trx, env.ctx, id, { actor: 'agent:erika@example.com', reason: 'answered' }));
    await priorityFromCli(env.ctx, (await caseById(env.ctx.db, id))!.number, 'urgent', { actor: 'cli:lead' });
    const c = (await caseById(env.ctx.db, id))!;
    expect(c.first_response_due_at).toBe('2026-03-02T18:00:00.000Z');
    expect(c.resolution_due_at).toBe('2026-03-03T02:00:00.000Z'); // opened + 12 real hours
    expect(await slaOfCase(env.ctx.db, id)).toMatchObject({ fr_due_at: '2026-03-02T18:00:00.000Z', fr_target_min: 240, fr_met: 1, fr_business_sec: 3600 });
  });

  it('a new priority recomputes every due time (24/7 for urgent); resolving stops, a reopening resumes', async () => {
    const id = await open('2026-03-06T22:00:00Z'); // Fri 16:00 CST
    // Fri 16–17 CST, then Mon 07:00 CDT (after the DST change) + 3 h → Mon 10:00 CDT
    expect((await caseById(env.ctx.db, id))!.first_response_due_at).toBe('2026-03-09T15:00:00.000Z');
    env.clock.set('2026-03-07T02:00:00Z'); // Fri 20:00 CST
    await priorityFromCli(env.ctx, (await caseById(env.ctx.db, id))!.number, 'urgent', { actor: 'cli:lead' });
    let c = (await caseById(env.ctx.db, id))!;
    expect(c.first_response_due_at).toBe('2026-03-06T22:15:00.000Z'); // opened + 15 real minutes: already missed
    expect(c.resolution_due_at).toBe('2026-03-07T10:00:00.000Z'); // opened + 12 real hours
    const recomputed = (await eventsOfCase(env.ctx.db, id)).find((e) => e.type === 'sla.recomputed')!;
    expect(recomputed.reason).toContain('priority normal → urgent (24x7)');
    expect(recomputed.reason).toContain('was 2026-03-09T15:00:00.000Z');

    env.clock.set('2026-03-07T04:00:00Z'); // 6 h after opening
    await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, id, 'resolved', { actor: 'agent:erika@example.com', reason: 'fixed' }));
    let sla = (await slaOfCase(env.ctx.db, id))!;
    expect(sla).toMatchObject({ res_done_at: '2026-03-07T04:00:00.000Z', res_business_sec: 6 * 3600, res_met: 1, fr_met: 0, next_check_at: null });
    // Resolved before anyone answered: the end is the case's first response (one record of it, on the case).
    expect((await caseById(env.ctx.db, id))!.first_response_at).toBe('2026-03-07T04:00:00.000Z');
    env.clock.set('2026-03-07T06:00:00Z');
    await reply(id, 'It is broken again!');
    c = (await caseById(env.ctx.db, id))!;
    expect(c.status).toBe('open');
    // 6 of 12 hours used; resumed at 06:00Z → due 12:00Z
    expect(c.resolution_due_at).toBe('2026-03-07T12:00:00.000Z');
    sla = (await slaOfCase(env.ctx.db, id))!;
    expect(sla.res_done_at).toBeNull();
    expect(await types(id)).toEqual(['sla.started', 'sla.recomputed', 'sla.first-response', 'sla.stopped', 'sla.resumed']);
  });
});

/**
 * The same clocks driven the way a team works: the agent answers and commands by email (the agent
 * flow, its lifecycle hooks), the customer answers the agent's reply, the scheduled sla-check job
 * looks at the stored due times.
 */
describe('a policy edited at reload', () => {
  it('moves the due times of every running clock, not only of the cases an agent touches next; the alert goes by the new one', async () => {
    const a = await open('2026-03-02T14:00:00Z'); // Mon 08:00 CST, normal: first response due 12:00 CST
    const bOut = await env.ingest(eml({ from: 'b@customer.example', subject: 'Second' }));
    if (bOut.kind !== 'stored') throw new Error('not stored');
    const b = bOut.caseId;
    // The team's first response target becomes 8 business hours (SIGHUP: replaceReloadableParts, then the recompute).
    const edited = structuredClone(env.ctx.config);
    edited.sla.policies['std']!.targets['normal']!.firstResponse = 480;
    replaceReloadableParts(env.ctx, { config: edited, paths: env.ctx.paths, secret: env.ctx.secret, templates: env.ctx.templates, mailboxes: env.ctx.mailboxes, loopId: env.ctx.loopId });
    env.clock.set('2026-03-02T15:00:00Z');
    expect(await recomputeRunningClocks(env.ctx)).toBe(2);
    await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, b, 'on_hold', { actor: 'agent:erika@example.com', reason: 'test' }));
    // Both: 16:00 CST — the touched and the untouched one alike; the case row (page, `cases show`) says so too.
    for (const id of [a, b]) expect((await caseById(env.ctx.db, id))!.first_response_due_at).toBe('2026-03-02T22:00:00.000Z');
    expect((await eventsOfCase(env.ctx.db, a)).find((e) => e.type === 'sla.recomputed')?.reason).toMatch(/^configuration reloaded .*first response due 2026-03-02T22:00:00.000Z \(was 2026-03-02T18:00:00.000Z\)/);
    env.clock.set('2026-03-02T18:01:00Z'); // 12:01 CST: missed under the old policy, not under the new
    await createJobScheduler(env.ctx).run('sla-check', 'manual');
    expect((await eventsOfCase(env.ctx.db, a)).map((e) => e.type).filter((t) => t === 'sla.breach')).toEqual([]);
    expect(await recomputeRunningClocks(env.ctx)).toBe(0);
  });
});

describe('clocks through the pipeline (agents by email, customers replying, the sla-check job)', () => {
  /** Erika (the queue's fixed owner) answers the newest staff email she got about the case (the assignment at first). */
  async function erika(caseId: number, body: string) {
    const notes = (await outboxOfCase(env.ctx.db, caseId)).filter((r) => (r.kind === 'agent-notification' || r.kind === 'assignment') && r.to_address === 'erika@example.com');
    const n = notes.at(-1);
    if (n === undefined) throw new Error('Erika got no notification');
    const out = await env.ingest(eml({ from: 'Erika Musterfrau <erika@example.com>', subject: `Re: ${n.subject}`, inReplyTo: n.message_id, body }));
    if (out.kind !== 'stored' || !out.reason.startsWith('agent mail')) throw new Error(`not agent mail: ${out.kind} ${out.reason}`);
  }
  const runJob = (name: string) => createJobScheduler(env.ctx).run(name, 'manual');
  const alerts = async (caseId: number) => (await outboxOfCase(env.ctx.db, caseId)).filter((r) => r.kind === 'sla-warning' || r.kind === 'sla-breach').map((r) => `${r.kind} ${r.to_address}`);

  it('an agent’s email reply stops the first-response clock: measured once, and the job never alerts it afterwards', async () => {
    const id = await open('2026-03-02T14:00:00Z'); // Mon 08:00 CST, first response due 12:00 CST
    const unanswered = (await env.ingest(eml({ from: 'Bob <bob@customer.example>', subject: 'Scanner jammed', messageId: 'bob-1@customer.example' }))) as { caseId: number };
    env.clock.set('2026-03-02T17:00:00Z'); // Mon 11:00: 3 business hours
    await erika(id, 'Hello Jane, please send us a photo of the printer.');
    let c = (await caseById(env.ctx.db, id))!;
    expect(c).toMatchObject({ status: 'open', first_response_at: '2026-03-02T17:00:00.000Z' });
    let sla = (await slaOfCase(env.ctx.db, id))!;
    expect(sla).toMatchObject({ fr_business_sec: 3 * 3600, fr_met: 1, next_check_at: sla.res_warn_at });
    // A second answer is an update from the team, not a new first response.
    env.clock.set('2026-03-02T17:30:00Z');
    await erika(id, 'And the model number, please.');
    c = (await caseById(env.ctx.db, id))!;
    expect(c.first_response_at).toBe('2026-03-02T17:00:00.000Z');
    sla = (await slaOfCase(env.ctx.db, id))!;
    expect(sla).toMatchObject({ fr_business_sec: 3 * 3600, last_update_at: '2026-03-02T17:30:00.000Z' });
    expect(await types(id)).toEqual(['sla.started', 'sla.first-response']);
    // Past the first-response due time: only the unanswered case alerts.
    env.clock.set('2026-03-02T19:00:00Z'); // Mon 13:00 CST
    await runJob('sla-check');
    expect(await alerts(id)).toEqual([]);
    expect(await alerts(unanswered.caseId)).toEqual(['sla-breach erika@example.com', 'sla-breach lead@example.com']);
  });

  it('#pending pauses resolution (the case row says so at once); the customer’s answer resumes it, later by the paused business time', async () => {
    const id = await open('2026-03-02T14:00:00Z'); // resolution due Wed 12:00 CST
    env.clock.set('2026-03-02T16:00:00Z'); // Mon 10:00
    await erika(id, '#pending\nWhich printer model is it?');
    let c = (await caseById(env.ctx.db, id))!;
    expect(c).toMatchObject({ status: 'pending', resolution_due_at: null, first_response_due_at: '2026-03-02T18:00:00.000Z' });
    expect((await slaOfCase(env.ctx.db, id))!.pending_since).toBe('2026-03-02T16:00:00.000Z');
    const asked = (await outboxOfCase(env.ctx.db, id)).find((r) => r.kind === 'agent-reply')!;
    env.clock.set('2026-03-04T16:00:00Z'); // Wed 10:00: 20 business hours later
    const out = await env.ingest(eml({ subject: `Re: ${asked.subject}`, inReplyTo: asked.message_id, body: 'It is a LaserJet 4000.' }));
    expect(out.kind).toBe('stored');
    c = (await caseById(env.ctx.db, id))!;
    expect(c.status).toBe('open');
    expect(c.resolution_due_at).toBe('2026-03-06T18:00:00.000Z'); // Wed 12:00 + 20 business hours → Fri 12:00 CST
    expect(await types(id)).toEqual(['sla.started', 'sla.first-response', 'sla.paused', 'sla.resumed']);
    expect((await slaOfCase(env.ctx.db, id))!.pending_since).toBeNull();
  });

  it('#hold keeps the resolution clock running; with onHoldPauses it pauses and #open resumes it', async () => {
    const id = await open('2026-03-02T14:00:00Z');
    const due = (await caseById(env.ctx.db, id))!.resolution_due_at;
    await erika(id, '#hold 1-2 business days');
    expect((await caseById(env.ctx.db, id))!).toMatchObject({ status: 'on_hold', resolution_due_at: due });
    expect(await types(id)).toEqual(['sla.started']);
    await env.close();

    const pausing = structuredClone(SLA_CONFIG) as { sla: { policies: { std: { onHoldPauses?: boolean } } } };
    pausing.sla.policies.std.onHoldPauses = true;
    const id2 = await open('2026-03-02T14:00:00Z', {}, pausing as ConfigInput);
    await erika(id2, '#hold');
    expect((await caseById(env.ctx.db, id2))!).toMatchObject({ status: 'on_hold', resolution_due_at: null });
    env.clock.set('2026-03-03T14:00:00Z'); // Tue 08:00: 10 business hours on hold
    await erika(id2, '#open');
    expect((await caseById(env.ctx.db, id2))!).toMatchObject({ status: 'open', resolution_due_at: '2026-03-05T18:00:00.000Z' });
    expect(await types(id2)).toEqual(['sla.started', 'sla.paused', 'sla.resumed']);
  });

  it('#priority urgent recomputes every due time (24/7), and the job alerts by the new ones', async () => {
    const id = await open('2026-03-06T22:00:00Z'); // Fri 16:00 CST: normal, first response due Mon 10:00 CDT
    env.clock.set('2026-03-06T22:05:00Z');
    await erika(id, '#priority urgent');
    const c = (await caseById(env.ctx.db, id))!;
    expect(c).toMatchObject({ priority: 'urgent', first_response_due_at: '2026-03-06T22:15:00.000Z', resolution_due_at: '2026-03-07T10:00:00.000Z' });
    expect(await types(id)).toEqual(['sla.started', 'sla.recomputed']);
    env.clock.set('2026-03-06T22:16:00Z'); // Friday evening, outside business hours: 24/7 counts
    await runJob('sla-check');
    expect(await alerts(id)).toEqual(['sla-breach erika@example.com', 'sla-breach lead@example.com']);
  });

  it('a flood of 6 cases from one bot breaches together: SLA alerts count against agentMail.notifyPerSenderPerHour — 3 cases alerted, then one flood notice to the owner and the lead, then none (the breach is still recorded)', async () => {
    await open('2026-03-02T14:00:00Z', {}, { ...SLA_CONFIG, agentMail: { notifyPerSenderPerHour: 3 } });
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) {
      env.clock.set(`2026-03-02T14:0${i + 1}:00Z`);
      const out = await env.ingest(eml({ from: 'Shop <orders@shop.example>', subject: `Order ${i} failed`, body: `Order ${i} failed again.` }));
      if (out.kind !== 'stored') throw new Error('not stored');
      ids.push(out.caseId);
    }
    env.clock.set('2026-03-02T19:00:00Z'); // Mon 13:00 CST: every first response missed; the flood's hour is long past
    await runJob('sla-check');
    // Which three alert depends on the sweep's order (PostgreSQL runs lanes at once). They go to
    // each recipient as one sla-digest (several cases in one sweep).
    const breachReason = async (id: number) => (await eventsOfCase(env.ctx.db, id)).find((e) => e.type === 'sla.breach')?.reason ?? '';
    const alerted = await Promise.all(ids.map(async (id) => /alert to erika@example\.com, lead@example\.com$/.test(await breachReason(id))));
    expect(alerted.filter(Boolean)).toHaveLength(3);
    const digests = await env.ctx.db.selectFrom('outbox').select(['to_address', 'text']).where('kind', '=', 'sla-digest').execute();
    expect(digests.map((d) => d.to_address).sort()).toEqual(['erika@example.com', 'lead@example.com']);
    for (const id of ids.filter((_, i) => alerted[i])) expect(digests[0]!.text).toContain(`[Case #${(await caseById(env.ctx.db, id))!.number}]`);
    expect((await Promise.all(ids.map(alerts))).map((a) => a.length)).toEqual([0, 0, 0, 0, 0, 0]);
    const quiet = ids.filter((_, i) => !alerted[i]);
    const notices = await env.ctx.db.selectFrom('outbox').select(['to_address', 'subject', 'text']).where('kind', '=', 'agent-notification').where('subject', 'like', '%Many messages from orders@shop.example%').where('created_at', '>', '2026-03-02T18:59').execute();
    expect(notices.map((n) => n.to_address).sort()).toEqual(['erika@example.com', 'lead@example.com']);
    expect(notices[0]!.text).toContain('Mail from orders@shop.example has caused staff email more than 3 times within an hour.');
    for (const id of quiet) {
      expect(await types(id)).toEqual(['sla.started', 'sla.breach']);
      expect((await eventsOfCase(env.ctx.db, id)).find((e) => e.type === 'sla.breach')?.reason).toMatch(/alert to nobody; held for erika@example\.com, lead@example\.com/);
    }
    const held = (await Promise.all(quiet.map((id) => eventsOfCase(env.ctx.db, id)))).flat().filter((e) => e.created_at > '2026-03-02T18:59');
    expect(held.map((e) => e.type).filter((t) => t.startsWith('agents.')).sort()).toEqual(['agents.flood-notice', 'agents.notify-suppressed', 'agents.notify-suppressed']);
  });
});
