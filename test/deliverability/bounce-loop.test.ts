import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { isBouncing } from '../../src/db/repos/addresses.js';
import { commonData, queueEmail, requesterOf } from '../../src/mail-out/compose.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { createTransport, type MailTransport } from '../../src/mail-out/transport.js';
import { caseDetail } from '../../src/views.js';
import { dsn as dsnReport } from '../helpers/dsn.js';
import { describeResult } from '../helpers/cli.js';
import { runCliInProcess } from '../helpers/cli-in-process.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { describeWithPostfix, startPostfix, type PostfixServer } from '../helpers/postfix-server.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';

/**
 * Issue 14 item 6, end to end with a real MTA: casegate relays the confirmation through a private
 * Postfix; the customer's MX (a real SMTP server) refuses the recipient with 550 5.1.1; Postfix
 * writes its delivery status notification and delivers it to our domain's MX (a sink); that DSN,
 * exactly as Postfix wrote it, goes through the pipeline. Then: the address is shown as bouncing
 * on the case and in `casegate cases show`, mail to it is held back, the owner got one
 * bounce-notice (a second DSN tells nobody again), and a new mail from the customer clears it.
 */

const JANE = 'jane@customer.example';

describeWithPostfix('a hard bounce from a real Postfix closes the loop', () => {
  let postfix: PostfixServer;
  let customerMx: SMTPServer;
  let ourMx: SmtpSink;
  /** The MX of a reader at another company (partner.example), which takes DSN as Postfix passes it on. */
  let partnerMx: SmtpSink;
  let env: TestEnv;
  let transport: MailTransport;
  let worker: OutboxWorker;
  let dsn: Buffer;

  beforeAll(async () => {
    customerMx = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      onRcptTo(address, _session, cb) {
        if (address.address === JANE) cb(Object.assign(new Error('5.1.1 <jane@customer.example>: Recipient address rejected: User unknown in virtual mailbox table'), { responseCode: 550 }));
        else cb();
      },
      onData(stream, _s, cb) {
        stream.resume();
        stream.on('end', () => cb());
      },
    });
    await new Promise<void>((r) => customerMx.listen(0, '127.0.0.1', () => r()));
    ourMx = await startSmtpSink();
    partnerMx = await startSmtpSink({ dsn: true });
    const customerPort = (customerMx.server.address() as { port: number }).port;
    postfix = await startPostfix({
      routes: { 'customer.example': `smtp:[127.0.0.1]:${customerPort}`, 'example.com': `smtp:[127.0.0.1]:${ourMx.port}`, 'partner.example': `smtp:[127.0.0.1]:${partnerMx.port}` },
      // A relay on the way out: no DNS, no TLS, and it reports a refusal at once.
      main: { myhostname: 'mx.relay.example', mydomain: 'relay.example', myorigin: 'relay.example', smtp_dns_support_level: 'disabled', smtp_tls_security_level: 'none', smtpd_tls_security_level: 'none', delay_warning_time: '0', queue_run_delay: '1s', minimal_backoff_time: '1s', maximal_backoff_time: '2s' },
    });
    env = await testEnv({
      queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }], assignment: 'fixed', fixedOwner: 'Ben Agent' } },
      outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: postfix.port, secure: false } },
    });
    transport = createTransport(env.resolved);
    worker = new OutboxWorker(env.ctx, transport);
    // Jane opens a case; the confirmation (and Ben's assignment notice) go out through Postfix.
    const opened = await env.ingest(eml({ from: `Jane Customer <${JANE}>`, subject: 'Printer on fire', messageId: 'jane-1@customer.example' }));
    expect(opened.kind).toBe('stored');
    await worker.drain();
    // Ben's assignment notice also arrives at our MX; the DSN is the one with the null sender.
    const end = Date.now() + 30_000;
    for (;;) {
      const found = ourMx.messages.find((m) => /^Content-Type: multipart\/report; report-type=delivery-status/m.test(m.raw.toString('latin1')));
      if (found !== undefined) {
        dsn = found.raw;
        expect(found.envelopeFrom ?? '').toBe('');
        break;
      }
      if (Date.now() > end) throw new Error(`no DSN from Postfix; our MX got ${ourMx.messages.length} message(s)\n${postfix.log()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 120_000);

  afterAll(async () => {
    transport?.close();
    await env?.close();
    await postfix?.stop();
    await ourMx?.close();
    await partnerMx?.close();
    await new Promise<void>((r) => (customerMx ? customerMx.close(() => r()) : r()));
  });

  it('Postfix wrote a real DSN about our confirmation', () => {
    const text = dsn.toString('utf8');
    console.log(`the DSN Postfix wrote:\n${text.split(/\r?\n/).slice(0, 60).join('\n')}`);
    expect(text).toMatch(/^From: Mail Delivery System <MAILER-DAEMON@relay\.example>$/m);
    expect(text).toMatch(/^Reporting-MTA: dns; mx\.relay\.example$/m);
    expect(text).toMatch(/^Action: failed$/m);
    expect(text).toMatch(/^Content-Type: multipart\/report; report-type=delivery-status;/m);
    expect(text).toMatch(/^Final-Recipient: rfc822; jane@customer\.example$/m);
    expect(text).toMatch(/^Status: 5\.1\.1$/m);
    expect(text).toMatch(/^Diagnostic-Code: smtp; 550 5\.1\.1/m);
    expect(text).toMatch(/^Message-ID: <c10001\./im);
    // Our signed envelope id, given with MAIL FROM (the relay offers DSN), written back by Postfix.
    expect(text).toMatch(/^Original-Envelope-Id: casegate\.b\d+\.[a-z2-7]{4}\.r[0-9a-f]{16}$/m);
  });

  it('the same report without its Original-Envelope-Id (what anyone who saw our email can write) is an unverified report: marks nobody, tells nobody', async () => {
    const copied = Buffer.from(
      dsn
        .toString('latin1')
        .replace(/^Original-Envelope-Id: .*\r?\n/m, '')
        .replace(/^Message-Id: <([^>]+)>/im, 'Message-Id: <copied-$1>')
        .replace(/^Date: .*$/im, `Date: ${new Date(Date.now() - 60_000).toUTCString()}`),
      'latin1',
    );
    expect((await env.ingest(copied, { envelopeFrom: '' })).kind).toBe('stored');
    expect(await isBouncing(env.ctx.db, JANE)).toBe(false);
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    const ev = (await eventsOfCase(env.ctx.db, c.id)).find((e) => e.type === 'address.unverified-bounce');
    expect(ev?.reason).toMatch(/unverified bounce report from mailer-daemon@relay\.example: .*carries no envelope id of ours/);
    expect(await env.ctx.db.selectFrom('outbox').select('id').where('kind', '=', 'bounce-notice').execute()).toHaveLength(0);
  });

  it('the DSN marks the address bouncing, on the case and in `casegate cases show`; the owner is told once', async () => {
    const out = await env.ingest(dsn, { envelopeFrom: '' });
    expect(out.kind, JSON.stringify(out)).toBe('stored');
    expect(await isBouncing(env.ctx.db, JANE)).toBe(true);
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    const types = (await eventsOfCase(env.ctx.db, c.id)).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['address.bouncing', 'bounce.notice-sent']));
    const marked = (await eventsOfCase(env.ctx.db, c.id)).find((e) => e.type === 'address.bouncing')!;
    expect(JSON.parse(marked.data_json)).toMatchObject({ proof: expect.stringMatching(/^it carries our signed envelope id of that email \(outbox \d+\)/) });
    const detail = (await caseDetail(env.ctx.db, 10001))!;
    expect(detail.bouncing).toEqual([expect.objectContaining({ address: JANE, reason: expect.stringContaining('5.1.1') })]);
    // The unverified report before it is no longer shown: she is bouncing.
    expect(detail.unverifiedBounces).toEqual([]);

    const notices = await env.ctx.db.selectFrom('outbox').selectAll().where('kind', '=', 'bounce-notice').execute();
    expect(notices.map((n) => n.to_address)).toEqual(['ben@example.com']);
    expect(notices[0]!.text).toContain(JANE);
    expect(notices[0]!.text).toContain('5.1.1');
    expect(notices[0]!.text).toMatch(/confirmation|received your request/);

    const shown = await runCliInProcess(['--config', env.resolved.source!, 'cases', 'show', '10001'], { cwd: env.dir, env: { HOME: env.dir } });
    expect(shown.code, describeResult(shown)).toBe(0);
    expect(shown.stdout).toMatch(/BOUNCING: jane@customer\.example bounced hard at \d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)? \S+ \(5\.1\.1 .*User unknown.*\): casegate sends it nothing until it writes again/);

    // The same failure reported again (another report, a minute later: not a re-sent copy, stages/resend.ts): nobody is told twice.
    const again = Buffer.from(dsn.toString('latin1').replace(/^Message-Id: <([^>]+)>/im, 'Message-Id: <again-$1>').replace(/^Date: .*$/im, `Date: ${new Date(Date.now() + 60_000).toUTCString()}`), 'latin1');
    expect((await env.ingest(again, { envelopeFrom: '' })).kind).toBe('stored');
    expect(await env.ctx.db.selectFrom('outbox').select('id').where('kind', '=', 'bounce-notice').execute()).toHaveLength(1);
  });

  it('with signed bounce addresses (mailboxes[].verp) Postfix bounces to the email’s own address, and a report that names no recipient and quotes no header still marks the right one', async () => {
    // A second installation on the same Postfix, with VERP on: Jane's confirmation is refused again.
    const verpEnv = await testEnv({
      mailboxes: [{ name: 'support', addresses: ['support@example.com'], verp: true }],
      queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }], assignment: 'fixed', fixedOwner: 'Ben Agent' } },
      outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: postfix.port, secure: false } },
    });
    const verpTransport = createTransport(verpEnv.resolved);
    try {
      expect((await verpEnv.ingest(eml({ from: `Jane Customer <${JANE}>`, subject: 'Printer on fire', messageId: 'jane-verp@customer.example' }))).kind).toBe('stored');
      await new OutboxWorker(verpEnv.ctx, verpTransport).drain();
      const row = await verpEnv.ctx.db.selectFrom('outbox').select(['id', 'message_id']).where('kind', '=', 'confirmation').executeTakeFirstOrThrow();
      const end = Date.now() + 30_000;
      let bounce: { raw: Buffer; envelopeTo: string[] } | undefined;
      while ((bounce = ourMx.messages.find((m) => m.envelopeTo.some((a) => a.startsWith(`support+b${row.id}-`)))) === undefined) {
        if (Date.now() > end) throw new Error(`no DSN to a signed bounce address; our MX got ${ourMx.messages.map((m) => m.envelopeTo.join(',')).join(' ')}\n${postfix.log()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      // Postfix addressed its report to the envelope sender: the signed address of Jane's copy.
      expect(bounce.envelopeTo).toEqual([expect.stringMatching(new RegExp(`^support\\+b${row.id}-[a-z2-7]{4}-[0-9a-f]{12}@example\\.com$`))]);
      // What a forwarding chain or a terse notice leaves: no address we wrote to, no Message-ID of ours.
      const bare = bounce.raw
        .toString('utf8')
        .replaceAll(JANE, 'j.doe@renamed.example')
        .split(/\r?\n/)
        .filter((l) => !l.includes(row.message_id) && !/^(?:In-Reply-To|References):/i.test(l))
        .join('\r\n');
      expect(bare).not.toContain(JANE);
      const out = await verpEnv.ingest(Buffer.from(bare), { envelopeFrom: '', envelopeTo: bounce.envelopeTo });
      expect(out).toMatchObject({ kind: 'stored', caseNumber: 10001 });
      expect(await isBouncing(verpEnv.ctx.db, JANE)).toBe(true);
      expect(await isBouncing(verpEnv.ctx.db, 'j.doe@renamed.example')).toBe(false);
      const c = (await caseByNumber(verpEnv.ctx.db, 10001))!;
      const marked = (await eventsOfCase(verpEnv.ctx.db, c.id)).find((e) => e.type === 'address.bouncing');
      expect(marked?.reason).toMatch(/^jane@customer\.example: 5\.1\.1 /);
    } finally {
      verpTransport.close();
      await verpEnv.close();
    }
  });

  it('an email to a customer with a reader at another company copied in: each reader’s MX gets an envelope id signed for that reader alone, so whoever runs the other company’s MX cannot report the customer as bouncing', async () => {
    const ANN = 'ann@customer.example';
    const BOSS = 'boss@partner.example';
    const ccEnv = await testEnv({
      queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }], assignment: 'fixed', fixedOwner: 'Ben Agent' } },
      outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: postfix.port, secure: false } },
    });
    const ccTransport = createTransport(ccEnv.resolved);
    try {
      expect((await ccEnv.ingest(eml({ from: `Ann Customer <${ANN}>`, subject: 'Scanner jammed', messageId: 'ann-1@customer.example' }))).kind).toBe('stored');
      // Boss copied in, as on an agent's reply to a case with participants: the row and its thread entry.
      const cc = JSON.stringify([{ address: BOSS, name: 'Boss' }]);
      const row = await ccEnv.ctx.db.updateTable('outbox').set({ cc_json: cc }).where('kind', '=', 'confirmation').returning(['id', 'message_id']).executeTakeFirstOrThrow();
      await ccEnv.ctx.db.updateTable('messages').set({ cc_json: cc }).where('outbox_id', '=', row.id).execute();
      await new OutboxWorker(ccEnv.ctx, ccTransport).drain();
      expect((await ccEnv.ctx.db.selectFrom('outbox').select('status').where('id', '=', row.id).executeTakeFirstOrThrow()).status).toBe('sent');
      // Postfix passed our envelope id on to Boss's MX (it offers DSN): the one Boss's copy went with.
      const end = Date.now() + 30_000;
      let atPartner: (typeof partnerMx.messages)[number] | undefined;
      while ((atPartner = partnerMx.messages.find((m) => m.raw.toString('latin1').includes(row.message_id))) === undefined) {
        if (Date.now() > end) throw new Error(`Boss's MX got nothing\n${postfix.log()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(atPartner.envelopeTo).toEqual([BOSS]);
      const bossId = atPartner.envid!;
      expect(bossId).toMatch(new RegExp(`^casegate\\.b${row.id}\\.[a-z2-7]{4}\\.r[0-9a-f]{16}$`));
      // Whoever runs partner.example's MX writes a report naming Ann, with the id his MX was given.
      const forged = dsnReport({ recipients: [ANN], originalRecipient: true, messageId: 'forged-1@mx.partner.example', mta: 'mx.partner.example', envelopeId: bossId });
      expect((await ccEnv.ingest(Buffer.from(forged), { envelopeFrom: '' })).kind).toBe('stored');
      expect(await isBouncing(ccEnv.ctx.db, ANN)).toBe(false);
      const c = (await caseByNumber(ccEnv.ctx.db, 10001))!;
      const ev = (await eventsOfCase(ccEnv.ctx.db, c.id)).filter((e) => e.type.startsWith('address.'));
      expect(ev.map((e) => e.type)).toEqual(['address.unverified-bounce']);
      expect(ev[0]!.reason).toMatch(/its envelope id is of an email to boss@partner\.example, not to this reader/);
      expect(await ccEnv.ctx.db.selectFrom('outbox').select('id').where('kind', '=', 'bounce-notice').execute()).toHaveLength(0);
      // The same id still proves a report about Boss himself.
      expect((await ccEnv.ingest(Buffer.from(forged.replaceAll(ANN, BOSS).replace('forged-1@', 'real-1@')), { envelopeFrom: '' })).kind).toBe('stored');
      expect(await isBouncing(ccEnv.ctx.db, BOSS)).toBe(true);
    } finally {
      ccTransport.close();
      await ccEnv.close();
    }
  });

  it('mail to the bouncing address is held back; a new mail from it clears the mark and mail flows again', async () => {
    await worker.drain();
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    const stillWorking = async (): Promise<string> => {
      const id = await env.ctx.db.transaction().execute((trx) =>
        queueEmail(trx, env.ctx, { caseRow: c, mailbox: env.ctx.mailboxes.default, kind: 'still-working', to: requesterOf(c), autoReply: false, inReplyTo: null, references: [], data: { ...commonData(env.ctx, c, env.ctx.mailboxes.default, requesterOf(c)), update: { minutes: 60 } } }),
      );
      await worker.drain();
      return (await env.ctx.db.selectFrom('outbox').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;
    };
    expect(await stillWorking()).toBe('suppressed');
    // Jane writes again (a new email on the case).
    env.clock.advance(3_600_000);
    const back = await env.ingest(eml({ from: `Jane Customer <${JANE}>`, subject: `Re: [Case #10001] Printer on fire`, messageId: 'jane-2@customer.example', inReplyTo: 'jane-1@customer.example', body: 'My mailbox works again.' }));
    expect(back.kind).toBe('stored');
    expect(await isBouncing(env.ctx.db, JANE)).toBe(false);
    expect((await eventsOfCase(env.ctx.db, c.id)).map((e) => e.type)).toContain('address.reachable');
    expect((await caseDetail(env.ctx.db, 10001))!.bouncing).toEqual([]);
    const shown = await runCliInProcess(['--config', env.resolved.source!, 'cases', 'show', '10001'], { cwd: env.dir, env: { HOME: env.dir } });
    expect(shown.stdout).not.toContain('BOUNCING');
    expect(await stillWorking()).toBe('sent');
  });
});
