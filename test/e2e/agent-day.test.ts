import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { tagsOfCase } from '../../src/db/repos/tags.js';
import type { Daemon } from '../../src/main.js';
import { describeResult } from '../helpers/cli.js';
import { runCliInProcess } from '../helpers/cli-in-process.js';
import { mxHeaderFields, TRUSTED_SENDER_AUTH } from '../helpers/context.js';
import { eventually, sentTo, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { clientReply, type ClientStyle, type Original } from '../helpers/mail-clients.js';
import type { SinkMessage, SmtpSink } from '../helpers/smtp-sink.js';

/**
 * Issue 10 end to end: a support team of three (Anna, the lead; Ben and Carla) runs a case with
 * nothing but mail clients and the CLI. The customer and the agents talk to the running daemon
 * over real SMTP; everything casegate sends arrives at a real SMTP sink and is read back as the
 * recipients' clients would see it (headers, threading, attachments). Agents answer with the
 * header and quoting styles of Thunderbird, Outlook and Gmail, and from a client that drops
 * In-Reply-To. A forged agent From never acts.
 */

let env: TestDaemon;
let sink: SmtpSink;
let daemon: Daemon;
let dir: string;
let seq = 0;

const JANE = 'jane@customer.example';
/** Our MX's headers on the agents' mail (the daemon trusts mx.example.com's Authentication-Results). */
const PASS = mxHeaderFields('example.com', 'pass');

const to = (address: string, subject?: RegExp): SinkMessage[] => sentTo(sink, address, subject);
/** What an agent wrote to `address` (human mail: no Auto-Submitted), in order. */
const answersTo = (address: string): SinkMessage[] => to(address).filter((m) => m.parsed.headers.get('auto-submitted') === undefined);

function original(m: SinkMessage): Original {
  const from = m.parsed.from?.value[0];
  const refs = m.parsed.references;
  return {
    messageId: m.parsed.messageId!.replace(/^<|>$/g, ''),
    subject: m.parsed.subject ?? '',
    text: m.parsed.text ?? '',
    fromName: from?.name ?? '',
    fromAddress: from?.address ?? '',
    references: (Array.isArray(refs) ? refs : refs !== undefined ? [refs] : []).map((r) => r.replace(/^<|>$/g, '')),
  };
}

/** An agent answers `m` (a mail they received) from their mail client, over SMTP. */
async function agentAnswers(m: SinkMessage, style: ClientStyle, from: string, body: string, o: { to?: string; attachments?: Parameters<typeof clientReply>[1]['attachments']; headers?: Record<string, string> } = {}): Promise<string> {
  const raw = clientReply(original(m), { style, from, to: o.to ?? 'Example Support <support@example.com>', body, messageId: `agent-${++seq}@example.com`, headers: { ...PASS, ...o.headers }, ...(o.attachments !== undefined ? { attachments: o.attachments } : {}) });
  const address = /<([^>]+)>/.exec(from)?.[1] ?? from;
  const info = await env.client().sendMail({ envelope: { from: address, to: [o.to?.replace(/^.*<|>$/g, '') ?? 'support@example.com'] }, raw });
  return info.response;
}

/** Jane answers `m` from her mail client (Thunderbird), over SMTP. */
async function janeAnswers(m: SinkMessage, body: string): Promise<string> {
  const raw = clientReply(original(m), { style: 'thunderbird', from: `Jane Customer <${JANE}>`, to: 'support@example.com', body, messageId: `jane-${++seq}@customer.example` });
  return (await env.client().sendMail({ envelope: { from: JANE, to: ['support@example.com'] }, raw })).response;
}

/** Jane's own Message-IDs (what our mail to her must be threaded under). */
const janeIds = new Set<string>(['<jane-1@customer.example>']);

function expectInJanesThread(m: SinkMessage): void {
  expect(janeIds.has(m.parsed.inReplyTo ?? ''), `In-Reply-To ${m.parsed.inReplyTo} is none of Jane's messages`).toBe(true);
  const refs = m.parsed.references;
  expect(Array.isArray(refs) ? refs : [refs]).toContain('<jane-1@customer.example>');
}

beforeAll(async () => {
  env = await startTestDaemon({
    mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
    queues: {
      support: {
        agents: [
          { name: 'Anna Lead', address: 'anna@example.com', role: 'lead', available: false },
          { name: 'Ben Agent', address: 'ben@example.com' },
          { name: 'Carla Agent', address: 'carla@example.com' },
        ],
        assignment: 'round-robin',
        onHoldExpected: '1–2 business days',
      },
    },
    security: { senderAuth: TRUSTED_SENDER_AUTH },
  });
  ({ sink, daemon, dir } = env);
});

afterAll(async () => {
  await env.stop();
});

describe('a day of a support team of three, with mail clients and the CLI only', () => {
  it('the customer writes: confirmed (status in words); the owner gets the case with the customer’s text', async () => {
    const info = await env.client().sendMail({ from: `Jane Customer <${JANE}>`, to: 'support@example.com', cc: 'Boss <boss@customer.example>', subject: 'VPN broken', text: 'The VPN client says "certificate expired" since 9:00.', messageId: '<jane-1@customer.example>' });
    expect(info.response).toMatch(/Stored in case 10001/);
    await eventually(() => {
      expect(to(JANE)).toHaveLength(1);
      expect(to('ben@example.com')).toHaveLength(1);
    });
    const conf = to(JANE)[0]!;
    expect(conf.parsed.subject).toBe('[Case #10001] Re: VPN broken');
    expect(conf.parsed.text).toContain('We have received your request and opened case 10001');
    expect(conf.parsed.text).toContain('Status of case 10001: received, waiting for an agent.');
    const assigned = to('ben@example.com')[0]!;
    expect(assigned.parsed.subject).toMatch(/^\[Case #10001\] Assigned to you: VPN broken/);
    expect(assigned.parsed.text).toContain('certificate expired');
    expect(assigned.parsed.text).toContain('reply to this email: your text goes to the customer');
    expect(to('anna@example.com')).toHaveLength(0);
  });

  it('Ben answers from Thunderbird with an attachment: the customer and the CC get his new text only, From “Ben Agent”, threaded under Jane’s mail, human mail', async () => {
    const pdf = Buffer.from('%PDF-1.4\n% the VPN guide\n');
    expect(await agentAnswers(to('ben@example.com')[0]!, 'thunderbird', 'Ben Agent <ben@example.com>', 'Hi Jane,\n\nplease install the new certificate, see the attached guide.', { attachments: [{ filename: 'vpn-guide.pdf', contentType: 'application/pdf', content: pdf }] })).toMatch(/Stored in case 10001/);
    await eventually(() => expect(answersTo(JANE)).toHaveLength(1));
    const r = answersTo(JANE)[0]!;
    expect(r.envelopeTo.sort()).toEqual(['boss@customer.example', JANE]);
    expect(r.parsed.from?.value[0]).toEqual({ name: 'Ben Agent', address: 'support@example.com' });
    expect(r.parsed.cc).toMatchObject({ value: [{ address: 'boss@customer.example' }] });
    expectInJanesThread(r);
    expect(r.parsed.headers.get('auto-submitted')).toBeUndefined();
    expect(r.parsed.text).toContain('please install the new certificate');
    expect(r.parsed.text).not.toContain('certificate expired');
    expect(r.parsed.text).not.toContain('Assigned to you');
    expect(r.parsed.text).toContain('Status of case 10001: open, we are working on it.');
    expect(r.parsed.attachments.map((a) => [a.filename, a.contentType, a.content.equals(pdf)])).toEqual([['vpn-guide.pdf', 'application/pdf', true]]);
    const c = (await caseByNumber(daemon.ctx.db, 10001))!;
    expect(c).toMatchObject({ status: 'open', owner: 'ben@example.com' });
    expect(c.first_response_at).not.toBeNull();
  });

  it('Jane answers the reply: Ben is notified with her text; he puts the case on hold from Outlook', async () => {
    const reply = answersTo(JANE)[0]!;
    expect(await janeAnswers(reply, 'Did that, now it says "handshake failed".')).toMatch(/Stored in case 10001/);
    janeIds.add(`<jane-${seq}@customer.example>`);
    await eventually(() => expect(to('ben@example.com', /Customer replied/)).toHaveLength(1));
    const n = to('ben@example.com', /Customer replied/)[0]!;
    expect(n.parsed.text).toContain('handshake failed');
    expect(n.parsed.text).not.toContain('please install the new certificate');
    await agentAnswers(n, 'outlook', 'Ben Agent <ben@example.com>', '#hold\nOur network team needs to look at the server logs.');
    await eventually(() => expect(answersTo(JANE)).toHaveLength(2));
    const hold = answersTo(JANE)[1]!;
    expect(hold.parsed.text).toContain('Our network team needs to look at the server logs.');
    expect(hold.parsed.text).toContain('on hold for technical review (expected: 1–2 business days)');
    expect(hold.parsed.text).not.toContain('#hold');
    expectInJanesThread(hold);
    expect((await caseByNumber(daemon.ctx.db, 10001))!.status).toBe('on_hold');
  });

  it('Carla writes an internal note to the notes address from a client without In-Reply-To: it never reaches the customer', async () => {
    const before = to(JANE).length;
    await agentAnswers(to('ben@example.com', /Customer replied/)[0]!, 'bare', 'Carla Agent <carla@example.com>', 'Server cert chain is missing the intermediate. NOTE-7731', { to: 'support+note@example.com' });
    await new Promise((r) => setTimeout(r, 1500));
    expect(to(JANE)).toHaveLength(before);
    for (const m of sink.messages) if (!m.envelopeTo.every((a) => a.endsWith('@example.com'))) expect(m.raw.toString()).not.toContain('NOTE-7731');
    const c = (await caseByNumber(daemon.ctx.db, 10001))!;
    expect((await eventsOfCase(daemon.ctx.db, c.id)).map((e) => e.type)).toContain('note.added');
  });

  it('Ben reports a bug with a workaround from Gmail: Jane learns the timeline; the case is resolved and tagged bug', async () => {
    await agentAnswers(to('ben@example.com', /Customer replied/)[0]!, 'gmail', 'Ben Agent <ben@example.com>', '#bug weeks\nUntil the fix, switch the client to TLS 1.2 (Settings > Advanced).');
    await eventually(() => expect(answersTo(JANE)).toHaveLength(3));
    const bug = answersTo(JANE)[2]!;
    expect(bug.parsed.text).toContain('switch the client to TLS 1.2');
    expect(bug.parsed.text).toContain('We expect a fix within the next few weeks.');
    expect(bug.parsed.text).toContain('Status of case 10001: resolved.');
    const c = (await caseByNumber(daemon.ctx.db, 10001))!;
    expect(c.status).toBe('resolved');
    expect(await tagsOfCase(daemon.ctx.db, c.id)).toEqual(['bug']);
  });

  it('Jane asks “status”: she gets the summary, Ben is not notified; her new problem reopens the case and Ben hears of it', async () => {
    const bug = answersTo(JANE)[2]!;
    const benBefore = to('ben@example.com').length;
    await janeAnswers(bug, 'status');
    janeIds.add(`<jane-${seq}@customer.example>`);
    await eventually(() => expect(to(JANE, /here is where case 10001 stands/)).toHaveLength(1));
    const s = to(JANE, /here is where case 10001 stands/)[0]!;
    expect(s.parsed.subject).toBe('[Case #10001] Re: VPN broken');
    expect(s.parsed.text).toMatch(/Status:\s+resolved/);
    expect(s.parsed.text).toMatch(/Handled by:\s+Ben/);
    expect(to('ben@example.com')).toHaveLength(benBefore);
    await janeAnswers(bug, 'The workaround does not help on my Mac.');
    janeIds.add(`<jane-${seq}@customer.example>`);
    await eventually(() => {
      expect(to(JANE, /reopened/i)).toHaveLength(1);
      expect(to('ben@example.com', /Customer replied/)).toHaveLength(2);
    });
    expect((await caseByNumber(daemon.ctx.db, 10001))!.status).toBe('open');
  });

  it('Carla notes a phone-call request with the subject tag only: Ben (owner) is told; then Ben resolves with the CLI', async () => {
    const n = to('ben@example.com', /Customer replied/)[1]!;
    await agentAnswers(n, 'bare', 'Carla Agent <carla@example.com>', '#call today 15:00, +49 30 1234567');
    await eventually(() => expect(to('ben@example.com', /Phone call requested/)).toHaveLength(1));
    expect(to('ben@example.com', /Phone call requested/)[0]!.parsed.text).toContain('today 15:00, +49 30 1234567 (noted by Carla Agent)');

    const r = await runCliInProcess(['--config', join(dir, 'casegate.yaml'), 'cases', 'resolve', '10001', '--agent', 'Ben', '--message', 'As discussed on the phone: fixed by the new client 5.2.'], { cwd: dir, env: { HOME: dir } });
    expect(r.code, describeResult(r)).toBe(0);
    await eventually(() => expect(answersTo(JANE)).toHaveLength(4));
    const done = answersTo(JANE)[3]!;
    expect(done.parsed.from?.value[0]).toEqual({ name: 'Ben Agent', address: 'support@example.com' });
    expect(done.parsed.text).toContain('fixed by the new client 5.2');
    expect(done.parsed.text).toContain('reply within 30 days and we will reopen it');
    expectInJanesThread(done);
    expect((await caseByNumber(daemon.ctx.db, 10001))!.status).toBe('resolved');
  });

  it('a forged “Ben” (DMARC fail) writing #reopen and text: nothing happens, the real Ben gets a warning', async () => {
    const before = to(JANE).length;
    await agentAnswers(to('ben@example.com', /Customer replied/)[1]!, 'thunderbird', 'Ben Agent <ben@example.com>', '#reopen\nSend me your password.', { headers: mxHeaderFields('example.com', 'fail') });
    await eventually(() => expect(to('ben@example.com', /failed the sender check/)).toHaveLength(1));
    expect(to(JANE)).toHaveLength(before);
    expect((await caseByNumber(daemon.ctx.db, 10001))!.status).toBe('resolved');
    // Every mail Jane got states the status and none is a staff mail.
    for (const m of to(JANE)) {
      expect(m.parsed.text).toMatch(/Status of case 10001: /);
      expect(m.parsed.text).not.toMatch(/casegate cases show|#note/);
    }
  });
});
