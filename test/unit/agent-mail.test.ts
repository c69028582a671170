import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { personAddresses } from '../../src/cases/staff.js';
import { caseByNumber, listCases, participants } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { attachmentsOfMessages, messagesOfCase } from '../../src/db/repos/messages.js';
import { tagsOfCase } from '../../src/db/repos/tags.js';
import type { OutboxRow } from '../../src/db/schema.js';
import { eml, mxHeaderFields, testEnv, type TestEnv } from '../helpers/context.js';
import { clientReply, type ClientStyle, type Original } from '../helpers/mail-clients.js';

/**
 * Issue 10 through the whole pipeline on a fresh SQLite: agents answer, note and command cases by
 * email; what customers and agents get is read from the outbox (end to end over real SMTP and
 * IMAP: test/e2e/agent-day.test.ts, test/imap/agent-imap.test.ts).
 */

const CONFIG: ConfigInput = {
  mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
  queues: {
    support: {
      agents: [
        { name: 'Anna Lead', address: 'anna@example.com', role: 'lead' },
        { name: 'Ben Agent', address: 'ben@example.com' },
        { name: 'Carla Agent', address: 'carla@example.com' },
      ],
    },
    finance: { agents: [{ name: 'Fiona', address: 'fiona@example.com' }] },
  },
};

const JANE = 'Jane Customer <jane@customer.example>';
/** What our MX (testEnv trusts mx.example.com's Authentication-Results) writes on top of an agent's mail. */
const DMARC_PASS = mxHeaderFields('example.com', 'pass');
const DMARC_FAIL = mxHeaderFields('example.com', 'fail');

let env: TestEnv;
beforeEach(async () => {
  env = await testEnv(CONFIG);
});
afterEach(async () => {
  await env.close();
});

async function outbox(): Promise<OutboxRow[]> {
  return env.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute();
}
async function toAddress(address: string, kind?: string): Promise<OutboxRow[]> {
  return (await outbox()).filter((o) => (o.to_address === address || (JSON.parse(o.cc_json) as { address: string }[]).some((c) => c.address === address)) && (kind === undefined || o.kind === kind));
}
async function caseNo(n = 10001) {
  return (await caseByNumber(env.ctx.db, n))!;
}
async function eventTypes(n = 10001) {
  return (await eventsOfCase(env.ctx.db, (await caseNo(n)).id)).map((e) => e.type);
}
async function ingest(raw: string) {
  const out = await env.ingest(raw);
  if (out.kind !== 'stored') throw new Error(`expected stored, got ${out.kind}: ${out.reason}`);
  return out;
}

/** The customer's first mail (with a CC'd colleague); returns the notification Ben got. */
async function newCase(body = 'The VPN client says "certificate expired" since 9:00.'): Promise<Original> {
  await ingest(eml({ from: JANE, cc: 'Boss <boss@customer.example>', subject: 'VPN broken', messageId: 'jane-1@customer.example', body }));
  const n = (await toAddress('ben@example.com', 'agent-notification'))[0]!;
  return asOriginal(n);
}

function asOriginal(o: OutboxRow): Original {
  return { messageId: o.message_id, subject: o.subject, text: o.text, fromName: o.from_name, fromAddress: o.from_address, references: o.references_text?.match(/[^<>\s]+/g) ?? [] };
}

let seq = 0;
function agentReply(orig: Original, body: string, o: { style?: ClientStyle; from?: string; to?: string; cc?: string; headers?: Record<string, string>; attachments?: Parameters<typeof clientReply>[1]['attachments']; subject?: string; messageId?: string } = {}): string {
  return clientReply(orig, {
    style: o.style ?? 'thunderbird',
    from: o.from ?? 'Ben Agent <ben@example.com>',
    to: o.to ?? 'Example Support <support@example.com>',
    ...(o.cc !== undefined ? { cc: o.cc } : {}),
    body,
    messageId: o.messageId ?? `agent-${++seq}@example.com`,
    headers: { ...DMARC_PASS, ...o.headers },
    ...(o.attachments !== undefined ? { attachments: o.attachments } : {}),
    ...(o.subject !== undefined ? { subject: o.subject } : {}),
  });
}

describe('notifications that can be answered', () => {
  it('a new unowned case notifies the queue’s available agents with the customer’s text and the case facts', async () => {
    await newCase();
    const notes = await outbox();
    expect(notes.filter((o) => o.kind === 'agent-notification').map((o) => o.to_address)).toEqual(['anna@example.com', 'ben@example.com', 'carla@example.com']);
    const n = (await toAddress('ben@example.com'))[0]!;
    expect(n.subject).toBe('[Case #10001] New case: VPN broken');
    expect(n.text).toContain('certificate expired');
    expect(n.text).toContain('Answer:     reply to this email');
    // Answers go to From, the mailbox address (Reply-To only with plus addressing).
    expect(n.from_address).toBe('support@example.com');
    expect(n.reply_to).toBeNull();
    expect(JSON.parse(n.headers_json)).toMatchObject({ 'Auto-Submitted': 'auto-generated' });
    // Staff mail is internal: never part of the customer's view of the case.
    const out = (await messagesOfCase(env.ctx.db, (await caseNo()).id)).filter((m) => m.direction === 'out');
    expect(out.filter((m) => m.internal === 1).map((m) => JSON.parse(m.to_json)[0].address)).toEqual(['anna@example.com', 'ben@example.com', 'carla@example.com']);
  });
});

describe('threading of staff mail', () => {
  it('each agent’s mail about a case threads under the previous one they got (one conversation per case); answering the newest still works the case', async () => {
    const orig = await newCase();
    const first = (await toAddress('ben@example.com', 'agent-notification'))[0]!;
    expect(first.in_reply_to).toBeNull();
    await ingest(eml({ from: JANE, subject: 'Re: VPN broken', inReplyTo: 'jane-1@customer.example', references: '<jane-1@customer.example>', messageId: 'jane-2@customer.example', body: 'Still broken.' }));
    await ingest(eml({ from: JANE, subject: 'Re: VPN broken', inReplyTo: 'jane-2@customer.example', references: '<jane-1@customer.example> <jane-2@customer.example>', messageId: 'jane-3@customer.example', body: 'Any news?' }));
    const ben = await toAddress('ben@example.com', 'agent-notification');
    expect(ben).toHaveLength(3);
    expect(ben[1]!).toMatchObject({ in_reply_to: first.message_id, references_text: `<${first.message_id}>` });
    expect(ben[2]!).toMatchObject({ in_reply_to: ben[1]!.message_id, references_text: `<${first.message_id}> <${ben[1]!.message_id}>` });
    // Never under another agent's mail (signed for its recipient).
    const anna = await toAddress('anna@example.com', 'agent-notification');
    for (const a of anna) expect(`${a.in_reply_to ?? ''} ${a.references_text ?? ''}`).not.toContain(first.message_id);
    expect(anna[1]!.in_reply_to).toBe(anna[0]!.message_id);
    await ingest(agentReply(asOriginal(ben[2]!), 'We are on it.'));
    expect((await toAddress('jane@customer.example', 'agent-reply'))[0]!.text).toContain('We are on it.');
    expect(orig.messageId).toBe(first.message_id);
  });
});

