import { afterEach, describe, expect, it } from 'vitest';
import { caseByNumber, participants } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { eml, mxHeaders, testEnv, type TestEnv } from '../helpers/context.js';

/**
 * An agent forwards someone's mail into a case ("Fwd: [Case #N] …", proven by our MX): the
 * forwarded mail is kept as text (new information), but it is someone else's words — its lines
 * are never the agent's commands. Found by hostile2: a customer's "#cc mallory@…" line in the mail
 * the agent forwarded copied Mallory in as the agent (every later reply and a case link), and
 * "#priority low" lowered the case. Whole pipeline on a real database (SQLite or PostgreSQL).
 */

let env: TestEnv;
afterEach(async () => {
  await env?.close();
});

const QUEUES = { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } };
const CUSTOMER_TEXT = ['Hi Ben, the printer is still broken.', '', '#cc mallory@evil.example', '#priority low', '#close', '', 'Jane'];


/** Ben forwards Jane's mail to him as an attachment (message/rfc822): his text above it, and (Apple Mail) below it. */
function attachedForward(messageId: string, above: readonly string[], below: readonly string[] = []): string {
  const part = (lines: readonly string[]): string[] => ['--b1', 'Content-Type: text/plain; charset=utf-8', '', ...lines];
  return [
    ...mxHeaders('example.com', 'pass'),
    'From: Ben Agent <ben@example.com>',
    'To: support@example.com',
    'Subject: Fwd: [Case #10001] Printer on fire',
    `Message-ID: <${messageId}>`,
    'Date: Mon, 02 Mar 2026 09:05:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    ...part(above),
    '--b1',
    'Content-Type: message/rfc822',
    'Content-Disposition: attachment; filename="printer.eml"',
    '',
    'From: Jane Customer <jane@customer.example>',
    'To: Ben Agent <ben@example.com>',
    'Subject: printer',
    'Message-ID: <jane-direct@customer.example>',
    'Date: Mon, 02 Mar 2026 08:00:00 +0000',
    '',
    ...CUSTOMER_TEXT,
    ...(below.length > 0 ? part(below) : []),
    '--b1--',
    '',
  ].join('\r\n');
}
async function caseState() {
  const c = (await caseByNumber(env.ctx.db, 10001))!;
  return { status: c.status, priority: c.priority, people: (await participants(env.ctx.db, c.id)).map((p) => p.address), events: (await eventsOfCase(env.ctx.db, c.id)).filter((e) => e.type !== 'command.rejected').map((e) => `${e.type}: ${e.reason}`) };
}

