/**
 * Who may report a bounce, with signed bounce addresses off (the default): a delivery report is
 * plain mail, and anyone who saw one of our emails knows the Message-ID it quotes. Through the
 * real SMTP listener (casegate as the MX, security.senderAuth verify: mailauth with a stub DNS),
 * the confirmation sent to Jane with Boss (another company) copied in through a relay that offers
 * DSN: a report marks Jane only when a mail system with standing wrote it — our signed envelope
 * id in it (the real Postfix case: bounce-loop.test.ts), or authenticated from the mail system of
 * Jane's own domain. A stranger (plain, or DKIM-signed and SPF-designated for his own domain), the
 * Cc'd participant and a colleague of Jane's with her domain's DKIM on his own mail mark nobody:
 * each is recorded on the case with the reason, and the agent's view says "unverified bounce
 * report", not "bouncing".
 */
import { generateKeyPairSync } from 'node:crypto';
import { dkimSign } from 'mailauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtpListener, type SmtpListener } from '../../src/channels/smtp-listener.js';
import { formatCaseDetail } from '../../src/cli/case-views.js';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import type { DnsResolver } from '../../src/mail-in/sender-auth.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { createTransport } from '../../src/mail-out/transport.js';
import { caseDetail } from '../../src/views.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { dsn } from '../helpers/dsn.js';
import { openSmtpSession } from '../helpers/smtp-probe.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';

const JANE = 'jane@customer.example';
const BOSS = 'boss@partner.example';

const keys = { customer: generateKeyPairSync('rsa', { modulusLength: 2048 }), evil: generateKeyPairSync('rsa', { modulusLength: 2048 }), partner: generateKeyPairSync('rsa', { modulusLength: 2048 }) };
const pub = (k: (typeof keys)['customer']) => k.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

/**
 * customer.example signs its mail (its MX's reports and its users' mail alike) and designates no
 * host for SPF; evil.example and partner.example sign theirs and designate 127.0.0.1 (the client
 * the listener sees): their own mail passes SPF, DKIM and DMARC. All three publish p=reject.
 */
const dns: DnsResolver = async (name, rrtype) => {
  const txt: Record<string, string> = {
    's1._domainkey.customer.example': `v=DKIM1; k=rsa; p=${pub(keys.customer)}`,
    'customer.example': 'v=spf1 -all',
    // Its outgoing host, by the name it gives in HELO: the only SPF record that designates 127.0.0.1.
    'out.customer.example': 'v=spf1 ip4:127.0.0.1 -all',
    // A host name of customer.example whose SPF does not designate the client the listener sees.
    'relay.customer.example': 'v=spf1 ip4:192.0.2.1 -all',
    '_dmarc.customer.example': 'v=DMARC1; p=reject',
    's1._domainkey.evil.example': `v=DKIM1; k=rsa; p=${pub(keys.evil)}`,
    'evil.example': 'v=spf1 ip4:127.0.0.1 -all',
    'mx.evil.example': 'v=spf1 ip4:127.0.0.1 -all',
    '_dmarc.evil.example': 'v=DMARC1; p=reject',
    's1._domainkey.partner.example': `v=DKIM1; k=rsa; p=${pub(keys.partner)}`,
    'partner.example': 'v=spf1 ip4:127.0.0.1 -all',
    '_dmarc.partner.example': 'v=DMARC1; p=reject',
  };
  const v = rrtype === 'TXT' ? txt[name.toLowerCase()] : undefined;
  if (v === undefined) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  return [[v]];
};

async function signedBy(domain: keyof typeof keys, raw: string): Promise<string> {
  const { signatures } = await dkimSign(raw, { signatureData: [{ signingDomain: `${domain}.example`, selector: 's1', privateKey: keys[domain].privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }] });
  return signatures + raw;
}