describe('colleagues asked to answer', () => {
  it('when Ben answers, Anna and Carla (notified of the same message) get his answer, threaded under their notification; a reply to it works the case; an owner-only round tells nobody', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, 'Please reinstall the certificate from the portal.'));
    const told = await outbox().then((rows) => rows.filter((o) => o.kind === 'colleague-answered'));
    expect(told.map((o) => o.to_address)).toEqual(['anna@example.com', 'carla@example.com']);
    const carla = told[1]!;
    expect(carla.subject).toBe('[Case #10001] Answered by Ben Agent: VPN broken');
    expect(carla.text).toContain('Ben Agent answered the customer of case 10001 (owner: Ben Agent): the message you were sent about it needs no answer from you.');
    expect(carla.text).toContain('Please reinstall the certificate from the portal.');
    expect(carla.in_reply_to).toBe((await toAddress('carla@example.com', 'agent-notification'))[0]!.message_id);
    expect(JSON.parse(carla.headers_json)).toMatchObject({ 'Auto-Submitted': 'auto-generated' });
    expect(await eventTypes()).toContain('agents.told-answered');
    // Carla adds something by answering the colleague-answered email: it is staff mail signed for
    // her, so it works the case. Nobody was asked since Ben's answer: nobody is told.
    await ingest(agentReply(asOriginal(carla), 'PS: the portal is at https://portal.example.', { from: 'Carla Agent <carla@example.com>' }));
    const replies = await toAddress('jane@customer.example', 'agent-reply');
    expect(replies).toHaveLength(2);
    expect(replies[1]!.text).toContain('PS: the portal is at');
    expect((await outbox()).filter((o) => o.kind === 'colleague-answered')).toHaveLength(2);
    // The customer answers: only the owner (Ben) is notified, so his answer tells nobody.
    await ingest(eml({ from: JANE, subject: 'Re: VPN broken', inReplyTo: replies[1]!.message_id, messageId: 'jane-2@customer.example', body: 'Reinstalled, still expired.' }));
    const benNotes = await toAddress('ben@example.com', 'agent-notification');
    expect(benNotes).toHaveLength(2);
    expect((await outbox()).filter((o) => o.kind === 'agent-notification' && o.to_address !== 'ben@example.com')).toHaveLength(2);
    await ingest(agentReply(asOriginal(benNotes[1]!), 'Then it is on our side, I am looking.'));
    expect(await toAddress('jane@customer.example', 'agent-reply')).toHaveLength(3);
    expect((await outbox()).filter((o) => o.kind === 'colleague-answered')).toHaveLength(2);
  });

  it('reply collision: Carla answering the notification Ben already answered (within agentMail.collisionMinutes) is held and told; her reply to that email goes; after the window her reply goes', async () => {
    const orig = await newCase();
    const carlaNote = asOriginal((await toAddress('carla@example.com', 'agent-notification'))[0]!);
    await ingest(agentReply(orig, 'Please reinstall the certificate from the portal.'));
    env.clock.advance(10 * 60_000);
    await ingest(agentReply(carlaNote, '#pending\nCould you send a screenshot of the error?', { from: 'Carla Agent <carla@example.com>' }));
    expect(await toAddress('jane@customer.example', 'agent-reply')).toHaveLength(1);
    expect((await caseNo()).status).toBe('open'); // #pending not done
    const held = (await toAddress('carla@example.com', 'reply-collision'))[0]!;
    expect(held.subject).toBe('[Case #10001] Not sent, Ben Agent answered first: VPN broken');
    expect(held.text).toContain('Your reply to case 10001 was NOT sent: Ben Agent answered the customer on');
    expect(held.text).toContain('Please reinstall the certificate from the portal.');
    expect(held.text).toContain('Could you send a screenshot of the error?');
    expect(await eventTypes()).toContain('agent.reply-held');
    // Her answer to the reply-collision email (newer than Ben's answer) goes out.
    await ingest(agentReply(asOriginal(held), 'Could you send a screenshot of the error?', { from: 'Carla Agent <carla@example.com>' }));
    const replies = await toAddress('jane@customer.example', 'agent-reply');
    expect(replies).toHaveLength(2);
    expect(replies[1]!.text).toContain('Could you send a screenshot of the error?');
    // Anna answers her old notification 31 minutes after the last answer: seen by then, it goes.
    env.clock.advance(31 * 60_000);
    const annaNote = asOriginal((await toAddress('anna@example.com', 'agent-notification'))[0]!);
    await ingest(agentReply(annaNote, 'Adding: the portal needs the VPN off.', { from: 'Anna Lead <anna@example.com>' }));
    expect(await toAddress('jane@customer.example', 'agent-reply')).toHaveLength(3);
    expect(await toAddress('anna@example.com', 'reply-collision')).toEqual([]);
    // Carla answers from her own client with the customer in To (support in Cc) right after Anna:
    // her mail reached the customer already, so nothing is held.
    const repliedBefore = (await eventTypes()).filter((t) => t === 'agent.replied').length;
    await ingest(agentReply(carlaNote, 'Also: restart the client afterwards.', { from: 'Carla Agent <carla@example.com>', to: JANE, cc: 'Example Support <support@example.com>' }));
    expect(await toAddress('carla@example.com', 'reply-collision')).toHaveLength(1);
    expect((await eventTypes()).filter((t) => t === 'agent.replied')).toHaveLength(repliedBefore + 1);
    // A copy to someone who is not the case's customer (a vendor) is no answer that reached her: held.
    await ingest(agentReply(orig, 'Vendor, please check the certificate chain.', { cc: 'Vendor <vendor@partner.example>' }));
    expect(await toAddress('ben@example.com', 'reply-collision')).toHaveLength(1);
  });

  it('a note tells nobody; agentMail.tellColleaguesOnAnswer false: nobody is told', async () => {
    const first = await newCase();
    await ingest(agentReply(first, '#note\nchecking the certificate chain'));
    expect(await eventTypes()).toContain('note.added');
    expect((await outbox()).filter((o) => o.kind === 'colleague-answered')).toEqual([]);
    await env.close();
    env = await testEnv({ ...CONFIG, agentMail: { tellColleaguesOnAnswer: false } });
    const orig = await newCase();
    await ingest(agentReply(orig, 'Please reinstall the certificate from the portal.'));
    expect(await toAddress('jane@customer.example', 'agent-reply')).toHaveLength(1);
    expect((await outbox()).filter((o) => o.kind === 'colleague-answered')).toEqual([]);
  });
});

describe('an agent with two addresses (aliases)', () => {
  it('after a company rename: mail from the old address (proven by answering staff mail sent to the new one) is the agent’s; cases owned under the old address stay theirs', async () => {
    await env.close();
    const agents = CONFIG.queues!['support']!.agents!.map((a) => (a.address === 'ben@example.com' ? { ...a, address: 'ben@newco.example', aliases: ['ben@example.com'] } : a));
    env = await testEnv({ ...CONFIG, queues: { ...CONFIG.queues, support: { agents } } });
    await ingest(eml({ from: JANE, subject: 'VPN broken', messageId: 'jane-1@customer.example', body: 'It fails.' }));
    // Owned before the rename: recorded under the old address.
    await env.ctx.db.updateTable('cases').set({ owner: 'ben@example.com' }).where('number', '=', 10001).execute();
    await ingest(eml({ from: JANE, subject: 'Re: VPN broken', inReplyTo: 'jane-1@customer.example', messageId: 'jane-2@customer.example', body: 'Anyone there?' }));
    const told = (await outbox()).filter((o) => o.kind === 'agent-notification' && o.text.includes('Anyone there?'));
    expect(told.map((o) => o.to_address)).toEqual(['ben@newco.example']);
    // His phone still sends from the old address; no sender authentication (mode none): the reply to mail sent to his new one proves him.
    await ingest(agentReply(asOriginal(told[0]!), 'Hi Jane, please update the client.', { from: 'Ben Agent <ben@example.com>', headers: mxHeaderFields('example.com', 'none') }));
    expect((await toAddress('jane@customer.example', 'agent-reply'))[0]!.text).toContain('please update the client.');
    expect((await caseNo()).first_response_at).not.toBeNull();
    expect((await eventsOfCase(env.ctx.db, (await caseNo()).id)).find((e) => e.type === 'agent.replied')!.actor).toBe('agent:ben@newco.example');
    expect((await listCases(env.ctx.db, { owner: personAddresses(env.ctx.config, 'ben@newco.example') })).map((c) => c.number)).toEqual([10001]);
  });
});

describe('an agent marked away (available: false)', () => {
  it('owning cases: the customer’s mail reaches the team too, not only the empty desk; a whole team away: the leads', async () => {
    await env.close();
    const away = (who: string) => CONFIG.queues!['support']!.agents!.map((a) => (who.includes(a.address) ? { ...a, available: false } : a));
    env = await testEnv({ ...CONFIG, queues: { ...CONFIG.queues, support: { assignment: 'fixed', fixedOwner: 'Ben Agent', agents: away('ben@example.com') } } });
    await ingest(eml({ from: JANE, subject: 'VPN broken', messageId: 'jane-1@customer.example', body: 'It fails.' }));
    expect((await caseNo()).owner).toBe('ben@example.com');
    // Ben, on holiday, gets his assignment; the present colleagues hear of the new case.
    expect((await outbox()).filter((o) => o.kind === 'assignment' || o.kind === 'agent-notification').map((o) => `${o.kind} ${o.to_address}`)).toEqual([
      'assignment ben@example.com',
      'agent-notification anna@example.com',
      'agent-notification carla@example.com',
    ]);
    await ingest(eml({ from: JANE, subject: 'Re: VPN broken', inReplyTo: 'jane-1@customer.example', messageId: 'jane-2@customer.example', body: 'Anyone there?' }));
    const replied = (await outbox()).filter((o) => o.kind === 'agent-notification' && o.text.includes('Anyone there?'));
    expect(replied.map((o) => o.to_address)).toEqual(['ben@example.com', 'anna@example.com', 'carla@example.com']);
    // Carla answers; Ben (still the owner) and Anna learn it.
    await ingest(agentReply(asOriginal(replied[2]!), 'Ben is away, I am looking into it.', { from: 'Carla Agent <carla@example.com>' }));
    expect((await toAddress('jane@customer.example', 'agent-reply'))[0]!.text).toContain('I am looking into it.');
    expect((await outbox()).filter((o) => o.kind === 'colleague-answered').map((o) => o.to_address)).toEqual(['ben@example.com', 'anna@example.com']);

    // The whole team away (December): a new case reaches the lead (tier 1), not nobody.
    await env.close();
    env = await testEnv({ ...CONFIG, queues: { ...CONFIG.queues, support: { agents: away('anna@example.com ben@example.com carla@example.com') } } });
    await ingest(eml({ from: JANE, subject: 'VPN broken', messageId: 'jane-1@customer.example', body: 'It fails.' }));
    expect((await outbox()).filter((o) => o.kind === 'agent-notification').map((o) => o.to_address)).toEqual(['anna@example.com']);
  });
});

