/**
 * Issue 9, items 4, 12 and 14 at the configuration level: secrets (length, rotation, tokens from
 * before key ids), strict keys with "did you mean", start warnings and errors, admin regexes
 * vetted for catastrophic backtracking.
 */
import { createHmac } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { ConfigError, loadConfig, problemLine } from '../../src/config/load.js';
import { regexProblem } from '../../src/config/regex-safety.js';
import { keyId, mintMessageId, plusAddress, threadSecret, verifyMessageId, verifyPlusAddress } from '../../src/cases/thread-token.js';
import { closeContext, createContext } from '../../src/context.js';
import { silentLogger } from '../../src/log.js';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import { eml } from '../helpers/context.js';
import { tempDir } from '../helpers/temp-dirs.js';

function dir(): string {
  return tempDir('casegate-hyg-');
}

function load(config: unknown, opts: { env?: NodeJS.ProcessEnv; mailboxCredentials?: 'required' | 'deferred'; at?: string } = {}) {
  const d = opts.at ?? dir();
  const f = join(d, 'casegate.yaml');
  writeFileSync(f, typeof config === 'string' ? config : stringify(config), { mode: 0o600 });
  return loadConfig({ path: f, env: opts.env ?? {}, ...(opts.mailboxCredentials !== undefined ? { mailboxCredentials: opts.mailboxCredentials } : {}) });
}