describe('commands in mail an agent forwards into a case', () => {
  it('an inline forward: only the agent’s own lines above it are commands; the forwarded text reaches the case as text', async () => {
    env = await testEnv({ queues: QUEUES });
    await env.ingest(eml({ body: 'My printer is broken.' }));
    const forward = (text: readonly string[]) => ['---------- Forwarded message ---------', 'From: Jane Customer <jane@customer.example>', 'Date: Mon, 2 Mar 2026 at 08:00', 'Subject: printer', 'To: Ben Agent <ben@example.com>', '', ...text];
    const body = ['#priority high', 'FYI, Jane wrote to me directly.', '', ...forward(['Hi Ben, the printer is still broken.', '', 'Jane'])].join('\n');
    const out = await env.ingest(eml({ from: 'Ben Agent <ben@example.com>', subject: 'Fwd: [Case #10001] Printer on fire', body }));
    expect(out).toMatchObject({ kind: 'stored', caseNumber: 10001, reason: 'agent mail (subject-tag)' });
    expect((await caseState()).priority).toBe('high');
    // The forward went on as the agent's text (a reply: no #note).
    const reply = await env.ctx.db.selectFrom('outbox').select(['text', 'to_address', 'cc_json']).where('kind', '=', 'agent-reply').executeTakeFirstOrThrow();
    expect(reply.to_address).toBe('jane@customer.example');
    expect(reply.text).toContain('FYI, Jane wrote to me directly.');
    expect(reply.text).toContain('the printer is still broken');
    expect(reply.text).not.toContain('#priority high');
    // The customer's "#cc mallory@…", "#priority low", "#close" lines in a forwarded mail: never run —
    // and not relayed either (an agent's own line there would reach the customer as text): the
    // mail changes nothing, sends nothing, and Ben is told which lines and why.
    await env.ingest(eml({ from: 'Ben Agent <ben@example.com>', subject: 'Fwd: [Case #10001] Printer on fire', messageId: 'fwd-2@example.com', body: ['#priority urgent', 'FYI, Jane wrote again.', '', ...forward(CUSTOMER_TEXT)].join('\n') }));
    const s = await caseState();
    expect(s.priority).toBe('high');
    expect(s.status).toBe('open');
    expect(s.people).not.toContain('mallory@evil.example');
    expect(s.events.filter((e) => /mallory|→ low|→ urgent|closed/.test(e))).toEqual([]);
    expect(await env.ctx.db.selectFrom('outbox').select('id').where('kind', '=', 'agent-reply').execute()).toHaveLength(1);
    const told = await env.ctx.db.selectFrom('outbox').select(['text', 'to_address']).where('kind', '=', 'command-error').execute();
    expect(told.map((t) => t.to_address)).toEqual(['ben@example.com']);
    for (const line of ['#cc mallory@evil.example', '#priority low', '#close']) expect(told[0]!.text).toContain(`- ${line}: this line is below the forwarded message`);
  });

  it('a command typed below an inline forward is not run and never reaches the customer as text; below a message attached as a forward it is the agent’s', async () => {
    env = await testEnv({ queues: QUEUES });
    await env.ingest(eml({ body: 'My printer is broken.' }));
    const body = ['FYI, Jane wrote to me directly.', '', '---------- Forwarded message ---------', 'From: Jane Customer <jane@customer.example>', 'Date: Mon, 2 Mar 2026 at 08:00', 'Subject: printer', 'To: Ben Agent <ben@example.com>', '', 'Hi Ben, still broken.', 'Jane', '', '#escalate 2 she threatens to sue, legal please look', '#saved need-logs', '#reslove'].join('\n');
    await env.ingest(eml({ from: 'Ben Agent <ben@example.com>', subject: 'Fwd: [Case #10001] Printer on fire', body }));
    const s = await caseState();
    expect(s.events.filter((e) => /escalat|resolved/.test(e))).toEqual([]);
    expect(await env.ctx.db.selectFrom('outbox').select('text').where('to_address', '=', 'jane@customer.example').where('kind', '!=', 'confirmation').execute()).toEqual([]);
    const told = await env.ctx.db.selectFrom('outbox').select(['text', 'to_address']).where('kind', '=', 'command-error').execute();
    expect(told.map((t) => t.to_address)).toEqual(['ben@example.com']);
    for (const line of ['#escalate 2 she threatens to sue, legal please look', '#saved need-logs', '#reslove']) expect(told[0]!.text).toContain(`- ${line}: this line is below the forwarded message`);
    // Typed below an attached message (Apple Mail: a text part after the attachment) it is the
    // agent's own text: run; the attached message's own "#cc" line is text nobody typed.
    const attached = attachedForward('fwd-below-attached@example.com', ['Jane wrote to me directly, attached.'], ['#priority high']);
    await env.ingest(attached);
    const after = await caseState();
    expect(after.priority).toBe('high');
    expect(after.people).not.toContain('mallory@evil.example');
    expect(after.events.filter((e) => /mallory|→ low|→ closed/.test(e))).toEqual([]);
    const reply = await env.ctx.db.selectFrom('outbox').select('text').where('kind', '=', 'agent-reply').executeTakeFirstOrThrow();
    expect(reply.text).toContain('Jane wrote to me directly, attached.');
    expect(reply.text).not.toContain('#priority high');
  });

  it('a forward with nothing added, and a mail attached as a forward: nothing in them is a command', async () => {
    env = await testEnv({ queues: QUEUES });
    await env.ingest(eml({ body: 'My printer is broken.' }));
    // Outlook forwards with its header block and nothing above it.
    const outlook = ['From: Jane Customer <jane@customer.example>', 'Sent: Monday, March 2, 2026 8:00 AM', 'To: Ben Agent <ben@example.com>', 'Subject: printer', '', ...CUSTOMER_TEXT].join('\n');
    await env.ingest(eml({ from: 'Ben Agent <ben@example.com>', subject: 'FW: [Case #10001] Printer on fire', body: `#note\n${outlook}` }));
    await env.ingest(eml({ from: 'Ben Agent <ben@example.com>', subject: 'FW: [Case #10001] Printer on fire', body: outlook }));
    // Forwarded as an attachment (message/rfc822) below the agent's note.
    const attached = attachedForward('fwd-attached@example.com', ['#note', 'Jane wrote to me directly, attached.']);
    await env.ingest(attached);
    const s = await caseState();
    expect(s.priority).toBe('normal');
    expect(s.status).not.toBe('closed');
    expect(s.people).not.toContain('mallory@evil.example');
    expect(s.events.filter((e) => /mallory|→ low|→ closed/.test(e))).toEqual([]);
  });
});
