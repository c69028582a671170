/**
 * Issue 9, item 5: who vouches for the From address (security.senderAuth). Authentication-Results
 * parsing and the trusted hop (table-driven), then each mode through the whole pipeline, and
 * `verify` with mailauth against a stub DNS (this machine has none) — also through the real SMTP
 * listener, which hands mailauth the client's address and HELO.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createConnection } from 'node:net';
import { dkimSign } from 'mailauth';
import { afterEach, describe, expect, it } from 'vitest';
import { startSmtpListener } from '../../src/channels/smtp-listener.js';
import { openSmtpSession } from '../helpers/smtp-probe.js';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { headerFields, judge, parseAuthResults, trustedResults, type DnsResolver } from '../../src/mail-in/sender-auth.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';

describe('Authentication-Results parsing (RFC 8601)', () => {
  it.each([
    ['mx.example.com; dmarc=fail header.from=a.example', 'mx.example.com', [['dmarc', 'fail']]],
    ['mx.example.com 1; dmarc=fail (p=reject) header.from=a.example', 'mx.example.com', [['dmarc', 'fail']]],
    ['MX.Example.COM (our mx); spf=pass smtp.mailfrom=a.example; dkim=pass header.d=a.example', 'mx.example.com', [['spf', 'pass'], ['dkim', 'pass']]],
    ['mx.example.com;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=a.example;\r\n\tdmarc=pass', 'mx.example.com', [['dkim', 'pass'], ['dmarc', 'pass']]],
    ['mx.example.com; none', 'mx.example.com', []],
  ])('%j', (value, id, results) => {
    const ar = parseAuthResults(value.replace(/\r\n\t/g, ' '))!;
    expect(ar.authservId).toBe(id);
    expect(ar.results.map((r) => [r.method, r.result])).toEqual(results);
  });

  it.each(['spf=pass smtp.mailfrom=a.example', 'mx.example.com two; dmarc=pass', ''])('%j is no Authentication-Results we can attribute', (value) => {
    expect(parseAuthResults(value)).toBeNull();
  });
});

const MX = 'mx.example.com';
const OURS_PASS = `Authentication-Results: ${MX}; dmarc=pass header.from=customer.example`;
const OURS_FAIL = `Authentication-Results: ${MX}; dmarc=fail header.from=customer.example`;
const OURS_NONE = `Authentication-Results: ${MX}; spf=none; dkim=none; dmarc=none header.from=customer.example`;
const FORGED_DKIM = `Authentication-Results: ${MX}; dkim=pass header.d=customer.example; dmarc=pass header.from=customer.example`;
const OUR_RECEIVED = `Received: from mail.evil.example by ${MX}; Mon, 02 Mar 2026 08:59:00 +0000`;
const RELAY = 'Received: from mx.example.com by store.example.com; Mon, 02 Mar 2026 08:59:01 +0000';
const THEIR_RECEIVED = 'Received: from [10.0.0.5] by mail.evil.example; Mon, 02 Mar 2026 08:58:00 +0000';

describe('which Authentication-Results count (trusted hop)', () => {
  it.each([
    ['ours above our Received', [OURS_PASS, OUR_RECEIVED, THEIR_RECEIVED], 1, 'pass', 0],
    ['ours below our Received (Gmail style)', [OUR_RECEIVED, OURS_PASS, THEIR_RECEIVED], 1, 'pass', 0],
    ['ours above, a forged pass below our Received', [OURS_NONE, OUR_RECEIVED, FORGED_DKIM], 1, 'none', 1],
    ['ours below our Received, a forged pass after it', [OUR_RECEIVED, OURS_FAIL, FORGED_DKIM], 1, 'fail', 1],
    ['a forged pass further down the chain', [OURS_NONE, OUR_RECEIVED, THEIR_RECEIVED, FORGED_DKIM], 1, 'none', 1],
    ['only a forged one below another server’s Received', [OUR_RECEIVED, THEIR_RECEIVED, FORGED_DKIM], 1, 'none', 1],
    ['a relay after our MX (trustedHops 2)', [RELAY, OURS_PASS, OUR_RECEIVED, THEIR_RECEIVED], 2, 'pass', 0],
    ['the message never passed our MX (fewer Received than hops)', [OURS_PASS], 1, 'none', 1],
    ['another server’s results', ['Authentication-Results: mx.other.example; dmarc=pass', OUR_RECEIVED], 1, 'none', 0],
  ])('%s', (_name, headers, hops, verdict, ignored) => {
    const fields = headerFields((headers as string[]).join('\r\n'));
    const r = trustedResults(fields, MX, hops as number);
    expect(judge(r.results, 'jane@customer.example', 'test').verdict).toBe(verdict);
    expect(r.ignored).toBe(ignored);
  });

  it.each([
    [{ dmarc: 'pass' }, 'pass'],
    [{ dmarc: 'fail', dkim: 'pass' }, 'fail'],
    [{ dmarc: 'none', dkim: 'pass', d: 'customer.example' }, 'pass'],
    [{ dmarc: 'none', dkim: 'pass', d: 'mail.customer.example' }, 'pass'],
    [{ dmarc: 'none', dkim: 'pass', d: 'esp.example' }, 'none'],
    [{ dkim: 'fail', d: 'customer.example' }, 'none'],
    [{ dmarc: 'temperror' }, 'none'],
    // A DMARC result speaks for the From domain it names: the MX may have read another From.
    [{ dmarc: 'pass', for: 'customer.example' }, 'pass'],
    [{ dmarc: 'pass', for: 'evil.example' }, 'none'],
    [{ dmarc: 'fail', for: 'evil.example' }, 'none'],
    [{ dmarc: 'pass', for: 'evil.example', dkim: 'pass', d: 'customer.example' }, 'pass'],
  ])('judges %j as %s', (r, verdict) => {
    const results = new Map<string, { method: string; result: string; props: Record<string, string> }>();
    if (r.dmarc !== undefined) results.set('dmarc', { method: 'dmarc', result: r.dmarc, props: r.for !== undefined ? { 'header.from': r.for } : {} });
    if (r.dkim !== undefined) results.set('dkim', { method: 'dkim', result: r.dkim, props: { 'header.d': r.d ?? '' } });
    expect(judge(results, 'jane@customer.example', 't').verdict).toBe(verdict);
  });

  it.each([
    ['mx.example.com; dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=a.example', 'none'],
    ['mx.example.com; dmarc=fail policy.dmarc=none header.from=a.example', 'none'],
    ['mx.example.com; dmarc=fail (p=REJECT sp=REJECT dis=REJECT) header.from=a.example', 'fail'],
    ['mx.example.com; dmarc=fail header.from=a.example', 'fail'],
  ])('a DMARC fail counts as forged unless the domain publishes p=none: %s', (value, verdict) => {
    const results = new Map(parseAuthResults(value)!.results.map((r) => [r.method, r]));
    const j = judge(results, 'x@a.example', 'test');
    expect(j.verdict).toBe(verdict);
    if (verdict === 'none') expect(j.why).toMatch(/p=none/);
  });

  it('says why a DMARC result for another domain does not count', () => {
    const results = new Map([['dmarc', { method: 'dmarc', result: 'pass', props: { 'header.from': 'evil.example' } }]]);
    expect(judge(results, 'ben@example.com', 'AR')).toEqual({ verdict: 'none', why: 'AR: dmarc=pass is for evil.example, not for the From domain example.com' });
  });
});

let env: TestEnv;
afterEach(async () => {
  await env?.close();
});

async function stored(raw: string, opts?: Parameters<TestEnv['ingest']>[1]) {
  const out = await env.ingest(raw, opts);
  if (out.kind !== 'stored') throw new Error(`expected stored, got ${out.kind}: ${out.reason}`);
  return out;
}

async function confirmations(n: number) {
  const c = (await caseByNumber(env.ctx.db, n))!;
  return env.ctx.db.selectFrom('outbox').select('id').where('case_id', '=', c.id).where('kind', '=', 'confirmation').execute();
}

describe('mode trusted-header through the pipeline', () => {
  it('a forged pass below our hop gives no participant rights; our own dmarc=fail with a version number means no answer', async () => {
    env = await testEnv();
    await stored(eml({}));
    const forged = [OURS_NONE, OUR_RECEIVED, FORGED_DKIM, THEIR_RECEIVED].join('\r\n') + '\r\n' + eml({ subject: 'Re: [Case #10001]', auth: null });
    expect(await stored(forged)).toMatchObject({ created: true, reason: 'new case (new-stranger-tag)' });
    const versioned = `Authentication-Results: ${MX} 1; dmarc=fail header.from=customer.example\r\n${OUR_RECEIVED}\r\n` + eml({ subject: 'Re: [Case #10001]', auth: null });
    expect(await stored(versioned)).toMatchObject({ created: true, caseNumber: 10003, reason: 'new case (new-stranger-tag)' });
    expect(await confirmations(10003)).toHaveLength(0);
  });
});

// ---------------------------------------------------------------------------------------------
// mode verify: mailauth with a stub DNS

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PUBLIC_KEY_B64 = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

/** customer.example: DKIM key s1, SPF for 192.0.2.25 and 127.0.0.1, DMARC p=reject. nopolicy.example: SPF only. */
function stubDns(): DnsResolver & { lookups: string[] } {
  const txt: Record<string, string[]> = {
    's1._domainkey.customer.example': [`v=DKIM1; k=rsa; p=${PUBLIC_KEY_B64}`],
    'customer.example': ['v=spf1 ip4:192.0.2.25 ip4:127.0.0.1 -all'],
    '_dmarc.customer.example': ['v=DMARC1; p=reject'],
    'nopolicy.example': ['v=spf1 ip4:192.0.2.99 ~all'],
    'monitor.example': ['v=spf1 ip4:192.0.2.25 -all'],
    '_dmarc.monitor.example': ['v=DMARC1; p=none; rua=mailto:dmarc@monitor.example'],
  };
  const lookups: string[] = [];
  const resolve = async (name: string, rrtype: string): Promise<string[][] | string[]> => {
    lookups.push(`${rrtype} ${name}`);
    const records = rrtype === 'TXT' ? txt[name.toLowerCase()] : undefined;
    if (records === undefined) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return records.map((r) => [r]);
  };
  return Object.assign(resolve, { lookups });
}

