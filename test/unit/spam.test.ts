import { afterEach, describe, expect, it } from 'vitest';
import { spamSettings } from '../../src/config/spam-schema.js';
import { spamVerdict } from '../../src/mail-in/spam-verdict.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { makeMail } from '../helpers/parsed-mail-factory.js';

const defaults = spamSettings.parse({});

describe('spamVerdict: the MX verdict headers', () => {
  it.each([
    ['X-Spam-Flag: YES', { 'x-spam-flag': 'YES' }, true],
    ['X-Spam-Status: Yes', { 'x-spam-status': 'Yes, score=7.2 required=5.0 tests=BAYES_99' }, true],
    ['X-Spam-Status: No', { 'x-spam-status': 'No, score=2.1 required=5.0' }, false],
    ['rspamd X-Spam: Yes', { 'x-spam': 'Yes' }, true],
    ['Exchange SCL 6', { 'x-ms-exchange-organization-scl': '6' }, true],
    ['Exchange SCL 1', { 'x-ms-exchange-organization-scl': '1' }, false],
    ['Exchange SCL -1 (trusted)', { 'x-ms-exchange-organization-scl': '-1' }, false],
    ['no verdict', {}, false],
  ])('%s', (_name, headers, spam) => {
    expect(spamVerdict(makeMail({ headers }), defaults) !== null).toBe(spam);
  });

  it('only the topmost header counts: the MX writes above what the sender wrote', () => {
    const mail = makeMail({ headers: { 'x-spam-status': ['No, score=0.3 required=5.0', 'Yes, score=99 (forged by the sender)'] } });
    expect(spamVerdict(mail, defaults)).toBeNull();
  });

  it('a configured score header and threshold', () => {
    const settings = spamSettings.parse({ scoreHeader: 'X-Rspamd-Score', threshold: 8 });
    expect(spamVerdict(makeMail({ headers: { 'x-rspamd-score': '9.5' } }), settings)).toEqual({ reason: 'X-Rspamd-Score: 9.5 (threshold 8)', score: 9.5 });
    expect(spamVerdict(makeMail({ headers: { 'x-rspamd-score': '7.9' } }), settings)).toBeNull();
    expect(spamVerdict(makeMail({ headers: { 'x-rspamd-score': 'garbage' } }), settings)).toBeNull();
  });

  it('enabled: false ignores every verdict', () => {
    expect(spamVerdict(makeMail({ headers: { 'x-spam-flag': 'YES' } }), spamSettings.parse({ enabled: false }))).toBeNull();
  });
});

describe('suspected spam through the pipeline', () => {
  let env: TestEnv;
  afterEach(async () => env?.close());

  it('a spam verdict on a reply is recorded in the case without reopening it or answering', async () => {
    env = await testEnv();
    const first = await env.ingest(eml({ messageId: 'jane-1@customer.example', subject: 'Printer on fire' }));
    expect(first.kind).toBe('stored');
    const confirmation = await env.ctx.db.selectFrom('outbox').select(['message_id', 'case_id']).executeTakeFirstOrThrow();
    await env.ctx.db.updateTable('cases').set({ status: 'resolved', resolved_at: '2026-03-02T09:00:00Z' }).execute();
    const reply = await env.ingest(
      eml({ messageId: 'jane-2@customer.example', subject: 'Re: Printer on fire', inReplyTo: confirmation.message_id, headers: { 'X-Spam-Flag': 'YES', 'X-Spam-Status': 'Yes, score=6.1 required=5.0' } }),
    );
    expect(reply).toMatchObject({ kind: 'stored', created: false, caseNumber: 10001 });
    const c = await env.ctx.db.selectFrom('cases').selectAll().executeTakeFirstOrThrow();
    expect([c.status, c.spam]).toEqual(['resolved', 0]);
    const m = await env.ctx.db.selectFrom('messages').select(['message_id', 'spam']).where('direction', '=', 'in').orderBy('id').execute();
    expect(m).toEqual([
      { message_id: 'jane-1@customer.example', spam: 0 },
      { message_id: 'jane-2@customer.example', spam: 1 },
    ]);
    expect(await env.ctx.db.selectFrom('outbox').select('id').execute()).toHaveLength(1);
    const events = await env.ctx.db.selectFrom('events').select('type').where('case_id', '=', confirmation.case_id).execute();
    expect(events.map((e) => e.type)).toContain('message.spam-suspected');
  });

  it('an "Urgent –" spam escalates nothing and alerts nobody', async () => {
    env = await testEnv({ queues: { support: { tiers: { '1': { addresses: ['lead@example.com'] } } } } });
    const out = await env.ingest(eml({ subject: 'Urgent – your account will be closed', body: 'Please escalate now.', headers: { 'X-Spam-Flag': 'YES' } }));
    expect(out).toMatchObject({ kind: 'stored', created: true });
    const c = await env.ctx.db.selectFrom('cases').selectAll().executeTakeFirstOrThrow();
    expect([c.spam, c.escalated]).toEqual([1, 0]);
    expect(await env.ctx.db.selectFrom('outbox').select('id').execute()).toEqual([]);
    const refused = await env.ctx.db.selectFrom('events').select('reason').where('type', '=', 'escalation.refused').executeTakeFirst();
    expect(refused?.reason).toMatch(/suspected spam/);
  });

  it('a sender who forges a spam verdict only silences their own confirmation (documented, harmless)', async () => {
    env = await testEnv();
    const out = await env.ingest(eml({ from: 'joker@customer.example', headers: { 'X-Spam-Flag': 'YES' } }));
    expect(out).toMatchObject({ kind: 'stored', created: true });
    expect(await env.ctx.db.selectFrom('outbox').select('id').execute()).toEqual([]);
    const held = await env.ctx.db.selectFrom('events').select('reason').where('type', '=', 'auto-reply.held').executeTakeFirstOrThrow();
    expect(held.reason).toContain('casegate cases ham 10001');
  });
});
