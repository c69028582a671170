import { afterAll, beforeAll, expect, it } from 'vitest';
import { peekDb, type DbPeek } from '../helpers/db-peek.js';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { dsn } from '../helpers/dsn.js';
import { eml, TRUSTED_SENDER_AUTH } from '../helpers/context.js';
import { imapOf, removeDir, runDaemon, until, type RunningDaemon } from './imap-env.js';

/**
 * Who may report a bounce (docs/deliverability.md), for reports read from an IMAP mailbox against
 * a private Dovecot: the same standing rules as over SMTP. There is no SMTP client here, so the
 * sender is proven by the Authentication-Results our own MX wrote (security.senderAuth
 * trusted-header): a forged report, and one carrying the sender's own copy of our MX's results
 * below our Received line, mark nobody; the report our MX authenticated as coming from the mail
 * system of Jane's domain marks her.
 */
const JANE = 'jane@customer.example';
const MX = 'mx.example.com';
let server: DovecotServer;
let d: RunningDaemon;
let db: DbPeek;
let confirmationId: string;
let n = 0;

/** As our MX delivered it: its results (for the From domain) and its Received line on top. */
function delivered(raw: string, fromDomain: string, dmarc: 'pass' | 'fail', below: string[] = []): string {
  return [
    'Return-Path: <>',
    'Delivered-To: support@example.com',
    `Authentication-Results: ${MX}; spf=none smtp.helo=mail.${fromDomain}; dmarc=${dmarc} header.from=${fromDomain}`,
    `Received: from mail.${fromDomain} (mail.${fromDomain} [192.0.2.25]) by ${MX} with ESMTPS id 4fImap${n}; Mon, 02 Mar 2026 09:04:30 +0000`,
    ...below,
    raw,
  ].join('\r\n');
}

/** A report naming Jane, quoting our confirmation; each one written a second later than the one before. */
function report(from: string): string {
  n += 1;
  const raw = dsn({ recipients: [JANE], messageId: `dsn-imap-${n}@mx.example.net`, refersTo: confirmationId, from, mta: 'mx.customer.example' });
  return raw.replace(/^Date: .*$/m, `Date: ${new Date(Date.UTC(2026, 2, 2, 9, 5, n)).toUTCString()}`);
}

async function bounceEvents(): Promise<{ type: string; reason: string }[]> {
  return db.all<{ type: string; reason: string }>("SELECT type, reason FROM events WHERE type LIKE 'address.%' ORDER BY id");
}

async function janeBouncing(): Promise<boolean> {
  return (await db.get<{ bouncing: number }>('SELECT bouncing FROM address_status WHERE address = ?', JANE))?.bouncing === 1;
}

async function receipts(): Promise<number> {
  return Number((await db.get<{ n: number }>('SELECT count(*) AS n FROM receipts'))!.n);
}