async function signed(raw: string): Promise<string> {
  const { signatures } = await dkimSign(raw, { signatureData: [{ signingDomain: 'customer.example', selector: 's1', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }] });
  return signatures + raw;
}

const VERIFY = { security: { senderAuth: { mode: 'verify' as const, authservId: 'casegate.example.com' } } };
const FROM_MX = { ip: '192.0.2.25', helo: 'mail.customer.example' };
const FROM_ELSEWHERE = { ip: '203.0.113.66', helo: 'mail.evil.example' };

describe('mode verify (mailauth, stub DNS)', () => {
  it('a DKIM-signed, aligned message passes: the requester’s tag threads; headers claiming our id are not even read', async () => {
    const dns = stubDns();
    env = await testEnv(VERIFY, undefined, { resolveDns: dns });
    await stored(await signed(eml({ auth: null })), { client: FROM_MX, envelopeFrom: 'jane@customer.example' });
    const reply = await stored(await signed(eml({ subject: 'Re: [Case #10001] Printer on fire', auth: null })), { client: FROM_MX, envelopeFrom: 'jane@customer.example' });
    expect(reply).toMatchObject({ created: false, reason: 'appended (subject-tag)' });
    expect(dns.lookups).toEqual(expect.arrayContaining(['TXT s1._domainkey.customer.example', 'TXT _dmarc.customer.example']));
  });

  it('a forged From (no signature, not an SPF-designated host, DMARC p=reject) fails: new linked case, no confirmation', async () => {
    env = await testEnv(VERIFY, undefined, { resolveDns: stubDns() });
    await stored(await signed(eml({ auth: null })), { client: FROM_MX, envelopeFrom: 'jane@customer.example' });
    const forged = `Authentication-Results: casegate.example.com; dmarc=pass header.from=customer.example\r\n` + eml({ subject: 'Re: [Case #10001] Printer on fire', auth: null, messageId: 'forged-1@evil.example' });
    const out = await stored(forged, { client: FROM_ELSEWHERE, envelopeFrom: 'jane@customer.example' });
    expect(out).toMatchObject({ created: true, caseNumber: 10002, reason: 'new case (new-stranger-tag)' });
    expect(await confirmations(10002)).toHaveLength(0);
  });

  it('a domain without DMARC and without a signature is not authenticated, but not forged either: answered, no participant rights', async () => {
    env = await testEnv(VERIFY, undefined, { resolveDns: stubDns() });
    await stored(eml({ from: 'Nora <nora@nopolicy.example>', auth: null }), { client: FROM_ELSEWHERE, envelopeFrom: 'nora@nopolicy.example' });
    expect(await confirmations(10001)).toHaveLength(1);
    const again = await stored(eml({ from: 'Nora <nora@nopolicy.example>', subject: 'Re: [Case #10001] Printer on fire', auth: null }), { client: FROM_ELSEWHERE, envelopeFrom: 'nora@nopolicy.example' });
    expect(again).toMatchObject({ created: true, reason: 'new case (new-stranger-tag)' });
  });

  // trust hunt F9: an unsigned message whose From only SPF can vouch for.
  it('without an SMTP client (casegate ingest) SPF cannot be checked: a DMARC fail then proves nothing — unknown, not forged', async () => {
    env = await testEnv(VERIFY, undefined, { resolveDns: stubDns() });
    const out = await stored(eml({ auth: null }), { envelopeFrom: 'jane@customer.example' });
    expect(out).toMatchObject({ created: true, caseNumber: 10001 });
    expect(await confirmations(10001)).toHaveLength(1);
    const receipt = await env.ctx.db.selectFrom('messages').select('sender_auth').executeTakeFirstOrThrow();
    expect(receipt.sender_auth).toBe('none');
  });

  it('a DMARC fail of a domain that publishes p=none (monitoring only) is unknown, not forged; with p=reject it is forged', async () => {
    env = await testEnv(VERIFY, undefined, { resolveDns: stubDns() });
    await stored(eml({ from: 'Mo <mo@monitor.example>', auth: null }), { client: FROM_ELSEWHERE, envelopeFrom: 'mo@monitor.example' });
    expect(await confirmations(10001)).toHaveLength(1);
    await stored(eml({ auth: null }), { client: FROM_ELSEWHERE, envelopeFrom: 'jane@customer.example' });
    expect(await confirmations(10002)).toHaveLength(0);
    const auth = (await env.ctx.db.selectFrom('messages').select('sender_auth').where('direction', '=', 'in').orderBy('id').execute()).map((r) => r.sender_auth);
    expect(auth).toEqual(['none', 'fail']);
  });

  it('through the real SMTP listener: SPF is checked against the connecting client (127.0.0.1 is designated for customer.example)', async () => {
    env = await testEnv({ ...VERIFY, listener: { port: 0 } }, undefined, { resolveDns: stubDns() });
    const listener = await startSmtpListener(env.ctx);
    try {
      await smtpSend(listener.port, 'jane@customer.example', eml({ auth: null }));
      const reply = await smtpSend(listener.port, 'jane@customer.example', eml({ subject: 'Re: [Case #10001] Printer on fire', auth: null }));
      expect(reply).toMatch(/^250 2\.0\.0 Stored in case 10001/);
      const other = await smtpSend(listener.port, 'jane@nopolicy.example', eml({ from: 'jane@nopolicy.example', auth: null }));
      expect(other).toMatch(/^250 2\.0\.0 Stored in case 10002/);
      const tag = await smtpSend(listener.port, 'jane@nopolicy.example', eml({ from: 'jane@nopolicy.example', subject: 'Re: [Case #10002] x', auth: null }));
      expect(tag).toMatch(/^250 2\.0\.0 Stored in case 10003/);
    } finally {
      await listener.close();
    }
  });
});