describe('agent replies by email', () => {
  it.each<ClientStyle>(['thunderbird', 'outlook', 'gmail'])('%s: relayed to the customer and CC (new text only, attachment, agent’s name, customer’s thread, human mail); first response recorded', async (style) => {
    const orig = await newCase();
    const pdf = Buffer.from('%PDF-1.4 fake guide\n');
    await ingest(agentReply(orig, 'Hi Jane,\n\nplease install the new certificate from the attached guide.', { style, attachments: [{ filename: 'vpn-guide.pdf', contentType: 'application/pdf', content: pdf }] }));
    const replies = await toAddress('jane@customer.example', 'agent-reply');
    expect(replies).toHaveLength(1);
    const r = replies[0]!;
    expect(r).toMatchObject({ to_address: 'jane@customer.example', from_address: 'support@example.com', from_name: 'Ben Agent', in_reply_to: 'jane-1@customer.example', subject: '[Case #10001] Re: VPN broken' });
    expect(JSON.parse(r.cc_json)).toEqual([{ address: 'boss@customer.example', name: 'Boss' }]);
    expect(r.references_text).toContain('<jane-1@customer.example>');
    expect(JSON.parse(r.headers_json)).not.toHaveProperty('Auto-Submitted');
    expect(r.text).toContain('please install the new certificate');
    expect(r.text).toContain('Ben Agent');
    // Ben's own "Hi Jane," is the only greeting.
    expect(r.text).not.toContain('Hello Jane Customer');
    expect(r.text.match(/Hi Jane,/g)).toHaveLength(1);
    // Our notification (and the customer's text quoted in it) is not relayed.
    expect(r.text).not.toContain('certificate expired');
    expect(r.text).not.toContain('New case');
    expect(r.text).not.toContain('casegate cases show');
    expect(r.text).toContain('Status of case 10001: open, we are working on it.');
    // The attachment travels with the reply (the stored blob).
    const msgs = await messagesOfCase(env.ctx.db, (await caseNo()).id);
    const outMsg = msgs.find((m) => m.outbox_id === r.id)!;
    const atts = await attachmentsOfMessages(env.ctx.db, [outMsg.id]);
    expect(atts.map((a) => [a.filename, a.content_type, a.size])).toEqual([['vpn-guide.pdf', 'application/pdf', pdf.length]]);
    expect(outMsg).toMatchObject({ internal: 0, author: 'ben@example.com' });
    // The agent's own mail is stored, staff-only.
    const agentMsg = msgs.find((m) => m.from_address === 'ben@example.com')!;
    expect(agentMsg).toMatchObject({ direction: 'in', internal: 1, author: 'ben@example.com', thread_rule: 'signed-reference' });
    const c = await caseNo();
    expect(c).toMatchObject({ status: 'open', first_response_at: env.clock.now().toISOString(), owner: 'ben@example.com' });
    expect(await eventTypes()).toEqual(expect.arrayContaining(['message.agent', 'agent.replied', 'case.first-response', 'case.assigned']));
    // Taking the unowned case by answering it sends the agent no assignment mail.
    expect(await toAddress('ben@example.com', 'assignment')).toHaveLength(0);
    expect((await participants(env.ctx.db, c.id)).find((p) => p.address === 'ben@example.com')?.role).toBe('agent');
  });

  it('Apple Mail marks attachments inline (a PDF between text parts, a photo): they reach the customer; an HTML signature logo shown by cid stays behind', async () => {
    const orig = await newCase();
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const head = (id: string, extra: string[] = []) => [...Object.entries(DMARC_PASS).map(([k, v]) => `${k}: ${v}`), 'From: Ben Agent <ben@example.com>', 'To: support@example.com', `Subject: Re: ${orig.subject}`, `Message-Id: <${id}>`, `In-Reply-To: <${orig.messageId}>`, `References: <${orig.messageId}>`, 'Date: Mon, 2 Mar 2026 10:15:00 +0100', ...extra];
    const apple = [
      ...head('apple-1@example.com', ['Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.600.62\\))', 'X-Mailer: Apple Mail (2.3774.600.62)', 'Content-Type: multipart/mixed; boundary="Apple-Mail=_1"']),
      '', '--Apple-Mail=_1', 'Content-Type: text/plain; charset=us-ascii', '', 'Hi Jane, the guide and a photo of the setting:', '',
      '--Apple-Mail=_1', 'Content-Disposition: inline; filename=vpn-guide.pdf', 'Content-Type: application/pdf; x-unix-mode=0644; name="vpn-guide.pdf"', 'Content-Transfer-Encoding: base64', '', b64('%PDF-1.4 guide'), '',
      '--Apple-Mail=_1', 'Content-Disposition: inline; filename=setting.jpg', 'Content-Type: image/jpeg; x-unix-mode=0644; name="setting.jpg"', 'Content-Transfer-Encoding: base64', '', b64('JPEG photo'), '',
      '--Apple-Mail=_1', 'Content-Type: text/plain; charset=us-ascii', '', '', 'Regards, Ben', '', '> On 2 Mar 2026, at 10:00, Example Support <support@example.com> wrote:', ...orig.text.split('\n').map((l) => `> ${l}`), '',
      '--Apple-Mail=_1--', '',
    ].join('\r\n');
    await ingest(apple);
    const attachedTo = async (r: OutboxRow) => {
      const out = (await messagesOfCase(env.ctx.db, (await caseNo()).id)).find((m) => m.outbox_id === r.id)!;
      return (await attachmentsOfMessages(env.ctx.db, [out.id])).map((a) => a.filename);
    };
    const first = (await toAddress('jane@customer.example', 'agent-reply'))[0]!;
    expect(first.text).toContain('the guide and a photo');
    expect(await attachedTo(first)).toEqual(['vpn-guide.pdf', 'setting.jpg']);
    const outlook = [
      ...head('outlook-1@example.com', ['MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="mix"']),
      '', '--mix', 'Content-Type: multipart/related; boundary="rel"', '',
      '--rel', 'Content-Type: text/html; charset=utf-8', '', '<html><body><p>Here is the log viewer.</p><p>Ben<br><img src="cid:image001.png@01DA6C1E.5F3C2B70" alt="Example logo"></p></body></html>', '',
      '--rel', 'Content-Type: image/png; name="image001.png"', 'Content-Description: image001.png', 'Content-Disposition: inline; filename="image001.png"', 'Content-ID: <image001.png@01DA6C1E.5F3C2B70>', 'Content-Transfer-Encoding: base64', '', b64('PNG logo'), '',
      '--rel--', '',
      '--mix', 'Content-Type: application/zip; name="viewer.zip"', 'Content-Disposition: attachment; filename="viewer.zip"', 'Content-Transfer-Encoding: base64', '', b64('PK zip'), '',
      '--mix--', '',
    ].join('\r\n');
    await ingest(outlook);
    const second = (await toAddress('jane@customer.example', 'agent-reply'))[1]!;
    expect(second.text).toContain('Here is the log viewer.');
    expect(await attachedTo(second)).toEqual(['viewer.zip']);
  });

  it('an S/MIME-signed reply reaches the customer without the signature part (smime.p7s is the client’s, not a file)', async () => {
    const orig = await newCase();
    const raw = [
      ...Object.entries(DMARC_PASS).map(([k, v]) => `${k}: ${v}`),
      'From: Ben Agent <ben@example.com>', 'To: support@example.com', `Subject: RE: ${orig.subject}`, 'Message-ID: <smime-1@example.com>', `In-Reply-To: <${orig.messageId}>`, 'Date: Mon, 2 Mar 2026 10:15:00 +0100', 'MIME-Version: 1.0',
      'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="sig"', '',
      '--sig', 'Content-Type: text/plain; charset=utf-8', '', 'Please restart the client.', '',
      '--sig', 'Content-Type: application/pkcs7-signature; name="smime.p7s"', 'Content-Disposition: attachment; filename="smime.p7s"', 'Content-Transfer-Encoding: base64', '', Buffer.from('fake cms signature').toString('base64'), '',
      '--sig--', '',
    ].join('\r\n');
    await ingest(raw);
    const r = (await toAddress('jane@customer.example', 'agent-reply'))[0]!;
    expect(r.text).toContain('Please restart the client.');
    const out = (await messagesOfCase(env.ctx.db, (await caseNo()).id)).find((m) => m.outbox_id === r.id)!;
    expect(await attachmentsOfMessages(env.ctx.db, [out.id])).toEqual([]);
  });

  it('files without any text or command (a phone’s share sheet) are not dropped unseen: the agent is told, nothing is sent', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, '', { attachments: [{ filename: 'vpn-guide.pdf', contentType: 'application/pdf', content: Buffer.from('%PDF-1.4 guide') }] }));
    expect(await toAddress('jane@customer.example', 'agent-reply')).toHaveLength(0);
    const err = (await toAddress('ben@example.com', 'command-error'))[0]!;
    expect(err.text).toContain('(vpn-guide.pdf): attachments need a text for the customer');
    expect(await caseNo()).toMatchObject({ status: 'new', first_response_at: null });
  });

  it('a client that drops In-Reply-To but keeps the subject tag still works; a second reply is no new first response', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, 'First answer.'));
    const first = (await caseNo()).first_response_at;
    env.clock.advance(60_000);
    await ingest(agentReply(orig, 'Second answer from my phone.', { style: 'bare', from: 'Carla Agent <carla@example.com>' }));
    const replies = await toAddress('jane@customer.example', 'agent-reply');
    expect(replies.map((r) => r.from_name)).toEqual(['Ben Agent', 'Carla Agent']);
    expect(replies[1]!.text).toContain('Second answer from my phone.');
    // Without a greeting of their own the template greets, and signs with the agent's name.
    expect(replies[1]!.text).toMatch(/Hello Jane Customer,\s+Second answer from my phone\.[\s\S]*Kind regards,\s+Carla Agent\s+The Example Support team/);
    expect(replies[1]!.in_reply_to).toBe('jane-1@customer.example');
    expect((await caseNo()).first_response_at).toBe(first);
    const carla = (await messagesOfCase(env.ctx.db, (await caseNo()).id)).find((m) => m.from_address === 'carla@example.com')!;
    // Staff of the case's queue may use the tag (h9a): it places the mail in the case itself.
    expect(carla.thread_rule).toBe('subject-tag');
    expect((await eventTypes()).filter((t) => t === 'case.first-response')).toHaveLength(1);
  });

  it('the customer’s answer to the relayed reply reaches the owner, threaded under their own mail', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, 'Did the guide help?'));
    const reply = (await toAddress('jane@customer.example', 'agent-reply'))[0]!;
    await ingest(eml({ from: JANE, subject: `Re: ${reply.subject}`, inReplyTo: reply.message_id, references: `<jane-1@customer.example> <${reply.message_id}>`, messageId: 'jane-2@customer.example', body: 'Yes, works now!' }));
    const n = await toAddress('ben@example.com', 'agent-notification');
    expect(n.at(-1)!.subject).toBe('[Case #10001] Customer replied: VPN broken');
    expect(n.at(-1)!.text).toContain('Yes, works now!');
    // Only the owner now.
    expect((await toAddress('anna@example.com', 'agent-notification')).length).toBe(1);
  });
});

