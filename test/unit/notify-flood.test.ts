import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';

/**
 * A sender (or a bot) flooding a mailbox with distinct messages: every one becomes a case, but the
 * agents are not sent one notification each — agentMail.notifyPerSenderPerHour of them, then one
 * flood notice, then none until the hour's count drops.
 */

const CONFIG: ConfigInput = {
  mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
  queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }, { name: 'Carla Agent', address: 'carla@example.com' }] } },
  // Several new mails from one sender within seconds: the auto-reply brake would hold the confirmations.
  autoReply: { minIntervalSeconds: 0, perSenderPerHour: 1000 },
  agentMail: { notifyPerSenderPerHour: 3 },
};

let env: TestEnv;
beforeEach(async () => {
  env = await testEnv(CONFIG);
});
afterEach(async () => {
  await env.close();
});

async function notifications() {
  return env.ctx.db.selectFrom('outbox').selectAll().where('kind', '=', 'agent-notification').orderBy('id').execute();
}

async function flood(from: string, n: number, first = 0) {
  const outcomes = [];
  for (let i = first; i < first + n; i++) {
    outcomes.push(await env.ingest(eml({ from, subject: `Order ${i} failed`, body: `Order ${i} failed again, error ${i * 7}.` })));
    env.clock.advance(10_000);
  }
  return outcomes;
}

describe('agent notifications per sender and hour', () => {
  it('a flood of 10 new cases from one sender: 3 notified, one flood notice, the rest only recorded', async () => {
    const outcomes = await flood('Bot <orders+1@shop.example>', 10);
    // Every message still became a case (no mail lost).
    expect(outcomes.map((o) => o.kind === 'stored' && o.created)).toEqual(Array(10).fill(true));
    const sent = await notifications();
    // Two agents: 3 notifications each, then one flood notice each.
    expect(sent).toHaveLength(8);
    expect(sent.slice(0, 6).map((r) => r.subject)).toEqual(expect.arrayContaining([expect.stringMatching(/New case: Order 0 failed$/), expect.stringMatching(/New case: Order 2 failed$/)]));
    const notices = sent.slice(6);
    expect(notices.map((r) => r.to_address).sort()).toEqual(['ben@example.com', 'carla@example.com']);
    for (const n of notices) {
      expect(n.subject).toBe('[Case #10004] Many messages from orders@shop.example, not notified one by one: Order 3 failed');
      expect(n.text).toContain('Mail from orders@shop.example has caused staff email more than 3 times within an hour.');
      expect(n.text).toContain('Order 3 failed again');
    }
    // The six after the notice: an event on each case, no email.
    const last = outcomes.at(-1)!;
    if (last.kind !== 'stored') throw new Error('not stored');
    const events = await eventsOfCase(env.ctx.db, last.caseId);
    expect(events.find((e) => e.type === 'agents.notify-suppressed')?.reason).toMatch(/^agents not notified: 3 messages from orders@shop\.example notified within the hour \(agentMail\.notifyPerSenderPerHour 3\)/);
    // The customer side is unchanged: every case got its confirmation.
    expect(await env.ctx.db.selectFrom('outbox').select('id').where('kind', '=', 'confirmation').execute()).toHaveLength(10);
  });

  it('other senders are not affected by one sender\'s flood', async () => {
    await flood('Bot <orders@shop.example>', 6);
    const before = (await notifications()).length;
    await env.ingest(eml({ from: 'Jane <jane@customer.example>', subject: 'My printer' }));
    const after = await notifications();
    expect(after.length - before).toBe(2);
    expect(after.at(-1)!.subject).toMatch(/New case: My printer$/);
  });

  it('after the hour, notifications resume; the next flood notice counts what went unnotified', async () => {
    await flood('Bot <orders@shop.example>', 7); // 3 notified, 1 notice, 3 suppressed
    env.clock.advance(3_600_000);
    await flood('Bot <orders@shop.example>', 4, 100); // 3 notified again, then a notice
    const sent = await notifications();
    expect(sent.filter((r) => r.to_address === 'ben@example.com').map((r) => (/Many messages/.test(r.subject) ? 'notice' : 'one'))).toEqual(['one', 'one', 'one', 'notice', 'one', 'one', 'one', 'notice']);
    const second = sent.filter((r) => r.to_address === 'ben@example.com').at(-1)!;
    expect(second.text).toContain('Since the previous such notice, 3 more messages or alerts about orders@shop.example caused no email.');
  });

  it('notifyPerSenderPerHour 0: no limit', async () => {
    await env.close();
    env = await testEnv({ ...CONFIG, agentMail: { notifyPerSenderPerHour: 0 } });
    await flood('Bot <orders@shop.example>', 6);
    expect(await notifications()).toHaveLength(12);
  });

  it('a mailing list that added support@ (many posters, one List-Id) on a round-robin queue: every post assigned, 3 assignment emails, then one flood notice per owner, then nothing', async () => {
    await env.close();
    env = await testEnv({ ...CONFIG, queues: { support: { ...CONFIG.queues!.support!, assignment: 'round-robin' } } });
    const outcomes = [];
    for (let i = 0; i < 6; i++) {
      outcomes.push(await env.ingest(eml({ from: `Poster ${i} <poster${i}@uni${i}.example>`, subject: `[dev] question ${i}`, headers: { 'List-Id': 'Dev list <dev.lists.example>', Precedence: 'list' }, body: `Post ${i} to the list.` })));
      env.clock.advance(10_000);
    }
    const owners = await env.ctx.db.selectFrom('cases').select('owner').orderBy('number').execute();
    expect(owners.map((c) => c.owner)).toEqual(['ben@example.com', 'carla@example.com', 'ben@example.com', 'carla@example.com', 'ben@example.com', 'carla@example.com']);
    const staff = await env.ctx.db.selectFrom('outbox').select(['kind', 'to_address', 'subject']).where('kind', 'in', ['assignment', 'agent-notification']).orderBy('id').execute();
    expect(staff.map((r) => `${r.kind} ${r.to_address}`)).toEqual([
      'assignment ben@example.com',
      'assignment carla@example.com',
      'assignment ben@example.com',
      'agent-notification carla@example.com',
      'agent-notification ben@example.com',
    ]);
    expect(staff[3]!.subject).toBe('[Case #10004] Many messages from the mailing list <dev.lists.example>, not notified one by one: [dev] question 3');
    const last = outcomes.at(-1)!;
    if (last.kind !== 'stored') throw new Error('not stored');
    expect((await eventsOfCase(env.ctx.db, last.caseId)).find((e) => e.type === 'agents.notify-suppressed')).toMatchObject({ actor: 'list:dev.lists.example', reason: expect.stringMatching(/held: assignment to carla@example\.com$/) });
  });
});