describe('mode verify behind a local MTA: XFORWARD from listener.trustXForwardFrom', () => {
  /** One message from jane@monitor.example (SPF: 192.0.2.25 only, -all; no DKIM) with an XFORWARD line first. */
  async function viaXForward(port: number, addr: string): Promise<string> {
    const s = await openSmtpSession(port);
    try {
      await s.command('EHLO mx.local');
      const xf = (await s.command(`XFORWARD ADDR=${addr} HELO=mail.monitor.example`)).reply;
      await s.command('MAIL FROM:<jane@monitor.example>');
      await s.command('RCPT TO:<support@example.com>');
      await s.command('DATA');
      await s.command(`${eml({ from: 'jane@monitor.example', auth: null })}\r\n.`);
      return xf;
    } finally {
      s.close();
    }
  }
  const verdicts = async (): Promise<(string | null)[]> => (await env.ctx.db.selectFrom('messages').select('sender_auth').where('direction', '=', 'in').orderBy('id').execute()).map((r) => r.sender_auth);

  it('the trusted MTA passes the original client on: SPF is judged for it, not for 127.0.0.1', async () => {
    env = await testEnv({ ...VERIFY, listener: { port: 0, trustXForwardFrom: ['127.0.0.1'] } }, undefined, { resolveDns: stubDns() });
    const listener = await startSmtpListener(env.ctx);
    try {
      expect(await viaXForward(listener.port, '192.0.2.25')).toMatch(/^250/);
      expect(await viaXForward(listener.port, '203.0.113.66')).toMatch(/^250/);
      expect(await verdicts()).toEqual(['pass', 'none']); // SPF fail, DMARC p=none: not a proven forgery
    } finally {
      await listener.close();
    }
  });

  it('without the setting nobody\'s XFORWARD is taken: the client cannot choose the address SPF is judged for', async () => {
    env = await testEnv({ ...VERIFY, listener: { port: 0 } }, undefined, { resolveDns: stubDns() });
    const listener = await startSmtpListener(env.ctx);
    try {
      expect(await viaXForward(listener.port, '192.0.2.25')).toMatch(/^5\d\d /);
      expect(await verdicts()).toEqual(['none']);
    } finally {
      await listener.close();
    }
  });
});

/** A minimal SMTP client: returns the reply to the final dot. */
function smtpSend(port: number, mailFrom: string, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    const steps = ['EHLO mail.customer.example', `MAIL FROM:<${mailFrom}>`, 'RCPT TO:<support@example.com>', 'DATA', `${raw.replace(/\r\n\./g, '\r\n..')}.`, 'QUIT'];
    let buf = '';
    let step = 0;
    let answer = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      while (/\r\n/.test(buf)) {
        const i = buf.indexOf('\r\n');
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (/^\d{3}-/.test(line)) continue;
        if (step === 5) answer = line;
        if (step >= steps.length) {
          sock.end();
          resolve(answer);
          return;
        }
        sock.write(`${steps[step]}\r\n`);
        step++;
      }
    });
    sock.on('error', reject);
  });
}