describe('an agent who answers the customer from their own mail client (reply-all, support in Cc)', () => {
  it('is the case’s reply (first response, case page) but not sent a second time to whom their mail reached; a reader it did not reach gets it; the customer’s answer to it threads, a stranger’s does not', async () => {
    // Jane writes to support with her contact Ben (an agent) and her boss in Cc.
    await ingest(eml({ from: JANE, to: 'support@example.com', cc: 'Boss <boss@customer.example>, Ben Agent <ben@example.com>', subject: 'VPN broken', messageId: 'jane-1@customer.example', body: 'The VPN says "certificate expired".' }));
    const orig = asOriginal((await toAddress('ben@example.com', 'agent-notification'))[0]!);
    await ingest(agentReply(orig, '#cc ann@customer.example'));
    // Ben answers all from his client: To Jane, Cc support and the boss (not Ann).
    const direct = (body: string, messageId: string) =>
      eml({ from: 'Ben Agent <ben@example.com>', to: JANE, cc: 'Example Support <support@example.com>, Boss <boss@customer.example>', subject: 'Re: VPN broken', inReplyTo: 'jane-1@customer.example', references: '<jane-1@customer.example>', messageId, body, headers: DMARC_PASS });
    await ingest(direct('Hi Jane,\n\nplease renew the certificate.', 'ben-direct-1@example.com'));
    const replies = await toAddress('jane@customer.example', 'agent-reply');
    expect(replies).toHaveLength(1);
    // One email of the case (its To/Cc as the thread shows it), sent only to Ann.
    expect(replies[0]).toMatchObject({ to_address: 'jane@customer.example', status: 'queued', pending_rcpt_json: JSON.stringify(['ann@customer.example']) });
    expect(JSON.parse(replies[0]!.cc_json).map((r: { address: string }) => r.address)).toEqual(['boss@customer.example', 'ann@customer.example']);
    const c = await caseNo();
    expect(c.first_response_at).not.toBeNull();
    const replied = (await eventsOfCase(env.ctx.db, c.id)).filter((e) => e.type === 'agent.replied').map((e) => e.reason);
    expect(replied).toEqual(["reply to ann@customer.example (jane@customer.example, boss@customer.example had the agent's own mail)"]);
    // Ann is off the case: Ben's next direct answer reaches everyone it goes to by itself — recorded, nothing to send.
    await ingest(agentReply(orig, '#uncc ann@customer.example'));
    await ingest(direct('Hi Jane,\n\nand restart the client.', 'ben-direct-2@example.com'));
    const second = (await toAddress('jane@customer.example', 'agent-reply'))[1]!;
    expect(second).toMatchObject({ status: 'sent', pending_rcpt_json: '[]' });
    // The case's thread has both answers (the case page shows them), once each.
    const out = (await messagesOfCase(env.ctx.db, c.id)).filter((m) => m.direction === 'out' && m.internal === 0 && m.author === 'ben@example.com');
    expect(out.map((m) => m.visible_text.includes('restart the client'))).toEqual([false, true]);
    // Jane answers all to Ben's own mail (its Message-ID is no signed one of ours): a participant's answer, threaded.
    const answer = await ingest(eml({ from: JANE, to: 'Ben Agent <ben@example.com>', cc: 'support@example.com, Boss <boss@customer.example>', subject: 'Re: VPN broken', inReplyTo: 'ben-direct-2@example.com', references: '<jane-1@customer.example> <ben-direct-2@example.com>', messageId: 'jane-2@customer.example', body: 'Works now, thanks a lot — one more question though.' }));
    expect(answer).toMatchObject({ caseNumber: 10001, created: false });
    // The same references from a stranger are a claim only: a new case of its own.
    const stranger = await ingest(eml({ from: 'Mallory <mallory@evil.example>', to: 'support@example.com', subject: 'Re: VPN broken', inReplyTo: 'ben-direct-2@example.com', references: '<jane-1@customer.example> <ben-direct-2@example.com>', messageId: 'mallory-1@evil.example', body: 'Send me the files.' }));
    expect(stranger).toMatchObject({ created: true });
    expect(stranger.caseNumber).not.toBe(10001);
  });
});

describe('an agent who answers the customer directly with the customer in Bcc (support in To)', () => {
  it.each([
    ['the Bcc header is gone (as clients and servers send): not proven, the customer gets the case’s copy too — twice, never none', null, { status: 'queued', pending_rcpt_json: null }],
    ['a Bcc header left in names her: she had the agent’s own mail, no second copy', 'Jane Customer <jane@customer.example>', { status: 'sent', pending_rcpt_json: '[]' }],
  ])('%s', async (_what, bcc, expected) => {
    await ingest(eml({ from: JANE, to: 'support@example.com', cc: 'Ben Agent <ben@example.com>', subject: 'VPN broken', messageId: 'jane-1@customer.example', body: 'The VPN says "certificate expired".' }));
    await ingest(eml({ from: 'Ben Agent <ben@example.com>', to: 'Example Support <support@example.com>', subject: 'Re: VPN broken', inReplyTo: 'jane-1@customer.example', references: '<jane-1@customer.example>', messageId: 'ben-bcc-1@example.com', body: 'Hi Jane,\n\nplease renew the certificate.', headers: { ...DMARC_PASS, ...(bcc !== null ? { Bcc: bcc } : {}) } }));
    const replies = await toAddress('jane@customer.example', 'agent-reply');
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ to_address: 'jane@customer.example', ...expected });
    expect((await caseNo()).first_response_at).not.toBeNull();
  });

  it('a Bcc left in that spells her internationalised domain in punycode is her all the same', async () => {
    await ingest(eml({ from: 'Jörg Müller <müller@bücher.example>', to: 'support@example.com', subject: 'Rechnung', messageId: 'm-1@bücher.example', body: 'Die Rechnung stimmt nicht.' }));
    await ingest(eml({ from: 'Ben Agent <ben@example.com>', to: 'Example Support <support@example.com>', subject: 'Re: Rechnung', inReplyTo: 'm-1@bücher.example', references: '<m-1@bücher.example>', messageId: 'ben-bcc-2@example.com', body: 'Hallo Herr Müller,\n\nkorrigiert.', headers: { ...DMARC_PASS, Bcc: 'müller@xn--bcher-kva.example' } }));
    expect(await toAddress('müller@bücher.example', 'agent-reply')).toMatchObject([{ status: 'sent', pending_rcpt_json: '[]' }]);
  });
});

describe('a colleague (staff of another queue) asks this queue for help', () => {
  it('is the case’s customer: the agent’s answer goes to them (no “your reply cannot be sent”); staff they copy in get none', async () => {
    await ingest(eml({ from: 'Fiona <fiona@example.com>', to: 'support@example.com', cc: 'Carla Agent <carla@example.com>', subject: 'Laptop broken', messageId: 'fiona-1@example.com', body: 'My laptop does not boot.', headers: DMARC_PASS }));
    const orig = asOriginal((await toAddress('ben@example.com', 'agent-notification'))[0]!);
    await ingest(agentReply(orig, '#pending\nPlease bring it to room 3.'));
    expect(await toAddress('ben@example.com', 'command-error')).toEqual([]);
    const replies = await toAddress('fiona@example.com', 'agent-reply');
    expect(replies.map((r) => [r.to_address, r.cc_json])).toEqual([['fiona@example.com', '[]']]);
    expect(replies[0]!.text).toContain('Please bring it to room 3.');
    expect(await toAddress('carla@example.com', 'agent-reply')).toEqual([]);
  });
});

describe('internal notes', () => {
  it.each([
    ['#note on the first line', 'support@example.com', '#note\nCustomer is on the old client 4.2; SECRET-NOTE-1'],
    ['mail to the notes address', 'support+note@example.com', 'Customer is on the old client 4.2; SECRET-NOTE-1'],
  ])('%s: stored with its attachment, shown to agents, never sent to the customer', async (_what, to, body) => {
    const orig = await newCase();
    await ingest(agentReply(orig, body, { to, attachments: [{ filename: 'log.txt', contentType: 'text/plain', content: Buffer.from('debug log') }] }));
    expect(await toAddress('jane@customer.example', 'agent-reply')).toHaveLength(0);
    for (const o of await outbox()) if (!o.to_address.endsWith('@example.com')) expect(o.text + o.html + o.subject).not.toContain('SECRET-NOTE');
    const msgs = await messagesOfCase(env.ctx.db, (await caseNo()).id);
    const note = msgs.find((m) => m.from_address === 'ben@example.com')!;
    expect(note).toMatchObject({ internal: 1, author: 'ben@example.com' });
    expect(note.visible_text).toContain('SECRET-NOTE-1');
    expect((await attachmentsOfMessages(env.ctx.db, [note.id])).map((a) => a.filename)).toEqual(['log.txt']);
    const c = await caseNo();
    expect(c).toMatchObject({ status: 'new', first_response_at: null, owner: null });
    expect(await eventTypes()).toContain('note.added');
  });
});

describe('internal notes as mail clients write "#note"', () => {
  it.each([
    ['a non-breaking space before it (Outlook)', 'text/plain', '\u00a0#note\nSECRET-NOTE-2 customer is on the old client'],
    ['Outlook HTML only, &nbsp; before it', 'text/html', '<p class="MsoNormal">&nbsp;#note<o:p></o:p></p><p class="MsoNormal">SECRET-NOTE-2 customer is on the old client<o:p></o:p></p>'],
    ['a space after the "#"', 'text/plain', '# note\nSECRET-NOTE-2 customer is on the old client'],
    ['a fullwidth "＃" (Asian input method)', 'text/plain', '\uff03note\nSECRET-NOTE-2 customer is on the old client'],
    ['a zero-width space before it (pasted)', 'text/plain', '\u200b#note\nSECRET-NOTE-2 customer is on the old client'],
    ['in an HTML list', 'text/html', '<ul><li>#note</li></ul><div>SECRET-NOTE-2 customer is on the old client</div>'],
    ['bold in markdown', 'text/plain', '**#note**\nSECRET-NOTE-2 customer is on the old client'],
  ])('%s: an internal note, nothing reaches the customer', async (_what, type, body) => {
    const orig = await newCase();
    const raw = [
      ...Object.entries(DMARC_PASS).map(([k, v]) => `${k}: ${v}`),
      'From: Ben Agent <ben@example.com>', 'To: support@example.com', `Subject: Re: ${orig.subject}`, 'Message-ID: <note-variant@example.com>', `In-Reply-To: <${orig.messageId}>`, 'Date: Mon, 2 Mar 2026 10:15:00 +0100', 'MIME-Version: 1.0', `Content-Type: ${type}; charset=utf-8`, 'Content-Transfer-Encoding: 8bit', '', body, '',
    ].join('\r\n');
    await ingest(raw);
    for (const o of await toAddress('jane@customer.example')) expect(o.text + o.html).not.toContain('SECRET-NOTE-2');
    expect(await toAddress('jane@customer.example', 'agent-reply')).toHaveLength(0);
    expect(await caseNo()).toMatchObject({ status: 'new', first_response_at: null });
    expect(await eventTypes()).toContain('note.added');
  });
});

