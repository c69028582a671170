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
  // These notices carry no proof of who wrote them (no envelope id, no authenticated sender):
  // with the default (security.bounces.trust proven) they are recorded as unverified reports
  // (test/deliverability/bounce-standing.test.ts). Here: recognising them and the spellings of
  // their addresses, so every report counts.
  env = await testEnv({ autoReply: { minIntervalSeconds: 0 }, security: { bounces: { trust: 'any' } } });
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

describe('bounces for internationalised domains are matched whatever the spelling', () => {
  /** An RFC 3464 DSN about `messageId` for `finalRecipient` (as the MTA wrote it). */
  function dsn(finalRecipient: string, messageId: string, o: { utf8?: boolean } = {}): string {
    return [
      'Return-Path: <>',
      'Received: from mx.bucher-host.example (mx.bucher-host.example [192.0.2.80]) by mx.example.com with ESMTP id 4fDsn; Mon, 02 Mar 2026 09:00:05 +0000',
      'From: Mail Delivery System <MAILER-DAEMON@mail.example.com>',
      'To: support@example.com',
      'Subject: Undelivered Mail Returned to Sender',
      'Date: Mon, 02 Mar 2026 09:00:04 +0000',
      `Message-ID: <dsn.${Math.random().toString(36).slice(2)}@mail.example.com>`,
      'MIME-Version: 1.0',
      `Content-Type: multipart/report; report-type=${o.utf8 === true ? 'global-delivery-status' : 'delivery-status'}; boundary="b1"`,
      '',
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'This is the mail system at host mail.example.com.',
      '',
      "I'm sorry to have to inform you that your message could not be delivered to one or more recipients.",
      '',
      '--b1',
      `Content-Type: ${o.utf8 === true ? 'message/global-delivery-status' : 'message/delivery-status'}`,
      '',
      'Reporting-MTA: dns; mail.example.com',
      '',
      `Final-Recipient: ${finalRecipient}`,
      'Action: failed',
      'Status: 5.1.1',
      'Diagnostic-Code: smtp; 550 5.1.1 mailbox unavailable',
      '',
      '--b1',
      'Content-Type: text/rfc822-headers',
      '',
      'From: Example Support <support@example.com>',
      `Message-ID: <${messageId}>`,
      'Subject: [Case #10001] We have received your request',
      '',
      '--b1--',
      '',
    ].join('\r\n');
  }

  it.each([
    ['we wrote Unicode, the MTA reports punycode', 'Jörg Müller <müller@bücher.example>', 'rfc822; müller@xn--bcher-kva.example', false],
    ['we wrote Unicode, an SMTPUTF8 MTA reports utf-8 with \\x{…} escapes', 'Jörg Müller <müller@bücher.example>', 'utf-8; m\\x{FC}ller@b\\x{FC}cher.example', true],
    ['we wrote punycode, the MTA reports Unicode', 'Info <info@xn--bcher-kva.example>', 'utf-8; info@bücher.example', true],
    ['an IDN top-level domain, reported in punycode', 'Иван <ivan@пример.рф>', 'rfc822; ivan@xn--e1afmkfd.xn--p1ai', false],
  ])('%s', async (_what, from, finalRecipient, utf8) => {
    const c = await caseWithConfirmation(from);
    const to = c.conf.to_address;
    const out = await env.ingest(dsn(finalRecipient, c.conf.message_id, { utf8 }), { envelopeFrom: '' });
    expect(out).toMatchObject({ kind: 'stored', caseNumber: c.caseNumber, reason: 'appended (bounce-reference)' });
    const events = await eventsOfCase(env.ctx.db, c.caseId);
    expect(events.map((e) => e.type)).not.toContain('bounce.recipients-ignored');
    expect(events.find((e) => e.type === 'address.bouncing')?.reason).toMatch(/5\.1\.1/);
    // Marked under either spelling: no more automatic mail to it, whichever form a later email names.
    expect(await isBouncing(env.ctx.db, to)).toBe(true);
    const [local, domain] = [to.slice(0, to.lastIndexOf('@')), to.slice(to.lastIndexOf('@') + 1)];
    const other = domain.includes('xn--') ? (await import('node:url')).domainToUnicode(domain) : (await import('node:url')).domainToASCII(domain);
    expect(await isBouncing(env.ctx.db, `${local}@${other}`)).toBe(true);
  });

  it('a plain-text bounce (no delivery-status part) naming an SMTPUTF8 address as written', async () => {
    const c = await caseWithConfirmation('Jörg Müller <müller@bücher.example>');
    const raw = [
      'Return-Path: <>',
      'From: MAILER-DAEMON@mail.example.com (Mail Delivery System)',
      'To: support@example.com',
      'Subject: Undelivered Mail Returned to Sender',
      'Date: Mon, 02 Mar 2026 09:00:04 +0000',
      'Message-ID: <plain.1@mail.example.com>',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      'This is the mail system at host mail.example.com.',
      '',
      '<müller@xn--bcher-kva.example>: host mx.xn--bcher-kva.example[192.0.2.80] said: 550 5.1.1',
      '    <müller@xn--bcher-kva.example>: Recipient address rejected: User unknown',
      '',
      '--- Below this line is a copy of the message.',
      '',
      `Message-ID: <${c.conf.message_id}>`,
      '',
    ].join('\r\n');
    const out = await env.ingest(raw, { envelopeFrom: '' });
    expect(out).toMatchObject({ kind: 'stored', caseNumber: c.caseNumber, reason: 'appended (bounce-reference)' });
    expect((await eventsOfCase(env.ctx.db, c.caseId)).find((e) => e.type === 'address.bouncing')?.reason).toMatch(/^müller@bücher\.example: 5\.1\.1/);
    expect(await isBouncing(env.ctx.db, 'müller@bücher.example')).toBe(true);
  });

  it('a mail from the other spelling of a bouncing address clears the mark', async () => {
    const c = await caseWithConfirmation('Jörg Müller <müller@bücher.example>');
    await env.ingest(dsn('rfc822; müller@xn--bcher-kva.example', c.conf.message_id), { envelopeFrom: '' });
    expect(await isBouncing(env.ctx.db, 'müller@bücher.example')).toBe(true);
    const out = await env.ingest(eml({ from: 'Jörg Müller <müller@xn--bcher-kva.example>', subject: 'Mailbox fixed', messageId: 'fixed@xn--bcher-kva.example' }));
    expect(out.kind).toBe('stored');
    expect(await isBouncing(env.ctx.db, 'müller@bücher.example')).toBe(false);
  });
});
