import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { messagesOfCase } from '../../src/db/repos/messages.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';

/**
 * Re-sent copies under new Message-IDs (stages/resend.ts, flood F5 of hunt 9): one case, the copies
 * ignored naming the original, nothing sent — and the same words written again on purpose stay new
 * messages. One database for the file; each test has a sender of its own.
 */
let env: TestEnv;
beforeAll(async () => {
  env = await testEnv({ autoReply: { minIntervalSeconds: 0 } });
});
afterAll(async () => {
  await env.close();
});

const MIN = 60_000;
/** An RFC 5322 Date at the test clock's time plus `ms`. */
const dateAt = (ms = 0) => new Date(env.clock.now().getTime() + ms).toUTCString().replace('GMT', '+0000');

async function outboxTo(address: string) {
  return env.ctx.db.selectFrom('outbox').select(['kind', 'to_address']).where('to_address', '=', address).execute();
}
async function receiptOf(id: number) {
  return env.ctx.db.selectFrom('receipts').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

describe('a message re-sent under a new Message-ID', () => {
  it('a stuck outbox sending the same message (same Date) again, minutes and hours later, opens one case; each copy ends ignored naming the original receipt and case, and nothing is sent', async () => {
    const from = 'Olga <olga@customer.example>';
    const date = dateAt();
    const message = { from, subject: 'Invoice 4711 is wrong', body: 'The amount on invoice 4711 is wrong.\nPlease correct it.', date };
    const first = await env.ingest(eml({ ...message, messageId: 'o1@customer.example' }));
    expect(first).toMatchObject({ kind: 'stored', created: true });
    if (first.kind !== 'stored') return;
    const sentBefore = await env.ctx.db.selectFrom('outbox').select('id').execute();
    for (const [i, later] of [2 * MIN, 3 * 60 * MIN, 2 * 24 * 60 * MIN].entries()) {
      env.clock.advance(later);
      const copy = await env.ingest(eml({ ...message, messageId: `o${i + 2}@customer.example` }));
      expect(copy).toMatchObject({ kind: 'ignored', caseNumber: first.caseNumber });
      if (copy.kind !== 'ignored') return;
      expect(copy.reason).toMatch(new RegExp(`^re-sent copy of receipt ${first.receiptId} \\(case #${first.caseNumber}\\) under a new Message-ID: the same sender, recipients, subject, text, attachments and Date header`));
      expect(await receiptOf(copy.receiptId)).toMatchObject({ outcome: 'ignored', stage: 'resend', duplicate_of: first.receiptId, case_id: (await caseByNumber(env.ctx.db, first.caseNumber))!.id });
    }
    // Nothing queued for anyone by the copies; one message in the one case.
    expect(await env.ctx.db.selectFrom('outbox').select('id').execute()).toEqual(sentBefore);
    expect((await messagesOfCase(env.ctx.db, (await caseByNumber(env.ctx.db, first.caseNumber))!.id)).filter((m) => m.direction === 'in')).toHaveLength(1);
    // 7 days after the last copy the same Date no longer counts: a new case.
    env.clock.advance(7 * 24 * 60 * MIN + MIN);
    expect(await env.ingest(eml({ ...message, messageId: 'o9@customer.example' }))).toMatchObject({ kind: 'stored', created: true });
  });

  it('a script stamping a new Date on every attempt: copies within pipeline.resendWindowMinutes of the previous one are ignored (a loop every 4 min stays one case); the same words an hour later are a new case', async () => {
    const message = { from: 'monitor@ops.customer.example', subject: 'Backup failed', body: 'The nightly backup of db1 failed.' };
    const first = await env.ingest(eml({ ...message, date: dateAt() }));
    expect(first).toMatchObject({ kind: 'stored', created: true });
    if (first.kind !== 'stored') return;
    for (let i = 0; i < 4; i++) {
      env.clock.advance(4 * MIN);
      const copy = await env.ingest(eml({ ...message, date: dateAt() }));
      expect(copy).toMatchObject({ kind: 'ignored', caseNumber: first.caseNumber });
      if (copy.kind === 'ignored') expect(copy.reason).toMatch(new RegExp(`^re-sent copy of receipt ${first.receiptId} \\(case #${first.caseNumber}\\) under a new Message-ID: the same sender, recipients, subject, text and attachments, 240 s after it \\(pipeline.resendWindowMinutes 10\\)`));
    }
    // The first's confirmation, nothing for the copies.
    expect(await outboxTo('monitor@ops.customer.example')).toEqual([{ kind: 'confirmation', to_address: 'monitor@ops.customer.example' }]);
    env.clock.advance(60 * MIN);
    expect(await env.ingest(eml({ ...message, date: dateAt() }))).toMatchObject({ kind: 'stored', created: true });
  });

  it('"Still broken" sent twice an hour apart on purpose is two messages; so are a repeated reply text, the same form text from two people and the same text to another of our addresses', async () => {
    const still = { from: 'pia@customer.example', subject: 'Still broken', body: 'Still broken.' };
    const a = await env.ingest(eml({ ...still, date: dateAt() }));
    env.clock.advance(60 * MIN);
    const b = await env.ingest(eml({ ...still, date: dateAt() }));
    expect([a, b]).toMatchObject([{ kind: 'stored', created: true }, { kind: 'stored', created: true }]);
    if (a.kind !== 'stored') return;

    // Replies into the case with the text of an earlier reply, a minute apart, each with its own Date.
    const c = (await caseByNumber(env.ctx.db, a.caseNumber))!;
    const reply = { from: 'pia@customer.example', subject: `Re: [Case #${c.number}] Still broken`, body: 'Any news?' };
    env.clock.advance(MIN);
    const r1 = await env.ingest(eml({ ...reply, date: dateAt() }));
    env.clock.advance(MIN);
    const r2 = await env.ingest(eml({ ...reply, date: dateAt() }));
    expect([r1, r2]).toMatchObject([{ kind: 'stored', created: false, caseNumber: c.number }, { kind: 'stored', created: false, caseNumber: c.number }]);

    // Two people, the same words at the same second.
    const form = { subject: 'Callback request', body: 'Please call me back.', date: dateAt() };
    const p1 = await env.ingest(eml({ ...form, from: 'quinn@customer.example' }));
    const p2 = await env.ingest(eml({ ...form, from: 'rosa@customer.example' }));
    expect([p1, p2]).toMatchObject([{ kind: 'stored', created: true }, { kind: 'stored', created: true }]);

    // The same text to billing@ after support@: another recipient, another message.
    const s1 = await env.ingest(eml({ from: 'sam@customer.example', subject: 'Refund', body: 'Where is my refund?', date: dateAt() }));
    const s2 = await env.ingest(eml({ from: 'sam@customer.example', to: 'billing@example.com', subject: 'Refund', body: 'Where is my refund?', date: dateAt() }), { mailbox: 'billing' });
    expect([s1, s2]).toMatchObject([{ kind: 'stored', created: true }, { kind: 'stored', created: true }]);
  });

  it('a backlog read at once after an outage is judged by its Date headers: the same words written an hour apart are two cases', async () => {
    const message = { from: 'tom@customer.example', subject: 'Login fails', body: 'I cannot log in.' };
    const a = await env.ingest(eml({ ...message, date: dateAt(-2 * 60 * MIN) }));
    const b = await env.ingest(eml({ ...message, date: dateAt(-60 * MIN) }));
    expect([a, b]).toMatchObject([{ kind: 'stored', created: true }, { kind: 'stored', created: true }]);
  });

  it('a reply re-sent with its very Date is ignored too; a copy of a message that was not taken (quarantined, ignored) is not a copy', async () => {
    const first = await env.ingest(eml({ from: 'uma@customer.example', subject: 'Printer jam', body: 'Paper jam in tray 2.', date: dateAt() }));
    if (first.kind !== 'stored') throw new Error(first.reason);
    const reply = { from: 'uma@customer.example', subject: `Re: [Case #${first.caseNumber}] Printer jam`, body: 'It is tray 3, sorry.', date: dateAt(MIN) };
    env.clock.advance(MIN);
    expect(await env.ingest(eml({ ...reply, messageId: 'u1@customer.example' }))).toMatchObject({ kind: 'stored', created: false });
    env.clock.advance(30 * MIN);
    const copy = await env.ingest(eml({ ...reply, messageId: 'u2@customer.example' }));
    expect(copy).toMatchObject({ kind: 'ignored', caseNumber: first.caseNumber });
    // The same words in the same second answering another message: not a copy of that reply.
    expect(await env.ingest(eml({ ...reply, messageId: 'u3@customer.example', inReplyTo: 'u1@customer.example' }))).toMatchObject({ kind: 'stored', created: false });
    // A message our loop guard ignored (From one of our own addresses) is no original of anything.
    const ours = { from: 'support@example.com', subject: 'Test', body: 'test', date: dateAt() };
    expect(await env.ingest(eml(ours))).toMatchObject({ kind: 'ignored' });
    const again = await env.ingest(eml(ours));
    expect(again.kind === 'ignored' && again.reason).not.toMatch(/re-sent copy/);
  });
});