describe('email commands', () => {
  it('#pending with a question: one reply that says the case waits for the customer; their answer reopens work', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, '#pending\nWhich client version do you use?'));
    expect((await caseNo()).status).toBe('pending');
    const mails = await toAddress('jane@customer.example');
    expect(mails.map((m) => m.kind)).toEqual(['confirmation', 'agent-reply']);
    expect(mails[1]!.text).toContain('Which client version do you use?');
    expect(mails[1]!.text).toContain('Your case is now waiting for your reply');
    expect(mails[1]!.text).not.toContain('#pending');
    const reply = mails[1]!;
    await ingest(eml({ from: JANE, subject: `Re: ${reply.subject}`, inReplyTo: reply.message_id, body: 'Version 5.1' }));
    expect((await caseNo()).status).toBe('open');
  });

  it('#hold <time> without text: the on-hold email with the expected time; #hold alone uses the configured time', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, '#hold 3–5 business days'));
    expect((await caseNo()).status).toBe('on_hold');
    const m = (await toAddress('jane@customer.example', 'status-changed'))[0]!;
    expect(m.subject).toBe('[Case #10001] Re: VPN broken');
    expect(m.text).toContain('Case 10001 is on hold for technical review');
    expect(m.text).toContain('(expected: 3–5 business days)');
    expect(m.text).toContain('Status of case 10001: on hold for technical review.');
    expect(JSON.parse(m.headers_json)).toMatchObject({ 'Auto-Submitted': 'auto-generated' });
    await ingest(agentReply(orig, '#open'));
    await ingest(agentReply(orig, '#hold'));
    expect((await toAddress('jane@customer.example', 'status-changed')).at(-1)!.text).toContain('(expected: 1–2 business days)');
  });

  it('#bug weeks with a workaround: the customer is told the timeline and the workaround; resolved, tagged bug', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, '#bug weeks\nUntil then, switch the client to TLS 1.2 in the settings.', { style: 'outlook' }));
    const c = await caseNo();
    expect(c.status).toBe('resolved');
    expect(await tagsOfCase(env.ctx.db, c.id)).toContain('bug');
    const r = (await toAddress('jane@customer.example', 'agent-reply'))[0]!;
    expect(r.text).toContain('switch the client to TLS 1.2');
    expect(r.text).toContain('We expect a fix within the next few weeks.');
    expect(r.text).toContain('reply within 30 days');
    // Without text: the status email tells the timeline.
    await ingest(agentReply(orig, '#reopen'));
    await ingest(agentReply(orig, '#bug not-foreseeable'));
    const s = (await toAddress('jane@customer.example', 'status-changed')).at(-1)!;
    expect(s.subject).toBe('[Case #10001] Re: VPN broken');
    expect(s.text).toContain('What you found is a bug in our product.');
    expect(s.text).toContain('We cannot say yet when a fix will be available.');
  });

  it('#call tomorrow 10:00 from an agent who is not the owner: tagged call, the owner is notified', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, '#assign me'));
    await ingest(agentReply(orig, '#call tomorrow 10:00', { from: 'Carla Agent <carla@example.com>' }));
    const c = await caseNo();
    expect(await tagsOfCase(env.ctx.db, c.id)).toContain('call');
    const n = (await toAddress('ben@example.com', 'agent-notification')).at(-1)!;
    expect(n.subject).toBe('[Case #10001] Phone call requested: VPN broken');
    expect(n.text).toContain('asks for a phone call: tomorrow 10:00 (noted by Carla Agent)');
    expect(await toAddress('carla@example.com', 'agent-notification')).toHaveLength(1); // only the new-case one
    expect(await toAddress('jane@customer.example', 'agent-reply')).toHaveLength(0);
  });

  it('#resolve, a "thanks" does not reopen, a new problem does; #close; a reply after the window opens a linked case, a "thanks" does not', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, '#resolve'));
    const resolved = (await toAddress('jane@customer.example', 'status-changed'))[0]!;
    expect(resolved.subject).toBe('[Case #10001] Re: VPN broken');
    expect(resolved.text).toContain('We have marked case 10001 as resolved.');
    expect(resolved.text).toContain('reply within 30 days');
    expect((await caseNo()).resolved_at).not.toBeNull();
    await ingest(eml({ from: JANE, subject: `Re: ${resolved.subject}`, inReplyTo: resolved.message_id, body: 'Thanks, that worked!' }));
    expect((await caseNo()).status).toBe('resolved');
    await ingest(eml({ from: JANE, subject: `Re: ${resolved.subject}`, inReplyTo: resolved.message_id, body: 'It is broken again since the update.' }));
    expect((await caseNo()).status).toBe('open');
    expect((await toAddress('jane@customer.example')).map((m) => m.kind)).toContain('reopened');
    await ingest(agentReply(orig, '#close'));
    const closed = (await toAddress('jane@customer.example', 'status-changed')).at(-1)!;
    expect(closed.subject).toBe('[Case #10001] Re: VPN broken');
    expect(closed.text).toContain('Case 10001 is now closed.');
    env.clock.advance(31 * 86_400_000);
    // A late "thanks" is no new problem (automail hunt F19): recorded on the old case, no new case, no mail.
    const before = (await toAddress('jane@customer.example')).length;
    const thanks = await ingest(eml({ from: JANE, subject: `Re: ${closed.subject}`, inReplyTo: closed.message_id, body: 'Thanks again, all good!\nJane' }));
    expect(thanks).toMatchObject({ created: false, caseNumber: 10001 });
    expect((await caseNo()).status).toBe('closed');
    expect(await toAddress('jane@customer.example')).toHaveLength(before);
    const out = await ingest(eml({ from: JANE, subject: `Re: ${closed.subject}`, inReplyTo: closed.message_id, body: 'Same problem on my new laptop.' }));
    expect(out).toMatchObject({ created: true, caseNumber: 10002 });
    expect((await caseNo(10002)).linked_case_id).toBe((await caseNo()).id);
  });

  it('#reopen an ended case: the customer hears it is open again', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, '#resolve'));
    await ingest(agentReply(orig, '#reopen\nSorry, we found a second problem and keep working on it.'));
    expect((await caseNo()).status).toBe('open');
    const r = (await toAddress('jane@customer.example', 'agent-reply')).at(-1)!;
    expect(r.text).toContain('Your case is open again');
    expect(await eventTypes()).toContain('case.reopened');
  });

  it('#priority raised tells the customer; lowered does not; #assign, #tag and #escalate', async () => {
    await env.close();
    env = await testEnv({ ...CONFIG, queues: { ...CONFIG.queues, support: { ...CONFIG.queues!['support']!, tiers: { 2: { addresses: ['head@example.com'] } } } } });
    const orig = await newCase();
    await ingest(agentReply(orig, '#priority urgent\n#assign Carla\n#tag vpn\n#escalate 2 whole office offline'));
    const c = await caseNo();
    expect(c).toMatchObject({ priority: 'urgent', owner: 'carla@example.com', escalation_level: 2 });
    expect(await tagsOfCase(env.ctx.db, c.id)).toEqual(['vpn']);
    const s = (await toAddress('jane@customer.example', 'status-changed'))[0]!;
    expect(s.subject).toBe('[Case #10001] Re: VPN broken');
    expect(s.text).toContain('We have raised the priority of case 10001');
    expect(s.text).toContain('from normal to urgent');
    expect(await toAddress('carla@example.com', 'assignment')).toHaveLength(1);
    // Tier 1 = Anna (lead), tier 2 = head; Carla (owner) too.
    expect((await outbox()).filter((o) => o.kind === 'escalation-alert').map((o) => o.to_address)).toEqual(['anna@example.com', 'head@example.com', 'carla@example.com']);
    await ingest(agentReply(orig, '#priority low'));
    expect(await toAddress('jane@customer.example', 'status-changed')).toHaveLength(1);
  });

  it('#assign me (or one’s own name) takes the case without an "Assigned to you" mail to oneself; #assign of a colleague tells them', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, '#assign me'));
    await ingest(agentReply(orig, '#assign Carla Agent', { from: 'Carla Agent <carla@example.com>' }));
    expect((await caseNo()).owner).toBe('carla@example.com');
    expect(await toAddress('ben@example.com', 'assignment')).toHaveLength(0);
    expect(await toAddress('carla@example.com', 'assignment')).toHaveLength(0);
    expect(await eventTypes()).toEqual(expect.arrayContaining(['case.assigned', 'case.reassigned']));
    await ingest(agentReply(orig, '#assign Ben', { from: 'Carla Agent <carla@example.com>' }));
    expect(await toAddress('ben@example.com', 'assignment')).toHaveLength(1);
  });

  it('a lead’s #escalate alerts the tier and the owner, never the lead who escalated (though alerted at tier 1)', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, '#assign me'));
    await ingest(agentReply(orig, '#escalate 1 big customer', { from: 'Anna Lead <anna@example.com>' }));
    expect((await caseNo()).escalation_level).toBe(1);
    expect((await outbox()).filter((o) => o.kind === 'escalation-alert').map((o) => o.to_address)).toEqual(['ben@example.com']);
    expect(await eventTypes()).not.toContain('escalation.unalerted');
  });

  it('#cc copies a colleague in (replies reach them), #uncc takes them out; own, staff and requester addresses are refused', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, '#cc <Colleague@Customer.example>, it@customer.example\nI have copied your colleagues in.'));
    const c = await caseNo();
    const copied = async () => (await participants(env.ctx.db, c.id)).filter((p) => p.role !== 'agent').map((p) => p.address);
    expect(await copied()).toEqual(['jane@customer.example', 'boss@customer.example', 'colleague@customer.example', 'it@customer.example']);
    const reply = (await toAddress('jane@customer.example', 'agent-reply'))[0]!;
    expect((JSON.parse(reply.cc_json) as { address: string }[]).map((a) => a.address)).toEqual(['boss@customer.example', 'colleague@customer.example', 'it@customer.example']);
    expect(await eventTypes()).toEqual(expect.arrayContaining(['participant.added']));
    await ingest(agentReply(orig, '#uncc it@customer.example'));
    expect(await copied()).not.toContain('it@customer.example');
    expect(await eventTypes()).toContain('participant.removed');
    // Refused: the whole mail changes nothing, and Ben gets the syntax back.
    for (const bad of ['#cc support@example.com', '#cc carla@example.com', '#uncc jane@customer.example', '#cc not-an-address']) {
      const before = (await toAddress('ben@example.com', 'command-error')).length;
      await ingest(agentReply(orig, `${bad}\nSome text.`));
      expect(await toAddress('ben@example.com', 'command-error')).toHaveLength(before + 1);
    }
    expect(await copied()).toEqual(['jane@customer.example', 'boss@customer.example', 'colleague@customer.example']);
  });

  it('taken off the case with #uncc, a colleague stays off when the customer answers all (their client still copies them); an agent copies them in again', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, 'Which certificate does it name?'));
    await ingest(agentReply(orig, '#uncc boss@customer.example'));
    const c = await caseNo();
    const copied = async () => (await participants(env.ctx.db, c.id)).filter((p) => p.role === 'cc').map((p) => p.address);
    expect(await copied()).toEqual([]);
    // Jane answers all to the reply that went to her and her boss: her client copies the boss again.
    const reply = (await toAddress('jane@customer.example', 'agent-reply'))[0]!;
    await ingest(eml({ from: JANE, cc: 'Boss <boss@customer.example>, Support <support@example.com>', to: 'support@example.com', subject: `Re: ${reply.subject}`, inReplyTo: reply.message_id, references: `<${reply.message_id}>`, messageId: 'jane-2@customer.example', body: 'It names vpn.example.com.', headers: DMARC_PASS }));
    expect(await copied()).toEqual([]);
    expect((await eventsOfCase(env.ctx.db, c.id)).find((e) => e.type === 'participant.not-added')?.reason).toContain('boss@customer.example was taken off the case');
    await ingest(agentReply(orig, 'Thanks, I will renew it.'));
    expect(JSON.parse((await toAddress('jane@customer.example', 'agent-reply')).at(-1)!.cc_json)).toEqual([]);
    await ingest(agentReply(orig, '#cc boss@customer.example'));
    expect(await copied()).toEqual(['boss@customer.example']);
  });

  it('cases.customerUpdates decides which changes the customer hears about', async () => {
    await env.close();
    env = await testEnv({ ...CONFIG, cases: { customerUpdates: ['resolved'] } });
    const orig = await newCase();
    await ingest(agentReply(orig, '#pending'));
    await ingest(agentReply(orig, '#hold'));
    await ingest(agentReply(orig, '#priority urgent'));
    expect(await toAddress('jane@customer.example', 'status-changed')).toHaveLength(0);
    await ingest(agentReply(orig, '#resolve'));
    expect(await toAddress('jane@customer.example', 'status-changed')).toHaveLength(1);
  });

  it.each([
    ['an unknown command', '#frobnicate\nRELAY-ME-NOT', /#frobnicate is not a command/],
    ['a malformed one', '#priority\nRELAY-ME-NOT', /#priority needs one level/],
    ['a level that does not exist', '#priority critical\nRELAY-ME-NOT', /"critical" is not a priority level \(urgent, high, normal, low\)/],
    ['an agent who is none', '#assign Zoe\nRELAY-ME-NOT', /"Zoe" is not an agent of queue support/],
    ['two status changes', '#pending\n#resolve\nRELAY-ME-NOT', /one status change per mail/],
    ['#reopen on an open case', '#reopen\nRELAY-ME-NOT', /not resolved or closed: nothing to reopen/],
    ['a bad bug timeline', '#bug soon\nRELAY-ME-NOT', /#bug needs when a fix is expected/],
    ['a misspelt command below the text', 'Hi Jane, RELAY-ME-NOT is fixed.\n#clsoe', /#clsoe is not a command \(did you mean #close\?\)/],
    ['#note below a reply', 'Hi Jane, RELAY-ME-NOT is fixed.\n\n#note\nShe was upset on the phone.', /#note stands on the first line and makes the whole mail an internal note; to answer the customer and note something, send two emails/],
    ['a German team’s #Notiz below a reply', 'Hallo Jane, RELAY-ME-NOT ist behoben.\n\n#Notiz\nSie war am Telefon verärgert.', /#Notiz stands on the first line and makes the whole mail an internal note/],
  ])('%s: an error email with the syntax to the agent; nothing relayed, nothing changed', async (_what, body, why) => {
    const orig = await newCase();
    const before = await caseNo();
    await ingest(agentReply(orig, `#tag should-not-happen\n${body}`));
    const err = (await toAddress('ben@example.com', 'command-error'))[0]!;
    expect(err.subject).toBe('[Case #10001] Not done: your email had a command problem');
    expect(err.text).toMatch(why);
    expect(err.text).toContain('#hold [expected time]');
    expect(err.text).toContain('support+note@example.com');
    expect(err.text).toContain('RELAY-ME-NOT'); // the agent gets their text back
    for (const o of await toAddress('jane@customer.example')) expect(o.text).not.toContain('RELAY-ME-NOT');
    const after = await caseNo();
    expect(after).toMatchObject({ status: before.status, priority: before.priority, owner: before.owner, first_response_at: null });
    expect(await tagsOfCase(env.ctx.db, after.id)).toEqual([]);
    expect(await eventTypes()).toContain('command.rejected');
  });

  it('a command line without text changes the case without a reply; commands further down count and are never relayed', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, 'Looking into it now.\n#tag vpn'));
    const r = (await toAddress('jane@customer.example', 'agent-reply'))[0]!;
    expect(r.text).toContain('Looking into it now.');
    expect(r.text).not.toContain('#tag');
    expect(await tagsOfCase(env.ctx.db, (await caseNo()).id)).toEqual(['vpn']);
  });
});

describe('saved replies ("#saved <name>", templates replies/)', () => {
  it('put in where the line stands, written for the case (English and German), with other commands; into a #note; an unknown name changes nothing and lists the names; a reply-all the customer got bare is sent to them too', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, 'Hi Jane,\n\n#saved need-logs\n#pending\n\nThanks, Ben'));
    const reply = (await toAddress('jane@customer.example', 'agent-reply'))[0]!;
    expect(reply.text).toMatch(/Hi Jane,\n\nto find out what goes wrong in case 10001 \("VPN broken"\), we need the log files[\s\S]*attach the files\.\n\nThanks, Ben\n/);
    expect(reply.text).toContain('Your case is now waiting for your reply');
    expect(reply.text).not.toContain('#saved');
    expect((await caseNo()).status).toBe('pending');

    // An unknown name: nothing done, the agent gets the names of the case's saved replies.
    await ingest(agentReply(orig, '#resolve\nHi Jane,\n#saved need-log'));
    const err = (await toAddress('ben@example.com', 'command-error'))[0]!;
    expect(err.text).toContain('there is no saved reply "need-log" for case 10001 (saved replies: need-details, need-logs, please-confirm)');
    expect(await toAddress('jane@customer.example', 'agent-reply')).toHaveLength(1);
    expect((await caseNo()).status).toBe('pending');

    // In a #note the note holds the saved reply; the customer gets nothing.
    await ingest(agentReply(orig, '#note\nAsked for logs:\n#saved need-logs'));
    const note = (await messagesOfCase(env.ctx.db, (await caseNo()).id)).filter((m) => m.internal === 1).at(-1)!;
    expect(note.visible_text).toMatch(/^Asked for logs:\nto find out what goes wrong in case 10001/);
    expect(await toAddress('jane@customer.example', 'agent-reply')).toHaveLength(1);

    // Reply-all from the agent's client: Jane saw the bare line, so the case's copy with the text goes to her too.
    const direct = eml({ from: 'Ben Agent <ben@example.com>', to: JANE, cc: 'Example Support <support@example.com>', subject: 'Re: VPN broken', inReplyTo: 'jane-1@customer.example', references: '<jane-1@customer.example>', messageId: 'ben-direct-saved@example.com', body: '#saved please-confirm', headers: DMARC_PASS });
    await ingest(direct);
    const confirm = (await toAddress('jane@customer.example', 'agent-reply'))[1]!;
    expect(confirm.text).toContain('we believe the problem of case 10001 is solved now');
    // Not only to whom the agent's mail did not reach (pending_rcpt_json would list those): to everyone.
    expect(confirm).toMatchObject({ to_address: 'jane@customer.example', status: 'queued', pending_rcpt_json: null });

    // A German case gets the German text.
    await ingest(eml({ from: 'Hans <hans@kunde.example>', subject: 'Drucker defekt', messageId: 'hans-1@kunde.example', body: 'Guten Tag, der Drucker druckt nicht mehr. Bitte helfen Sie mir.', headers: { 'Content-Language': 'de' } }));
    const hans = asOriginal((await toAddress('ben@example.com', 'agent-notification')).find((n) => n.subject.includes('Drucker'))!);
    await ingest(agentReply(hans, '#saved need-details'));
    const german = (await toAddress('hans@kunde.example', 'agent-reply'))[0]!;
    expect(german.text).toMatch(/Hans,\n\nvielen Dank für Ihre Nachricht\. Damit wir Ihnen schnell helfen können/);
  });
});

