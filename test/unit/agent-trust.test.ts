import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { addParticipant, caseByNumber, participants } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { messagesOfCase } from '../../src/db/repos/messages.js';
import type { OutboxRow } from '../../src/db/schema.js';
import { rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { closeContext, createContext, type AppContext } from '../../src/context.js';
import { silentLogger } from '../../src/log.js';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import { eml, mxHeaderFields, mxHeaders, testEnv, TRUSTED_SENDER_AUTH, writeConfig, type TestEnv } from '../helpers/context.js';
import { clientReply, type Original } from '../helpers/mail-clients.js';

/**
 * "Agent trust" (README): an agent's address acts as the agent only when it is proven for the case —
 * sender authentication passed, or the mail answers staff mail we sent to that very address (its
 * Message-ID is signed for the recipient). Everything else from an agent address is a customer's
 * message: stored, commands kept as text, never executed. Through the whole pipeline, with
 * security.senderAuth.mode none (the default: no From is proven) and trusted-header.
 */

const QUEUES: ConfigInput['queues'] = {
  support: {
    agents: [
      { name: 'Ben Agent', address: 'ben@example.com' },
      { name: 'Carla Agent', address: 'carla@example.com' },
    ],
  },
};
const MODE_NONE: ConfigInput = { queues: QUEUES, security: { senderAuth: { mode: 'none' } } };
const TRUSTED: ConfigInput = { queues: QUEUES };
const JANE = 'Jane Customer <jane@customer.example>';

let env: TestEnv;
afterEach(async () => {
  await env?.close();
});

async function outbox(): Promise<OutboxRow[]> {
  return env.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute();
}
async function sentTo(address: string, kind?: string): Promise<OutboxRow[]> {
  return (await outbox()).filter((o) => (o.to_address === address || (JSON.parse(o.cc_json) as { address: string }[]).some((c) => c.address === address)) && (kind === undefined || o.kind === kind));
}
async function case10001() {
  return (await caseByNumber(env.ctx.db, 10001))!;
}
async function eventTypes() {
  return (await eventsOfCase(env.ctx.db, (await case10001()).id)).map((e) => e.type);
}
async function stored(raw: string) {
  const out = await env.ingest(raw);
  if (out.kind !== 'stored') throw new Error(`expected stored, got ${out.kind}: ${out.reason}`);
  return out;
}

/** Jane writes (Boss in Cc); returns the notification Ben got (the mail only Ben received). */
async function newCase(config: ConfigInput, janeAuth: 'pass' | null = null): Promise<Original> {
  env = await testEnv(config);
  await stored(eml({ from: JANE, cc: 'Boss <boss@customer.example>', subject: 'VPN broken', messageId: 'jane-1@customer.example', body: 'The VPN says "certificate expired".', auth: janeAuth }));
  const n = (await sentTo('ben@example.com', 'agent-notification'))[0]!;
  return { messageId: n.message_id, subject: n.subject, text: n.text, fromName: n.from_name, fromAddress: n.from_address };
}

let seq = 0;
/** Ben (or whoever `from` says) answers `orig` from Thunderbird; `headers` as our MX would add them (none: no MX headers). */
function reply(orig: Original, body: string, o: { from?: string; style?: 'thunderbird' | 'bare'; headers?: Record<string, string>; cc?: string } = {}): string {
  return clientReply(orig, {
    style: o.style ?? 'thunderbird',
    from: o.from ?? 'Ben Agent <ben@example.com>',
    to: 'Example Support <support@example.com>',
    body,
    messageId: `reply-${++seq}@example.com`,
    ...(o.cc !== undefined ? { cc: o.cc } : {}),
    ...(o.headers !== undefined ? { headers: o.headers } : {}),
  });
}

describe('agent trust with security.senderAuth.mode none (no From is proven)', () => {
  it('staff mail is signed for its recipient; Ben answering his own notification acts as Ben: reply relayed, command done', async () => {
    const orig = await newCase(MODE_NONE);
    expect(orig.messageId).toMatch(/^c10001\.[0-9a-f]{12}\.[a-z2-7]{4}\.[0-9a-f]{12}\.r[0-9a-f]{12}@support\.example\.com$/);
    // Customer mail is not bound to anyone.
    expect((await sentTo('jane@customer.example', 'confirmation'))[0]!.message_id).not.toMatch(/\.r[0-9a-f]{12}@/);
    const out = await stored(reply(orig, '#priority high\nPlease install the new certificate.'));
    expect(out.reason).toBe('agent mail (signed-reference)');
    expect(await case10001()).toMatchObject({ priority: 'high', status: 'open', owner: 'ben@example.com' });
    const r = (await sentTo('jane@customer.example', 'agent-reply'))[0]!;
    expect(r.text).toContain('Please install the new certificate.');
    expect(r.from_name).toBe('Ben Agent');
  });

  it('Carla answering the notification sent to Ben is not proven: a customer message, her #close stays text, no warning mail', async () => {
    const orig = await newCase(MODE_NONE);
    const out = await stored(reply(orig, '#close\nI will take this one.', { from: 'Carla Agent <carla@example.com>' }));
    expect(out).toMatchObject({ created: false, caseNumber: 10001, reason: 'appended (signed-reference)' });
    expect((await case10001()).status).toBe('new');
    expect(await sentTo('jane@customer.example', 'agent-reply')).toHaveLength(0);
    expect(await sentTo('carla@example.com', 'forged-sender')).toHaveLength(0);
    const msg = (await messagesOfCase(env.ctx.db, (await case10001()).id)).find((m) => m.from_address === 'carla@example.com')!;
    expect(msg).toMatchObject({ internal: 0, author: null });
    expect(msg.visible_text).toContain('#close');
    const ev = (await eventsOfCase(env.ctx.db, (await case10001()).id)).find((e) => e.type === 'sender.unproven-staff')!;
    expect(ev.reason).toContain('not a reply to staff mail we sent to carla@example.com about case 10001');
    // Carla learns that her answer went nowhere, with her text — and is not answered as a customer.
    const told = (await sentTo('carla@example.com')).filter((o) => o.kind !== 'agent-notification');
    expect(told.map((o) => o.kind)).toEqual(['unproven-staff']);
    expect(told[0]!.subject).toBe('[Case #10001] Not done: we could not tell that your email came from you');
    expect(told[0]!.text).toContain('So it was NOT carried out: no #command was done and nothing was sent to the customer. It was stored in case 10001 as a customer message.');
    expect(told[0]!.text).toContain('#close\nI will take this one.');
    // Her reply to that notice is proven (staff mail we sent to her about the case): it works the case.
    const notice = { messageId: told[0]!.message_id, subject: told[0]!.subject, text: told[0]!.text, fromName: told[0]!.from_name, fromAddress: told[0]!.from_address };
    await stored(reply(notice, 'I will take this one.', { from: 'Carla Agent <carla@example.com>' }));
    expect((await sentTo('jane@customer.example', 'agent-reply'))[0]!.text).toContain('I will take this one.');
  });

  it('Ben answers all from his client to Jane’s own mail (To Jane, Cc support and her boss): casegate sends the customers nothing; his notice says they have his text, what a reply sends again and how #note avoids it', async () => {
    env = await testEnv(MODE_NONE);
    await stored(eml({ from: JANE, cc: 'Boss <boss@customer.example>, Ben Agent <ben@example.com>', subject: 'VPN broken', messageId: 'jane-1@customer.example', body: 'The VPN says "certificate expired".', auth: null }));
    const before = (await outbox()).length;
    await stored(eml({ from: 'Ben Agent <ben@example.com>', to: JANE, cc: 'Example Support <support@example.com>, Boss <boss@customer.example>', subject: 'Re: VPN broken', inReplyTo: 'jane-1@customer.example', references: '<jane-1@customer.example>', messageId: 'ben-direct@example.com', body: 'Hi Jane,\n\nplease renew the certificate.', auth: null }));
    const after = (await outbox()).slice(before);
    expect(after.filter((o) => o.to_address.endsWith('@customer.example') || o.cc_json.includes('@customer.example'))).toEqual([]);
    const told = after.filter((o) => o.kind === 'unproven-staff');
    expect(told.map((o) => o.to_address)).toEqual(['ben@example.com']);
    expect(told[0]!.text).toContain('Your email itself went from your mail client to jane@customer.example, boss@customer.example: they have your text, but case 10001 does not show it as its answer.');
    expect(told[0]!.text).not.toContain('nothing was sent to the customer');
    expect(told[0]!.text).toContain('#note on the first line');
    expect(told[0]!.html).toContain('Your email itself went from your mail client to jane@customer.example, boss@customer.example');
  });

  it('an agent’s #close on a resolved case, answering a colleague’s notification, does not reopen it as a customer reply', async () => {
    env = await testEnv(MODE_NONE);
    await stored(eml({ from: JANE, subject: 'VPN broken', messageId: 'jane-1@customer.example', body: 'The VPN says "certificate expired".', auth: null }));
    const asOrig = (n: OutboxRow): Original => ({ messageId: n.message_id, subject: n.subject, text: n.text, fromName: n.from_name, fromAddress: n.from_address });
    const toBen = asOrig((await sentTo('ben@example.com', 'agent-notification'))[0]!);
    await stored(reply(toBen, '#resolve\nThe new certificate fixes it.'));
    expect((await case10001()).status).toBe('resolved');
    const before = (await outbox()).length;
    await stored(reply(toBen, '#close', { from: 'Carla Agent <carla@example.com>' }));
    expect((await case10001()).status).toBe('resolved');
    expect(await eventTypes()).not.toContain('case.reopened');
    expect(await eventTypes()).toContain('case.not-reopened');
    // No "your case has been reopened" to Carla as if she were the customer: the notice instead
    // (and the owner reads her message, as any message in the case).
    expect((await outbox()).slice(before).map((o) => [o.kind, o.to_address])).toEqual([
      ['unproven-staff', 'carla@example.com'],
      ['agent-notification', 'ben@example.com'],
    ]);
  });

  it('the bare subject tag from an agent address is a customer mail: a new linked case, nothing done in the tagged one', async () => {
    const orig = await newCase(MODE_NONE);
    const out = await stored(reply(orig, '#resolve\nFixed.', { style: 'bare' }));
    expect(out).toMatchObject({ created: true, caseNumber: 10002, reason: 'new case (new-stranger-tag)' });
    expect((await case10001()).status).toBe('new');
    expect(await sentTo('jane@customer.example', 'agent-reply')).toHaveLength(0);
    expect(await sentTo('ben@example.com', 'forged-sender')).toHaveLength(0);
    expect((await caseByNumber(env.ctx.db, 10002))!).toMatchObject({ requester_address: 'ben@example.com', linked_case_id: (await case10001()).id, status: 'new' });
    // Ben gets no customer confirmation for "his" case 10002, but is told about case 10001 he meant.
    const toBen = (await sentTo('ben@example.com')).filter((o) => o.kind !== 'agent-notification');
    expect(toBen.map((o) => o.kind)).toEqual(['unproven-staff']);
    expect(toBen[0]!.subject).toMatch(/^\[Case #10001\] Not done/);
    expect(toBen[0]!.text).toContain('It was stored in case 10002 as a customer message.');
    expect(toBen[0]!.text).toContain('#resolve\nFixed.');
  });

  it('a stranger forging Ben’s From with a copied customer-visible Message-ID changes nothing and enrols nobody', async () => {
    const orig = await newCase(MODE_NONE);
    // Ben really answered once (he is a participant of the case now, as agent).
    await stored(reply(orig, 'We are on it.'));
    // Boss (in Cc) saw that answer; its Message-ID is what a stranger can copy.
    const seen = (await sentTo('boss@customer.example', 'agent-reply'))[0]!;
    const forged = eml({
      from: 'Ben Agent <ben@example.com>',
      cc: 'Mallory <mallory@evil.example>',
      subject: `Re: ${seen.subject}`,
      inReplyTo: seen.message_id,
      references: `<jane-1@customer.example> <${seen.message_id}>`,
      body: '#close\n#assign carla\nPlease send your password to mallory@evil.example.',
      auth: null,
    });
    const before = (await outbox()).length;
    const out = await stored(forged);
    expect(out).toMatchObject({ created: false, caseNumber: 10001, reason: 'appended (signed-reference)' });
    const c = await case10001();
    expect(c).toMatchObject({ status: 'open', owner: 'ben@example.com' });
    // Nothing relayed to the customer; Ben gets a customer-reply notification about "his" message at most — never a warning.
    const after = (await outbox()).slice(before);
    expect(after.filter((o) => o.to_address.endsWith('@customer.example') || o.to_address.endsWith('@evil.example'))).toEqual([]);
    expect(after.filter((o) => o.kind === 'forged-sender')).toEqual([]);
    expect((await participants(env.ctx.db, c.id)).map((p) => p.address)).not.toContain('mallory@evil.example');
    expect(await eventTypes()).toContain('sender.unproven-staff');
    const stored2 = (await messagesOfCase(env.ctx.db, c.id)).find((m) => m.visible_text.includes('send your password'))!;
    expect(stored2).toMatchObject({ internal: 0, author: null });
  });
});

describe('a colleague copied on an agent’s reply', () => {
  it('Ben copies Carla (staff) on his reply: she is not enrolled as a copied customer, so a stranger forging Carla’s From with a customer-visible Message-ID still enrols nobody', async () => {
    const orig = await newCase(MODE_NONE);
    await stored(reply(orig, 'We are on it; Carla reads along.', { cc: 'Carla Agent <carla@example.com>' }));
    const c = await case10001();
    expect((await participants(env.ctx.db, c.id)).map((p) => p.address)).not.toContain('carla@example.com');
    const seen = (await sentTo('boss@customer.example', 'agent-reply'))[0]!;
    expect(seen.cc_json).not.toContain('carla@example.com');
    await stored(
      eml({
        from: 'Carla Agent <carla@example.com>',
        cc: 'Mallory <mallory@evil.example>',
        subject: `Re: ${seen.subject}`,
        inReplyTo: seen.message_id,
        references: `<jane-1@customer.example> <${seen.message_id}>`,
        body: 'Please send your password to mallory@evil.example.',
        auth: null,
      }),
    );
    expect((await participants(env.ctx.db, c.id)).map((p) => p.address)).not.toContain('mallory@evil.example');
    expect(await sentTo('mallory@evil.example')).toEqual([]);
  });

  it('a staff address enrolled as a copied customer before (older versions did) gives an unproven From of it no participant rights either', async () => {
    const orig = await newCase(MODE_NONE);
    await stored(reply(orig, 'We are on it.'));
    const c = await case10001();
    await addParticipant(env.ctx.db, c.id, 'carla@example.com', 'Carla Agent', 'cc', new Date().toISOString());
    const seen = (await sentTo('boss@customer.example', 'agent-reply'))[0]!;
    await stored(eml({ from: 'Carla Agent <carla@example.com>', cc: 'Mallory <mallory@evil.example>', subject: `Re: ${seen.subject}`, inReplyTo: seen.message_id, references: `<${seen.message_id}>`, body: 'Hello', auth: null }));
    expect((await participants(env.ctx.db, c.id)).map((p) => p.address)).not.toContain('mallory@evil.example');
  });
});

describe('a notification forwarded to an outsider', () => {
  it.each([
    ['reopens a resolved case', 'Still broken, what is the status of this?', 'reopened', ['agent-notification']],
    ['asks for the status', 'status', 'status-summary', []],
    ['asks to escalate', 'Please escalate this at once.', 'escalation-ack', ['agent-notification']],
  ])('their reply (which %s) lands in the case for the agents, but no automatic reply with the case and its link reaches them', async (_what, body, kind, staffMail) => {
    env = await testEnv({ ...TRUSTED, web: { enabled: true, baseUrl: 'https://help.example.com' } });
    await stored(eml({ from: JANE, subject: 'VPN broken', messageId: 'jane-1@customer.example', body: 'The VPN says "certificate expired".' }));
    const n = (await sentTo('ben@example.com', 'agent-notification'))[0]!;
    const toBen: Original = { messageId: n.message_id, subject: n.subject, text: n.text, fromName: n.from_name, fromAddress: n.from_address };
    await stored(reply(toBen, '#resolve\nThe new certificate fixes it.', { headers: mxHeaderFields('example.com', 'pass') }));
    // Jane's own mail carries her case link; Ben forwarded his notification to an outsider, who answers it.
    expect((await sentTo('jane@customer.example', 'agent-reply'))[0]!.text).toContain('https://help.example.com/c/10001.');
    const before = (await outbox()).length;
    const out = await stored(reply(toBen, body, { from: 'Mallory <mallory@evil.example>', headers: mxHeaderFields('evil.example', 'pass') }));
    expect(out).toMatchObject({ created: false, caseNumber: 10001 });
    const after = (await outbox()).slice(before);
    expect(after.filter((o) => !o.to_address.endsWith('@example.com'))).toEqual([]);
    expect(after.map((o) => [o.kind, o.to_address])).toEqual(staffMail.map((k) => [k, 'ben@example.com']));
    const events = await eventsOfCase(env.ctx.db, (await case10001()).id);
    if (kind === 'escalation-ack') {
      // Nor does a non-participant escalate the case (the tiers are not alerted).
      expect(events.find((e) => e.type === 'escalation.refused')?.reason).toBe('mallory@evil.example asked to escalate but is not a participant of case 10001: not escalated');
      expect((await case10001()).escalation_level).toBe(0);
    } else {
      const suppressed = events.filter((e) => e.type === 'auto-reply.suppressed').map((e) => e.reason);
      expect(suppressed.some((r) => r.includes(`${kind} not sent: mallory@evil.example is not a participant of case 10001`))).toBe(true);
    }
  });
});

describe('an agent removed from the configuration', () => {
  it('answering an old notification is no participant any more: nobody they copy is enrolled, no automatic reply; the queue’s agents are notified, not the ex-owner', async () => {
    env = await testEnv({ ...TRUSTED, web: { enabled: true, baseUrl: 'https://help.example.com' } });
    await stored(eml({ from: JANE, subject: 'VPN broken', messageId: 'jane-1@customer.example', body: 'The VPN says "certificate expired".' }));
    const n = (await sentTo('carla@example.com', 'agent-notification'))[0]!;
    const toCarla: Original = { messageId: n.message_id, subject: n.subject, text: n.text, fromName: n.from_name, fromAddress: n.from_address };
    await stored(reply(toCarla, '#resolve\nThe new certificate fixes it.', { from: 'Carla Agent <carla@example.com>', headers: mxHeaderFields('example.com', 'pass') }));
    expect(await case10001()).toMatchObject({ owner: 'carla@example.com', status: 'resolved' });
    // Carla leaves the team: the configuration no longer names her (a restart on the same data).
    await closeContext(env.ctx);
    const resolved = writeConfig(env.dir, {
      mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
      templates: { watch: false },
      web: { enabled: true, baseUrl: 'https://help.example.com' },
      queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } },
      security: { senderAuth: TRUSTED_SENDER_AUTH },
    });
    const ctx: AppContext = await createContext({ resolved, log: silentLogger(), clock: env.clock });
    const dir = env.dir;
    Object.assign(env, { ctx, close: async () => { await closeContext(ctx); rmSync(dir, { recursive: true, force: true }); } });
    const before = (await ctx.db.selectFrom('outbox').select('id').execute()).length;
    const raw = reply(toCarla, 'I have left the company; my friend Mallory will help you further.', { from: 'Carla <carla@example.com>', cc: 'Mallory <mallory@evil.example>', headers: mxHeaderFields('example.com', 'pass') });
    const out = await runPipeline(ctx, { channel: 'test', mailbox: ctx.mailboxes.default, envelopeFrom: null, envelopeTo: [], receivedAt: env.clock.now(), raw: await ctx.blobs.put(Readable.from([Buffer.from(raw)])) });
    expect(out).toMatchObject({ kind: 'stored', caseNumber: 10001 });
    const c = (await caseByNumber(ctx.db, 10001))!;
    expect((await participants(ctx.db, c.id)).map((p) => p.address)).not.toContain('mallory@evil.example');
    const after = (await ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute()).slice(before);
    expect(after.map((o) => [o.kind, o.to_address])).toEqual([['agent-notification', 'ben@example.com']]);
  });
});

describe('agent trust with security.senderAuth.mode trusted-header', () => {
  it('a passing sender check proves the agent (even by the bare subject tag)', async () => {
    const orig = await newCase(TRUSTED, 'pass');
    const out = await stored(reply(orig, '#pending\nWhich client version?', { style: 'bare', headers: mxHeaderFields('example.com', 'pass') }));
    expect(out.reason).toBe('agent mail (subject-tag)');
    expect((await case10001()).status).toBe('pending');
  });

  it('mail that did not pass our MX (auth none) still acts when it answers Ben’s own staff mail', async () => {
    const orig = await newCase(TRUSTED, 'pass');
    const out = await stored(reply(orig, '#tag vpn'));
    expect(out.reason).toBe('agent mail (signed-reference)');
    expect(await eventTypes()).toContain('case.tagged');
  });

  it('two From fields, our MX vouching for the stranger’s (dmarc=pass header.from=evil.example): not Ben, nothing done, nobody enrolled', async () => {
    const orig = await newCase(TRUSTED, 'pass');
    const janeMail = (await sentTo('jane@customer.example', 'confirmation'))[0]!;
    const raw = eml({
      from: 'Ben Agent <ben@example.com>',
      subject: 'Re: [Case #10001] VPN broken',
      inReplyTo: janeMail.message_id.replace(/^<|>$/g, ''),
      headers: { From: 'Mallory <m@evil.example>' },
      auth: null,
      body: '#priority urgent\nRaised.',
    });
    const out = await stored([...mxHeaders('evil.example', 'pass'), raw].join('\r\n'));
    expect(out.reason).toBe('appended (signed-reference)');
    const c = await case10001();
    expect(c.priority).toBe('normal');
    expect(await eventTypes()).not.toContain('case.priority');
    expect(await sentTo('jane@customer.example', 'agent-reply')).toHaveLength(0);
    const msgs = await messagesOfCase(env.ctx.db, c.id);
    expect(msgs.filter((m) => m.direction === 'in').at(-1)).toMatchObject({ from_address: 'ben@example.com', internal: 0, author: null });
    expect((await participants(env.ctx.db, c.id)).map((p) => p.address)).not.toContain('m@evil.example');
    void orig;
  });

  it('one From field naming two addresses is not proven either, though our MX passed the first one’s domain', async () => {
    await newCase(TRUSTED, 'pass');
    const out = await stored(eml({ from: 'ben@example.com, m@evil.example', subject: 'Re: [Case #10001] VPN broken', body: '#close\nDone.' }));
    expect(out.reason).not.toMatch(/^agent mail/);
    expect((await case10001()).status).not.toBe('closed');
  });

  it('DMARC fail wins over a signed staff Message-ID (a stolen notification): a customer message, and Ben is warned', async () => {
    const orig = await newCase(TRUSTED, 'pass');
    const out = await stored(reply(orig, '#close\nStolen.', { headers: mxHeaderFields('example.com', 'fail') }));
    expect(out.reason).toBe('appended (signed-reference)');
    expect((await case10001()).status).toBe('new');
    expect(await sentTo('ben@example.com', 'forged-sender')).toHaveLength(1);
  });
});