function problems(config: unknown, opts: Parameters<typeof load>[1] = {}): { path: string; message: string }[] {
  try {
    load(config, opts);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

const SECRET_A = 'first-secret-of-at-least-32-bytes-aaaa';
const SECRET_B = 'second-secret-of-at-least-32-bytes-bbbb';

/** A Message-ID and plus address as minted before key ids existed (the old format, re-derived here). */
function legacyMessageId(secret: string, caseNumber: number): string {
  const nonce = '0123456789ab';
  const sig = createHmac('sha256', secret).update(`mid:c${caseNumber}.${nonce}`).digest('hex').slice(0, 12);
  return `c${caseNumber}.${nonce}.${sig}@support.example.com`;
}
function legacyPlus(secret: string, caseNumber: number): string {
  const sig = createHmac('sha256', secret).update(`plus:c${caseNumber}`).digest('hex').slice(0, 10);
  return `support+c${caseNumber}-${sig}@example.com`;
}

describe('secrets (item 4)', () => {
  it.each([
    ['empty', ''],
    ['short', 'sixteen-chars-ok'],
    ['31 bytes', 'x'.repeat(31)],
  ])('refuses a configured %s secret with the reason', (_name, secret) => {
    const p = problems({ instance: { secret } });
    expect(p).toEqual([{ path: 'instance.secret', message: expect.stringMatching(/^the secret is \d+ bytes long; at least 32 are needed/) }]);
  });

  it.each([
    ['empty', ''],
    ['short', 'abc'],
  ])('refuses an %s data/secret file, naming the file', (_name, content) => {
    const d = dir();
    mkdirSync(join(d, 'data'));
    writeFileSync(join(d, 'data', 'secret'), content);
    const p = problems({ dataDir: 'data' }, { at: d });
    expect(p).toHaveLength(1);
    expect(p[0]!.message).toContain(join(d, 'data', 'secret'));
    expect(p[0]!.message).toMatch(/at least 32/);
  });

  it('counts bytes, not characters, and accepts 32', () => {
    expect(problems({ instance: { secret: 'ü'.repeat(16) } })).toEqual([]);
    expect(problems({ instance: { secret: 'x'.repeat(32) } })).toEqual([]);
  });

  it('puts the key id in every token; retired keys verify until acceptUntil; tokens minted before key ids verify too', () => {
    const clock = new ManualClock('2026-03-02T09:00:00Z');
    const before = threadSecret(SECRET_A, [], clock);
    const oldId = mintMessageId(10001, before, 'support.example.com');
    const oldPlus = plusAddress('support@example.com', 10001, before);
    expect(oldId).toContain(`.${keyId(SECRET_A)}.`);
    expect(oldPlus).toContain(`-${keyId(SECRET_A)}-`);
    const legacyId = legacyMessageId(SECRET_A, 10001);
    const legacyAddr = legacyPlus(SECRET_A, 10001);
    expect(verifyMessageId(legacyId, before)).toEqual({ caseNumber: 10001 });
    expect(verifyPlusAddress(legacyAddr, before)).toEqual({ base: 'support@example.com', caseNumber: 10001 });

    // Rotation: B signs from now on, A is accepted until the end of 2026-06-30.
    const after = threadSecret(SECRET_B, [{ secret: SECRET_A, acceptUntil: new Date('2026-06-30T23:59:59.999Z') }], clock);
    const newId = mintMessageId(10002, after, 'support.example.com');
    expect(newId).toContain(`.${keyId(SECRET_B)}.`);
    for (const id of [oldId, legacyId, newId]) expect(verifyMessageId(id, after)).not.toBeNull();
    for (const a of [oldPlus, legacyAddr]) expect(verifyPlusAddress(a, after)).not.toBeNull();
    clock.set('2026-07-01T00:00:00Z');
    for (const id of [oldId, legacyId]) expect(verifyMessageId(id, after)).toBeNull();
    for (const a of [oldPlus, legacyAddr]) expect(verifyPlusAddress(a, after)).toBeNull();
    expect(verifyMessageId(newId, after)).toEqual({ caseNumber: 10002 });
    // A token naming a key id that is not ours does not verify, even with a valid signature from another key.
    expect(verifyMessageId(newId.replace(`.${keyId(SECRET_B)}.`, `.${keyId(SECRET_A)}.`), after)).toBeNull();
  });

  it('a reply to mail signed before a rotation still threads through the whole pipeline (previousSecrets in the config)', async () => {
    const d = dir();
    const base = { dataDir: 'data', instance: { domain: 'support.example.com', secret: SECRET_A }, mailboxes: [{ name: 'support', addresses: ['support@example.com'] }], templates: { watch: false } };
    const clock = new ManualClock('2026-03-02T09:00:00Z');
    let ctx = await createContext({ resolved: load(base, { at: d }), log: silentLogger(), clock });
    const arrive = async (raw: string) =>
      runPipeline(ctx, { channel: 'test', mailbox: ctx.mailboxes.default, envelopeFrom: null, envelopeTo: [], receivedAt: clock.now(), raw: await ctx.blobs.put(Readable.from([Buffer.from(raw)])) });
    expect(await arrive(eml({ auth: null }))).toMatchObject({ kind: 'stored', caseNumber: 10001 });
    const confirmation = (await ctx.db.selectFrom('outbox').select('message_id').executeTakeFirstOrThrow()).message_id;
    await closeContext(ctx);
    ctx = await createContext({ resolved: load({ ...base, instance: { ...base.instance, secret: SECRET_B, previousSecrets: [{ secret: SECRET_A, acceptUntil: '2026-06-30' }] } }, { at: d }), log: silentLogger(), clock });
    expect(await arrive(eml({ auth: null, inReplyTo: confirmation, body: 'reply 1' }))).toMatchObject({ kind: 'stored', caseNumber: 10001, reason: 'appended (signed-reference)' });
    clock.set('2026-07-01T00:00:00Z');
    expect(await arrive(eml({ auth: null, inReplyTo: confirmation, body: 'reply 2' }))).toMatchObject({ kind: 'stored', created: true });
    await closeContext(ctx);
  });

  it('checks previousSecrets too', () => {
    const p = problems({ instance: { secret: SECRET_A, previousSecrets: [{ secret: 'short', acceptUntil: 'soon' }] } });
    expect(p.map((x) => x.path).sort()).toEqual(['instance.previousSecrets.0.acceptUntil', 'instance.previousSecrets.0.secret']);
  });
});

describe('strict configuration with hints (item 12)', () => {
  it('reports every unknown key at once, with the nearest known key', () => {
    const p = problems({
      listner: { port: 2526 },
      instance: { secrett: SECRET_A },
      mailboxes: [{ name: 'support', adresses: ['support@example.com'], addresses: ['support@example.com'] }],
      outgoing: { retry: { baseSecond: 10 } },
      queues: { support: { agents: [{ name: 'A', address: 'a@example.com', availabel: true }] } },
      security: { senderAuth: { mdoe: 'verify' } },
      bogusSection: 1,
    });
    expect(p).toEqual(
      expect.arrayContaining([
        { path: 'listner', message: 'unknown key "listner": did you mean "listener"?' },
        { path: 'instance.secrett', message: 'unknown key "secrett": did you mean "secret"?' },
        { path: 'mailboxes.0.adresses', message: 'unknown key "adresses": did you mean "addresses"?' },
        { path: 'outgoing.retry.baseSecond', message: 'unknown key "baseSecond": did you mean "baseSeconds"?' },
        { path: 'queues.support.agents.0.availabel', message: 'unknown key "availabel": did you mean "available"?' },
        { path: 'security.senderAuth.mdoe', message: 'unknown key "mdoe": did you mean "mode"?' },
        { path: 'bogusSection', message: expect.stringMatching(/^unknown key "bogusSection" \(allowed here: instance, dataDir, /) },
      ]),
    );
    expect(p).toHaveLength(7);
  });

  it.each([
    [{ agentMail: { notifyAgentOn: ['new-case'] } }, 'agentMail.notifyAgentOn', 'notifyAgentsOn'],
    [{ sla: { warnAtt: 0.5 } }, 'sla.warnAtt', 'warnAt'],
    [{ sla: { calendars: { us: { zone: 'UTC', hollidays: { country: 'US' } } } } }, 'sla.calendars.us.hollidays', 'holidays'],
    [{ sla: { policies: { p: { targets: { normal: { firstRespone: '4h' } } } } } }, 'sla.policies.p.targets.normal.firstRespone', 'firstResponse'],
    [{ jobs: { pendingReminder: { autoCloseAfterDay: 14 } } }, 'jobs.pendingReminder.autoCloseAfterDay', 'autoCloseAfterDays'],
    [{ web: { linkDay: 30 } }, 'web.linkDay', 'linkDays'],
    [{ alerts: { comand: 'notify-send' } }, 'alerts.comand', 'command'],
    [{ security: { spam: { enable: false } } }, 'security.spam.enable', 'enabled'],
    [{ mime: { maxPart: 10 } }, 'mime.maxPart', 'maxParts'],
    [{ pipeline: { stageTimeoutSecond: 5 } }, 'pipeline.stageTimeoutSecond', 'stageTimeoutSeconds'],
  ])('a typo in the sections the later branches added is refused with a hint: %j', (config, path, hint) => {
    const p = problems({ instance: { secret: SECRET_A }, ...config });
    const found = p.find((x) => x.path === path);
    expect(found, JSON.stringify(p)).toBeDefined();
    expect(found!.message).toMatch(hint !== null ? new RegExp(`did you mean "${hint}"\\?`) : /^unknown key/);
  });

  it('a key of the other login form (a password left under method: xoauth2) is named as such, not "did you mean" itself', () => {
    const imap = (auth: Record<string, unknown>) => ({ instance: { secret: SECRET_A }, mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: { host: 'imap.example.com', auth } }] });
    expect(problems(imap({ method: 'xoauth2', user: 'u', tokenCommand: '/bin/true', password: 'p' }))).toEqual([
      { path: 'mailboxes.0.imap.auth.password', message: '"password" does not go with method: xoauth2 (it is a key of method: password; allowed here: method, user, accessTokenEnv, tokenCommand, passEnv)' },
    ]);
    expect(problems(imap({ method: 'password', user: 'u', password: 'p', tokenCommand: '/bin/true' }))).toEqual([
      { path: 'mailboxes.0.imap.auth.tokenCommand', message: '"tokenCommand" does not go with method: password (it is a key of method: xoauth2; allowed here: method, user, password)' },
    ]);
    // A typo still gets its hint from the keys of the form in use.
    expect(problems(imap({ method: 'xoauth2', user: 'u', tokenComand: '/bin/true' }))).toContainEqual({ path: 'mailboxes.0.imap.auth.tokenComand', message: 'unknown key "tokenComand": did you mean "tokenCommand"?' });
  });

  it('still finds cross-field problems when a top-level key is unknown', () => {
    const p = problems({ listner: {}, outgoing: { transport: 'smtp' } });
    expect(p.map((x) => x.path)).toEqual(['listner', 'outgoing.smtp']);
  });

  it('a typo in an SLA policy does not make the queues\' calendar and policy unknown too', () => {
    const p = problems({
      instance: { secret: SECRET_A },
      queues: { support: { calendar: 'berlin', slaPolicy: 'standard' } },
      sla: { calendars: { berlin: { zone: 'Europe/Berlin' } }, policies: { standard: { targets: { critical: { firstResponse: '1h' } } } } },
      outgoing: { transport: 'smtp' },
    });
    // The one real problem, and the one of another section: no "no calendar \"berlin\" (calendars: none configured …)".
    expect(p.map((x) => x.path).sort()).toEqual(['outgoing.smtp', 'sla.policies.standard.targets.critical']);
  });

  it('names the replacement of security.trustedAuthServId', () => {
    expect(problems({ security: { trustedAuthServId: 'mx.example.com' } })).toEqual([
      { path: 'security.trustedAuthServId', message: expect.stringContaining('security.senderAuth: { mode: trusted-header, authservId: mx.example.com }') },
    ]);
    expect(problems({ security: { senderAuth: { mode: 'trusted-header' } } }).map((x) => x.path)).toEqual(['security.senderAuth.authservId']);
  });

  it.each([
    [{ listener: { host: '127.0.0.1', port: 2525 }, outgoing: { transport: 'smtp', smtp: { host: 'localhost', port: 2525 } } }],
    [{ listener: { host: '0.0.0.0', port: 25 }, outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: 25 } } }],
    [{ listener: { host: 'mail.example.com', port: 587 }, outgoing: { transport: 'smtp', smtp: { host: 'mail.example.com', port: 587 } } }],
  ])('refuses a listener and outgoing SMTP on the same host:port (a mail loop): %j', (config) => {
    expect(problems(config)).toEqual([{ path: 'outgoing.smtp.port', message: expect.stringMatching(/^outgoing mail would go to casegate's own SMTP listener/) }]);
  });

  it('allows them on different ports or with the listener off', () => {
    expect(problems({ listener: { port: 2525 }, outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: 25 } } })).toEqual([]);
    expect(problems({ listener: { enabled: false, port: 25 }, outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: 25 } } })).toEqual([]);
  });

  it('warns when a mailbox with signed bounce addresses (verp) sends through a service that does not keep the envelope sender', () => {
    const r = load({
      instance: { secret: SECRET_A, domain: 'acme.example' },
      mailboxes: [
        { name: 'support', addresses: ['support@acme.example'], verp: true },
        { name: 'sales', addresses: ['sales@acme.example'], verp: true, relay: 'own' },
        { name: 'billing', addresses: ['billing@acme.example'], relay: 'ses' },
      ],
      outgoing: { transport: 'smtp', smtp: { host: 'smtp.gmail.com', port: 587 }, relays: { own: { host: 'mail.acme.example', port: 587 }, ses: { host: 'email-smtp.eu-west-1.amazonaws.com', port: 587 } } },
    });
    expect(r.warnings.map((w) => w.path).filter((p) => p.startsWith('mailboxes'))).toEqual(['mailboxes.0.verp']);
    expect(r.warnings.find((w) => w.path === 'mailboxes.0.verp')!.message).toMatch(/^is on, but Google \(smtp\.gmail\.com\) sends with the account as envelope sender.*mark nobody as bouncing/);
  });

  it('warns loudly about localhost as instance.domain with real mailboxes, a listener beyond loopback and a plus rule that can never match', () => {
    const r = load({
      instance: { secret: SECRET_A },
      mailboxes: [{ name: 'support', addresses: ['support@acme.example'] }],
      listener: { host: '0.0.0.0' },
      rules: [
        { name: 'vip-plus', match: { recipient: 'support+vip@acme.example' }, set: { priority: 'high' } },
        { name: 'dead-plus', match: { recipient: ['sales+vip@other.example'] }, set: { priority: 'high' } },
      ],
    });
    expect(r.warnings.map((w) => w.path)).toEqual(['instance.domain', 'listener.host', 'rules.1.match.recipient.0']);
    expect(r.warnings[0]!.message).toContain('Set it to acme.example');
    expect(r.warnings[1]!.message).toMatch(/accepts SMTP from the network.*senderAuth\.mode "none"/);
    expect(r.warnings[2]!.message).toMatch(/can never match/);
    expect(load({ instance: { secret: SECRET_A } }).warnings).toEqual([]);
  });

  it('warns that senderAuth verify behind a loopback listener would judge SPF for the local MTA, not the sender', () => {
    const r = load({ instance: { secret: SECRET_A }, security: { senderAuth: { mode: 'verify' } } });
    expect(r.warnings.map((w) => w.path)).toEqual(['security.senderAuth.mode']);
    expect(r.warnings[0]!.message).toMatch(/judged as sent from 127\.0\.0\.1, not from the sender's server/);
    // The listener as the MX (beyond loopback), or no listener: nothing to say about verify.
    expect(load({ instance: { secret: SECRET_A }, listener: { host: '0.0.0.0' }, security: { senderAuth: { mode: 'verify' } } }).warnings.map((w) => w.path)).toEqual(['listener.host']);
    expect(load({ instance: { secret: SECRET_A }, listener: { enabled: false }, security: { senderAuth: { mode: 'verify' } } }).warnings).toEqual([]);
    // The MTA in front names the real client (XFORWARD): nothing to warn about SPF — but on
    // loopback any local process may send that XFORWARD (the next test).
    expect(load({ instance: { secret: SECRET_A }, listener: { trustXForwardFrom: ['127.0.0.1'] }, security: { senderAuth: { mode: 'verify' } } }).warnings.map((w) => w.path)).toEqual(['listener.trustXForwardFrom']);
  });

  it('warns that on loopback every local user can prove a sender through the listener (trusted-header, XFORWARD trusted from loopback)', () => {
    const trusted = load({ instance: { secret: SECRET_A }, security: { senderAuth: { mode: 'trusted-header', authservId: 'mx.example.com' } } }).warnings;
    expect(trusted.map((w) => w.path)).toEqual(['security.senderAuth.mode']);
    expect(trusted[0]!.message).toMatch(/any process on this machine, of any user, can connect to the listener \(127\.0\.0\.1:2525\) and hand in mail with the Authentication-Results of your MX \(mx\.example\.com\)/);
    expect(trusted[0]!.message).toContain('casegate ingest');
    // No listener (the pipe or IMAP): nothing a local user can reach.
    expect(load({ instance: { secret: SECRET_A }, listener: { enabled: false }, security: { senderAuth: { mode: 'trusted-header', authservId: 'mx.example.com' } } }).warnings).toEqual([]);
    // XFORWARD trusted only from another host (the MTA elsewhere): not a local matter.
    expect(load({ instance: { secret: SECRET_A }, listener: { host: '10.0.0.5', trustXForwardFrom: ['10.0.0.2'] }, security: { senderAuth: { mode: 'verify' } } }).warnings.map((w) => w.path)).toEqual(['listener.host']);
  });

  it('warns when a secret is readable by every user of the machine: a 0644 configuration file with a secret written in it, a 0644 DKIM key', () => {
    const d = dir();
    const f = join(d, 'casegate.yaml');
    const write = (config: { instance: Record<string, unknown> } & Record<string, unknown>, mode: number): void => {
      writeFileSync(f, stringify({ ...config, instance: { domain: 'support.example.com', adminAddress: 'ops@staff.example.com', ...config.instance } }));
      chmodSync(f, mode);
    };
    const imap = { host: 'imap.example.com', auth: { method: 'password', user: 'u', password: 'hunter2-imap' } };
    write({ instance: { secret: SECRET_A }, mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap }] }, 0o644);
    const w = loadConfig({ path: f, env: {} }).warnings;
    expect(w.map((x) => x.path)).toEqual(['instance.secret']);
    expect(w[0]!.message).toContain(`${f} (mode 0644) is readable by every user of this machine and holds instance.secret, mailboxes.0.imap.auth.password written in it`);
    expect(w[0]!.message).not.toContain('hunter2');
    // 0640 (root:casegate, as docs/operating.md sets it up): fine.
    chmodSync(f, 0o640);
    expect(loadConfig({ path: f, env: {} }).warnings).toEqual([]);
    // Secrets from the environment: nothing secret in the file, whatever its mode.
    write({ instance: { secret: '${CG_SECRET}' }, mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: { ...imap, auth: { ...imap.auth, password: '${IMAP_PW}' } } }] }, 0o644);
    expect(loadConfig({ path: f, env: { CG_SECRET: SECRET_A, IMAP_PW: 'x' } }).warnings).toEqual([]);
    // A PostgreSQL URL with its password in it counts; one without does not.
    write({ instance: { secret: '${CG_SECRET}' }, database: { url: 'postgres://cg:pw@db.example.com/cg' } }, 0o644);
    expect(loadConfig({ path: f, env: { CG_SECRET: SECRET_A } }).warnings.map((x) => x.path)).toEqual(['database.url']);
    write({ instance: { secret: '${CG_SECRET}' }, database: { url: 'postgres://cg@db.example.com/cg' } }, 0o644);
    expect(loadConfig({ path: f, env: { CG_SECRET: SECRET_A } }).warnings).toEqual([]);
    // A DKIM key anyone may read: anyone can sign mail as the domain.
    const key = join(d, 'example.com.pem');
    writeFileSync(key, '-----BEGIN PRIVATE KEY-----\n');
    chmodSync(key, 0o644);
    write({ instance: { secret: '${CG_SECRET}' }, outgoing: { dkim: { keys: [{ domain: 'example.com', selector: 's1', privateKeyFile: key }] } } }, 0o644);
    const k = loadConfig({ path: f, env: { CG_SECRET: SECRET_A } }).warnings;
    expect(k.map((x) => x.path)).toEqual(['outgoing.dkim.keys.0.privateKeyFile']);
    expect(k[0]!.message).toContain(`${key} (mode 0644) is readable by every user of this machine: anyone on it can sign mail as example.com`);
    chmodSync(key, 0o640);
    expect(loadConfig({ path: f, env: { CG_SECRET: SECRET_A } }).warnings).toEqual([]);
    // Writable by everyone, secrets or not: anyone could set alerts.command.
    chmodSync(f, 0o666);
    const open = loadConfig({ path: f, env: { CG_SECRET: SECRET_A } }).warnings;
    expect(open.map((x) => x.path)).toEqual(['(file)']);
    expect(open.map((x) => x.message)).toEqual([expect.stringContaining(`${f} (mode 0666) can be changed by every user of this machine: whoever does can make casegate run commands as its user`)]);
    chmodSync(f, 0o600);
    // Email templates anyone may change: they write what customers get from us.
    const templates = join(d, 'templates');
    mkdirSync(templates);
    chmodSync(templates, 0o777);
    write({ instance: { secret: '${CG_SECRET}' }, templates: { dir: 'templates' } }, 0o600);
    const t = loadConfig({ path: f, env: { CG_SECRET: SECRET_A } }).warnings;
    expect(t.map((x) => x.path)).toEqual(['templates.dir']);
    expect(t[0]!.message).toContain(`${templates} (mode 0777) can be changed by every user of this machine`);
    chmodSync(templates, 0o755);
    expect(loadConfig({ path: f, env: { CG_SECRET: SECRET_A } }).warnings).toEqual([]);
  });

  it('warns when customers\' case links would travel as plain http beyond this machine', () => {
    const web = (w: Record<string, unknown>) => load({ instance: { secret: SECRET_A }, web: { enabled: true, ...w } }).warnings.map((x) => x.path);
    expect(web({ baseUrl: 'http://support.example.com/casegate' })).toEqual(['web.baseUrl']);
    expect(load({ instance: { secret: SECRET_A }, web: { enabled: true, baseUrl: 'http://support.example.com' } }).warnings[0]!.message).toMatch(/plain http on support\.example\.com.*https:\/\//);
    expect(web({ baseUrl: 'https://support.example.com/casegate' })).toEqual([]);
    expect(web({ host: '0.0.0.0', baseUrl: 'https://support.example.com' })).toEqual([]);
    expect(web({ baseUrl: 'http://127.0.0.1:8025' })).toEqual([]);
    // No baseUrl on loopback or every interface: links nobody can open — that warning, once, not this one.
    for (const host of ['127.0.0.1', '0.0.0.0']) {
      const w = load({ instance: { secret: SECRET_A }, web: { enabled: true, host } }).warnings;
      expect(w.map((x) => x.message)).toEqual([expect.stringMatching(/^is not set: the case and survey links/)]);
    }
  });

  it('warns when a TLS mode and its port disagree: imap.tls implicit on 143, starttls on 993; smtp secure on 587, not on 465', () => {
    const mb = (port: number, tls: string) => ({ name: 'support', addresses: ['support@example.com'], imap: { host: 'imap.example.com', port, tls, auth: { method: 'password', user: 'u', password: 'p' } } });
    const smtp = (port: number, secure: boolean) => ({ transport: 'smtp', smtp: { host: 'smtp.example.com', port, secure } });
    const warned = (cfg: Record<string, unknown>) => load({ instance: { secret: SECRET_A, domain: 'example.com', adminAddress: 'ops@staff.example.com' }, ...cfg }).warnings;
    expect(warned({ mailboxes: [mb(143, 'implicit')] })).toEqual([{ path: 'mailboxes.0.imap.tls', message: expect.stringMatching(/on port 143.*For port 143 set tls: starttls/) }]);
    expect(warned({ mailboxes: [mb(993, 'starttls')] })).toEqual([{ path: 'mailboxes.0.imap.tls', message: expect.stringMatching(/port 993 expects TLS from the first byte.*set tls: implicit/) }]);
    expect(warned({ outgoing: smtp(587, true) })).toEqual([{ path: 'outgoing.smtp.secure', message: expect.stringMatching(/For port 587 set secure: false/) }]);
    expect(warned({ outgoing: smtp(465, false) })).toEqual([{ path: 'outgoing.smtp.secure', message: expect.stringMatching(/set secure: true/) }]);
    // Matching pairs, and ports of their own, are not warned about.
    expect(warned({ mailboxes: [mb(993, 'implicit'), mb(143, 'starttls'), mb(1993, 'implicit')].map((m, i) => ({ ...m, name: `m${i}`, addresses: [`m${i}@example.com`] })), outgoing: smtp(587, false) })).toEqual([]);
    expect(warned({ outgoing: smtp(465, true) })).toEqual([]);
    // A named relay too (outgoing.relays), at its own key.
    expect(warned({ outgoing: { ...smtp(587, false), relays: { brand: { host: 'smtp.sendgrid.net', port: 465 } } } })).toEqual([{ path: 'outgoing.relays.brand.secure', message: expect.stringMatching(/set secure: true/) }]);
  });

  it('warns when the web server runs without web.baseUrl on loopback: customer mail would link to 127.0.0.1', () => {
    const warned = (web: Record<string, unknown>) => load({ instance: { secret: SECRET_A }, web }).warnings;
    expect(warned({ enabled: true })).toEqual([{ path: 'web.baseUrl', message: expect.stringMatching(/^is not set: the case and survey links in customer mail would point at http:\/\/127\.0\.0\.1:8025, which customers cannot open\. Set it/) }]);
    // Bound to every interface, the links would name 0.0.0.0.
    expect(warned({ enabled: true, host: '0.0.0.0' }).map((w) => w.path)).toEqual(['web.baseUrl']);
    expect(warned({ enabled: true, baseUrl: 'https://support.example.com/casegate' })).toEqual([]);
    expect(warned({ enabled: false })).toEqual([]);
  });

  it('warns about queue settings under a misspelt name: the queue that gets the cases would have no agents', () => {
    const base = { instance: { secret: SECRET_A, domain: 'example.com' }, mailboxes: [{ name: 'billing', addresses: ['billing@example.com'], queue: 'finance' }] };
    const agents = [{ name: 'Fiona', address: 'fiona@example.com' }];
    expect(load({ ...base, queues: { finanse: { agents } } }).warnings).toEqual([{ path: 'queues.finanse', message: expect.stringMatching(/^no mailbox or rule sends cases to queue "finanse", while queue "finance" gets cases and has no settings of its own .*did you mean "finance"\?$/) }]);
    // Spelt right, or a queue of its own that only `cases move` or a rule fills: nothing to say.
    expect(load({ ...base, queues: { finance: { agents } } }).warnings).toEqual([]);
    expect(load({ ...base, queues: { finance: { agents }, escalations: { agents } } }).warnings).toEqual([]);
    // Settings under the mailbox's name instead of its queue's.
    expect(load({ ...base, queues: { billing: { agents } } }).warnings).toEqual([{ path: 'queues.billing', message: expect.stringMatching(/^"billing" is the name of a mailbox whose cases go to queue "finance" \(its queue: key\).* Write them under queues\.finance$/) }]);
    // (finance itself, fed by the mailbox, has no agents: that is said, but not as a misspelling.)
    expect(load({ ...base, queues: { finanse: { agents } }, rules: [{ name: 'r', match: { subject: ['x'] }, set: { queue: 'finanse' } }] }).warnings.map((w) => w.path)).toEqual(['queues.finance']);
  });

  it('warns about a queue that gets cases but has no agents (nobody notified) when other queues have agents', () => {
    const agents = [{ name: 'Fiona', address: 'fiona@example.com' }];
    const base = {
      instance: { secret: SECRET_A, domain: 'example.com' },
      mailboxes: [
        { name: 'support', addresses: ['support@example.com'] },
        { name: 'partners', addresses: ['partners@example.com'] },
        { name: 'ideas', addresses: ['ideas@example.com'] },
      ],
      queues: { support: { agents }, partners: { language: 'de' }, ideas: { feedback: true } },
    };
    const tpl = dir();
    mkdirSync(join(tpl, 'ideas'), { recursive: true });
    for (const part of ['subject', 'text', 'html']) writeFileSync(join(tpl, 'ideas', `confirmation.${part}.hbs`), 'Thanks');
    const cfg = { ...base, templates: { dir: tpl } };
    expect(load(cfg).warnings).toEqual([{ path: 'queues.partners.agents', message: 'queue "partners" gets cases (mailbox partners) but has no agents: its new cases and customers\' replies notify nobody; list them in queues.partners.agents' }]);
    // A queue only a rule feeds.
    const routed = { ...cfg, queues: { ...cfg.queues, partners: { agents }, legal: { language: 'en' } }, rules: [{ name: 'legal', match: { subject: ['lawsuit'] }, set: { queue: 'legal' } }] };
    expect(load(routed).warnings).toEqual([{ path: 'queues.legal.agents', message: expect.stringMatching(/^queue "legal" gets cases \(rule legal\) but has no agents/) }]);
    // No queue has agents (the README tour, a shared inbox worked in the CLI): nothing to say.
    expect(load({ ...cfg, queues: { ideas: { feedback: true } } }).warnings).toEqual([]);
  });

  it('warns about a rule that never fires because an earlier rule matches everything it matches', () => {
    const base = { instance: { secret: SECRET_A, domain: 'example.com' }, mailboxes: [{ name: 'support', addresses: ['support@example.com'] }, { name: 'support-de', addresses: ['support@example.de'] }] };
    const rules = [
      { name: 'vip', match: { senderDomain: ['acme.example', 'globex.example'] }, set: { priority: 'high' } },
      { name: 'de-outage', match: { mailbox: 'support-de', subject: ['Störung'] }, set: { priority: 'urgent' } },
      { name: 'acme-outage', match: { senderDomain: 'ACME.example', subject: ['outage'] }, set: { priority: 'urgent' } },
      { name: 'de-outage-words', match: { mailbox: ['support-de'], subject: ['Störung'], body: 'down' }, set: { tags: ['outage'] } },
      { name: 'other-words', match: { mailbox: 'support-de', subject: ['Ausfall'] }, set: { tags: ['outage'] } },
    ];
    expect(load({ ...base, rules }).warnings).toEqual([
      { path: 'rules.2', message: 'rule "acme-outage" never fires: rule "vip" (rules.0) comes first and matches every message this one matches (the first matching rule wins); put "acme-outage" before it, or narrow "vip"' },
      { path: 'rules.3', message: expect.stringMatching(/^rule "de-outage-words" never fires: rule "de-outage" \(rules.1\) comes first/) },
    ]);
    expect(load({ ...base, rules: [{ name: 'all', match: {}, set: { tags: ['x'] } }, rules[0]] }).warnings).toEqual([{ path: 'rules.1', message: expect.stringContaining('rule "all" (rules.0) comes first and matches every new case') }]);
  });

  it('each problem names the line of the file it is at; a ${NAME} unquoted in a { … } map gets a hint', () => {
    const text = [
      'instance: { secret: "' + SECRET_A + '" }',
      'mailboxes:',
      '  - { name: support, addresses: [support@example.com] }',
      '  - name: billing',
      '    addresses: [billing@example.com]',
      '  - name: billing-de',
      '    addresses: [rechnung@example.de, Billing@example.com]',
      'queues:',
      '  support:',
      '    agents:',
      '      - { name: Alice, adress: alice@example.com }',
    ].join('\n');
    const err = (() => {
      try {
        load(text);
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('loaded');
    })();
    expect(err.lines).toEqual([
      'queues.support.agents.0.address: required: a text (this key is missing) (line 11)',
      'queues.support.agents.0.adress: unknown key "adress": did you mean "address"? (line 11)',
    ]);
    expect(err.message).toContain('\n  queues.support.agents.0.adress: unknown key "adress": did you mean "address"? (line 11)');
    const across = (() => {
      try {
        load(text.replace('adress', 'address'));
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('loaded');
    })();
    expect(across.lines).toEqual(['mailboxes.2.addresses.1: address billing@example.com is already served by mailbox "billing" (line 7)']);
    // The problems themselves stay path and message (reload, tests and scripts read them).
    expect(across.problems).toEqual([{ path: 'mailboxes.2.addresses.1', message: 'address billing@example.com is already served by mailbox "billing"' }]);
    // Warnings too (casegate config, the start's and a reload's log lines).
    const warned = load(text.replace('adress', 'address').replace(', Billing@example.com', '').replace("instance: { secret", "instance: { domain: example.com, secret"));
    expect(warned.warnings.map((w) => problemLine(w, warned.lineOf))).toEqual([
      'queues.billing: queue "billing" gets cases (mailbox billing) but has no agents: its new cases and customers\' replies notify nobody; list them in queues.billing.agents (line 8)',
      'queues.billing-de: queue "billing-de" gets cases (mailbox billing-de) but has no agents: its new cases and customers\' replies notify nobody; list them in queues.billing-de.agents (line 8)',
    ]);
    const flow = 'mailboxes:\n  - name: support\n    addresses: [support@example.com]\n    imap: { host: imap.example.com, auth: { method: password, user: support, password: ${IMAP_PW} } }\n';
    expect(problems(flow, { env: { IMAP_PW: 'x' } })).toEqual([{ path: '', message: expect.stringMatching(/^YAML syntax error at line 4: .* — a \$\{NAME\} inside \{ … \} or \[ … \] must be quoted: password: "\$\{IMAP_PW\}"\n/) }]);
    expect(problems(flow.replace('${IMAP_PW}', '"${IMAP_PW}"'), { env: { IMAP_PW: 'x' } })).toEqual([]);
  });

  it('${file:PATH} reads a secret from a file (relative to the config file), again at every load: a reload takes a rotated password', () => {
    const d = dir();
    mkdirSync(join(d, 'secrets'), { mode: 0o700 });
    writeFileSync(join(d, 'secrets', 'imap-support'), 'first-password\n', { mode: 0o600 });
    writeFileSync(join(d, 'secrets', 'smtp'), 'relay-pw', { mode: 0o600 });
    const cfg = {
      instance: { secret: SECRET_A, domain: 'example.com', adminAddress: 'ops@staff.example.com' },
      mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: { host: 'imap.example.com', auth: { method: 'password', user: 'support', password: '${file:secrets/imap-support}' } } }],
      outgoing: { transport: 'smtp', smtp: { host: 'smtp.example.com', port: 587, password: '${file:' + join(d, 'secrets', 'smtp') + '}' } },
    };
    const first = load(cfg, { at: d, mailboxCredentials: 'required' });
    expect(first.config.mailboxes[0]!.imap?.auth).toMatchObject({ password: 'first-password' });
    expect(first.config.outgoing.smtp?.password).toBe('relay-pw');
    expect(first.warnings).toEqual([]);
    // The password rotated: the next load (what SIGHUP does) reads the new one.
    writeFileSync(join(d, 'secrets', 'imap-support'), 'second-password\n', { mode: 0o600 });
    expect(load(cfg, { at: d, mailboxCredentials: 'required' }).config.mailboxes[0]!.imap?.auth).toMatchObject({ password: 'second-password' });
    // A file every user can read is warned about; one that is not there is a problem at its key (not for commands that never log in).
    chmodSync(join(d, 'secrets', 'smtp'), 0o644);
    expect(load(cfg, { at: d }).warnings).toEqual([{ path: 'outgoing.smtp.password', message: expect.stringMatching(/secrets\/smtp \(mode 0644\) is readable by every user of this machine/) }]);
    const missing = { ...cfg, mailboxes: [{ ...cfg.mailboxes[0]!, imap: { ...cfg.mailboxes[0]!.imap, auth: { method: 'password', user: 'support', password: '${file:secrets/nope}' } } }] };
    expect(problems(missing, { at: d, mailboxCredentials: 'required' })).toEqual([{ path: 'mailboxes.0.imap.auth.password', message: `cannot read ${join(d, 'secrets', 'nope')} (\${file:secrets/nope}): no such file` }]);
    expect(problems(missing, { at: d, mailboxCredentials: 'deferred' })).toEqual([]);
  });

  it('warns about an SLA target written as a small bare number (minutes, most likely meant as hours)', () => {
    const targets = { urgent: { firstResponse: 4, resolution: '8h' }, high: { firstResponse: '4h', resolution: 24 }, normal: { firstResponse: 240, resolution: '15m' }, low: { firstResponse: 15, resolution: 30 } };
    expect(load({ instance: { secret: SECRET_A, domain: 'example.com' }, sla: { policies: { std: { targets } }, defaultPolicy: 'std' } }).warnings).toEqual([
      { path: 'sla.policies.std.targets.urgent.firstResponse', message: '4 is 4 minutes (a bare number is minutes): write "4h" for hours, or "4m" to keep minutes and silence this' },
      { path: 'sla.policies.std.targets.high.resolution', message: expect.stringMatching(/^24 is 24 minutes/) },
    ]);
  });

  it('two mailboxes whose addresses differ only by a +tag or the spelling of the domain are refused: the later one would silently take all of the other\'s mail', () => {
    const cfg = (addresses: string[][]) => ({ instance: { secret: SECRET_A, domain: 'example.com' }, mailboxes: addresses.map((a, i) => ({ name: `mb${i}`, addresses: a })) });
    expect(problems(cfg([['support@example.com'], ['support+de@example.com']]))).toEqual([
      { path: 'mailboxes.1.addresses.0', message: 'address support+de@example.com is the same address as support@example.com of mailbox "mb0" for routing (a +tag and the spelling of the domain do not count: mail to either reaches one mailbox): give each mailbox addresses of its own, and sort tagged mail with rules (match.recipient)' },
    ]);
    expect(problems(cfg([['hilfe@bücher.example'], ['info@example.com', 'Hilfe@xn--bcher-kva.example']]))).toEqual([{ path: 'mailboxes.1.addresses.1', message: expect.stringMatching(/^address hilfe@xn--bcher-kva\.example is the same address as hilfe@bücher\.example of mailbox "mb0" for routing/) }]);
    // One notes address for two mailboxes: one's notes would be filed as the other's.
    const notes = (a: string, b: string) => ({ instance: { secret: SECRET_A, domain: 'example.com' }, mailboxes: [{ name: 'a', addresses: ['a@example.com'], notesAddress: a }, { name: 'b', addresses: ['b@example.com'], notesAddress: b }] });
    expect(problems(notes('notes@example.com', 'Notes@example.com'))).toEqual([{ path: 'mailboxes.1.notesAddress', message: 'notes@example.com is already the notes address of mailbox "a": give each mailbox its own' }]);
    expect(problems(notes('notes-a@example.com', 'a+note@example.com'))).toEqual([{ path: 'mailboxes.1.notesAddress', message: 'a+note@example.com is already the notes address of mailbox "a": give each mailbox its own' }]);
    expect(problems(notes('notes-a@example.com', 'notes-b@example.com'))).toEqual([]);
    // Both spellings in one mailbox reach it: fine. The same address twice is still a duplicate.
    expect(problems(cfg([['support@example.com', 'support+vip@example.com'], ['billing@example.com']]))).toEqual([]);
    expect(problems(cfg([['support@example.com'], ['SUPPORT@example.com']]))).toEqual([{ path: 'mailboxes.1.addresses.0', message: 'address support@example.com is already served by mailbox "mb0"' }]);
  });

  it('warns about a calendar or SLA policy no queue uses (a queue that should name it runs on the default)', () => {
    const agents = [{ name: 'A', address: 'a@staff.example.com' }];
    const cfg = {
      instance: { secret: SECRET_A, domain: 'example.com' },
      mailboxes: [{ name: 'support-de', addresses: ['support@example.de'] }, { name: 'support-be', addresses: ['support@example.be'] }],
      queues: { 'support-de': { calendar: 'cal-de', slaPolicy: 'std', agents }, 'support-be': { agents } },
      sla: { calendars: { 'cal-de': { zone: 'Europe/Berlin' }, 'cal-be': { zone: 'Europe/Brussels' } }, policies: { std: { targets: { normal: { firstResponse: '4h' } } } } },
    };
    expect(load(cfg).warnings).toEqual([{ path: 'sla.calendars.cal-be', message: 'calendar "cal-be" is used by no queue (queues.<q>.calendar) and is not sla.defaultCalendar; the queues without a calendar of their own (support-be) use Mon–Fri 09:00–17:00 UTC' }]);
    expect(load({ ...cfg, queues: { ...cfg.queues, 'support-be': { agents, calendar: 'cal-be', slaPolicy: 'std' } } }).warnings).toEqual([]);
    expect(load({ ...cfg, sla: { ...cfg.sla, policies: { ...cfg.sla.policies, gold: { targets: {} } }, defaultCalendar: 'cal-be' } }).warnings).toEqual([
      { path: 'sla.policies.gold', message: 'policy "gold" is used by no queue (queues.<q>.slaPolicy) and is not sla.defaultPolicy; the queues without a policy of their own (support-be) use none (no SLA targets)' },
    ]);
  });

  it('warns about a template language without one translated file (its customers get the English emails)', () => {
    const d = dir();
    const tpl = join(d, 'tpl');
    mkdirSync(join(tpl, 'support-it', 'it'), { recursive: true });
    writeFileSync(join(tpl, 'support-it', 'it', 'confirmation.text.hbs'), '{{replyMarker}}\nGrazie.\n');
    const cfg = { instance: { secret: SECRET_A, domain: 'example.com' }, mailboxes: [{ name: 'support-it', addresses: ['support@example.it'] }], templates: { dir: tpl, languages: ['en', 'de', 'fr', 'it'] } };
    // de is shipped, it has a queue folder of its own, fr has nothing.
    expect(load(cfg, { at: d }).warnings).toEqual([{ path: 'templates.languages.2', message: `no template is translated into "fr" (no fr/ folder in ${tpl} or the shipped templates): its customers get the English emails. Translate into ${join(tpl, 'fr')}/ (docs/customizing-templates.md, "Another language")` }]);
    mkdirSync(join(tpl, 'fr'));
    expect(load(cfg, { at: d }).warnings).toEqual([]);
  });

  it('warns when IMAP mailboxes or a relay have nowhere to send their alerts (no instance.adminAddress, no alerts.command)', () => {
    const cfg = { instance: { secret: SECRET_A, domain: 'example.com' }, mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: { host: 'imap.example.com', auth: { method: 'password', user: 'support', password: 'x' } } }, { name: 'sales', addresses: ['sales@example.com'] }] };
    expect(load(cfg).warnings).toEqual([{ path: 'instance.adminAddress', message: 'is not set and there is no alerts.command: an IMAP mailbox whose login fails (support) alerts nobody (only /healthz and casegate status show it). Set instance.adminAddress (or alerts.command)' }]);
    expect(load({ ...cfg, alerts: { command: 'logger -t casegate' } }).warnings).toEqual([]);
    expect(load({ ...cfg, instance: { ...cfg.instance, adminAddress: 'ops@staff.example.com' } }).warnings).toEqual([]);
  });

  it('a closure of one day (from = to, dates) is accepted; a `to` before `from` is not', () => {
    const cal = (closures: unknown[]) => ({ instance: { secret: SECRET_A }, sla: { calendars: { de: { zone: 'Europe/Berlin', closures } } } });
    expect(problems(cal([{ from: '2026-12-24', to: '2026-12-24' }]))).toEqual([]);
    expect(problems(cal([{ from: '2026-12-24T12:00', to: '2026-12-24' }]))).toEqual([]);
    expect(problems(cal([{ from: '2026-12-24', to: '2026-12-23' }]))).toEqual([{ path: 'sla.calendars.de.closures.0.to', message: 'must not be before from (a date is the last day of the closure)' }]);
    expect(problems(cal([{ from: '2026-12-24T12:00', to: '2026-12-24T12:00' }]))).toEqual([{ path: 'sla.calendars.de.closures.0.to', message: 'must be after from' }]);
  });

  it('a missing IMAP password variable only matters when mailbox credentials are needed', () => {
    const cfg = { instance: { secret: SECRET_A }, mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: { host: 'imap.example.com', auth: { method: 'password', user: 'u', password: '${IMAP_PW}' } } }] };
    expect(load(cfg, { mailboxCredentials: 'deferred' }).config.mailboxes[0]!.imap?.auth).toMatchObject({ password: '${IMAP_PW}' });
    // One line per unset variable: not also the schema's verdict on the empty text left in its place.
    expect(problems(cfg, { mailboxCredentials: 'required' })).toEqual([{ path: 'mailboxes.0.imap.auth.password', message: 'environment variable IMAP_PW is not set' }]);
    expect(problems({ ...cfg, instance: { secret: '${NO_SUCH_SECRET}' } }, { mailboxCredentials: 'required' })).toEqual([
      { path: 'instance.secret', message: 'environment variable NO_SUCH_SECRET is not set' },
      { path: 'mailboxes.0.imap.auth.password', message: 'environment variable IMAP_PW is not set' },
    ]);
    // Other variables are still required.
    expect(new Set(problems({ ...cfg, instance: { secret: '${NO_SUCH_SECRET}' } }, { mailboxCredentials: 'deferred' }).map((p) => p.path))).toEqual(new Set(['instance.secret']));
  });
});