describe('saved replies of an admin’s folder', () => {
  it('only its own are offered (the shipped examples are not); the text put in is never read for commands, also customer text it shows on a line of its own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'casegate-tpl-'));
    try {
      mkdirSync(join(dir, 'replies'));
      writeFileSync(join(dir, 'replies', 'quote.text.hbs'), 'you asked about:\n{{case.subject}}\n');
      await env.close();
      env = await testEnv({ ...CONFIG, templates: { dir, watch: false } });
      await ingest(eml({ from: JANE, subject: '#close', messageId: 'jane-1@customer.example', body: 'Please close my account.' }));
      const orig = asOriginal((await toAddress('ben@example.com', 'agent-notification'))[0]!);
      await ingest(agentReply(orig, '#saved need-logs'));
      expect((await toAddress('ben@example.com', 'command-error'))[0]!.text).toContain('there is no saved reply "need-logs" for case 10001 (saved replies: quote)');
      await ingest(agentReply(orig, '#saved quote'));
      expect((await toAddress('jane@customer.example', 'agent-reply'))[0]!.text).toContain('you asked about:\n#close\n');
      expect((await caseNo()).status).toBe('open');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a reply nobody may get', () => {
  it('the requester writes from postmaster@ (no mail may go there): nothing done, the agent is told with their text; with #cc of an address that can, it goes there', async () => {
    await ingest(eml({ from: 'Shop <postmaster@shop.example>', subject: 'Invoice charged twice', messageId: 'shop-1@shop.example', body: 'Hello, why was invoice 4711 charged twice? Regards' }));
    const orig = asOriginal((await toAddress('ben@example.com', 'agent-notification'))[0]!);
    await ingest(agentReply(orig, '#pending\nWe refunded it, please confirm. REPLY-TEXT'));
    expect(await caseNo()).toMatchObject({ status: 'new', first_response_at: null, owner: null });
    const err = (await toAddress('ben@example.com', 'command-error'))[0]!;
    expect(err.text).toContain('your reply cannot be sent: no customer address of case 10001 may get mail (postmaster@shop.example: address is a postmaster address)');
    expect(err.text).toContain('REPLY-TEXT');
    expect(await eventTypes()).toContain('command.rejected');
    await ingest(agentReply(orig, '#cc accounts@shop.example\nWe refunded it, please confirm.'));
    const r = (await toAddress('accounts@shop.example', 'agent-reply'))[0]!;
    expect(r.to_address).toBe('accounts@shop.example');
    expect((await caseNo()).first_response_at).not.toBeNull();
  });

  it('#cc of an address that may not get mail either does not make the reply go: refused, nothing done (no first response for mail nobody got)', async () => {
    await ingest(eml({ from: 'Shop <postmaster@shop.example>', subject: 'Invoice charged twice', messageId: 'shop-3@shop.example', body: 'Hello, why was invoice 4711 charged twice? Regards' }));
    const orig = asOriginal((await toAddress('ben@example.com', 'agent-notification'))[0]!);
    await ingest(agentReply(orig, '#cc no-reply@shop.example\nWe refunded it, please confirm.'));
    expect((await toAddress('ben@example.com', 'command-error'))[0]!.text).toContain('your reply cannot be sent: no customer address of case 10001 may get mail');
    expect(await caseNo()).toMatchObject({ status: 'new', first_response_at: null });
    expect((await participants(env.ctx.db, (await caseNo()).id)).map((p) => p.address)).not.toContain('no-reply@shop.example');
  });

  it('a refused reply changes nothing: the addresses its mail copies in are not enrolled; an address it copies in that can get mail makes it go', async () => {
    await ingest(eml({ from: 'Shop <postmaster@shop.example>', subject: 'Invoice charged twice', messageId: 'shop-2@shop.example', body: 'Hello, why was invoice 4711 charged twice? Regards' }));
    const orig = asOriginal((await toAddress('ben@example.com', 'agent-notification'))[0]!);
    const copied = async () => (await participants(env.ctx.db, (await caseNo()).id)).filter((p) => p.role === 'cc').map((p) => p.address);
    await ingest(agentReply(orig, 'We refunded it, please confirm.', { cc: 'Shop robot <no-reply@shop.example>, Anna <anna@example.com>' }));
    expect((await toAddress('ben@example.com', 'command-error'))[0]!.text).toContain('your reply cannot be sent: no customer address of case 10001 may get mail');
    expect(await copied()).toEqual([]);
    // The same reply copying in a person who reads mail: it goes to them (they take part from now on).
    await ingest(agentReply(orig, 'We refunded it, please confirm.', { cc: 'Accounts <accounts@shop.example>' }));
    expect((await toAddress('accounts@shop.example', 'agent-reply'))[0]!.to_address).toBe('accounts@shop.example');
    expect(await copied()).toEqual(['accounts@shop.example']);
    expect(await toAddress('ben@example.com', 'command-error')).toHaveLength(1);
  });
});

describe('recording', () => {
  it('an agent’s mail reusing a stored Message-ID (a broken client) is recorded as a collision and still works the case', async () => {
    const orig = await newCase();
    const out = await ingest(agentReply(orig, 'Please restart the client.', { messageId: 'jane-1@customer.example' }));
    expect(out.reason).toBe('agent mail (signed-reference)');
    expect(await toAddress('jane@customer.example', 'agent-reply')).toHaveLength(1);
    const msgs = await messagesOfCase(env.ctx.db, (await caseNo()).id);
    // The first message keeps the id (threading by it stays Jane's); the agent's is stored without it.
    expect(msgs.filter((m) => m.message_id === 'jane-1@customer.example').map((m) => m.from_address)).toEqual(['jane@customer.example']);
    expect(msgs.find((m) => m.from_address === 'ben@example.com')).toMatchObject({ message_id: null, internal: 1 });
    expect(await eventTypes()).toContain('message.id-collision');
  });
});

describe('nothing to do', () => {
  it('an agent’s reply with no new text and no command (only the quote) sends the customer nothing and changes nothing; the agent is told', async () => {
    const orig = await newCase();
    const before = (await outbox()).length;
    await ingest(agentReply(orig, ''));
    // Only the empty-reply email to Ben (test/unit/agent-empty-reply.test.ts): an empty reply sent by mistake is not lost unseen.
    expect((await outbox()).slice(before).map((o) => `${o.kind} → ${o.to_address}`)).toEqual(['empty-reply → ben@example.com']);
    expect(await caseNo()).toMatchObject({ status: 'new', first_response_at: null });
    const ev = (await eventsOfCase(env.ctx.db, (await caseNo()).id)).find((e) => e.type === 'message.agent')!;
    expect(ev.reason).toMatch(/^nothing new \(no text, no command\)/);
  });
});

describe('trust', () => {
  it('a forged agent From (DMARC fail) never acts: #close is stored as the customer’s text, the real agent is told', async () => {
    const orig = await newCase();
    const out = await ingest(agentReply(orig, '#close\nFORGED-TEXT', { headers: DMARC_FAIL }));
    expect(out.caseNumber).toBe(10001);
    const c = await caseNo();
    expect(c.status).toBe('new');
    expect(await toAddress('jane@customer.example', 'agent-reply')).toHaveLength(0);
    expect(await toAddress('jane@customer.example', 'status-changed')).toHaveLength(0);
    const stored = (await messagesOfCase(env.ctx.db, c.id)).find((m) => m.from_address === 'ben@example.com')!;
    expect(stored).toMatchObject({ internal: 0, author: null });
    expect(stored.visible_text).toContain('#close');
    const notice = (await toAddress('ben@example.com', 'forged-sender'))[0]!;
    expect(notice.subject).toBe('[Case #10001] Warning: an email used your address and failed the sender check');
    expect(notice.text).toContain('failed the sender check: From header; Authentication-Results of mx.example.com: dmarc=fail');
    expect(await eventTypes()).toEqual(expect.arrayContaining(['sender.forged-staff', 'escalation.refused']));
  });

  it('a customer (or a stranger CC) writing #close is a customer message: stored, never executed', async () => {
    await newCase();
    const conf = (await toAddress('jane@customer.example', 'confirmation'))[0]!;
    await ingest(eml({ from: JANE, subject: `Re: ${conf.subject}`, inReplyTo: conf.message_id, body: '#close\n#priority urgent' }));
    expect(await caseNo()).toMatchObject({ status: 'new', priority: 'normal' });
    expect((await messagesOfCase(env.ctx.db, (await caseNo()).id)).at(-1)!.visible_text).toContain('#close');
  });

  it('an agent of another queue is no agent of this case; an agent’s out-of-office is never relayed', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, '#resolve\nFIONA-TEXT', { from: 'Fiona <fiona@example.com>' }));
    expect((await caseNo()).status).toBe('new');
    expect(await eventTypes()).toContain('escalation.refused');
    // Fiona learns that it was not done and why (her text comes back), and gets no customer mail.
    const told = await toAddress('fiona@example.com');
    expect(told.map((o) => o.kind)).toEqual(['unproven-staff']);
    expect(told[0]!.subject).toBe('[Case #10001] Not done: this case is not in your queue');
    expect(told[0]!.text).toContain('but the case is not yours to work: fiona@example.com is no agent of queue support, which case 10001 belongs to.');
    expect(told[0]!.text).toContain('FIONA-TEXT');
    await ingest(agentReply(orig, 'I am out of office until Monday.', { headers: { 'Auto-Submitted': 'auto-replied' } }));
    expect(await toAddress('jane@customer.example', 'agent-reply')).toHaveLength(0);
  });
});

