/**
 * Contact forms and shop systems (mailboxes[].formSenders): mail they write From their own address
 * — a no-reply one, or the support address itself — with the person in Reply-To opens the case for
 * that person; for anybody else Reply-To changes nothing. Whole pipeline on a fresh database.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { caseByNumber, participants } from '../../src/db/repos/cases.js';
import { workCase } from '../../src/cases/agent-work.js';
import { formMail, formSenderEntry, ownListAddress } from '../../src/mail-in/form-mail.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';

let env: TestEnv;
afterEach(async () => {
  await env?.close();
});

const FORMS = (formSenders: string[]): ConfigInput => ({
  mailboxes: [{ name: 'support', addresses: ['support@example.com'], formSenders }],
  queues: { support: { agents: [{ address: 'ben@example.com', name: 'Ben' }] } },
  autoReply: { minIntervalSeconds: 0 },
});

/** What the case sent outside the staff (ben@ gets the agents' notifications). */
async function outboxTo(caseNumber: number): Promise<{ kind: string; to: string }[]> {
  const c = (await caseByNumber(env.ctx.db, caseNumber))!;
  const rows = await env.ctx.db.selectFrom('outbox').select(['kind', 'to_address']).where('case_id', '=', c.id).where('to_address', '!=', 'ben@example.com').orderBy('id').execute();
  return rows.map((r) => ({ kind: r.kind, to: r.to_address }));
}

const FORM_BODY = 'Name: Jane Customer\nE-mail: jane@customer.example\nMessage: the printer is on fire again';

describe('form mail: the person in Reply-To of a named form sender writes it', () => {
  it('a form writing From our own support address opens the case for the Reply-To person, who gets the confirmation', async () => {
    env = await testEnv(FORMS(['support@example.com']));
    const out = await env.ingest(eml({ from: 'Website <support@example.com>', headers: { 'Reply-To': 'Jane Customer <jane@customer.example>' }, subject: 'Contact form: printer', body: FORM_BODY }));
    expect(out).toMatchObject({ kind: 'stored', created: true, caseNumber: 10001 });
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    expect(c.requester_address).toBe('jane@customer.example');
    expect(c.requester_name).toBe('Jane Customer');
    expect((await participants(env.ctx.db, c.id)).map((p) => p.address)).toEqual(['jane@customer.example']);
    expect(await outboxTo(10001)).toContainEqual({ kind: 'confirmation', to: 'jane@customer.example' });
    expect((await outboxTo(10001)).map((r) => r.to)).not.toContain('support@example.com');
  });

  it('a no-reply form address named as a whole domain is not machine mail; the person is answered', async () => {
    env = await testEnv(FORMS(['@forms.example']));
    const out = await env.ingest(eml({ from: 'noreply@forms.example', headers: { 'Reply-To': 'jane@customer.example' }, body: FORM_BODY }));
    expect(out).toMatchObject({ kind: 'stored', created: true });
    expect(await outboxTo(10001)).toContainEqual({ kind: 'confirmation', to: 'jane@customer.example' });
  });

  it('the person’s answer to the confirmation threads into their case', async () => {
    env = await testEnv(FORMS(['support@example.com']));
    await env.ingest(eml({ from: 'support@example.com', headers: { 'Reply-To': 'jane@customer.example' }, body: FORM_BODY }));
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    const conf = await env.ctx.db.selectFrom('outbox').select('message_id').where('case_id', '=', c.id).where('kind', '=', 'confirmation').executeTakeFirstOrThrow();
    const reply = await env.ingest(eml({ from: 'jane@customer.example', subject: 'Re: Printer on fire', inReplyTo: conf.message_id, references: `<${conf.message_id}>`, body: 'It is still burning.' }));
    expect(reply).toMatchObject({ kind: 'stored', created: false, caseNumber: 10001 });
  });

  it('the person is not proven: their address carries no rights from the From alone, and a forged form is never answered', async () => {
    env = await testEnv(FORMS(['@forms.example']));
    await env.ingest(eml({ from: 'noreply@forms.example', headers: { 'Reply-To': 'jane@customer.example' }, body: FORM_BODY }));
    const receipt = await env.ctx.db.selectFrom('receipts').select(['from_address']).orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(receipt.from_address).toBe('jane@customer.example');
    const forged = await env.ingest(eml({ from: 'noreply@forms.example', auth: 'fail', headers: { 'Reply-To': 'victim@elsewhere.example' }, body: FORM_BODY }));
    expect(forged).toMatchObject({ kind: 'stored', created: true, caseNumber: 10002 });
    expect(await outboxTo(10002)).toEqual([]);
  });

  it('form mail that names nobody to answer is quarantined, with the reason', async () => {
    env = await testEnv(FORMS(['support@example.com', '@forms.example']));
    const cases: [Record<string, string>, RegExp][] = [
      [{}, /its Reply-To names nobody/],
      [{ 'Reply-To': 'a@customer.example, b@customer.example' }, /Reply-To names 2 addresses/],
      [{ 'Reply-To': 'support@example.com' }, /one of our own addresses|form’s own address/],
      [{ 'Reply-To': 'ben@example.com' }, /a staff address/],
    ];
    for (const [headers, why] of cases) {
      const out = await env.ingest(eml({ from: 'noreply@forms.example', headers, body: FORM_BODY }));
      expect(out.kind).toBe('quarantined');
      expect(out.reason).toMatch(/^form mail from noreply@forms\.example \(mailboxes\[\]\.formSenders\)/);
      expect(out.reason).toMatch(why);
    }
  });
});

