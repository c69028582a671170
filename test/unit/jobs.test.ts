import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { recordTeamUpdate, setPriority, setStatus as changeStatus } from '../../src/cases/lifecycle.js';
import { markHam } from '../../src/cases/spam-review.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { caseById } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { claimsOf, jobRun, recordJobEnd, recordJobStart, setRestoreFence } from '../../src/db/repos/jobs.js';
import { outboxOfCase } from '../../src/db/repos/outbox.js';
import { slaOfCase, updateSla } from '../../src/db/repos/sla.js';
import { surveyOfCase } from '../../src/db/repos/surveys.js';
import { createJobScheduler } from '../../src/jobs/scheduler.js';
import { stageAlert, stageStaleReminder } from '../../src/jobs/sla-alert-mail.js';
import type { JobDefinition } from '../../src/jobs/job.js';
import { pino } from 'pino';
import { until } from '../imap/imap-env.js';
import type { OutboxRow } from '../../src/db/schema.js';
import { templatesWithFeedbackQueue } from '../helpers/feedback-templates.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { SLA_CONFIG } from '../helpers/sla-config.js';

/**
 * Every scheduled job with a manual clock (no real waiting), on a real SQLite file, through the
 * real pipeline: what it sends, to whom, once — and the catch-up at start.
 */

const CONFIG: ConfigInput = {
  ...SLA_CONFIG,
  instance: { name: 'Example Support', domain: 'support.example.com', secret: 'test-secret-0123456789abcdef-0123456789', adminAddress: 'admin@example.com' },
  jobs: {
    timezone: 'America/Chicago',
    criticalReminder: { afterMinutes: 60, notifyCustomer: true },
    pendingReminder: { remindAfterBusinessDays: [2, 4], autoCloseAfterDays: 14 },
    resolvedClose: { afterDays: 7 },
    survey: { afterHours: 24 },
  },
  web: { enabled: true, baseUrl: 'https://help.example.com/cg', port: 0 },
};

let env: TestEnv;
let tplDir: string | null = null;
afterEach(async () => {
  await env?.close();
  if (tplDir !== null) rmSync(tplDir, { recursive: true, force: true });
  tplDir = null;
});

async function start(at: string, config: ConfigInput = CONFIG) {
  env = await testEnv(config, at);
}

async function newCase(mail: Parameters<typeof eml>[0] = {}) {
  const out = await env.ingest(eml(mail));
  if (out.kind !== 'stored') throw new Error(out.reason);
  return out.caseId;
}

const run = (name: string) => createJobScheduler(env.ctx).run(name, 'manual');
const sent = async (caseId: number, kind: string): Promise<OutboxRow[]> => (await outboxOfCase(env.ctx.db, caseId)).filter((r) => r.kind === kind);
const eventTypes = async (caseId: number, prefix: string) => (await eventsOfCase(env.ctx.db, caseId)).filter((e) => e.type.startsWith(prefix)).map((e) => e.type);
const setStatus = (caseId: number, to: 'pending' | 'resolved' | 'open' | 'closed', actor = 'agent:erika@example.com') =>
  env.ctx.db.transaction().execute((trx) => changeStatus(trx, env.ctx, caseId, to, { actor, reason: 'test' }));