describe('customer status', () => {
  it('"status" gets the summary (status, priority, owner’s first name, next step); agents are not notified; nothing reopens', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, '#pending\nWhich version?'));
    const before = (await outbox()).length;
    const reply = (await toAddress('jane@customer.example', 'agent-reply'))[0]!;
    await ingest(eml({ from: JANE, subject: `Re: ${reply.subject}`, inReplyTo: reply.message_id, messageId: 'jane-status@customer.example', body: 'status\n\nJane' }));
    const added = (await outbox()).slice(before);
    expect(added.map((o) => [o.kind, o.to_address])).toEqual([['status-summary', 'jane@customer.example']]);
    const s = added[0]!;
    expect(s.subject).toBe('[Case #10001] Re: VPN broken');
    expect(s.text).toMatch(/Status:\s+waiting for your reply/);
    expect(s.text).toMatch(/Priority:\s+normal/);
    expect(s.text).toMatch(/Handled by:\s+Ben/);
    expect(s.text).toContain('We are waiting for your reply to our last question');
    expect(s.in_reply_to).toBe('jane-status@customer.example');
    expect(s.auto_reply).toBe(1);
    expect((await caseNo()).status).toBe('pending');
    await ingest(agentReply(orig, '#resolve'));
    const resolved = (await toAddress('jane@customer.example', 'status-changed')).at(-1)!;
    await ingest(eml({ from: JANE, subject: `Re: ${resolved.subject}`, inReplyTo: resolved.message_id, body: '?' }));
    expect((await caseNo()).status).toBe('resolved');
    expect((await toAddress('jane@customer.example', 'status-summary')).at(-1)!.text).toContain('Nothing: the case is resolved.');
  });

  it('a German customer’s case: the customer reads German, the agents their team’s language (queues.<q>.language, else cases.defaultLanguage)', async () => {
    const german = { from: 'Hans <hans@kunde.example>', subject: 'Drucker defekt', body: 'Guten Tag, der Drucker druckt nicht mehr. Bitte helfen Sie mir.', headers: { 'Content-Language': 'de' } };
    await ingest(eml({ ...german, messageId: 'hans-1@kunde.example' }));
    expect((await toAddress('hans@kunde.example', 'confirmation'))[0]!.text).toContain('Status von Vorgang 10001');
    const n = (await toAddress('ben@example.com', 'agent-notification'))[0]!;
    expect(n.subject).toBe('[Case #10001] New case: Drucker defekt');
    expect(n.text).toContain('reply to this email: your text goes to the customer.');
    expect(n.text).toContain('der Drucker druckt nicht mehr');
    // A German-speaking team says so for its queue.
    await env.close();
    env = await testEnv({ ...CONFIG, queues: { ...CONFIG.queues, support: { ...CONFIG.queues!['support']!, language: 'de' } } });
    await ingest(eml({ from: JANE, subject: 'VPN broken', messageId: 'jane-1@customer.example', body: 'The VPN is down since this morning.' }));
    expect((await toAddress('ben@example.com', 'agent-notification'))[0]!.subject).toBe('[Case #10001] Neuer Vorgang: VPN broken');
    expect((await toAddress('jane@customer.example', 'confirmation'))[0]!.text).toContain('Status of case 10001');
  });

  it('every email to the customer states the current status in words (English and German)', async () => {
    await ingest(eml({ from: 'Hans <hans@kunde.example>', subject: 'Drucker defekt', body: 'Guten Tag, der Drucker druckt nicht mehr. Bitte helfen Sie mir.', headers: { 'Content-Language': 'de' } }));
    const conf = (await toAddress('hans@kunde.example'))[0]!;
    expect(conf.text).toContain('Status von Vorgang 10001: eingegangen, wartet auf Bearbeitung.');
    expect(conf.html).toContain('eingegangen, wartet auf Bearbeitung');
  });
});