describe('Reply-To of anybody else changes nothing', () => {
  it('without formSenders, mail From our own address is a loop, and the reason points at formSenders', async () => {
    env = await testEnv(FORMS([]));
    const out = await env.ingest(eml({ from: 'support@example.com', headers: { 'Reply-To': 'jane@customer.example' }, body: FORM_BODY }));
    expect(out.kind).toBe('ignored');
    expect(out.reason).toMatch(/loop: sent from our own address support@example\.com .*mailboxes\[\]\.formSenders/);
  });

  it('a stranger naming a third party in Reply-To gets the confirmation himself; the third party gets nothing', async () => {
    env = await testEnv(FORMS(['@forms.example']));
    const out = await env.ingest(eml({ from: 'mallory@evil.example', headers: { 'Reply-To': 'victim@elsewhere.example' } }));
    expect(out).toMatchObject({ kind: 'stored', created: true });
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    expect(c.requester_address).toBe('mallory@evil.example');
    expect((await outboxTo(10001)).map((r) => r.to)).toEqual(['mallory@evil.example']);
  });

  it('our own outgoing mail coming back stays a loop even when our address is a form sender', async () => {
    env = await testEnv(FORMS(['support@example.com']));
    await env.ingest(eml({ from: 'support@example.com', headers: { 'Reply-To': 'jane@customer.example' }, body: FORM_BODY }));
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    const conf = await env.ctx.db.selectFrom('outbox').select('message_id').where('case_id', '=', c.id).where('kind', '=', 'confirmation').executeTakeFirstOrThrow();
    const back = await env.ingest(eml({ from: 'support@example.com', messageId: conf.message_id, headers: { 'Reply-To': 'jane@customer.example', 'X-Loop': 'support@example.com' } }));
    expect(back.kind).toBe('ignored');
    expect(back.reason).toMatch(/^loop:/);
  });
});

describe('formMail (the decision alone)', () => {
  const person = { address: 'jane@customer.example', name: 'Jane' };
  const none = (): null => null;
  it('matches an address or a whole domain, nothing else', () => {
    expect(formSenderEntry('Forms@Shop.Example', ['forms@shop.example'])).toBe('forms@shop.example');
    expect(formSenderEntry('x@shop.example', ['@shop.example'])).toBe('@shop.example');
    expect(formSenderEntry('x@evilshop.example', ['@shop.example'])).toBeNull();
    expect(formSenderEntry('x@sub.shop.example', ['@shop.example'])).toBeNull();
  });
  it('several From addresses are never form mail on anyone’s behalf', () => {
    expect(formMail({ from: { address: 'forms@shop.example', name: '' }, fromCount: 2, replyTo: [person] }, ['forms@shop.example'], none)).toMatchObject({ kind: 'unusable' });
    expect(formMail({ from: { address: 'forms@shop.example', name: '' }, fromCount: 1, replyTo: [person, person] }, ['forms@shop.example'], none)).toEqual({ kind: 'on-behalf', how: 'form', person, via: 'forms@shop.example' });
    expect(formMail({ from: { address: 'other@shop.example', name: '' }, fromCount: 1, replyTo: [person] }, ['forms@shop.example'], none)).toBeNull();
  });
});