describe('sla-check: warning at warnAt, breach at the due time, each once, to the owner and the leads', () => {
  it('first response: warning at 80 %, breach after the due time; resolution: breach only when both passed', async () => {
    await start('2026-03-02T14:00:00Z'); // Mon 08:00 CST, normal: first response due 12:00, warn 11:12
    const id = await newCase();
    env.clock.set('2026-03-02T17:00:00Z'); // 11:00
    expect(await run('sla-check')).toEqual({ processed: 0, sent: 0 });

    env.clock.set('2026-03-02T17:13:00Z'); // 11:13
    expect(await run('sla-check')).toEqual({ processed: 1, sent: 2 });
    const warnings = await sent(id, 'sla-warning');
    expect(warnings.map((w) => w.to_address).sort()).toEqual(['erika@example.com', 'lead@example.com']);
    expect(warnings[0]!.subject).toMatch(/^\[Case #10001\] SLA warning: first response due in 47 minutes: Printer on fire$/);
    expect(warnings[0]!.text).toContain('due in 47 minutes (Mar 2, 2026, 12:00 PM GMT-6)');
    expect((await slaOfCase(env.ctx.db, id))!.fr_warned_at).toBe('2026-03-02T17:13:00.000Z');
    expect(await run('sla-check')).toEqual({ processed: 0, sent: 0 });

    env.clock.set('2026-03-02T18:01:00Z'); // 12:01
    expect(await run('sla-check')).toEqual({ processed: 1, sent: 2 });
    expect((await sent(id, 'sla-breach')).map((w) => w.to_address).sort()).toEqual(['erika@example.com', 'lead@example.com']);
    expect((await sent(id, 'sla-breach'))[0]!.text).toContain('The first response target of case 10001 was missed');
    expect(await run('sla-check')).toEqual({ processed: 0, sent: 0 });

    // Resolution (due Wed 12:00 CST): the daemon was down until after it; the warning is skipped.
    env.clock.set('2026-03-04T18:30:00Z');
    expect(await run('sla-check')).toEqual({ processed: 1, sent: 2 });
    expect(await sent(id, 'sla-warning')).toHaveLength(2);
    expect(await sent(id, 'sla-breach')).toHaveLength(4);
    expect(await eventTypes(id, 'sla.')).toEqual(['sla.started', 'sla.warning', 'sla.breach', 'sla.breach']);
    const sla = (await slaOfCase(env.ctx.db, id))!;
    expect(sla).toMatchObject({ res_warned_at: '2026-03-04T18:30:00.000Z', res_breached_at: '2026-03-04T18:30:00.000Z', next_check_at: null });
  });

  it('a paused or answered clock never alerts', async () => {
    await start('2026-03-02T14:00:00Z');
    const id = await newCase();
    await setStatus(id, 'pending');
    env.clock.set('2026-03-20T14:00:00Z');
    await run('sla-check');
    // The first response (not paused by pending) breached; the paused resolution did not.
    expect(await eventTypes(id, 'sla.')).toEqual(['sla.started', 'sla.paused', 'sla.breach']);
    expect((await sent(id, 'sla-breach'))[0]!.text).toContain('first response');
  });
});

describe('sla-check after a downtime: one digest per person, not one email per case', () => {
  it('three cases breached while the daemon was down: the owner and the lead get one sla-digest each listing them (breaches first); one case alone keeps its own emails', async () => {
    await start('2026-03-02T14:00:00Z'); // Mon 08:00 CST: first responses due 12:00, resolutions Wed 12:00
    const ids = [await newCase({ from: 'ann@customer.example' }), await newCase({ from: 'bob@customer.example', subject: 'Invoice wrong' }), await newCase({ from: 'cy@customer.example', subject: 'Cannot log in' })];
    env.clock.set('2026-03-04T18:30:00Z'); // down from Monday morning to Wednesday 12:30: six targets missed
    expect(await run('sla-check')).toEqual({ processed: 3, sent: 2 });
    const staffMail = async () => (await env.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute()).filter((r) => r.kind.startsWith('sla-'));
    const mail = await staffMail();
    expect(mail.map((r) => [r.kind, r.to_address, r.case_id])).toEqual([
      ['sla-digest', 'erika@example.com', null],
      ['sla-digest', 'lead@example.com', null],
    ]);
    expect(mail[0]!.subject).toBe('[casegate] SLA: 6 missed (3 cases)');
    const text = mail[1]!.text;
    for (const tag of ['[Case #10001] Printer on fire', '[Case #10002] Invoice wrong', '[Case #10003] Cannot log in']) expect(text).toContain(tag);
    expect(text.indexOf('MISSED: first response was due')).toBeLessThan(text.indexOf('MISSED: resolution was due'));
    expect(text).toContain('Show it: casegate cases show 10002');
    // Each case still records who was alerted; nothing is staged any more, and nothing is sent twice.
    for (const id of ids) expect(await eventTypes(id, 'sla.breach')).toEqual(['sla.breach', 'sla.breach']);
    expect(await claimsOf(env.ctx.db, 'sla-alert')).toEqual([]);
    expect(await run('sla-check')).toEqual({ processed: 0, sent: 0 });

    // A later breach of one case alone (its priority raised) is its own email, as before.
    env.clock.set('2026-03-04T18:40:00Z');
    const id4 = await newCase({ from: 'dee@customer.example', subject: 'Down' });
    await env.ctx.db.transaction().execute((trx) => setPriority(trx, env.ctx, id4, 'urgent', { actor: 'agent:erika@example.com', reason: 'test' }));
    env.clock.set('2026-03-04T19:00:00Z');
    expect(await run('sla-check')).toEqual({ processed: 1, sent: 2 });
    expect((await staffMail()).slice(2).map((r) => [r.kind, r.to_address, r.case_id])).toEqual([
      ['sla-breach', 'erika@example.com', id4],
      ['sla-breach', 'lead@example.com', id4],
    ]);
  });

  it('alerts a run staged but did not write (it died in between) go with the next run, once', async () => {
    await start('2026-03-02T14:00:00Z');
    const a = await newCase({ from: 'ann@customer.example' });
    const b = await newCase({ from: 'bob@customer.example' });
    env.clock.set('2026-03-02T18:01:00Z');
    // As the case transactions of a run that was killed before its end left them:
    await env.ctx.db.transaction().execute(async (trx) => {
      for (const id of [a, b]) await stageAlert(trx, id, 'lead@example.com', 'fr', 'breach', '2026-03-02T18:00:00.000Z', '2026-03-02T18:01:00.000Z');
    });
    expect(await run('sla-check')).toEqual({ processed: 2, sent: 2 });
    const digests = (await env.ctx.db.selectFrom('outbox').selectAll().where('kind', '=', 'sla-digest').execute()).map((r) => r.to_address);
    // The staged two and this run's own alerts about the same cases for the lead: one digest; erika: one.
    expect(digests.sort()).toEqual(['erika@example.com', 'lead@example.com']);
    expect(await claimsOf(env.ctx.db, 'sla-alert')).toEqual([]);
  });
});

describe('suspected spam pages nobody', () => {
  it('no SLA alerts and no critical reminders (nor "still working" to the sender) until it is marked ham; then the missed target alerts', async () => {
    await start('2026-03-02T14:00:00Z');
    const id = await newCase({ subject: 'Urgent – payments down', headers: { 'X-Spam-Flag': 'YES' } });
    await env.ctx.db.transaction().execute((trx) => setPriority(trx, env.ctx, id, 'urgent', { actor: 'agent:erika@example.com', reason: 'test' }));
    env.clock.set('2026-03-02T16:01:00Z'); // urgent: first response due 14:15 (24/7), quiet for two hours
    expect(await run('sla-check')).toEqual({ processed: 1, sent: 0 });
    expect(await run('critical-reminder')).toEqual({ processed: 1, sent: 0 });
    expect(await run('sla-check')).toEqual({ processed: 0, sent: 0 });
    const kinds = async () => (await outboxOfCase(env.ctx.db, id)).map((o) => o.kind);
    expect((await kinds()).filter((k) => ['sla-warning', 'sla-breach', 'stale-reminder', 'still-working'].includes(k))).toEqual([]);
    expect(await eventTypes(id, 'sla.')).toEqual(['sla.started', 'sla.recomputed', 'sla.held']);

    await markHam(env.ctx, 10001, { actor: 'cli:test' });
    expect(await run('sla-check')).toEqual({ processed: 1, sent: 2 });
    expect((await sent(id, 'sla-breach')).map((o) => o.to_address).sort()).toEqual(['erika@example.com', 'lead@example.com']);
    expect((await run('critical-reminder'))!.sent).toBe(2);
  });
});

describe('critical-reminder', () => {
  it('on hold under a policy that pauses the clock there (onHoldPauses): no reminders; back to open, the watch starts again', async () => {
    const policies = SLA_CONFIG.sla!.policies!;
    await start('2026-03-02T14:00:00Z', { ...CONFIG, sla: { ...SLA_CONFIG.sla, policies: { std: { ...policies['std']!, onHoldPauses: true } } } });
    const id = await newCase({ subject: 'Urgent – payments down' });
    env.clock.set('2026-03-02T14:30:00Z');
    await env.ctx.db.transaction().execute((trx) => changeStatus(trx, env.ctx, id, 'on_hold', { actor: 'agent:erika@example.com', reason: 'waiting for the bank' }));
    expect((await slaOfCase(env.ctx.db, id))!.stale_check_at).toBeNull();
    env.clock.set('2026-03-02T17:01:00Z');
    expect(await run('critical-reminder')).toEqual({ processed: 0, sent: 0 });
    expect(await sent(id, 'stale-reminder')).toEqual([]);
    await setStatus(id, 'open');
    expect((await slaOfCase(env.ctx.db, id))!.stale_check_at).not.toBeNull();
    env.clock.set('2026-03-02T18:02:00Z');
    expect((await run('critical-reminder'))!.sent).toBeGreaterThan(0);
    expect((await sent(id, 'stale-reminder')).map((r) => r.to_address)).toEqual(['erika@example.com']);
  });

  it('an owner marked away (available: false): the reminder goes to the leads too, who can act meanwhile', async () => {
    const support = SLA_CONFIG.queues!['support']!;
    await start('2026-03-02T14:00:00Z', { ...CONFIG, queues: { ...SLA_CONFIG.queues, support: { ...support, agents: support.agents!.map((a) => ({ ...a, available: false })) } } });
    const id = await newCase({ subject: 'Urgent – payments down' });
    expect((await caseById(env.ctx.db, id))!.owner).toBe('erika@example.com');
    env.clock.set('2026-03-02T15:01:00Z');
    await run('critical-reminder');
    expect((await sent(id, 'stale-reminder')).map((r) => r.to_address)).toEqual(['erika@example.com', 'lead@example.com']);
  });

  it('an urgent case without an update for an hour: reminder to the owner each quiet hour, "still working" to the customer once until the team updates', async () => {
    await start('2026-03-02T14:00:00Z');
    const id = await newCase({ subject: 'Urgent – payments down' });
    env.clock.set('2026-03-02T14:59:00Z');
    expect((await run('critical-reminder'))!.sent).toBe(0);
    env.clock.set('2026-03-02T15:01:00Z');
    expect(await run('critical-reminder')).toEqual({ processed: 1, sent: 2 });
    expect((await sent(id, 'stale-reminder')).map((r) => r.to_address)).toEqual(['erika@example.com']);
    const customer = await sent(id, 'still-working');
    expect(customer.map((r) => r.to_address)).toEqual(['jane@customer.example']);
    expect(customer[0]!.text).toContain('we are still working on it');
    expect(await run('critical-reminder')).toEqual({ processed: 0, sent: 0 });
    // The next quiet hours: the owner again; the customer was told already (not every hour of a
    // weekend nobody touched the case: "we will write again as soon as we know more").
    env.clock.set('2026-03-02T16:01:00Z');
    expect((await run('critical-reminder'))!.sent).toBe(1);
    env.clock.set('2026-03-02T17:02:00Z');
    expect((await run('critical-reminder'))!.sent).toBe(1);
    expect(await sent(id, 'still-working')).toHaveLength(1);
    // An update from the team restarts the watch.
    env.clock.set('2026-03-02T17:30:00Z');
    await env.ctx.db.transaction().execute((trx) => recordTeamUpdate(trx, env.ctx, id, { actor: 'agent:erika@example.com', reason: 'internal note' }));
    env.clock.set('2026-03-02T18:15:00Z');
    expect((await run('critical-reminder'))!.sent).toBe(0);
    env.clock.set('2026-03-02T18:31:00Z');
    expect((await run('critical-reminder'))!.sent).toBe(2);
    expect(await sent(id, 'still-working')).toHaveLength(2);
    // Four reminders to the owner, two updates to the customer.
    expect(await claimsOf(env.ctx.db, 'critical-reminder')).toHaveLength(6);
    // Pending ends the watch.
    await setStatus(id, 'pending');
    expect((await slaOfCase(env.ctx.db, id))!.stale_check_at).toBeNull();
  });

  it('a flood of urgent mail from one sender: the hourly reminders count against agentMail.notifyPerSenderPerHour — 2 cases remind, the third brings one flood notice, the fourth nothing (its event says what was held)', async () => {
    await start('2026-03-02T14:00:00Z', { ...CONFIG, agentMail: { notifyPerSenderPerHour: 2 } });
    const ids: number[] = [];
    for (let i = 1; i <= 4; i++) {
      ids.push(await newCase({ from: 'Shop <orders@shop.example>', subject: `Urgent – payment ${i} down`, body: `Payment terminal ${i} is down.` }));
      env.clock.advance(5_000);
    }
    env.clock.set('2026-03-02T15:01:00Z'); // the flood's hour is past: the count starts again
    await run('critical-reminder');
    // Which two remind depends on the sweep's order (PostgreSQL runs lanes at once): two do, two do
    // not — in one sla-digest to the owner, naming two of the four.
    const digest = await env.ctx.db.selectFrom('outbox').selectAll().where('kind', '=', 'sla-digest').execute();
    expect(digest.map((r) => [r.to_address, r.subject])).toEqual([['erika@example.com', '[casegate] 2 critical without an update (2 cases)']]);
    expect(ids.filter((_, i) => digest[0]!.text.includes(`[Case #${10001 + i}]`))).toHaveLength(2);
    expect((await Promise.all(ids.map((id) => sent(id, 'stale-reminder')))).flat()).toEqual([]);
    const notices = (await Promise.all(ids.map((id) => sent(id, 'agent-notification')))).flat().filter((r) => r.created_at > '2026-03-02T15');
    expect(notices.map((r) => r.to_address)).toEqual(['erika@example.com']);
    expect(notices[0]!.subject).toMatch(/^\[Case #1000\d\] Many messages from orders@shop\.example, not notified one by one: payment \d down$/);
    const reasons = (await Promise.all(ids.map((id) => eventsOfCase(env.ctx.db, id)))).flat().filter((e) => e.type === 'sla.stale-reminder').map((e) => e.reason.replace(/ \(agentMail.*$/, '').replace(/; (no )?update to .*$/, ''));
    expect(reasons.sort()).toEqual([
      'critical case without an update for 61 min: reminder to erika@example.com',
      'critical case without an update for 61 min: reminder to erika@example.com',
      'critical case without an update for 61 min: reminder to nobody; held for erika@example.com',
      'critical case without an update for 61 min: reminder to nobody; held for erika@example.com',
    ]);
    // The customer side (notifyCustomer): one "still working" to the sender, not one per case.
    expect((await Promise.all(ids.map((id) => sent(id, 'still-working')))).flat().map((r) => r.to_address)).toEqual(['orders@shop.example']);
  });

  it('three urgent cases nobody updated for an hour: the owner gets one sla-digest listing them, not three stale-reminders; a run that died after staging sends them with the next, once', async () => {
    await start('2026-03-02T14:00:00Z');
    const ids = [
      await newCase({ from: 'ann@customer.example', subject: 'Urgent – payments down' }),
      await newCase({ from: 'bob@customer.example', subject: 'Urgent – checkout broken' }),
      await newCase({ from: 'cy@customer.example', subject: 'Urgent – login down' }),
    ];
    const staffMail = async () => (await env.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute()).filter((r) => r.kind === 'stale-reminder' || r.kind === 'sla-digest');
    env.clock.set('2026-03-02T15:01:00Z');
    // One digest to the owner, and each customer's own "still working".
    expect(await run('critical-reminder')).toEqual({ processed: 3, sent: 4 });
    const mail = await staffMail();
    expect(mail.map((r) => [r.kind, r.to_address, r.case_id])).toEqual([['sla-digest', 'erika@example.com', null]]);
    expect(mail[0]!.subject).toBe('[casegate] 3 critical without an update (3 cases)');
    for (const tag of ['[Case #10001] payments down', '[Case #10002] checkout broken', '[Case #10003] login down']) expect(mail[0]!.text).toContain(tag);
    expect(mail[0]!.text).toContain('NO UPDATE for 1 hour and 1 minute: critical, last update from the team Mar 2, 2026, 8:00 AM GMT-6');
    expect(mail[0]!.text).toContain('Alerts for 3 cases at Example Support: 3 critical without an update from the team.');
    for (const id of ids) expect(await eventTypes(id, 'sla.stale')).toEqual(['sla.stale-reminder']);
    expect((await Promise.all(ids.map((id) => sent(id, 'still-working')))).flat()).toHaveLength(3);
    expect(await claimsOf(env.ctx.db, 'stale-alert')).toEqual([]);
    expect(await run('critical-reminder')).toEqual({ processed: 0, sent: 0 });

    // The next quiet hour: the team updated one case meanwhile; the other two, one digest again.
    env.clock.set('2026-03-02T15:30:00Z');
    await env.ctx.db.transaction().execute((trx) => recordTeamUpdate(trx, env.ctx, ids[2]!, { actor: 'agent:erika@example.com', reason: 'internal note' }));
    env.clock.set('2026-03-02T16:02:00Z');
    expect(await run('critical-reminder')).toEqual({ processed: 2, sent: 1 });
    expect((await staffMail()).slice(1).map((r) => [r.kind, r.to_address, r.case_id])).toEqual([['sla-digest', 'erika@example.com', null]]);
    expect((await staffMail())[1]!.subject).toBe('[casegate] 2 critical without an update (2 cases)');
    // Then the updated case alone: its own stale-reminder, threaded on the case, as before (and,
    // after the team's update, a new quiet stretch: the customer's "still working").
    env.clock.set('2026-03-02T16:31:00Z');
    expect(await run('critical-reminder')).toEqual({ processed: 1, sent: 2 });
    expect((await staffMail()).slice(2).map((r) => [r.kind, r.to_address, r.case_id])).toEqual([['stale-reminder', 'erika@example.com', ids[2]]]);

    // A run killed after its case transactions (the reminders staged, the quiet periods claimed) and
    // before its end: the next run writes them, together with its own, once.
    // One of them about the case the team updated at 15:30 since (no longer true: dropped).
    await env.ctx.db.transaction().execute(async (trx) => {
      for (const id of ids) await stageStaleReminder(trx, id, 'erika@example.com', '2026-03-02T14:00:00.000Z', '2026-03-02T17:03:00.000Z');
    });
    env.clock.set('2026-03-02T17:03:00Z');
    expect(await run('critical-reminder')).toEqual({ processed: 2, sent: 1 });
    const last = (await staffMail()).slice(3);
    expect(last.map((r) => [r.kind, r.to_address])).toEqual([['sla-digest', 'erika@example.com']]);
    // The staged row and the run's own reminder about the same case and quiet stretch are one item.
    expect(last[0]!.subject).toBe('[casegate] 2 critical without an update (2 cases)');
    expect(last[0]!.text).not.toContain('[Case #10003]');
    expect(await claimsOf(env.ctx.db, 'stale-alert')).toEqual([]);
    expect(await run('critical-reminder')).toEqual({ processed: 0, sent: 0 });
  });

  it('a normal case is not watched', async () => {
    await start('2026-03-02T14:00:00Z');
    const id = await newCase();
    expect((await slaOfCase(env.ctx.db, id))!.stale_check_at).toBeNull();
  });
});

describe('pending-reminder: reminders after business days, auto-close after 14 days', () => {
  it('reminds twice, then closes with a notice; each once', async () => {
    await start('2026-03-05T16:00:00Z'); // Thu 10:00 CST
    const id = await newCase();
    await setStatus(id, 'pending');
    env.clock.set('2026-03-06T16:00:00Z'); // Fri: 1 business day
    expect((await run('pending-reminder'))!.sent).toBe(0);
    env.clock.set('2026-03-09T15:01:00Z'); // Mon 10:01 CDT: 2 business days (Fri, Mon)
    expect(await run('pending-reminder')).toEqual({ processed: 1, sent: 1 });
    const first = await sent(id, 'reminder');
    expect(first.map((r) => r.to_address)).toEqual(['jane@customer.example']);
    expect(first[0]!.text).toContain('We are still waiting for your answer on case 10001');
    expect(first[0]!.text).toMatch(/If we do not hear from you by Mar 19, 2026, .*, we will close the case\./);
    expect(await run('pending-reminder')).toEqual({ processed: 0, sent: 0 });
    env.clock.set('2026-03-11T15:01:00Z'); // Wed: 4 business days
    expect((await run('pending-reminder'))!.sent).toBe(1);
    expect(await sent(id, 'reminder')).toHaveLength(2);
    env.clock.set('2026-03-19T15:59:00Z');
    expect((await run('pending-reminder'))!.sent).toBe(0);
    env.clock.set('2026-03-19T16:01:00Z'); // 14 days
    expect((await run('pending-reminder'))!.sent).toBe(1);
    const c = (await caseById(env.ctx.db, id))!;
    expect(c.status).toBe('closed');
    const notice = await sent(id, 'auto-closed');
    expect(notice[0]!.text).toContain('As we have not heard from you for 14 days, we have closed case 10001.');
    expect(await run('pending-reminder')).toEqual({ processed: 0, sent: 0 });
    expect(await eventTypes(id, 'case.')).toEqual(expect.arrayContaining(['case.reminder', 'case.reminder', 'case.auto-closed']));
    expect((await claimsOf(env.ctx.db, 'pending-reminder')).map((c) => c.claim_key)).toEqual([
      'reminder:2026-03-05T16:00:00.000Z:1',
      'reminder:2026-03-05T16:00:00.000Z:2',
      'auto-close:2026-03-05T16:00:00.000Z',
    ]);
  });

  it('after a downtime: the latest missed reminder only, never the close before it, and the rest of the schedule keeps its gaps', async () => {
    await start('2026-03-05T16:00:00Z');
    const closing = await newCase();
    await setStatus(closing, 'pending'); // reminders Mon 9 and Wed 11 Mar, close Thu 19 Mar 16:00Z
    env.clock.set('2026-03-09T16:00:00Z'); // Mon
    const reminding = await newCase({ from: 'bob@customer.example' });
    await setStatus(reminding, 'pending');
    env.clock.set('2026-03-19T16:30:00Z'); // down since before the 9th: closing: all three due; reminding: both reminders
    for (let i = 0; i < 3; i++) {
      await run('pending-reminder');
      env.clock.set(new Date(env.clock.now().getTime() + 15 * 60_000).toISOString());
    }
    // closing: not closed without a word — its last reminder, announcing the close the configured
    // 8 days and 1 hour after it (as reminder 2 on 11 Mar announced 19 Mar); reminder 1 skipped.
    expect((await caseById(env.ctx.db, closing))!.status).toBe('pending');
    const last = await sent(closing, 'reminder');
    expect(last).toHaveLength(1);
    expect(last[0]!.text).toMatch(/If we do not hear from you by Mar 27, 2026, .*, we will close the case\./);
    expect((await slaOfCase(env.ctx.db, closing))!.pending_next_at).toBe('2026-03-27T17:30:00.000Z');
    // A change that recomputes the clocks (priority) keeps the delayed close the reminder announced.
    await env.ctx.db.transaction().execute((trx) => setPriority(trx, env.ctx, closing, 'high', { actor: 'agent:erika@example.com', reason: 'test' }));
    expect((await slaOfCase(env.ctx.db, closing))!.pending_next_at).toBe('2026-03-27T17:30:00.000Z');
    expect(await sent(reminding, 'reminder')).toHaveLength(1);
    // Two cases' reminders of one run: claimed in the order the run took the cases (not fixed on PostgreSQL).
    expect((await claimsOf(env.ctx.db, 'pending-reminder')).map((c) => c.claim_key).sort()).toEqual(['reminder:2026-03-05T16:00:00.000Z:2', 'reminder:2026-03-09T16:00:00.000Z:2']);
    env.clock.set('2026-03-27T17:29:00Z');
    await run('pending-reminder');
    expect((await caseById(env.ctx.db, closing))!.status).toBe('pending');
    env.clock.set('2026-03-27T17:31:00Z');
    await run('pending-reminder');
    expect((await caseById(env.ctx.db, closing))!.status).toBe('closed');
    expect(await sent(closing, 'auto-closed')).toHaveLength(1);
  });

  it('a customer reply committing while the job handles the case wins: no automatic close of the reopened case', async () => {
    await start('2026-03-05T16:00:00Z');
    const id = await newCase();
    await setStatus(id, 'pending');
    await updateSla(env.ctx.db, id, { pending_reminders: 2 }); // both reminders went out
    env.clock.set('2026-03-19T16:01:00Z'); // the close is due
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const replying = new Promise<void>((r) => (started = r));
    // The customer's reply, written and not yet committed (on PostgreSQL the job runs meanwhile).
    const reply = env.ctx.db.transaction().execute(async (trx) => {
      await changeStatus(trx, env.ctx, id, 'open', { actor: 'customer:jane@customer.example', reason: 'customer replied' });
      started();
      await gate;
    });
    await replying;
    const job = run('pending-reminder');
    await new Promise((r) => setTimeout(r, 300));
    release();
    await reply;
    await job;
    expect((await caseById(env.ctx.db, id))!.status).toBe('open');
    expect(await sent(id, 'auto-closed')).toEqual([]);
  });

  it('a customer reply ends the waiting: no reminder', async () => {
    await start('2026-03-05T16:00:00Z');
    const id = await newCase({ messageId: 'q1@customer.example' });
    await setStatus(id, 'pending');
    env.clock.set('2026-03-06T16:00:00Z');
    const conf = (await sent(id, 'confirmation'))[0]!;
    await env.ingest(eml({ subject: 'Re: Printer on fire', inReplyTo: conf.message_id, body: 'Here you go.' }));
    expect((await caseById(env.ctx.db, id))!.status).toBe('open');
    env.clock.set('2026-03-20T16:00:00Z');
    expect((await run('pending-reminder'))!.sent).toBe(0);
    expect(await sent(id, 'reminder')).toHaveLength(0);
  });
});

describe('after casegate restore (restoreFence)', () => {
  it('a reminder or a survey that fell due before the restore is held (the lost instance may have sent it after the backup); one due after the restore goes', async () => {
    await start('2026-03-05T16:00:00Z'); // Thu 10:00 CST
    const waiting = await newCase();
    await setStatus(waiting, 'pending');
    const resolved = await newCase({ from: 'Bob <bob@customer.example>', subject: 'Another question' });
    await setStatus(resolved, 'resolved');
    // The backup was taken before these fell due; the restore ran after: the lost instance sent them, likely.
    await setRestoreFence(env.ctx.db, Date.parse('2026-03-09T15:00:30Z'));
    env.clock.set('2026-03-09T15:01:00Z'); // reminder 1 due at Mon 10:00 CDT; the survey since Fri
    expect((await run('pending-reminder'))!.sent).toBe(1);
    expect((await run('survey'))!.sent).toBe(1);
    const reminder = (await sent(waiting, 'reminder'))[0]!;
    expect(reminder.status).toBe('failed');
    expect(reminder.last_error).toMatch(/^held by casegate restore: due at 2026-03-09T15:00:00\.000Z, before the restore \(2026-03-09T15:00:30\.000Z\); the lost instance may have sent it after the backup\. Send it with casegate outbox retry/);
    const survey = (await sent(resolved, 'survey'))[0]!;
    expect(survey.status).toBe('failed');
    expect(survey.last_error).toMatch(/^held by casegate restore: due at 2026-03-06T16:00:00\.000Z/);
    const held = (await eventsOfCase(env.ctx.db, waiting)).filter((e) => e.type === 'email.held');
    expect(held.map((e) => e.reason)).toEqual([expect.stringMatching(/^reminder to jane@customer\.example: held \(due at 2026-03-09T15:00:00\.000Z, before the restore/)]);
    // Reminder 2 falls due after the restore: sent as usual.
    env.clock.set('2026-03-11T15:01:00Z');
    expect((await run('pending-reminder'))!.sent).toBe(1);
    expect((await sent(waiting, 'reminder')).map((r) => r.status)).toEqual(['failed', 'queued']);
  });
});

describe('resolved-close and survey', () => {
  it('closes resolved cases after 7 days', async () => {
    await start('2026-03-02T14:00:00Z');
    const id = await newCase();
    await setStatus(id, 'resolved');
    env.clock.set('2026-03-09T13:59:00Z');
    await run('resolved-close');
    expect((await caseById(env.ctx.db, id))!.status).toBe('resolved');
    env.clock.set('2026-03-09T14:01:00Z');
    await run('resolved-close');
    expect((await caseById(env.ctx.db, id))!.status).toBe('closed');
  });

  it('surveys once, a day after resolution; answers by email: rating, update, comment; never reopens', async () => {
    await start('2026-03-02T14:00:00Z');
    const id = await newCase();
    await setStatus(id, 'resolved');
    env.clock.set('2026-03-03T13:59:00Z');
    expect((await run('survey'))!.sent).toBe(0);
    env.clock.set('2026-03-03T14:01:00Z');
    expect((await run('survey'))!.sent).toBe(1);
    expect((await run('survey'))!.sent).toBe(0);
    const survey = (await sent(id, 'survey'))[0]!;
    expect(survey.text.match(/https:\/\/help\.example\.com\/cg\/s\/10001\.s\.[0-9a-z.]+\/[1-5]/g)).toHaveLength(5);

    env.clock.set('2026-03-03T15:00:00Z');
    expect((await env.ingest(eml({ subject: 'Re: How did we do?', inReplyTo: survey.message_id, body: '5 - great job, thank you!\n\n> quoted survey' }))).kind).toBe('stored');
    let c = (await caseById(env.ctx.db, id))!;
    expect(c.status).toBe('resolved');
    expect(await surveyOfCase(env.ctx.db, id)).toMatchObject({ rating: 5, comment: 'great job, thank you!', source: 'email' });
    const thanks = await sent(id, 'survey-thanks');
    expect(thanks).toHaveLength(1);
    expect(thanks[0]!.text).toContain('5 out of 5');

    expect((await env.ingest(eml({ subject: 'Re: How did we do?', inReplyTo: survey.message_id, body: 'Poor\nActually the printer burned again.' }))).kind).toBe('stored');
    expect(await surveyOfCase(env.ctx.db, id)).toMatchObject({ rating: 2, comment: 'great job, thank you!\n\nActually the printer burned again.' });
    expect((await env.ingest(eml({ subject: 'Re: How did we do?', inReplyTo: survey.message_id, body: 'Sorry, one more thing: the new one works.' }))).kind).toBe('stored');
    expect(await surveyOfCase(env.ctx.db, id)).toMatchObject({ rating: 2, comment: 'great job, thank you!\n\nActually the printer burned again.\n\nSorry, one more thing: the new one works.' });
    c = (await caseById(env.ctx.db, id))!;
    expect(c.status).toBe('resolved');
    expect(await sent(id, 'survey-thanks')).toHaveLength(1);
    expect(await sent(id, 'reopened')).toHaveLength(0);
    expect(await eventTypes(id, 'survey.')).toEqual(['survey.sent', 'survey.rated', 'survey.rerated', 'survey.comment']);
  });

  it('no survey to suspected spam, a forged From or an auto-responder; a genuine later reply makes the requester surveyable', async () => {
    await start('2026-03-02T14:00:00Z');
    const spam = await newCase({ headers: { 'X-Spam-Flag': 'YES' } });
    const forged = await newCase({ from: 'Joe <joe@victim.example>', auth: 'fail' });
    const robot = await newCase({ from: 'robot@vendor.example', headers: { 'Auto-Submitted': 'auto-generated' } });
    const real = await newCase({ from: 'Ann <ann@customer.example>', auth: 'fail', messageId: 'ann1@customer.example' });
    env.clock.set('2026-03-02T15:00:00Z');
    await env.ingest(eml({ from: 'Ann <ann@customer.example>', subject: 'Re: Printer on fire [Case #10004]', body: 'It is really me.' }));
    for (const id of [spam, forged, robot, real]) await setStatus(id, 'closed');
    env.clock.set('2026-03-03T16:00:00Z');
    expect(await run('survey')).toEqual({ processed: 4, sent: 1 });
    for (const id of [spam, forged, robot]) expect(await sent(id, 'survey')).toEqual([]);
    expect((await sent(real, 'survey')).map((r) => r.to_address)).toEqual(['ann@customer.example']);
    const reasons = async (id: number) => (await eventsOfCase(env.ctx.db, id)).filter((e) => e.type === 'survey.skipped').map((e) => e.reason);
    expect(await reasons(spam)).toEqual(['survey not sent: the case is suspected spam']);
    expect(await reasons(forged)).toEqual(["survey not sent: the requester's mail failed the sender check (the From may be forged)"]);
    expect(await reasons(robot)).toEqual([expect.stringMatching(/^survey not sent: the requester's mail was automated \(auto-generated/)]);
    expect(await run('survey')).toEqual({ processed: 0, sent: 0 });
  });

  it('a customer whose 4 cases (one message sent again and again) are resolved together gets one survey, not four; the next day another may go', async () => {
    await start('2026-03-02T14:00:00Z');
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push(await newCase({ from: 'Jane <jane@customer.example>', subject: `Invoice ${i} wrong`, body: `Invoice ${i} is wrong.` }));
    const later = await newCase({ from: 'Jane <jane@customer.example>', subject: 'Another question', body: 'A different matter.' });
    for (const id of ids) await setStatus(id, 'resolved');
    env.clock.set('2026-03-03T14:01:00Z');
    expect(await run('survey')).toEqual({ processed: 4, sent: 1 });
    const skipped = (await Promise.all(ids.map((id) => eventsOfCase(env.ctx.db, id)))).flat().filter((e) => e.type === 'survey.skipped');
    expect(skipped.map((e) => e.reason)).toEqual(Array(3).fill('survey not sent: a survey went to jane@customer.example within the past 24 hours (one a day per address: a customer whose many cases were resolved together is asked once)'));
    await setStatus(later, 'resolved');
    env.clock.set('2026-03-04T14:02:00Z');
    expect(await run('survey')).toEqual({ processed: 1, sent: 1 });
  });

  it('feedback@ is recorded as feedback: no SLA, no survey', async () => {
    tplDir = templatesWithFeedbackQueue();
    await start('2026-03-02T14:00:00Z', {
      ...CONFIG,
      mailboxes: [
        { name: 'support', addresses: ['support@example.com'] },
        { name: 'feedback', addresses: ['feedback@example.com'] },
      ],
      queues: { ...CONFIG.queues, feedback: { feedback: true } },
      templates: { watch: false, dir: tplDir },
    });
    const out = await env.ingest(eml({ to: 'feedback@example.com', subject: 'Love the new portal' }), { mailbox: 'feedback' });
    if (out.kind !== 'stored') throw new Error(out.reason);
    expect(await slaOfCase(env.ctx.db, out.caseId)).toBeUndefined();
    expect((await caseById(env.ctx.db, out.caseId))!.first_response_due_at).toBeNull();
    env.clock.set('2026-03-05T14:00:00Z');
    expect((await run('survey'))!.sent).toBe(0);
  });
});

describe('scheduler: catch-up at start, one run at a time', () => {
  it('runs at start what came due while the daemon was down, and only that', async () => {
    await start('2026-03-02T13:30:00Z'); // Mon 07:30 CST
    const s = createJobScheduler(env.ctx);
    // First start: the sweeps run, the daily report waits for its schedule.
    expect(await s.catchUp()).toEqual(['sla-check', 'critical-reminder', 'pending-reminder', 'resolved-close', 'survey', 'sent-bodies']);
    expect((await jobRun(env.ctx.db, 'daily-report'))!.runs).toBe(1);
    // Nothing missed a minute later in the same minute… but sla-check runs every minute.
    expect(await s.catchUp()).toEqual([]);
    env.clock.set('2026-03-02T13:31:30Z');
    expect(await s.catchUp()).toEqual(['sla-check']);
    // Down over night: at 08:00 the next day every job is due, the report of Monday among them.
    const id = await newCase();
    env.clock.set('2026-03-03T14:00:00Z'); // Tue 08:00 CST (report at 07:00)
    expect(await s.catchUp()).toEqual(['sla-check', 'critical-reminder', 'pending-reminder', 'resolved-close', 'survey', 'daily-report', 'sent-bodies']);
    const reports = (await env.ctx.db.selectFrom('outbox').selectAll().where('kind', '=', 'report').execute()).map((r) => `${r.to_address}: ${r.subject}`);
    expect(reports.sort()).toEqual(['admin@example.com: [casegate] Daily report 2 Mar 2026', 'lead@example.com: [casegate] Daily report support 2 Mar 2026']);
    const body = (await env.ctx.db.selectFrom('outbox').select('text').where('to_address', '=', 'lead@example.com').where('kind', '=', 'report').executeTakeFirstOrThrow()).text;
    expect(body).toContain('Opened:                          1');
    // The report was claimed: running it again (a restart, a manual run) sends nothing.
    expect((await s.run('daily-report', 'manual'))!.sent).toBe(0);
    expect(id).toBeGreaterThan(0);
    // Down from before Wednesday's 07:00 until Thursday 06:30: the missed run reports Tuesday (the
    // day of its slot), not Wednesday — whose report Thursday's 07:00 run sends.
    const adminReports = async () => (await env.ctx.db.selectFrom('outbox').select('subject').where('kind', '=', 'report').where('to_address', '=', 'admin@example.com').orderBy('id').execute()).map((r) => r.subject);
    env.clock.set('2026-03-05T12:30:00Z'); // Thu 06:30 CST
    expect(await s.catchUp()).toContain('daily-report');
    env.clock.set('2026-03-05T13:00:00Z'); // Thu 07:00 CST
    await s.run('daily-report', 'manual');
    expect(await adminReports()).toEqual(['[casegate] Daily report 2 Mar 2026', '[casegate] Daily report 3 Mar 2026', '[casegate] Daily report 4 Mar 2026']);
    // Down from Thursday 07:30 over the weekend (daylight saving time starts on Sunday) until Monday
    // 08:00: the catch-up sends every day missed — Thursday to Sunday, not only Sunday.
    env.clock.set('2026-03-09T13:00:00Z'); // Mon 08:00 CDT
    expect(await s.catchUp()).toContain('daily-report');
    expect((await adminReports()).slice(3)).toEqual(['[casegate] Daily report 5 Mar 2026', '[casegate] Daily report 6 Mar 2026', '[casegate] Daily report 7 Mar 2026', '[casegate] Daily report 8 Mar 2026']);
    expect((await s.run('daily-report', 'manual'))!.sent).toBe(0);
  });

  it('scheduled and catch-up runs wait for the mail that waited in the mailboxes (manual runs do not); a stop ends the wait at once', async () => {
    await start('2026-03-02T13:30:00Z');
    let takenIn!: () => void;
    const inbound = new Promise<void>((r) => (takenIn = r));
    const s = createJobScheduler(env.ctx, undefined, { inbound });
    let done = false;
    const scheduled = s.run('sla-check', 'scheduled').then((r) => ((done = true), r));
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    expect(await s.run('survey', 'manual')).toEqual({ processed: 0, sent: 0 });
    takenIn();
    expect(await scheduled).toEqual({ processed: 0, sent: 0 });
    // A daemon stopping while its mailboxes still connect does not hang on the wait.
    const stuck = createJobScheduler(env.ctx, undefined, { inbound: new Promise<void>(() => undefined) });
    const waiting = stuck.run('sla-check', 'catch-up');
    const t0 = performance.now();
    await stuck.stop();
    expect(await waiting).toBeNull();
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it('a run that was interrupted (crash, kill -9) runs again at start', async () => {
    await start('2026-03-02T13:30:00Z');
    const s = createJobScheduler(env.ctx);
    await s.catchUp();
    env.clock.advance(10_000);
    // Started, never finished: the process died mid-run.
    await recordJobStart(env.ctx.db, 'resolved-close', env.clock.now().toISOString());
    expect(await s.catchUp()).toEqual(['resolved-close']);
    await recordJobEnd(env.ctx.db, 'resolved-close', env.clock.now().toISOString(), null);
    expect(await s.catchUp()).toEqual([]);
  });

  it('a run a tick of this daemon started is not caught up again (nor reported as interrupted, nor waited for)', async () => {
    await start('2026-03-02T13:30:00Z');
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    let runs = 0;
    const probe: JobDefinition = { name: 'probe', configKey: 'slaCheck', runOnFirstStart: true, run: async () => (runs++, await gate, { processed: 1, sent: 0 }) };
    const s = createJobScheduler({ ...env.ctx, log }, [probe]);
    // The tick claimed its slot and is under way (its start is committed, its end is not).
    const ticked = s.run('probe', 'scheduled');
    await until(async () => runs === 1, 'the ticked run under way', 5_000);
    const row = (await jobRun(env.ctx.db, 'probe'))!;
    expect(row.last_finished_at).toBeNull();
    const began = Date.now();
    expect(await s.catchUp()).toEqual([]);
    // On PostgreSQL its own lease is live: no waiting out leaseSeconds for itself.
    expect(Date.now() - began).toBeLessThan(env.ctx.config.database.leaseSeconds * 1000);
    expect(lines.filter((l) => l['msg'] === 'job catches up')).toEqual([]);
    release();
    expect(await ticked).toEqual({ processed: 1, sent: 0 });
    expect(runs).toBe(1);
    expect((await jobRun(env.ctx.db, 'probe'))!.last_finished_at).not.toBeNull();
  });

  it('a scheduled run that failed is tried once more for its slot (a daily job does not lose its day)', async () => {
    await start('2026-03-02T13:30:00Z');
    let runs = 0;
    let failUntil = 1;
    const probe: JobDefinition = {
      name: 'probe',
      configKey: 'dailyReport',
      runOnFirstStart: false,
      run: async () => {
        runs++;
        if (runs <= failUntil) throw new Error('database is busy');
        return { processed: 1, sent: 0 };
      },
    };
    const s = createJobScheduler(env.ctx, [probe], { retryAfterFailureMs: 50 });
    expect(await s.run('probe', 'scheduled')).toBeNull();
    expect((await jobRun(env.ctx.db, 'probe'))!.last_error).toBe('database is busy');
    await until(async () => runs === 2 && (await jobRun(env.ctx.db, 'probe'))!.last_error === null, 'the retry succeeding', 5_000);
    // The next day's slot fails twice: one retry, then it waits for its next schedule.
    env.clock.set('2026-03-03T13:30:00Z');
    failUntil = 4;
    expect(await s.run('probe', 'scheduled')).toBeNull();
    await until(() => runs === 4, 'the one retry', 5_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(runs).toBe(4);
    await s.stop();
  });

  it('a time the clock skips (02:30 on the day daylight saving time starts) runs once, at the change; node-cron alone skipped the day', async () => {
    // America/Chicago: on 8 March 2026 the clock jumps from 02:00 CST to 03:00 CDT (08:00Z); 02:30 never comes.
    await start('2026-03-08T07:59:59.500Z', { ...CONFIG, jobs: { ...CONFIG.jobs, dailyReport: { schedule: '30 2 * * *' } } });
    const lines: Record<string, unknown>[] = [];
    const raw: string[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void (raw.push(l), lines.push(JSON.parse(l) as Record<string, unknown>)) });
    let runs = 0;
    const probe: JobDefinition = { name: 'probe', configKey: 'dailyReport', runOnFirstStart: false, run: async () => ({ processed: ++runs, sent: 0 }) };
    const s = createJobScheduler({ ...env.ctx, log }, [probe]);
    s.schedule();
    env.clock.set('2026-03-08T08:00:00.400Z'); // the timer fires a second after the change
    await until(async () => (await jobRun(env.ctx.db, 'probe'))?.last_finished_at != null, 'the run for the skipped time', 5_000);
    expect(runs).toBe(1);
    expect((await jobRun(env.ctx.db, 'probe'))!.last_slot).toBe('2026-03-08T08:00:00.000Z');
    // One "job" key per line (the job's child logger carries it; a second one made the JSON ambiguous).
    const finished = raw.filter((l) => l.includes('"msg":"job finished"'));
    expect(finished).toHaveLength(1);
    expect(finished[0]!.match(/"job":/g)).toHaveLength(1);
    expect(lines.find((l) => l['msg'] === 'the clock skipped a scheduled time (daylight saving time): running the job now')).toMatchObject({ job: 'probe', at: '2026-03-08T08:00:00.000Z', timezone: 'America/Chicago' });
    // The slot is taken: the same time again (another daemon, a catch-up) does not run it twice.
    expect(await s.run('probe', 'scheduled')).toBeNull();
    expect(runs).toBe(1);
    await s.stop();
  });

  it('a job never runs twice at the same time', async () => {
    await start('2026-03-02T13:30:00Z');
    const s = createJobScheduler(env.ctx);
    const [a, b] = await Promise.all([s.run('survey', 'manual'), s.run('survey', 'manual')]);
    expect([a, b].filter((r) => r === null)).toHaveLength(1);
  });

  it('a busy daemon still runs its ticks: a tick 2 s late runs (node-cron skipped those past 1 s); a stall over whole slots is one warning and one run', async () => {
    // Every 3 s (node-cron's seconds field), for a job that records when it ran.
    await start('2026-03-02T13:30:00Z', { ...CONFIG, jobs: { ...CONFIG.jobs, slaCheck: { schedule: '*/3 * * * * *' } } });
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const runs: number[] = [];
    const probe: JobDefinition = { name: 'probe', configKey: 'slaCheck', runOnFirstStart: false, run: async () => (runs.push(Date.now()), { processed: 0, sent: 0 }) };
    // Every run may claim its slot: the manual clock moves one minute per run.
    const s = createJobScheduler({ ...env.ctx, log }, [probe]);
    // The event loop is held as by a long import, a backlog or a loaded host; the thread sleeps
    // instead of spinning (a busy loop here burnt 9.6 s of the suite's CPU).
    const block = (ms: number) => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    };
    /** Sleep until `ms` before the next multiple of 3 s. */
    const beforeTick = async (ms: number) => {
      const next = Math.ceil((Date.now() + ms + 50) / 3000) * 3000;
      await new Promise((r) => setTimeout(r, next - ms - Date.now()));
      return next;
    };
    const task = s.schedule().get('probe')!;
    const started: number[] = [];
    const missed: number[] = [];
    task.on('execution:started', (c) => void started.push(c.date.getTime()));
    task.on('execution:missed', (c) => void missed.push(c.date.getTime()));
    const advance = () => env.clock.advance(60_000);
    task.on('execution:finished', advance);
    try {
      // 1. Blocked from 300 ms before a tick until 2 s after it: the tick fires 2 s late and runs.
      const tick = await beforeTick(300);
      const ranBefore = runs.length; // a tick may have come while we waited for this one
      block(2_300);
      await until(() => started.includes(tick), 'the late tick running', 2_500);
      expect(missed).toEqual([]);
      await until(() => runs.length > ranBefore, 'the probe job running', 5_000);

      // 2. Blocked across two whole slots (7 s over a 3 s gap): both are reported in one warning line
      //    and run once at once; the third (late by less than a gap) runs as a tick.
      const first = await beforeTick(300);
      const before = runs.length;
      block(7_300);
      await until(() => lines.some((l) => String(l['msg']).startsWith('scheduled runs were missed')), 'the missed-runs warning', 3_000);
      expect(missed.filter((t) => t >= first)).toEqual([first, first + 3000]);
      const warnings = lines.filter((l) => String(l['msg']).startsWith('scheduled runs were missed'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ level: 40, job: 'probe', missed: 2, first: new Date(first).toISOString(), last: new Date(first + 3000).toISOString() });
      await until(() => started.includes(first + 6000) && runs.length >= before + 1, 'the next tick running', 3_000);
      // The burst ran the job once (a catch-up) besides the tick that ran late (or they coincided).
      await new Promise((r) => setTimeout(r, 300));
      expect(runs.length - before).toBeGreaterThanOrEqual(1);
      expect(runs.length - before).toBeLessThanOrEqual(2);
      expect(lines.filter((l) => l['reason'] === 'catch-up' && l['msg'] === 'job finished')).toHaveLength(runs.length - before - 1);
    } finally {
      await s.stop();
    }
  }, 30_000);

  it('schedules every enabled job with node-cron in jobs.timezone', async () => {
    await start('2026-03-02T13:30:00Z', { ...CONFIG, jobs: { ...CONFIG.jobs, survey: { enabled: false } } });
    const s = createJobScheduler(env.ctx);
    const tasks = s.schedule();
    try {
      expect([...tasks.keys()]).toEqual(['sla-check', 'critical-reminder', 'pending-reminder', 'resolved-close', 'daily-report', 'sent-bodies']);
      expect(tasks.get('daily-report')!.getPattern()).toBe('0 7 * * *');
    } finally {
      await s.stop();
    }
  });
});
