/**
 * Signed bounce addresses (mailboxes[].verp): each reader's copy of an email goes out with its own
 * signed envelope sender; a bounce sent to it is mapped to that email and reader whatever the
 * report carries; with it on, a report that did not come to it (a stranger's forged DSN quoting
 * one of our Message-IDs) marks nobody. Sent through an in-process SMTP sink; bounces through
 * the pipeline; the listener's RCPT TO in process.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startSmtpListener } from '../../src/channels/smtp-listener.js';
import { verifyVerp, verpAddress, verpParts } from '../../src/cases/thread-token.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { createTransport } from '../../src/mail-out/transport.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { openSmtpSession } from '../helpers/smtp-probe.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { dsn as dsnMessage } from '../helpers/dsn.js';

const JANE = 'jane@customer.example';
const BOSS = 'boss@customer.example';

let sink: SmtpSink;
let env: TestEnv;
afterEach(async () => {
  await env?.close();
  await sink?.close();
});

async function start(verp: Partial<{ verp: boolean; verpSeparator: '+' | '-' }> = { verp: true }, extra: ConfigInput = {}) {
  // A relay that offers DSN, as Postfix does: our envelope id goes with MAIL FROM.
  sink = await startSmtpSink({ dsn: true });
  env = await testEnv({
    mailboxes: [{ name: 'support', addresses: ['support@example.com'], ...verp }],
    queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }], assignment: 'fixed', fixedOwner: 'Ben Agent' } },
    outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false } },
    ...extra,
  });
}

async function drain() {
  const t = createTransport(env.resolved);
  try {
    await new OutboxWorker(env.ctx, t).drain();
  } finally {
    t.close();
  }
}

/** Jane opens case 10001; its confirmation (with Boss copied in) goes out. The envelope sender of each reader's copy. */
async function confirmationSent(): Promise<{ jane: string; boss: string; messageId: string; outboxId: number }> {
  expect((await env.ingest(eml({ messageId: 'jane-1@customer.example' }))).kind).toBe('stored');
  // Boss copied in (as an agent's reply to a case with participants is): the row and its thread entry.
  const cc = JSON.stringify([{ address: BOSS, name: 'Boss' }]);
  const row = await env.ctx.db.updateTable('outbox').set({ cc_json: cc }).where('kind', '=', 'confirmation').returning('id').executeTakeFirstOrThrow();
  await env.ctx.db.updateTable('messages').set({ cc_json: cc }).where('outbox_id', '=', row.id).execute();
  await drain();
  const sent = await env.ctx.db.selectFrom('outbox').select(['id', 'message_id', 'status']).where('id', '=', row.id).executeTakeFirstOrThrow();
  expect(sent.status).toBe('sent');
  const of = (a: string) => sink.messages.find((m) => m.envelopeTo.includes(a))!.envelopeFrom!;
  return { jane: of(JANE), boss: of(BOSS), messageId: sent.message_id, outboxId: sent.id };
}

