import { generateKeyPairSync } from 'node:crypto';
import fs, { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { DkimKeyring, generateDkimKey } from '../../src/mail-out/dkim.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { createTransport } from '../../src/mail-out/transport.js';
import { CliSandbox, describeResult } from '../helpers/cli.js';
import { eml, testEnv } from '../helpers/context.js';
import { buildSampleCorpus, dnsStub, EMAIL_KINDS, labelOf, readOutgoing, SELECTOR, SIGNING_DOMAIN, type SampleCorpus } from '../helpers/outgoing-samples.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';

/**
 * Issue 14 item 1: everything we send is DKIM-signed, and an independent verifier — mailauth's
 * dkimVerify, with the public key served by a DNS resolver stub — says pass. Not our signer
 * checking itself: mailauth canonicalises and verifies on its own.
 */

interface Verdict {
  readonly result: string;
  readonly domain: string;
  readonly selector: string;
  readonly aligned: string | false;
  readonly signed: string[];
}

async function verify(raw: Buffer | string, records: ReadonlyMap<string, string>): Promise<Verdict[]> {
  const r = await dkimVerify(raw, { resolver: dnsStub(records) as never });
  return r.results.map((x) => ({
    result: x.status.result,
    domain: x.signingDomain,
    selector: x.selector ?? '',
    aligned: (x.status as { aligned?: string | false }).aligned ?? false,
    signed: ((x as unknown as { signingHeaders?: { keys?: string } }).signingHeaders?.keys ?? '').split(/:\s*/).map((h) => h.toLowerCase()).filter((h) => h !== ''),
  }));
}

const MUST_SIGN = ['from', 'to', 'subject', 'date', 'message-id', 'mime-version', 'content-type'];

describe('DKIM of every email kind, file transport (.eml as written)', () => {
  let corpus: SampleCorpus;
  beforeAll(async () => {
    corpus = await buildSampleCorpus();
  }, 180_000);
  afterAll(() => corpus?.close());

  it('covers every email kind in English and German', () => {
    for (const lang of ['en', 'de'] as const) {
      expect(new Set(corpus.mails.filter((m) => m.language === lang).map((m) => m.kind))).toEqual(new Set(EMAIL_KINDS));
    }
  });

  it('mailauth verifies every message: pass, d= the From domain (aligned), the headers receivers expect signed', async () => {
    const lines: string[] = [];
    const bad: string[] = [];
    for (const m of corpus.mails) {
      const v = await verify(m.raw, corpus.dns);
      const from = m.parsed.from?.value[0]?.address ?? '';
      const line = `${labelOf(m).padEnd(40)} ${v.map((x) => `dkim=${x.result} d=${x.domain} s=${x.selector} aligned=${String(x.aligned)}`).join('; ')}`;
      lines.push(line);
      const ok = v.length === 1 && v[0]!.result === 'pass' && v[0]!.domain === SIGNING_DOMAIN && v[0]!.selector === SELECTOR && v[0]!.aligned === SIGNING_DOMAIN && from.endsWith(`@${SIGNING_DOMAIN}`);
      const missing = MUST_SIGN.filter((h) => !(v[0]?.signed ?? []).includes(h));
      for (const h of ['in-reply-to', 'references', 'reply-to', 'auto-submitted']) if (m.parsed.headers.has(h) && !(v[0]?.signed ?? []).includes(h)) missing.push(h);
      if (!ok || missing.length > 0) bad.push(`${line} missing=${missing.join(',')}`);
    }
    console.log(`DKIM (mailauth dkimVerify, key from a DNS stub), ${corpus.mails.length} messages:\n${lines.join('\n')}`);
    expect(bad).toEqual([]);
  });

  it('a changed body or a changed subject fails verification (the verifier is not a rubber stamp)', async () => {
    const m = corpus.mails.find((x) => x.kind === 'agent-reply' && x.language === 'en' && x.variant === 'realistic')!;
    const raw = m.raw.toString('latin1');
    const body = raw.replace(/Mustermann/, 'Musterfrau');
    expect(body).not.toBe(raw);
    expect((await verify(Buffer.from(body, 'latin1'), corpus.dns))[0]!.result).toBe('fail');
    const subject = raw.replace(/^Subject: (.*)$/m, 'Subject: Re: $1');
    expect((await verify(Buffer.from(subject, 'latin1'), corpus.dns))[0]!.result).toBe('fail');
    // And with another key published under the selector: no pass either.
    const other = generateDkimKey(corpus.env.dir, 'example.com', 'other');
    expect((await verify(m.raw, new Map([[`${SELECTOR}._domainkey.${SIGNING_DOMAIN}`, other.record]])))[0]!.result).not.toBe('pass');
  });

  it('the key file is private: <dataDir>/dkim/<domain>.<selector>.pem, mode 0600 in a 0700 directory', () => {
    const dir = join(corpus.env.resolved.paths.dataDir, 'dkim');
    expect(readdirSync(dir)).toEqual([`${SIGNING_DOMAIN}.${SELECTOR}.pem`]);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, `${SIGNING_DOMAIN}.${SELECTOR}.pem`)).mode & 0o777).toBe(0o600);
  });
});