describe('bounce reports with signed bounce addresses off: only a mail system with standing marks', () => {
  let sink: SmtpSink;
  let env: TestEnv;
  let listener: SmtpListener;
  let confirmationId: string;
  let n = 0;

  beforeAll(async () => {
    sink = await startSmtpSink({ dsn: true });
    env = await testEnv(
      {
        security: { senderAuth: { mode: 'verify', authservId: 'mx.example.com' } },
        listener: { port: 0 },
        queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }], assignment: 'fixed', fixedOwner: 'Ben Agent' } },
        outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false } },
      },
      undefined,
      { resolveDns: dns },
    );
    listener = await startSmtpListener(env.ctx);
    // Jane opens case 10001 with Boss copied in: both are participants.
    const opened = await signedBy('customer', eml({ from: `Jane Customer <${JANE}>`, cc: `Boss <${BOSS}>`, messageId: 'jane-1@customer.example', auth: null }));
    expect(await deliver(opened, JANE, 'mail.customer.example')).toMatch(/^250 2\.0\.0 Stored in case 10001/);
    // Copied in on it, as on an agent's reply to a case with participants: the row and its thread entry.
    const cc = JSON.stringify([{ address: BOSS, name: 'Boss' }]);
    const confirmation = await env.ctx.db.updateTable('outbox').set({ cc_json: cc }).where('kind', '=', 'confirmation').returning('id').executeTakeFirstOrThrow();
    await env.ctx.db.updateTable('messages').set({ cc_json: cc }).where('outbox_id', '=', confirmation.id).execute();
    const t = createTransport(env.resolved);
    try {
      await new OutboxWorker(env.ctx, t).drain();
    } finally {
      t.close();
    }
    const row = await env.ctx.db.selectFrom('outbox').select(['message_id', 'status', 'cc_json']).where('kind', '=', 'confirmation').executeTakeFirstOrThrow();
    expect(row.status).toBe('sent');
    expect(row.cc_json).toContain(BOSS);
    confirmationId = row.message_id;
  }, 60_000);

  afterAll(async () => {
    await listener?.close();
    await env?.close();
    await sink?.close();
  });

  /** One message through the listener: MAIL FROM `from` ("" = the null sender) after EHLO `helo`. */
  async function deliver(raw: string, from: string, helo: string): Promise<string> {
    const s = await openSmtpSession(listener.port);
    try {
      await s.command(`EHLO ${helo}`);
      expect((await s.command(`MAIL FROM:<${from}>`)).reply).toMatch(/^250/);
      expect((await s.command('RCPT TO:<support@example.com>')).reply).toMatch(/^250/);
      expect((await s.command('DATA')).reply).toMatch(/^354/);
      return (await s.command(`${raw.replace(/^\./gm, '..')}.`)).reply;
    } finally {
      await s.command('QUIT').catch(() => undefined);
      s.close();
    }
  }

  /** A DSN naming Jane as failed, quoting our confirmation's Message-ID, From `from` (To: us unless `to`). */
  function report(from: string, mta: string, to?: string): string {
    n += 1;
    return dsn({ recipients: [JANE], messageId: `dsn-${n}@${mta}`, refersTo: confirmationId, from, mta, ...(to !== undefined ? { to } : {}) });
  }

  async function janeBouncing(): Promise<boolean> {
    return (await env.ctx.db.selectFrom('address_status').select('bouncing').where('address', '=', JANE).executeTakeFirst())?.bouncing === 1;
  }

  async function lastBounceEvent(): Promise<{ type: string; reason: string }> {
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    const ev = (await eventsOfCase(env.ctx.db, c.id)).filter((e) => e.type.startsWith('address.'));
    return ev[ev.length - 1]!;
  }

  async function ownerTold(): Promise<number> {
    return (await env.ctx.db.selectFrom('outbox').select('id').where('kind', '=', 'bounce-notice').execute()).length;
  }

  it('a stranger’s forged DSN (no signature) joins the case as an unverified report: Jane not marked, nobody told, the agent’s view says so', async () => {
    expect(await deliver(report('MAILER-DAEMON@mx.evil.example', 'mx.evil.example'), '', 'mx.evil.example')).toMatch(/^250 2\.0\.0 Stored in case 10001/);
    expect(await janeBouncing()).toBe(false);
    expect(await ownerTold()).toBe(0);
    const ev = await lastBounceEvent();
    expect(ev.type).toBe('address.unverified-bounce');
    expect(ev.reason).toMatch(/^jane@customer\.example: 5\.1\.1 .*unverified bounce report from mailer-daemon@mx\.evil\.example: .*carries no envelope id of ours; the reporter mailer-daemon@mx\.evil\.example is not of the recipient's domain .*not marked as bouncing$/);
    const detail = (await caseDetail(env.ctx.db, 10001))!;
    expect(detail.bouncing).toEqual([]);
    expect(detail.unverifiedBounces).toEqual([expect.objectContaining({ address: JANE, reason: '5.1.1', reporter: 'mailer-daemon@mx.evil.example' })]);
    const shown = formatCaseDetail(detail, (a) => a);
    expect(shown).toMatch(/UNVERIFIED BOUNCE REPORT: jane@customer\.example reported undeliverable at \d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)? \S+ \(5\.1\.1\) by mailer-daemon@mx\.evil\.example — nothing proves a mail system wrote it/);
    expect(shown).not.toMatch(/BOUNCING/);
  });

  it('a stranger’s DSN DKIM-signed and SPF-designated for his own domain (authenticated: pass) marks nobody either: his domain has no standing for Jane', async () => {
    const raw = await signedBy('evil', report('MAILER-DAEMON@evil.example', 'mx.evil.example'));
    expect(await deliver(raw, '', 'mx.evil.example')).toMatch(/^250 2\.0\.0 Stored in case 10001/);
    const stored = await env.ctx.db.selectFrom('messages').select('sender_auth').where('message_id', '=', `dsn-${n}@mx.evil.example`).executeTakeFirstOrThrow();
    expect(stored.sender_auth).toBe('pass');
    expect(await janeBouncing()).toBe(false);
    expect(await lastBounceEvent()).toMatchObject({ type: 'address.unverified-bounce', reason: expect.stringMatching(/the reporter mailer-daemon@evil\.example is not of the recipient's domain/) });
  });

  it('the Cc’d participant cannot mark the customer: not with his own signed mail, not as her domain’s MAILER-DAEMON (DMARC fails)', async () => {
    const own = await signedBy('partner', report(`Boss <${BOSS}>`, 'partner.example'));
    expect(await deliver(own, BOSS, 'mail.partner.example')).toMatch(/^250 2\.0\.0 Stored in case 10001/);
    expect(await janeBouncing()).toBe(false);
    expect(await lastBounceEvent()).toMatchObject({ type: 'address.unverified-bounce', reason: expect.stringMatching(/the reporter boss@partner\.example is not of the recipient's domain/) });
    const posing = report('MAILER-DAEMON@customer.example', 'mx.customer.example');
    expect(await deliver(posing, '', 'mail.partner.example')).toMatch(/^250 2\.0\.0 Stored in case 10001/);
    expect(await janeBouncing()).toBe(false);
    expect(await lastBounceEvent()).toMatchObject({ type: 'address.unverified-bounce', reason: expect.stringMatching(/the reporter mailer-daemon@customer\.example is not authenticated \(From header; verified here: dmarc=fail\)/) });
  });

  it('a colleague of Jane’s, whose own mail her domain signs, is a person, not her domain’s mail system: marks nobody', async () => {
    const raw = await signedBy('customer', report('Ann <ann@customer.example>', 'customer.example'));
    expect(await deliver(raw, 'ann@customer.example', 'mail.customer.example')).toMatch(/^250 2\.0\.0 Stored in case 10001/);
    expect(await janeBouncing()).toBe(false);
    expect(await lastBounceEvent()).toMatchObject({ type: 'address.unverified-bounce', reason: expect.stringMatching(/the reporter ann@customer\.example is a person's address, not the domain's mail system/) });
    expect(await ownerTold()).toBe(0);
  });

  it('her domain’s genuine signed report about someone else’s message (a stranger sent her a copy quoting our Message-ID and made it fail), passed on to us: addressed to him, marks nobody', async () => {
    const raw = await signedBy('customer', report('MAILER-DAEMON@mx.customer.example', 'mx.customer.example', 'mallory@evil.example'));
    expect(await deliver(raw, '', 'mx.evil.example')).toMatch(/^250 2\.0\.0 Stored in case 10001/);
    const stored = await env.ctx.db.selectFrom('messages').select('sender_auth').where('message_id', '=', `dsn-${n}@mx.customer.example`).executeTakeFirstOrThrow();
    expect(stored.sender_auth).toBe('pass');
    expect(await janeBouncing()).toBe(false);
    expect(await lastBounceEvent()).toMatchObject({ type: 'address.unverified-bounce', reason: expect.stringMatching(/the report from mailer-daemon@mx\.customer\.example is addressed to someone else, not to us/) });
  });

  it('from the null sender, SPF checks the HELO name (RFC 7208 §2.3): a HELO naming a host of Jane’s domain that does not designate the client proves nothing, no more than a HELO of the stranger’s own domain', async () => {
    // No DKIM: only SPF could authenticate it. MAIL FROM:<> — SPF looks at postmaster@<HELO name>.
    expect(await deliver(report('MAILER-DAEMON@customer.example', 'relay.customer.example'), '', 'relay.customer.example')).toMatch(/^250 2\.0\.0 Stored in case 10001/);
    expect(await janeBouncing()).toBe(false);
    expect(await lastBounceEvent()).toMatchObject({ type: 'address.unverified-bounce', reason: expect.stringMatching(/the reporter mailer-daemon@customer\.example is not authenticated \(From header; verified here: dmarc=fail\)/) });
    // His own host passes SPF by HELO, but it is no host of Jane's domain: no DMARC alignment.
    expect(await deliver(report('MAILER-DAEMON@customer.example', 'mx.evil.example'), '', 'mx.evil.example')).toMatch(/^250 2\.0\.0 Stored in case 10001/);
    expect(await janeBouncing()).toBe(false);
    expect(await lastBounceEvent()).toMatchObject({ type: 'address.unverified-bounce', reason: expect.stringMatching(/the reporter mailer-daemon@customer\.example is not authenticated \(From header; verified here: dmarc=fail\)/) });
    expect(await ownerTold()).toBe(0);
  });

  it('from Exchange’s MicrosoftExchange329e…@ of Jane’s domain, DKIM-signed by it: Exchange writes from that address only to its own organisation’s senders (and a consumer service may let anyone register it), so it marks nobody', async () => {
    const raw = await signedBy('customer', report('Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@customer.example>', 'customer.example'));
    expect(await deliver(raw, '', 'mail.customer.example')).toMatch(/^250 2\.0\.0 Stored in case 10001/);
    const stored = await env.ctx.db.selectFrom('messages').select('sender_auth').where('message_id', '=', `dsn-${n}@customer.example`).executeTakeFirstOrThrow();
    expect(stored.sender_auth).toBe('pass');
    expect(await janeBouncing()).toBe(false);
    expect(await lastBounceEvent()).toMatchObject({ type: 'address.unverified-bounce', reason: expect.stringMatching(/is the Microsoft Exchange recipient, which reports only to senders of its own organisation/) });
    expect(await ownerTold()).toBe(0);
  });

  it('an authenticated report from the mail system of Jane’s own domain marks her and tells the owner; the unverified reports are no longer shown', async () => {
    const raw = await signedBy('customer', report('MAILER-DAEMON@mx.customer.example', 'mx.customer.example'));
    expect(await deliver(raw, '', 'mx.customer.example')).toMatch(/^250 2\.0\.0 Stored in case 10001/);
    expect(await janeBouncing()).toBe(true);
    expect(await lastBounceEvent()).toMatchObject({ type: 'address.bouncing', reason: expect.stringMatching(/^jane@customer\.example: 5\.1\.1 /) });
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    const marked = (await eventsOfCase(env.ctx.db, c.id)).find((e) => e.type === 'address.bouncing')!;
    expect(JSON.parse(marked.data_json)).toMatchObject({ proof: "authenticated report from mailer-daemon@mx.customer.example, the mail system of the recipient's own domain" });
    expect(await ownerTold()).toBe(1);
    const detail = (await caseDetail(env.ctx.db, 10001))!;
    expect(detail.unverifiedBounces).toEqual([]);
    expect(formatCaseDetail(detail, (a) => a)).toMatch(/BOUNCING: jane@customer\.example bounced hard/);
  });

  it('a genuine report proven by SPF alone, by HELO identity (the null sender, no DKIM): from her domain’s outgoing host, it marks Jane', async () => {
    // Jane writes again (her mailbox works): no longer bouncing.
    const back = await signedBy('customer', eml({ from: `Jane Customer <${JANE}>`, subject: 'Re: [Case #10001] Printer on fire', messageId: 'jane-2@customer.example', inReplyTo: 'jane-1@customer.example', auth: null }));
    expect(await deliver(back, JANE, 'mail.customer.example')).toMatch(/^250 2\.0\.0 Stored in case 10001/);
    expect(await janeBouncing()).toBe(false);
    const raw = report('MAILER-DAEMON@customer.example', 'out.customer.example');
    expect(raw).not.toMatch(/^DKIM-Signature:/im);
    expect(await deliver(raw, '', 'out.customer.example')).toMatch(/^250 2\.0\.0 Stored in case 10001/);
    const stored = await env.ctx.db.selectFrom('messages').select('sender_auth').where('message_id', '=', `dsn-${n}@out.customer.example`).executeTakeFirstOrThrow();
    expect(stored.sender_auth).toBe('pass');
    expect(await janeBouncing()).toBe(true);
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    const marked = (await eventsOfCase(env.ctx.db, c.id)).filter((e) => e.type === 'address.bouncing').pop()!;
    expect(JSON.parse(marked.data_json)).toMatchObject({ proof: "authenticated report from mailer-daemon@customer.example, the mail system of the recipient's own domain" });
  });
});