/** A Google Group at support@example.com forwards to the mailbox casegate reads (automail hunt F13). */
const GROUP_HEADERS = {
  'Precedence': 'list',
  'Mailing-list': 'list support@example.com; contact support+owners@example.com',
  'List-ID': '<support.example.com>',
  'X-Google-Group-Id': '902345118',
  'List-Post': '<https://groups.google.com/a/example.com/group/support/post>, <mailto:support@example.com>',
  'List-Help': '<https://support.google.com/a/example.com/bin/topic.py?topic=25838>, <mailto:support+help@example.com>',
  'List-Unsubscribe': '<mailto:googlegroups-manage+902345118+unsubscribe@googlegroups.com>',
  'X-Spam-Checked-In-Group': 'support@example.com',
};

describe('support@ is a group of our own (Google Groups)', () => {
  it('its list headers are our own distribution: the customer gets the confirmation', async () => {
    env = await testEnv(FORMS([]));
    const out = await env.ingest(eml({ headers: GROUP_HEADERS }));
    expect(out).toMatchObject({ kind: 'stored', created: true });
    expect(await outboxTo(10001)).toEqual([{ kind: 'confirmation', to: 'jane@customer.example' }]);
  });

  it('a From the group rewrote for DMARC ("\'Jane\' via Support <support@…>") is Jane’s mail, not our own', async () => {
    env = await testEnv(FORMS([]));
    const out = await env.ingest(
      eml({ from: "'Jane Customer' via Support <support@example.com>", headers: { ...GROUP_HEADERS, 'Reply-To': 'Jane Customer <jane@customer.example>', 'X-Original-Sender': 'jane@customer.example' } }),
    );
    expect(out).toMatchObject({ kind: 'stored', created: true });
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    expect(c).toMatchObject({ requester_address: 'jane@customer.example', requester_name: 'Jane Customer' });
    expect(await outboxTo(10001)).toEqual([{ kind: 'confirmation', to: 'jane@customer.example' }]);
    // Without Reply-To the group's X-Original-Sender names her, and the name comes from "… via …".
    const again = await env.ingest(eml({ from: "'Bob Builder' via Support <support@example.com>", headers: { ...GROUP_HEADERS, 'X-Original-Sender': 'bob@builder.example' } }));
    expect(again).toMatchObject({ kind: 'stored', created: true });
    expect((await caseByNumber(env.ctx.db, 10002))!).toMatchObject({ requester_address: 'bob@builder.example', requester_name: 'Bob Builder' });
  });

  it('our own mail relayed back through our group (an agent copied support@) is a loop, not a form to quarantine', async () => {
    env = await testEnv(FORMS([]));
    await env.ingest(eml({ body: 'Printer on fire.' }));
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    const conf = await env.ctx.db.selectFrom('outbox').select(['message_id', 'headers_json']).where('case_id', '=', c.id).where('kind', '=', 'confirmation').executeTakeFirstOrThrow();
    const ours = JSON.parse(conf.headers_json) as Record<string, string>;
    const back = await env.ingest(
      eml({ from: 'Example Support <support@example.com>', messageId: conf.message_id, subject: '[Case #10001] We have received your request', headers: { ...GROUP_HEADERS, 'X-Original-Sender': 'support@example.com', 'X-Loop': ours['X-Loop']! } }),
    );
    expect(back.kind).toBe('ignored');
    expect(back.reason).toMatch(/^loop:/);
    expect(await env.ctx.db.selectFrom('receipts').select('id').where('outcome', '=', 'quarantined').execute()).toEqual([]);
  });

  it('a rewritten From naming nobody is quarantined; someone else’s list is still bulk mail', async () => {
    env = await testEnv(FORMS([]));
    const nobody = await env.ingest(eml({ from: "'Jane' via Support <support@example.com>", headers: GROUP_HEADERS }));
    expect(nobody.kind).toBe('quarantined');
    expect(nobody.reason).toMatch(/^mail our group support@example\.com relayed with its From rewritten that names nobody to answer/);
    const foreign = await env.ingest(eml({ headers: { ...GROUP_HEADERS, 'Mailing-list': 'list users@lists.other.example', 'List-Post': '<mailto:users@lists.other.example>', 'X-Spam-Checked-In-Group': 'users@lists.other.example' } }));
    expect(foreign).toMatchObject({ kind: 'stored' });
    expect(await env.ctx.db.selectFrom('outbox').select('kind').where('to_address', '=', 'jane@customer.example').execute()).toEqual([]);
  });

  it('ownListAddress reads Mailing-list, List-Post mailto: and X-Spam-Checked-In-Group, and only our own addresses', () => {
    const own = (a: string) => a === 'support@example.com';
    const h = (o: Record<string, string>) => ({ headers: new Map(Object.entries(o).map(([k, v]) => [k.toLowerCase(), [v]])) });
    expect(ownListAddress(h({ 'Mailing-list': 'list support@example.com; contact x@example.com' }), own)).toBe('support@example.com');
    expect(ownListAddress(h({ 'List-Post': '<https://x>, <mailto:support@example.com>' }), own)).toBe('support@example.com');
    expect(ownListAddress(h({ 'List-Post': '<mailto:users@other.example>' }), own)).toBeNull();
    expect(ownListAddress(h({ 'List-Id': '<support.example.com>' }), own)).toBeNull();
  });
});