describeWithDovecot('bounce reports read over IMAP: the same standing as over SMTP', () => {
  beforeAll(async () => {
    server = await startDovecot({ users: [{ user: 'support', password: 'pw-support' }] });
    d = await runDaemon({
      mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: imapOf(server, 'support') }],
      queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }], assignment: 'fixed', fixedOwner: 'Ben Agent' } },
      security: { senderAuth: TRUSTED_SENDER_AUTH },
    });
    db = peekDb(d.resolved);
    await server.append('support', eml({ from: `Jane Customer <${JANE}>`, subject: 'Printer on fire', messageId: 'jane-1@customer.example' }));
    const row = await until(() => db.get<{ message_id: string }>("SELECT message_id FROM outbox WHERE kind = 'confirmation' AND status = 'sent'"), 'the confirmation sent');
    confirmationId = row.message_id;
  }, 120_000);

  afterAll(async () => {
    await d?.stop();
    await db?.close();
    if (d !== undefined) removeDir(d.dir);
    await server?.stop();
  });

  async function read(raw: string): Promise<void> {
    const before = await receipts();
    await server.append('support', raw);
    await until(async () => (await receipts()) > before, 'the report read');
  }

  it('a report without proof (From MAILER-DAEMON@ of Jane’s domain, DMARC fail at our MX) joins the case unverified: Jane not marked, nobody told', async () => {
    await read(delivered(report('MAILER-DAEMON@customer.example'), 'customer.example', 'fail'));
    expect(await janeBouncing()).toBe(false);
    expect((await bounceEvents()).pop()).toMatchObject({ type: 'address.unverified-bounce', reason: expect.stringMatching(/the reporter mailer-daemon@customer\.example is not authenticated \(From header; Authentication-Results of mx\.example\.com: dmarc=fail\)/) });
    expect(await db.all("SELECT id FROM outbox WHERE kind = 'bounce-notice'")).toEqual([]);
  });

  it('our MX’s results copied in by the sender, below our Received line, prove nothing', async () => {
    const forgedResults = `Authentication-Results: ${MX}; dmarc=pass header.from=customer.example`;
    await read(delivered(report('MAILER-DAEMON@customer.example'), 'customer.example', 'fail', [forgedResults]));
    expect(await janeBouncing()).toBe(false);
    expect((await bounceEvents()).pop()).toMatchObject({ type: 'address.unverified-bounce', reason: expect.stringMatching(/is not authenticated .*dmarc=fail; 1 Authentication-Results claiming mx\.example\.com ignored/) });
  });

  it('a stranger’s report our MX authenticated for his own domain: no standing for Jane', async () => {
    await read(delivered(report('MAILER-DAEMON@mx.evil.example'), 'mx.evil.example', 'pass'));
    expect(await janeBouncing()).toBe(false);
    expect((await bounceEvents()).pop()).toMatchObject({ type: 'address.unverified-bounce', reason: expect.stringMatching(/the reporter mailer-daemon@mx\.evil\.example is not of the recipient's domain/) });
  });

  it('the report our MX authenticated as from the mail system of Jane’s domain marks her and tells the owner', async () => {
    await read(delivered(report('MAILER-DAEMON@customer.example'), 'customer.example', 'pass'));
    expect(await janeBouncing()).toBe(true);
    const marked = (await bounceEvents()).pop()!;
    expect(marked).toMatchObject({ type: 'address.bouncing', reason: expect.stringMatching(/^jane@customer\.example: 5\.1\.1 /) });
    const data = await db.get<{ data_json: string }>("SELECT data_json FROM events WHERE type = 'address.bouncing'");
    expect(JSON.parse(data!.data_json)).toMatchObject({ proof: "authenticated report from mailer-daemon@customer.example, the mail system of the recipient's own domain" });
    await until(async () => (await db.all("SELECT id FROM outbox WHERE kind = 'bounce-notice'")).length === 1, 'the owner told');
  });

  it('a report our MX authenticated by SPF alone, by HELO identity (MAIL FROM:<>: `spf=pass smtp.helo=…`, no DKIM, no DMARC record) from a host of Jane’s domain marks her', async () => {
    // Jane writes again (her mailbox works): no longer bouncing.
    await server.append('support', eml({ from: `Jane Customer <${JANE}>`, subject: 'Re: [Case #10001] Printer on fire', messageId: 'jane-2@customer.example', inReplyTo: 'jane-1@customer.example' }));
    await until(async () => !(await janeBouncing()), 'Jane reachable again');
    const marks = (await bounceEvents()).filter((e) => e.type === 'address.bouncing').length;
    n += 1;
    const raw = [
      'Return-Path: <>',
      'Delivered-To: support@example.com',
      `Authentication-Results: ${MX}; dkim=none; spf=pass smtp.helo=out.customer.example; dmarc=none header.from=customer.example`,
      `Received: from out.customer.example (out.customer.example [192.0.2.26]) by ${MX} with ESMTPS id 4fImap${n}; Mon, 02 Mar 2026 09:06:30 +0000`,
      report('MAILER-DAEMON@customer.example'),
    ].join('\r\n');
    await read(raw);
    expect(await janeBouncing()).toBe(true);
    const all = await bounceEvents();
    expect(all.filter((e) => e.type === 'address.bouncing')).toHaveLength(marks + 1);
  });

  it('`spf=pass smtp.helo=…` of a host of Jane’s domain does not count for a report from a real envelope sender (SPF then checks MAIL FROM, not HELO)', async () => {
    await server.append('support', eml({ from: `Jane Customer <${JANE}>`, subject: 'Re: [Case #10001] Printer on fire', messageId: 'jane-3@customer.example', inReplyTo: 'jane-1@customer.example' }));
    await until(async () => !(await janeBouncing()), 'Jane reachable again');
    n += 1;
    const raw = [
      'Return-Path: <mallory@evil.example>',
      'Delivered-To: support@example.com',
      `Authentication-Results: ${MX}; dkim=none; spf=pass smtp.helo=out.customer.example; dmarc=none header.from=customer.example`,
      `Received: from out.customer.example (out.customer.example [192.0.2.26]) by ${MX} with ESMTPS id 4fImap${n}; Mon, 02 Mar 2026 09:07:30 +0000`,
      report('MAILER-DAEMON@customer.example'),
    ].join('\r\n');
    await read(raw);
    expect(await janeBouncing()).toBe(false);
    expect((await bounceEvents()).pop()).toMatchObject({ type: 'address.unverified-bounce', reason: expect.stringMatching(/the reporter mailer-daemon@customer\.example is not authenticated/) });
  });
});