/** A notice in words only, as Exchange and Gmail write many: no delivery-status part, no returned headers, no address we wrote to. */
function proseNotice(messageId: string): string {
  return [
    'From: Microsoft Outlook <postmaster@outlook.example>',
    'To: <support@example.com>',
    'Subject: Undeliverable: [Case #10001] Re: Printer on fire',
    'Date: Mon, 02 Mar 2026 09:05:00 +0000',
    `Message-ID: <${messageId}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    "Your message to the recipient couldn't be delivered.",
    '',
    "The recipient's email address wasn't found at the destination domain. It might be misspelled or it might not exist.",
    '',
    'Remote server returned 550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
    '',
  ].join('\r\n');
}

/** A DSN listing `recipients` as failed (5.1.1), quoting `refersTo` as the original's Message-ID when given. */
function dsn(o: { recipients: string[]; messageId: string; refersTo?: string; to?: string; envelopeId?: string }): string {
  return dsnMessage({ ...o, mta: 'mx.elsewhere.example' });
}

async function bouncing(): Promise<string[]> {
  return (await env.ctx.db.selectFrom('address_status').select('address').where('bouncing', '=', 1).orderBy('address').execute()).map((r) => r.address);
}

async function caseEvents(): Promise<{ type: string; reason: string | null; data_json: string | null }[]> {
  const c = (await caseByNumber(env.ctx.db, 10001))!;
  return eventsOfCase(env.ctx.db, c.id);
}

async function bounceNotices(): Promise<string[]> {
  return (await env.ctx.db.selectFrom('outbox').select('to_address').where('kind', '=', 'bounce-notice').execute()).map((r) => r.to_address);
}

describe('signed bounce addresses (mailboxes[].verp)', () => {
  it('each reader’s copy goes in its own transaction with an envelope sender signed for that reader; the headers are one message', async () => {
    await start();
    const sent = await confirmationSent();
    const confirmations = sink.messages.filter((m) => m.parsed.messageId === `<${sent.messageId}>`);
    expect(confirmations.map((m) => m.envelopeTo)).toEqual([[JANE], [BOSS]]);
    expect(sent.jane).toMatch(new RegExp(`^support\\+b${sent.outboxId}-[a-z2-7]{4}-[0-9a-f]{12}@example\\.com$`));
    expect(sent.boss).not.toBe(sent.jane);
    // Each token verifies for its own reader only.
    expect(verifyVerp(verpParts(sent.jane)!, env.ctx.secret, [BOSS, JANE])).toBe(JANE);
    expect(verifyVerp(verpParts(sent.boss)!, env.ctx.secret, [JANE, BOSS])).toBe(BOSS);
    // The From, To and Cc everyone sees stay as they were.
    for (const m of confirmations) {
      expect(m.parsed.from?.value[0]?.address).toBe('support@example.com');
      expect(m.parsed.headers.get('cc')).toMatchObject({ value: [{ address: BOSS }] });
    }
  });

  it('a bounce to it is mapped to that email and reader though it names neither: the reader is marked, the owner told once', async () => {
    await start();
    const sent = await confirmationSent();
    const out = await env.ingest(proseNotice('ndr-1@outlook.example'), { envelopeFrom: '', envelopeTo: [sent.jane] });
    expect(out).toMatchObject({ kind: 'stored', caseNumber: 10001 });
    expect(await bouncing()).toEqual([JANE]);
    const marked = (await caseEvents()).find((e) => e.type === 'address.bouncing')!;
    expect(marked.reason).toMatch(/^jane@customer\.example: 5\.1\.10 /);
    expect(JSON.parse(marked.data_json!)).toMatchObject({ bounceAddress: sent.jane, outboxId: sent.outboxId });
    expect(await bounceNotices()).toEqual(['ben@example.com']);
  });

  it('a forwarding chain that renamed the recipient: the reader the address names is marked, not the address the report names', async () => {
    await start();
    const sent = await confirmationSent();
    // Delivered through IMAP: the envelope is gone, the MTA's To names the bounce address.
    await env.ingest(dsn({ recipients: ['j.doe@forwarded.example'], messageId: 'dsn-fwd@mx.elsewhere.example', to: sent.jane }), { envelopeFrom: '' });
    expect(await bouncing()).toEqual([JANE]);
  });

  it('mail from the null sender to it in words no detector knows is a bounce of that email too; an out-of-office to it is not, and joins the case', async () => {
    await start();
    const sent = await confirmationSent();
    // Vacation programs answer the envelope sender (RFC 3834), many without any reference.
    const vacation = eml({ from: 'Jane Customer <jane@customer.example>', to: sent.jane, subject: 'Out of office', headers: { 'Auto-Submitted': 'auto-replied' }, body: 'I am away until Monday.' });
    expect(await env.ingest(vacation, { envelopeFrom: '', envelopeTo: [sent.jane] })).toMatchObject({ kind: 'stored', caseNumber: 10001, reason: 'appended (plus-token)' });
    expect(await bouncing()).toEqual([]);
    // An altered address names no case: such an out-of-office belongs to none.
    const altered = sent.jane.replace(/([0-9a-f])@/, (_all, c: string) => `${c === '0' ? '1' : '0'}@`);
    const forged = vacation.replace(/^Message-ID: .*$/m, 'Message-ID: <ooo-2@customer.example>').replace(`To: ${sent.jane}`, `To: ${altered}`);
    expect(await env.ingest(forged, { envelopeFrom: '', envelopeTo: [altered] })).toMatchObject({ kind: 'ignored' });
    const odd = eml({ from: 'Gateway <gw@customer.example>', to: sent.jane, subject: 'Notice', body: 'Hello. Nobody by this name works here any more.\n550 5.1.1' });
    const out = await env.ingest(odd, { envelopeFrom: '', envelopeTo: [sent.jane] });
    expect(out).toMatchObject({ kind: 'stored', caseNumber: 10001 });
    expect(await bouncing()).toEqual([JANE]);
  });

  it('a reader’s own bounce address speaks for him alone: a report to it naming another reader marks only him', async () => {
    await start();
    const sent = await confirmationSent();
    await env.ingest(dsn({ recipients: [JANE], messageId: 'dsn-boss@evil.example', refersTo: sent.messageId }), { envelopeFrom: '', envelopeTo: [sent.boss] });
    expect(await bouncing()).toEqual([BOSS]);
  });

  it('a stranger’s DSN quoting our Message-ID to the plain address marks nobody and tells nobody, nor does one to an altered bounce address', async () => {
    await start();
    const sent = await confirmationSent();
    const out = await env.ingest(dsn({ recipients: [JANE], messageId: 'dsn-forged@evil.example', refersTo: sent.messageId }), { envelopeFrom: '', envelopeTo: ['support@example.com'] });
    expect(out).toMatchObject({ kind: 'stored', caseNumber: 10001 });
    expect(await bouncing()).toEqual([]);
    expect(await bounceNotices()).toEqual([]);
    const ev = (await caseEvents()).find((e) => e.type === 'address.unverified-bounce');
    expect(ev?.reason).toMatch(/^jane@customer\.example: 5\.1\.1 .*did not come to the email's signed bounce address .*not marked as bouncing$/);
    expect((await env.ctx.db.selectFrom('address_status').selectAll().execute()).length).toBe(0);
    // An altered token is no signed address: the same as the plain one.
    const altered = sent.jane.replace(/([0-9a-f])@/, (_all, c: string) => `${c === '0' ? '1' : '0'}@`);
    await env.ingest(proseNotice('ndr-altered@evil.example').replace('To: <support@example.com>', `To: <${altered}>\r\nIn-Reply-To: <${sent.messageId}>`), { envelopeFrom: '', envelopeTo: [altered] });
    expect(await bouncing()).toEqual([]);
    expect(await bounceNotices()).toEqual([]);
  });

  it('off (the default): the bounce address is the From address; a relay that offers DSN gets one transaction per reader, each with our envelope id signed for that reader; a DSN carrying Jane’s marks her, one quoting only the Message-ID is an unverified report, Boss’s id does not speak for her', async () => {
    await start({});
    const sent = await confirmationSent();
    const copies = sink.messages.filter((m) => m.parsed.messageId === `<${sent.messageId}>`);
    expect(copies.map((m) => [m.envelopeFrom, m.envelopeTo])).toEqual([
      ['support@example.com', [JANE]],
      ['support@example.com', [BOSS]],
    ]);
    // One message: the same headers (To and Cc as everyone sees them) in both.
    const heads = ['"Jane Customer" <jane@customer.example>', `"Boss" <${BOSS}>`];
    expect(copies.map((m) => [m.parsed.to?.text, m.parsed.cc?.text])).toEqual([heads, heads]);
    // ENVID (RFC 3461) with MAIL FROM: signed for the reader of each transaction; in no header a reader sees.
    const [janeId, bossId] = copies.map((m) => m.envid!);
    for (const id of [janeId!, bossId!]) expect(id).toMatch(new RegExp(`^casegate\\.b${sent.outboxId}\\.[a-z2-7]{4}\\.r[0-9a-f]{16}$`));
    expect(janeId).not.toBe(bossId);
    for (const m of copies) expect(m.raw.toString('latin1')).not.toContain(m.envid!);
    await env.ingest(dsn({ recipients: [JANE], messageId: 'dsn-unproven@mx.elsewhere.example', refersTo: sent.messageId }), { envelopeFrom: '' });
    expect(await bouncing()).toEqual([]);
    expect((await caseEvents()).find((e) => e.type === 'address.unverified-bounce')?.reason).toMatch(/unverified bounce report from mailer-daemon@mx\.elsewhere\.example: nothing proves .*it carries no envelope id of ours/);
    // Whoever runs Boss's MX has Boss's id: it does not speak for Jane.
    await env.ingest(dsn({ recipients: [JANE], messageId: 'dsn-boss-mx@mx.partner.example', refersTo: sent.messageId, envelopeId: bossId! }), { envelopeFrom: '' });
    expect(await bouncing()).toEqual([]);
    expect((await caseEvents()).filter((e) => e.type === 'address.unverified-bounce').pop()?.reason).toMatch(/its envelope id is of an email to boss@customer\.example, not to this reader/);
    await env.ingest(dsn({ recipients: [JANE], messageId: 'dsn-plain@mx.elsewhere.example', refersTo: sent.messageId, envelopeId: janeId! }), { envelopeFrom: '' });
    expect(await bouncing()).toEqual([JANE]);
    expect(JSON.parse((await caseEvents()).find((e) => e.type === 'address.bouncing')!.data_json!)).toMatchObject({ proof: expect.stringMatching(/^it carries our signed envelope id of that email/), envelopeOf: sent.outboxId });
  });

  it('off, through a relay that does not offer DSN (it would never write an id back): once the relay has said so, an email to several readers is one transaction again', async () => {
    sink = await startSmtpSink();
    env = await testEnv({
      queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }], assignment: 'fixed', fixedOwner: 'Ben Agent' } },
      outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false } },
    });
    const t = createTransport(env.resolved);
    try {
      expect(t.offersDsn?.()).toBeNull();
      const worker = new OutboxWorker(env.ctx, t);
      expect((await env.ingest(eml({ messageId: 'jane-1@customer.example' }))).kind).toBe('stored');
      await worker.drain();
      expect(t.offersDsn?.()).toBe(false);
      // An email to Jane with Boss copied in, queued now (as an agent's reply to the case).
      const cc = JSON.stringify([{ address: BOSS, name: 'Boss' }]);
      const first = await env.ctx.db.selectFrom('outbox').selectAll().where('kind', '=', 'confirmation').executeTakeFirstOrThrow();
      const { id: _id, ...rest } = first;
      const row = await env.ctx.db.insertInto('outbox').values({ ...rest, message_id: `again-${first.message_id}`, cc_json: cc, status: 'queued', attempts: 0, next_attempt_at: first.created_at }).returning('id').executeTakeFirstOrThrow();
      await worker.drain();
      const copies = sink.messages.filter((m) => m.parsed.messageId === `<again-${first.message_id}>`);
      expect(copies.map((m) => [m.envelopeTo, m.envid])).toEqual([[[JANE, BOSS], null]]);
      expect((await env.ctx.db.selectFrom('outbox').select('status').where('id', '=', row.id).executeTakeFirstOrThrow()).status).toBe('sent');
    } finally {
      t.close();
    }
  });

  it('a relay that refuses the signed MAIL FROM: the sender held as any refused sender, and the alert says verp is why', async () => {
    sink = await startSmtpSink();
    env = await testEnv({
      instance: { adminAddress: 'admin@example.com' },
      mailboxes: [
        { name: 'support', addresses: ['support@example.com'] },
        { name: 'billing', addresses: ['billing@example.com'], verp: true },
      ],
      outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false } },
    });
    await env.ingest(eml({ to: 'billing@example.com', subject: 'Invoice' }), { mailbox: 'billing' });
    const row = await env.ctx.db.selectFrom('outbox').select(['id', 'to_address']).where('kind', '=', 'confirmation').executeTakeFirstOrThrow();
    sink.refuseSender(verpAddress('billing@example.com', row.id, row.to_address, env.ctx.secret, '+'), 553);
    await drain();
    await drain();
    expect((await env.ctx.db.selectFrom('outbox').select('status').where('id', '=', row.id).executeTakeFirstOrThrow()).status).toBe('queued');
    const alert = (await sink.waitFor(1)).find((m) => m.envelopeTo[0] === 'admin@example.com')!;
    expect(alert.parsed.text).toMatch(/553 5\.7\.1 <billing\+b\d+-[a-z2-7]{4}-[0-9a-f]{12}@example\.com>: Sender address rejected/);
    expect(alert.parsed.text).toMatch(/mailboxes\[\]\.verp is on: MAIL FROM was the signed bounce address, not billing@example\.com/);
  });

  it('separator "-": support-b…@; the SMTP listener takes RCPT TO of such addresses and the bounce is mapped', async () => {
    await start({ verp: true, verpSeparator: '-' }, { listener: { port: 0 } });
    const sent = await confirmationSent();
    expect(sent.jane).toMatch(/^support-b\d+-[a-z2-7]{4}-[0-9a-f]{12}@example\.com$/);
    const listener = await startSmtpListener(env.ctx);
    try {
      const s = await openSmtpSession(listener.port);
      await s.command('EHLO mx.outlook.example');
      expect((await s.command('MAIL FROM:<>')).reply).toMatch(/^250/);
      expect((await s.command(`RCPT TO:<${sent.jane}>`)).reply).toMatch(/^250/);
      expect((await s.command('RCPT TO:<nobody-b1-abcd-0123456789ab@example.com>')).reply).toMatch(/^550/);
      expect((await s.command('DATA')).reply).toMatch(/^354/);
      expect((await s.command(`${proseNotice('ndr-dash@outlook.example').replace(/^\./gm, '..')}.`)).reply).toMatch(/^250 2\.0\.0 Stored in case 10001/);
      await s.command('QUIT');
      s.close();
    } finally {
      await listener.close();
    }
    expect(await bouncing()).toEqual([JANE]);
  });
});
