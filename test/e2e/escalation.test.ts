import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { Daemon } from '../../src/main.js';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { describeResult } from '../helpers/cli.js';
import { runCliInProcess } from '../helpers/cli-in-process.js';
import { eventually, sentTo, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import type { SinkMessage, SmtpSink } from '../helpers/smtp-sink.js';

/**
 * Issue 5 end to end: customers' mail reaches the running daemon over real SMTP; confirmations,
 * alerts to the leads, acknowledgements, assignment and reassignment notices arrive at a real SMTP
 * sink. The reassignment is made by the real CLI process next to the daemon.
 */
let env: TestDaemon;
let sink: SmtpSink;
let daemon: Daemon;
let dir: string;

function client() {
  return env.client();
}

const to = (address: string, subject?: RegExp): SinkMessage[] => sentTo(sink, address, subject);

beforeAll(async () => {
  env = await startTestDaemon({
    instance: { name: 'Example Support', domain: 'support.example.com', secret: 'test-secret-0123456789abcdef-0123456789', adminAddress: 'ops@example.com' },
    mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
    queues: {
      support: {
        tiers: { 1: { addresses: ['lead@example.com'] }, 2: { addresses: ['head@example.com'] }, 3: { addresses: ['cto@example.com'] } },
        agents: [
          { name: 'Anna Agent', address: 'anna@example.com' },
          { name: 'Bea Agent', address: 'bea@example.com' },
        ],
        assignment: 'round-robin',
      },
      vip: { tiers: { 1: { addresses: ['vip-lead@example.com'] } }, agents: [{ name: 'Vera', address: 'vera@example.com' }], assignment: 'fixed', fixedOwner: 'Vera' },
    },
    rules: [{ name: 'vip-customers', match: { senderDomain: ['acme.example'] }, set: { priority: 'high', queue: 'vip', tags: ['vip'] } }],
  });
  ({ sink, daemon, dir } = env);
});

afterAll(async () => {
  await env.stop();
});

describe('priority, escalation, routing and ownership over real SMTP', () => {
  let ackId = '';

  it('"Urgent – VPN down": a new urgent, escalated case; tier 1 alerted, the customer acknowledged, an agent assigned', async () => {
    const info = await client().sendMail({ from: 'Jane Customer <jane@customer.example>', to: 'support@example.com', subject: 'Urgent – VPN down', text: 'Nobody can connect since 9:00.', messageId: '<vpn-1@customer.example>' });
    expect(info.response).toMatch(/^250 .*Stored in case 10001/);
    await eventually(() => {
      // One automatic reply per message: the acknowledgement stands in for the confirmation.
      // One subject for all customer mail of the case; the first line says what happened.
      expect(to('jane@customer.example').map((m) => m.parsed.subject)).toEqual(['[Case #10001] Re: VPN down']);
      expect(to('jane@customer.example', /We have escalated case 10001/)).toHaveLength(1);
      expect(to('lead@example.com')).toHaveLength(1);
      // The owner: assigned, and told of the escalation too (issue 10).
      expect(to('anna@example.com', /Assigned to you/)).toHaveLength(1);
      expect(to('anna@example.com', /Escalated to level 1/)).toHaveLength(1);
    });
    const alert = to('lead@example.com')[0]!;
    expect(alert.parsed.subject).toBe('[Case #10001] Escalated to level 1: VPN down');
    expect(alert.parsed.text).toContain('Nobody can connect since 9:00.');
    expect(alert.parsed.headers.get('auto-submitted')).toBe('auto-generated');
    const ack = to('jane@customer.example', /escalated/)[0]!;
    expect(ack.parsed.headers.get('auto-submitted')).toBe('auto-replied');
    expect(ack.parsed.inReplyTo).toBe('<vpn-1@customer.example>');
    ackId = ack.parsed.messageId!;
    expect(await caseByNumber(daemon.ctx.db, 10001)).toMatchObject({ subject: 'VPN down', priority: 'urgent', escalated: 1, escalation_level: 1, owner: 'anna@example.com' });
    expect(to('head@example.com')).toHaveLength(0);
  });

  it('a reply "please escalate this" raises it to level 2: tier 2 alerted once; the same mail again alerts nobody', async () => {
    const reply = { from: 'jane@customer.example', to: 'support@example.com', subject: 'Re: [Case #10001] Re: VPN down', text: 'Still down, please escalate this.\n\nOn Mon, Support wrote:\n> We have escalated case 10001', inReplyTo: ackId, references: [ackId] };
    expect((await client().sendMail({ ...reply, messageId: '<vpn-2@customer.example>' })).response).toMatch(/Stored in case 10001/);
    await eventually(() => {
      expect(to('head@example.com')).toHaveLength(1);
      expect(to('jane@customer.example', /escalated/)).toHaveLength(2);
    });
    expect(to('head@example.com')[0]!.parsed.subject).toBe('[Case #10001] Escalated to level 2: VPN down');
    expect((await caseByNumber(daemon.ctx.db, 10001))!.escalation_level).toBe(2);

    // The impatient customer writes it again (a new Message-ID and Date: not a re-sent copy): recorded, nobody alerted again.
    expect((await client().sendMail({ ...reply, messageId: '<vpn-3@customer.example>', date: new Date(Date.now() + 60_000) })).response).toMatch(/Stored in case 10001/);
    await new Promise((r) => setTimeout(r, 1500));
    expect(to('head@example.com')).toHaveLength(1);
    expect(to('lead@example.com')).toHaveLength(1);
    expect(to('cto@example.com')).toHaveLength(0);
    expect(to('jane@customer.example', /escalated/)).toHaveLength(2);
    const c = (await caseByNumber(daemon.ctx.db, 10001))!;
    expect(c.escalation_level).toBe(2);
    expect((await eventsOfCase(daemon.ctx.db, c.id)).map((e) => e.type)).toContain('escalation.repeated');
  });

  it('"escalate" only in quoted lines, or an escalator: nothing happens', async () => {
    const base = { from: 'jane@customer.example', to: 'support@example.com', subject: 'Re: [Case #10001] VPN down', inReplyTo: ackId, references: [ackId] };
    const before = sink.messages.length;
    await client().sendMail({ ...base, text: 'Thanks for the update.\n\n> please escalate this\n> now', messageId: '<vpn-4@customer.example>' });
    await client().sendMail({ ...base, text: 'By the way, the escalator in the lobby is broken too.', messageId: '<vpn-5@customer.example>' });
    const fresh = await client().sendMail({ from: 'Tom <tom@customer.example>', to: 'support@example.com', subject: 'Escalator stuck', text: 'The escalator on floor 2 stopped.', messageId: '<esc-1@customer.example>' });
    expect(fresh.response).toMatch(/Stored in case 10002/);
    await eventually(() => expect(to('tom@customer.example')).toHaveLength(1), 1500);
    // Tom's confirmation, Bea's assignment, and the owner (Anna) hears of Jane's two replies (issue 10); nothing else.
    expect(sink.messages.length - before).toBe(4);
    expect(to('anna@example.com', /Customer replied/).length).toBeGreaterThanOrEqual(2);
    expect((await caseByNumber(daemon.ctx.db, 10001))!.escalation_level).toBe(2);
    expect(await caseByNumber(daemon.ctx.db, 10002)).toMatchObject({ escalated: 0, owner: 'bea@example.com' });
  });

  it('a VIP domain rule sets priority high and the VIP queue; round-robin alternates in the support queue', async () => {
    await client().sendMail({ from: 'Bob <bob@acme.example>', to: 'support@example.com', subject: 'Contract question', text: 'Hi', messageId: '<vip-1@acme.example>' });
    await client().sendMail({ from: 'carol@other.example', to: 'support@example.com', subject: 'Printer', text: 'jammed', messageId: '<c-1@other.example>' });
    await eventually(() => {
      expect(to('vera@example.com')).toHaveLength(1);
      expect(to('anna@example.com', /Assigned to you/)).toHaveLength(2);
    });
    expect(await caseByNumber(daemon.ctx.db, 10003)).toMatchObject({ queue: 'vip', priority: 'high', owner: 'vera@example.com' });
    expect(await caseByNumber(daemon.ctx.db, 10004)).toMatchObject({ queue: 'support', priority: 'normal', owner: 'anna@example.com' });
    // Anna (10001), Bea (10002), Anna (10004): two agents taking turns.
  });

  it('a reassignment with the CLI notifies the new owner and tells the customer the display name only', async () => {
    const r = await runCliInProcess(['--config', join(dir, 'casegate.yaml'), 'cases', 'assign', '10001', 'Bea Agent', '--note', 'Anna is out today'], { cwd: dir, env: { HOME: dir } });
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout).toMatch(/case 10001 assigned to Bea Agent \(was Anna Agent\); customer notified/);
    await eventually(() => {
      expect(to('jane@customer.example', /has taken over case 10001/)).toHaveLength(1);
      expect(to('bea@example.com', /Assigned to you: VPN down/)).toHaveLength(1);
    });
    const notice = to('jane@customer.example', /has taken over case 10001/)[0]!;
    expect(notice.parsed.text).toContain('Bea Agent');
    expect(`${notice.parsed.text}${notice.parsed.html || ''}${notice.raw.toString()}`).not.toMatch(/bea@example\.com|anna@example\.com/);
    expect(to('bea@example.com', /Assigned to you: VPN down/)[0]!.parsed.text).toContain('Anna is out today');

    // And the CLI escalation reaches tier 3 the same way.
    const e = await runCliInProcess(['--config', join(dir, 'casegate.yaml'), 'cases', 'escalate', '10001', '--reason', 'outage for all branches'], { cwd: dir, env: { HOME: dir } });
    expect(e.code, describeResult(e)).toBe(0);
    await eventually(() => expect(to('cto@example.com')).toHaveLength(1));
    expect(to('cto@example.com')[0]!.parsed.text).toContain('outage for all branches');
    const c = (await caseByNumber(daemon.ctx.db, 10001))!;
    expect((await eventsOfCase(daemon.ctx.db, c.id)).filter((ev) => ev.type === 'case.escalated').map((ev) => ev.actor)).toEqual([
      'customer:jane@customer.example',
      'customer:jane@customer.example',
      expect.stringMatching(/^cli:/),
    ]);
  });

  it('a monitoring bot floods the round-robin queue with 13 urgent mails, the daemon restarting midway: every case assigned and escalated; staff mail for 10, then one flood notice for each owner and lead, then nothing', async () => {
    const bot = 'alerts@monitor.example';
    const from = sink.messages.length;
    const flood = () => sink.messages.slice(from).filter((m) => !m.envelopeTo.includes(bot));
    const send = async (i: number) => {
      const info = await client().sendMail({ from: `Monitor <${bot}>`, to: 'support@example.com', subject: `Urgent: disk full on host ${i}`, text: `Disk / on host ${i} is 99% full.`, messageId: `<disk-${i}@monitor.example>` });
      expect(info.response).toMatch(/Stored in case/);
    };
    for (let i = 1; i <= 6; i++) await send(i);
    await eventually(() => expect(flood()).toHaveLength(18)); // 6 × (assignment, alert to the owner, alert to the lead)
    // The cap counts in the database: a restart does not start it again.
    daemon = await env.restart();
    for (let i = 7; i <= 13; i++) await send(i);
    const cases = await daemon.ctx.db.selectFrom('cases').selectAll().where('requester_address', '=', bot).orderBy('number').execute();
    expect(cases).toHaveLength(13);
    for (const c of cases) expect(c).toMatchObject({ escalation_level: 1, owner: expect.stringMatching(/^(anna|bea)@example\.com$/) });
    // 10 messages: an assignment and two alerts each. Message 11: its owner and the lead get the flood
    // notice instead; message 12: its owner (the other agent) gets it; message 13: nobody.
    await eventually(() => expect(flood()).toHaveLength(33));
    const kinds = (address: string) => flood().filter((m) => m.envelopeTo.includes(address)).map((m) => (/Many messages from/.test(m.parsed.subject ?? '') ? 'notice' : /Assigned to you/.test(m.parsed.subject ?? '') ? 'assignment' : 'alert'));
    expect(kinds('lead@example.com')).toEqual([...Array(10).fill('alert'), 'notice']);
    for (const agent of ['anna@example.com', 'bea@example.com']) {
      expect(kinds(agent).filter((k) => k === 'assignment')).toHaveLength(5);
      expect(kinds(agent).filter((k) => k === 'notice')).toHaveLength(1);
    }
    const notice = flood().find((m) => m.envelopeTo.includes('lead@example.com') && /Many messages/.test(m.parsed.subject ?? ''))!;
    expect(notice.parsed.subject).toBe(`[Case #${cases[10]!.number}] Many messages from ${bot}, not notified one by one: disk full on host 11`);
    expect(notice.parsed.text).toContain('Disk / on host 11 is 99% full.');
    const last = await eventsOfCase(daemon.ctx.db, cases[12]!.id);
    expect(last.find((e) => e.type === 'agents.notify-suppressed')?.reason).toMatch(/held: assignment to (anna|bea)@example\.com; escalation-alert to lead@example\.com, (anna|bea)@example\.com$/);
  });
});