describe('DKIM over SMTP (pooled transport to a real SMTP sink), emails built, signed and sent on the MIME thread', () => {
  let sink: SmtpSink;
  let corpus: SampleCorpus;
  beforeAll(async () => {
    sink = await startSmtpSink();
    corpus = await buildSampleCorpus({
      outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false } },
      variants: ['realistic', 'scripts'],
      collect: async () => sink.messages.map((m) => m.raw),
      // The daemon's way: built, signed and sent on the MIME thread (its own SMTP pool).
      mimeThread: true,
    });
  }, 180_000);
  afterAll(async () => {
    await corpus?.close();
    await sink?.close();
  });

  it('every kind (en, de) arrives at the relay signed, and mailauth says pass', async () => {
    expect(corpus.mails.length).toBe(EMAIL_KINDS.length * 2 * 2);
    const bad: string[] = [];
    for (const m of corpus.mails) {
      const v = await verify(m.raw, corpus.dns);
      if (v.length !== 1 || v[0]!.result !== 'pass' || v[0]!.aligned !== SIGNING_DOMAIN) bad.push(`${labelOf(m)}: ${JSON.stringify(v)}`);
    }
    expect(bad).toEqual([]);
  });
});

describe('keys: keygen signs the next email without configuration; configured keys; no key, no signature', () => {
  it('casegate dkim keygen writes the key (0600) and prints the record; send-test mail is then signed and verifies against that record', async () => {
    const box = CliSandbox.create({ outgoing: { transport: 'file' } });
    try {
      const k = await box.run(['dkim', 'keygen', '--domain', 'Example.com', '--selector', 'cg1']);
      expect(k.code, describeResult(k)).toBe(0);
      const file = join(box.dataDir, 'dkim', 'example.com.cg1.pem');
      expect(k.stdout).toContain(`wrote ${file} (RSA 2048 bits, mode 0600)`);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const zone = /^cg1\._domainkey\.example\.com\. IN TXT \( (.+) \)$/m.exec(k.stdout);
      expect(zone, k.stdout).not.toBeNull();
      const record = [...zone![1]!.matchAll(/"([^"]*)"/g)].map((x) => x[1]).join('');
      expect(record).toMatch(/^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{300,}$/);
      // Four commands that depend on the key only, not on each other (the dkim commands open no
      // database; send-test writes its own mail).
      const [again, dns, text, s] = await Promise.all([
        // Again with the same selector: refused (a published key must not change under it).
        box.run(['dkim', 'keygen', '--domain', 'example.com', '--selector', 'cg1']),
        box.json<{ keys: { domain: string; selector: string; record: string; signing: boolean; name: string }[]; fromDomains: { domain: string; signedWith: string | null }[] }>(['dkim', 'dns', '--json']),
        box.run(['dkim', 'dns']),
        box.run(['templates', 'send-test', 'confirmation', '--to', 'jane@customer.example']),
      ]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('exists already');

      expect(dns.keys).toEqual([expect.objectContaining({ domain: 'example.com', selector: 'cg1', record, signing: true, name: 'cg1._domainkey.example.com' })]);
      expect(dns.fromDomains).toEqual([{ domain: 'example.com', signedWith: 'example.com/cg1' }]);
      expect(text.stdout).toContain(zone![0]);
      expect(text.stdout).toContain('mail From example.com: signed (example.com/cg1)');

      expect(s.code, describeResult(s)).toBe(0);
      const out = join(box.dataDir, 'outgoing');
      const [raw] = readOutgoing(out);
      const v = await verify(raw!, new Map([['cg1._domainkey.example.com', record]]));
      expect(v).toEqual([expect.objectContaining({ result: 'pass', domain: 'example.com', selector: 'cg1', aligned: 'example.com' })]);
      expect(readdirSync(out).filter((f) => f.endsWith('.eml'))).toHaveLength(1);
    } finally {
      box.cleanup();
    }
  });

  it('a running transport picks up a key made after it started (no restart); a subdomain From is signed by its parent domain key', async () => {
    const env = await testEnv({ mailboxes: [{ name: 'support', addresses: ['help@mail.example.com'] }], outgoing: { transport: 'file' } });
    try {
      const transport = createTransport(env.resolved);
      const worker = new OutboxWorker(env.ctx, transport);
      await env.ingest(eml({ messageId: 'a1@customer.example' }));
      await worker.drain();
      let raws = readOutgoing(env.resolved.paths.outgoingDir);
      expect(raws).toHaveLength(1);
      expect(raws[0]!.toString()).not.toMatch(/^DKIM-Signature:/m);
      const key = generateDkimKey(env.resolved.paths.dataDir, 'example.com', 'late');
      env.clock.advance(180_000); // past autoReply.minIntervalSeconds: a second confirmation
      await env.ingest(eml({ messageId: 'a2@customer.example', subject: 'Another question' }));
      await worker.drain();
      transport.close();
      raws = readOutgoing(env.resolved.paths.outgoingDir);
      const signed = raws.filter((r) => /^DKIM-Signature:/m.test(r.toString()));
      expect(signed).toHaveLength(1);
      expect(await verify(signed[0]!, new Map([['late._domainkey.example.com', key.record]]))).toEqual([expect.objectContaining({ result: 'pass', domain: 'example.com', aligned: 'example.com' })]);
    } finally {
      await env.close();
    }
  });

  it('a running daemon never finds a key file half written: keygen names it only once it is complete (also with --force)', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'casegate-dkim-atomic-'));
    const errors: string[] = [];
    const warnings: string[] = [];
    const log = { error: (o: { error: string }) => errors.push(o.error), warn: (_o: unknown, msg: string) => warnings.push(msg), info: () => undefined } as unknown as ConstructorParameters<typeof DkimKeyring>[0]['log'];
    const ring = new DkimKeyring({ dataDir, config: { enabled: true, keys: [] } as unknown as ConstructorParameters<typeof DkimKeyring>[0]['config'], log });
    const realRename = fs.renameSync;
    const before: { files: string[]; signsWith: string | null }[] = [];
    // The daemon looks at the directory (its next email) at the last moment before the key is named.
    fs.renameSync = ((from: fs.PathLike, to: fs.PathLike) => {
      before.push({ files: readdirSync(join(dataDir, 'dkim')).filter((f) => f.endsWith('.pem')), signsWith: ring.signingFor('support@example.com')?.privateKey ?? null });
      realRename(from, to);
    }) as typeof fs.renameSync;
    syncBuiltinESMExports();
    try {
      generateDkimKey(dataDir, 'example.com', 'sel1', { bits: 1024 });
      expect(ring.signingFor('support@example.com')).toMatchObject({ domainName: 'example.com', keySelector: 'sel1' });
      const first = ring.signingFor('support@example.com')!.privateKey;
      generateDkimKey(dataDir, 'example.com', 'sel1', { bits: 1024, force: true });
      expect(before[1]?.signsWith).toBe(first);
      expect(ring.signingFor('support@example.com')!.privateKey).not.toBe(first);
    } finally {
      fs.renameSync = realRename;
      syncBuiltinESMExports();
    }
    // Before the first key is named there is none to sign with; before the forced one, the old key still signs.
    expect(before).toEqual([
      { files: [], signsWith: null },
      { files: ['example.com.sel1.pem'], signsWith: expect.stringContaining('BEGIN PRIVATE KEY') },
    ]);
    expect(errors).toEqual([]);
    expect(readdirSync(join(dataDir, 'dkim'))).toEqual(['example.com.sel1.pem']);
    expect(statSync(join(dataDir, 'dkim', 'example.com.sel1.pem')).mode & 0o777).toBe(0o600);
    // A second key of the domain: the directory is read again for every email for a while after
    // the change, but the warning about two keys comes once.
    generateDkimKey(dataDir, 'example.com', 'sel2', { bits: 1024 });
    for (let i = 0; i < 3; i++) expect(ring.signingFor('support@example.com')?.keySelector).toMatch(/^sel[12]$/);
    expect(warnings.filter((w) => w.includes('several DKIM keys'))).toHaveLength(1);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('outgoing.dkim.keys: a key file named in the config wins over the data directory; a key from the environment works too', async () => {
    const keyDir = mkdtempSync(join(tmpdir(), 'casegate-dkim-keys-'));
    const fileKey = generateDkimKey(keyDir, 'example.com', 'fromfile');
    const envKey = generateDkimKey(keyDir, 'example.com', 'fromenv');
    const pemOneLine = readFileSync(envKey.file, 'utf8').replace(/\n/g, '\\n');
    for (const [selector, entry, record, env] of [
      ['fromfile', { domain: 'example.com', selector: 'fromfile', privateKeyFile: fileKey.file }, fileKey.record, {}],
      ['fromenv', { domain: 'example.com', selector: 'fromenv', privateKeyEnv: 'CG_DKIM_TEST_KEY' }, envKey.record, { CG_DKIM_TEST_KEY: pemOneLine }],
    ] as const) {
      const t = await testEnv({ outgoing: { transport: 'file', dkim: { keys: [entry] } } });
      try {
        generateDkimKey(t.resolved.paths.dataDir, 'example.com', 'datadir');
        Object.assign(process.env, env);
        const transport = createTransport(t.resolved);
        delete process.env['CG_DKIM_TEST_KEY'];
        await t.ingest(eml({ messageId: `${selector}@customer.example` }));
        await new OutboxWorker(t.ctx, transport).drain();
        transport.close();
        const [raw] = readOutgoing(t.resolved.paths.outgoingDir);
        expect(await verify(raw!, new Map([[`${selector}._domainkey.example.com`, record]]))).toEqual([expect.objectContaining({ result: 'pass', selector })]);
      } finally {
        await t.close();
      }
    }
    rmSync(keyDir, { recursive: true, force: true });
  });

  it('casegate dkim dns names a key file of the data directory that cannot be used, and why, and exits 1 (mail From its domain goes unsigned)', async () => {
    const box = CliSandbox.create({ outgoing: { transport: 'file' } });
    try {
      const dir = join(box.dataDir, 'dkim');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      // The public half saved as the key, and an ed25519 key (nodemailer signs with RSA only).
      const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
      writeFileSync(join(dir, 'example.com.pub.pem'), rsa.publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o600 });
      writeFileSync(join(dir, 'example.org.ed.pem'), generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      const [text, json] = await Promise.all([box.run(['dkim', 'dns']), box.run(['dkim', 'dns', '--json'])]);
      expect(text.code, describeResult(text)).toBe(1);
      expect(text.stdout).toMatch(/^; NOT USED: \S+example\.com\.pub\.pem \(example\.com selector pub\): .*not a private key/m);
      expect(text.stdout).toMatch(/^; NOT USED: \S+example\.org\.ed\.pem \(example\.org selector ed\): .*an ed25519 key; DKIM signing needs an RSA key/m);
      expect(text.stdout).toContain('mail From example.com: NOT signed');
      expect(json.code).toBe(1);
      const parsed = JSON.parse(json.stdout) as { unusable: { file: string; domain: string; selector: string; error: string }[] };
      expect(parsed.unusable.map((u) => `${u.domain}/${u.selector}`).sort()).toEqual(['example.com/pub', 'example.org/ed']);
    } finally {
      box.cleanup();
    }
  });

  it('a configured key that cannot be read is a configuration error; dkim.enabled false signs nothing', async () => {
    const broken = await testEnv({ outgoing: { transport: 'file', dkim: { keys: [{ domain: 'example.com', selector: 'gone', privateKeyFile: '/nonexistent/key.pem' }] } } });
    try {
      expect(() => createTransport(broken.resolved)).toThrow(/outgoing\.dkim\.keys.*cannot read \/nonexistent\/key\.pem/s);
    } finally {
      await broken.close();
    }
    const off = await testEnv({ outgoing: { transport: 'file', dkim: { enabled: false } } });
    try {
      generateDkimKey(off.resolved.paths.dataDir, 'example.com', 'unused');
      const transport = createTransport(off.resolved);
      await off.ingest(eml({ messageId: 'off@customer.example' }));
      await new OutboxWorker(off.ctx, transport).drain();
      transport.close();
      const [raw] = readOutgoing(off.resolved.paths.outgoingDir);
      expect(raw!.toString()).not.toMatch(/^DKIM-Signature:/m);
      expect((await caseByNumber(off.ctx.db, 10001))?.number).toBe(10001);
    } finally {
      await off.close();
    }
  });
});
