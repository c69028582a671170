import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { isBouncing } from '../../src/db/repos/addresses.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';

/**
 * Bounces the common DSN paths miss: a spam gateway's text-only notice (Barracuda), and the
 * recipients of internationalised domains, which MTAs report in the other spelling.
 */

let env: TestEnv;
beforeEach(async () => {
  env = await testEnv({ autoReply: { minIntervalSeconds: 0 } });
});
afterEach(async () => {
  await env.close();
});

async function outbox() {
  return env.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute();
}

/** A new case from `from`; returns it with our confirmation's outbox row. */
async function caseWithConfirmation(from: string) {
  const out = await env.ingest(eml({ from }));
  if (out.kind !== 'stored') throw new Error(`expected stored, got ${out.kind}: ${out.reason}`);
  const conf = (await outbox()).find((r) => r.case_id === out.caseId && r.kind === 'confirmation');
  if (conf === undefined) throw new Error('no confirmation');
  return { caseId: out.caseId, caseNumber: out.caseNumber, conf };
}

/**
 * A Barracuda Spam Firewall notice as it sends them when it blocks a message after accepting it:
 * text/plain only (no message/delivery-status part), the null sender, the headers of the blocked
 * message quoted in the text.
 */
function barracudaNotice(o: { from: string; subject?: string; recipient: string; quoted: { subject: string; messageId: string | null } }): string {
  return [
    'Return-Path: <>',
    'Received: from bcd.customer.example (bcd.customer.example [192.0.2.44]) by mx.example.com with ESMTP id 4fBcd; Mon, 02 Mar 2026 09:00:05 +0000',
    `From: ${o.from}`,
    'To: support@example.com',
    `Subject: ${o.subject ?? '**Message you sent blocked by our bulk email filter**'}`,
    'Date: Mon, 02 Mar 2026 09:00:04 +0000',
    `Message-ID: <bcd.${Math.random().toString(36).slice(2)}@bcd.customer.example>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset="utf-8"',
    '',
    `Your message to: ${o.recipient}`,
    'was blocked by our Spam Firewall. The email you sent with the following subject has NOT BEEN DELIVERED:',
    '',
    `Subject: ${o.quoted.subject}`,
    '',
    'The original message headers follow:',
    '',
    'Received: from mail.example.com (mail.example.com [198.51.100.7]) by bcd.customer.example (Spam Firewall) with ESMTP id 8B84B7E27B64; Mon, 02 Mar 2026 09:00:03 +0000',
    'From: Example Support <support@example.com>',
    `To: ${o.recipient}`,
    ...(o.quoted.messageId !== null ? [`Message-ID: <${o.quoted.messageId}>`] : []),
    `Subject: ${o.quoted.subject}`,
    '',
  ].join('\r\n');
}

describe('a Barracuda text-only notice is a bounce', () => {
  it.each([
    ['From "Barracuda" <> (no address at all)', '"Barracuda" <>'],
    ['From the gateway\'s own address', 'Barracuda <barracuda@bcd.customer.example>'],
  ])('%s: joins the case of our confirmation and marks the recipient', async (_what, from) => {
    const c = await caseWithConfirmation('Jane <jane@customer.example>');
    const out = await env.ingest(barracudaNotice({ from, recipient: 'jane@customer.example', quoted: { subject: c.conf.subject, messageId: c.conf.message_id } }), { envelopeFrom: '' });
    expect(out).toMatchObject({ kind: 'stored', created: false, caseNumber: c.caseNumber, reason: 'appended (bounce-reference)' });
    const events = await eventsOfCase(env.ctx.db, c.caseId);
    expect(events.find((e) => e.type === 'message.automated')?.reason).toMatch(/^bounce: /);
    expect(events.find((e) => e.type === 'address.bouncing')?.reason).toMatch(/^jane@customer\.example: .*blocked by our Spam Firewall/);
    expect(await isBouncing(env.ctx.db, 'jane@customer.example')).toBe(true);
    // Nothing answers it: the confirmation is all that went out.
    expect((await outbox()).map((r) => r.kind)).toEqual(['confirmation']);
  });

  it('one about mail we never sent is recorded as ignored (never quarantined, never a case)', async () => {
    const out = await env.ingest(barracudaNotice({ from: '"Barracuda" <>', recipient: 'someone@customer.example', quoted: { subject: 'Cheap watches', messageId: 'spam.123@elsewhere.example' } }), { envelopeFrom: '' });
    expect(out.kind).toBe('ignored');
    expect(out.reason).toMatch(/^bounce \(.*\) not about mail we sent$/);
    expect(await outbox()).toHaveLength(0);
  });

  it('the "Undeliverable:" form of the same notice is a bounce too', async () => {
    const c = await caseWithConfirmation('Jane <jane@customer.example>');
    const out = await env.ingest(barracudaNotice({ from: 'Barracuda <barracuda@bcd.customer.example>', subject: `Undeliverable: ${c.conf.subject}`, recipient: 'jane@customer.example', quoted: { subject: c.conf.subject, messageId: c.conf.message_id } }), { envelopeFrom: '' });
    expect(out).toMatchObject({ kind: 'stored', caseNumber: c.caseNumber, reason: 'appended (bounce-reference)' });
  });

  it('a person asking about such a block is still a person: a new case, answered', async () => {
    const out = await env.ingest(eml({ from: 'Tom <tom@customer.example>', subject: 'Message you sent blocked by our bulk email filter?', body: 'Hi, our Barracuda says your mail was blocked by our Spam Firewall. Can you resend?' }));
    expect(out).toMatchObject({ kind: 'stored', created: true });
    expect((await outbox()).map((r) => [r.kind, r.to_address])).toEqual([['confirmation', 'tom@customer.example']]);
  });
});