describe('admin regular expressions are vetted (item 14)', () => {
  it.each([
    ['rules.0.match.subject', { rules: [{ name: 'r', match: { subject: '^(a+)+$' }, set: { priority: 'high' } }] }, /exponential/],
    ['rules.0.match.body', { rules: [{ name: 'r', match: { body: 'invoice.*overdue' }, set: { priority: 'high' } }] }, /2nd degree polynomial time: a crafted body of 50000 characters/],
    ['rules.0.match.header.pattern', { rules: [{ name: 'r', match: { header: { name: 'X-Spam', pattern: '(x|x)*y' } }, set: { priority: 'high' } }] }, /exponential/],
    ['rules.0.match.subject', { rules: [{ name: 'r', match: { subject: 'a.*b.*c' }, set: { priority: 'high' } }] }, /3rd degree polynomial/],
    ['autoReply.neverTo.1', { autoReply: { neverTo: ['^noreply@', '^(\\w+\\.?)*@evil'] } }, /exponential/],
  ])('refuses a catastrophic pattern at %s', (path, config, why) => {
    const p = problems({ instance: { secret: SECRET_A }, ...config });
    expect(p).toEqual([{ path, message: expect.stringMatching(why) }]);
    expect(p[0]!.message).toMatch(/rewrite it/);
  });

  it.each([
    ['^\\[JIRA\\]', 'subject'],
    ['invoice.*overdue', 'subject (quadratic, but subjects are cut to 1,000 characters)'],
    ['\\binvoice\\s*#?\\d{4,}', 'body'],
    ['^(no-?reply|do-?not-?reply|mailer-daemon|postmaster)@', 'the shipped neverTo'],
    ['server\\s+\\S+\\s+down', 'body'],
  ])('accepts %j (%s)', (pattern, where) => {
    const field = where.startsWith('body') ? 'body' : 'subject';
    expect(problems({ instance: { secret: SECRET_A }, rules: [{ name: 'r', match: { [field]: pattern }, set: { priority: 'high' } }] })).toEqual([]);
  });

  it('reports every problem at once: a bad regex and an unknown key together', () => {
    const p = problems({ instance: { secret: SECRET_A }, listner: {}, rules: [{ name: 'r', match: { subject: '(a+)+b' }, set: { priority: 'high' } }] });
    expect(p.map((x) => x.path)).toEqual(['listner', 'rules.0.match.subject']);
  });

  it('the verdict does not depend on the cache: a cached one is reused', () => {
    const cache = new Map<string, string | null>();
    const store = { get: (k: string) => cache.get(k), set: (k: string, v: string | null) => void cache.set(k, v) };
    const first = regexProblem('(a+)+$', 'i', 1000, 'subject', store);
    expect(first).toMatch(/exponential/);
    expect(cache.size).toBe(1);
    expect(regexProblem('(a+)+$', 'i', 1000, 'subject', store)).toBe(first);
  });
});

describe('start warnings reach the daemon log (item 12)', () => {
  it('the daemon logs each configuration warning as a warn line with its key at start', async () => {
    const { pino } = await import('pino');
    const { Writable } = await import('node:stream');
    const { startDaemon } = await import('../../src/main.js');
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const r = load({ dataDir: 'data', instance: { secret: SECRET_A }, mailboxes: [{ name: 'support', addresses: ['support@acme.example'] }], listener: { enabled: false }, templates: { watch: false } });
    const daemon = await startDaemon({ resolved: r, log: pino({ level: 'info' }, sink) });
    await daemon.stop();
    const warn = lines.filter((l) => l['level'] === 40 && String(l['msg']).startsWith('configuration warning: instance.domain'));
    expect(warn).toHaveLength(1);
    expect(warn[0]).toMatchObject({ key: 'instance.domain' });
  });
});