describe('an out-of-office nobody marked (no Auto-Submitted, no "Automatic reply:" subject)', () => {
  const OOO = 'Thank you for your message. I am out of the office until Monday 14 December with limited access to email. For urgent matters please contact anna@example.com.';

  it('an agent’s is held, not relayed: no reply, no first response, no owner; the agent is told once an hour; a reply to that notice goes, the responder answering it again does not', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, OOO, { headers: {} }));
    expect(await toAddress('jane@customer.example', 'agent-reply')).toEqual([]);
    expect(await caseNo()).toMatchObject({ status: 'new', owner: null, first_response_at: null });
    expect(await eventTypes()).toContain('agent.auto-reply-held');
    // Its own email (not the command-error's "send it again with the commands corrected"): why, not sent, kept, how to send it.
    expect(await toAddress('ben@example.com', 'command-error')).toEqual([]);
    const told = await toAddress('ben@example.com', 'out-of-office-held');
    expect(told).toHaveLength(1);
    expect(told[0]!.subject).toBe('[Case #10001] Not sent, it looked like an out-of-office reply: VPN broken');
    expect(told[0]!.text).toContain('was NOT sent to the customer: it looked like an automatic out-of-office reply (text "I am out of the office" + "until")');
    expect(told[0]!.text).toContain('kept on the case as an internal note for the team only');
    expect(told[0]!.text).toContain('to send it as it is, reply to this email and write nothing');
    expect(told[0]!.text).toContain(OOO);
    expect(told[0]!.text).not.toContain('commands corrected');
    expect(told[0]!.html).toContain('<strong>NOT sent</strong>');
    // The same responder answering another notification within the hour: held, no second notice.
    await ingest(eml({ from: JANE, subject: 'Re: VPN broken', inReplyTo: 'jane-1@customer.example', messageId: 'jane-2@customer.example', body: 'Any news?' }));
    const second = asOriginal((await toAddress('ben@example.com', 'agent-notification')).at(-1)!);
    await ingest(agentReply(second, OOO, { headers: {} }));
    expect(await toAddress('ben@example.com', 'out-of-office-held')).toHaveLength(1);
    // The responder answering our notice with its text once more: held again, silently (no ping-pong).
    await ingest(agentReply(asOriginal(told[0]!), OOO, { headers: {} }));
    expect(await toAddress('jane@customer.example', 'agent-reply')).toEqual([]);
    expect(await toAddress('ben@example.com', 'out-of-office-held')).toHaveLength(1);
    expect((await eventTypes()).filter((t) => t === 'agent.auto-reply-held')).toHaveLength(3);
    // Ben meant to write about his absence: his reply to the notice goes as written.
    await ingest(agentReply(asOriginal(told[0]!), 'Hi Jane, I am out of the office until Monday; Anna takes over. Renew the certificate meanwhile.', { headers: {} }));
    const sent = await toAddress('jane@customer.example', 'agent-reply');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.text).toContain('Anna takes over');
  });

  it('a real answer that only reads like an absence: one empty reply to the notice sends it as written (Outlook, German notice)', async () => {
    env = await testEnv({ ...CONFIG, queues: { ...CONFIG.queues, support: { ...CONFIG.queues!['support']!, language: 'de' } } });
    const orig = await newCase();
    const FIX = "I'm away until Monday, but here is the fix: renew the certificate in Settings > VPN, then reconnect.";
    await ingest(agentReply(orig, FIX, { headers: {} }));
    expect(await toAddress('jane@customer.example', 'agent-reply')).toEqual([]);
    const told = await toAddress('ben@example.com', 'out-of-office-held');
    expect(told).toHaveLength(1);
    expect(told[0]!.subject).toContain('Nicht gesendet, sah wie eine Abwesenheitsnotiz aus');
    expect(told[0]!.text).toContain('um sie unverändert zu senden, antworten Sie auf diese E-Mail, ohne etwas zu schreiben');
    expect(told[0]!.text).toContain(FIX);
    // Ben answers the notice from Outlook without writing anything: his held text goes as he wrote it.
    await ingest(agentReply(asOriginal(told[0]!), '', { style: 'outlook', headers: {} }));
    const sent = await toAddress('jane@customer.example', 'agent-reply');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.text).toContain('here is the fix: renew the certificate');
    expect(sent[0]!.text).not.toContain('Abwesenheitsnotiz');
    expect(await caseNo()).toMatchObject({ status: 'open', owner: 'ben@example.com' });
    expect((await caseNo()).first_response_at).not.toBeNull();
    // Sent once: another empty reply to the notice later (not a re-sent copy: another subject) sends nothing twice.
    await ingest(agentReply(asOriginal(told[0]!), '', { style: 'outlook', headers: {}, subject: `AW: ${told[0]!.subject}` }));
    expect(await toAddress('jane@customer.example', 'agent-reply')).toHaveLength(1);
    // An empty reply to a notification (no hold answered) still sends nothing.
    await ingest(agentReply(orig, '', { headers: {} }));
    expect(await toAddress('jane@customer.example', 'agent-reply')).toHaveLength(1);
  });

  it('an agent’s real reply that mentions an absence goes; a customer’s out-of-office gets no automatic reply and reopens nothing', async () => {
    const orig = await newCase();
    await ingest(agentReply(orig, 'I was out of office yesterday, sorry — here is the fix: renew the certificate.', { headers: {} }));
    expect(await toAddress('jane@customer.example', 'agent-reply')).toHaveLength(1);
    await ingest(agentReply(orig, '#resolve'));
    const resolved = (await toAddress('jane@customer.example', 'status-changed')).at(-1)!;
    const before = (await toAddress('jane@customer.example')).length;
    await ingest(eml({ from: JANE, subject: 'Abwesenheitsnotiz', inReplyTo: resolved.message_id, messageId: 'jane-ooo@customer.example', body: 'Ich bin bis 3. Januar nicht im Büro. In dringenden Fällen wenden Sie sich an boss@customer.example.' }));
    expect((await caseNo()).status).toBe('resolved');
    // A new case out of one (no reference: the responder kept none): no confirmation, so nothing to answer again.
    await ingest(eml({ from: 'Max <max@other.example>', subject: 'Out of Office', messageId: 'max-ooo@other.example', body: 'I am out of the office until 14 December and will reply on my return.' }));
    expect((await caseNo(10002)).status).toBe('new');
    expect(await toAddress('max@other.example')).toEqual([]);
    expect((await toAddress('jane@customer.example')).length).toBe(before);
  });
});