describe('someone else’s list that rewrote the From (automail hunt F6)', () => {
  const MAILMAN = {
    'List-Id': 'Users of Product <users.lists.other.example>',
    'List-Post': '<mailto:users@lists.other.example>',
    'List-Unsubscribe': '<mailto:users-leave@lists.other.example>',
    'Precedence': 'list',
  };

  it('the writer is the person, not the list: an agent’s answer goes to her alone, and list mail is never answered automatically', async () => {
    env = await testEnv(FORMS([]));
    const out = await env.ingest(eml({ from: 'Jane Customer via Users <users@lists.other.example>', headers: { ...MAILMAN, 'Reply-To': 'Jane Customer <jane@customer.example>' }, body: 'The export is broken.' }));
    expect(out).toMatchObject({ kind: 'stored', created: true });
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    expect(c).toMatchObject({ requester_address: 'jane@customer.example', requester_name: 'Jane Customer' });
    expect(await outboxTo(10001)).toEqual([]);
    await env.ctx.db.transaction().execute((trx) => workCase(trx, env.ctx, c.id, { actor: 'cli:test', by: 'test', address: null, replyName: '' }, { commands: [], text: 'Fixed in 2.1.', note: false, attachments: [], messageRowId: null }));
    const sent = await outboxTo(10001);
    expect(sent.map((r) => r.to)).toEqual(['jane@customer.example']);
  });

  it('with X-Original-From and without Reply-To too; a list that names nobody keeps its own address', async () => {
    env = await testEnv(FORMS([]));
    await env.ingest(eml({ from: '"Bob via Users" <users@lists.other.example>', headers: { ...MAILMAN, 'X-Original-From': 'Bob <bob@builder.example>' } }));
    expect((await caseByNumber(env.ctx.db, 10001))!.requester_address).toBe('bob@builder.example');
    const plain = await env.ingest(eml({ from: 'Users <users@lists.other.example>', headers: MAILMAN }));
    expect(plain).toMatchObject({ kind: 'stored', created: true });
    expect((await caseByNumber(env.ctx.db, 10002))!.requester_address).toBe('users@lists.other.example');
  });
});
