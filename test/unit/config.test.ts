import { spawnSync } from 'node:child_process';
import fs, { writeFileSync, readFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tempDir } from '../helpers/temp-dirs.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { assertBuilt, REPO_ROOT } from '../helpers/cli.js';
import { documented, exampleKeyPaths, schemaKeyPaths, schemaObjects } from '../helpers/config-keys.js';

function file(content: string): string {
  const dir = tempDir('casegate-cfg-');
  const f = join(dir, 'casegate.yaml');
  writeFileSync(f, content);
  return f;
}

/** The problems loading `f` reports ([] when it loads); anything but a ConfigError fails the test. */
function problemsOf(f: string): readonly { path: string; message: string }[] {
  try {
    loadConfig({ path: f, env: {} });
    return [];
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
}

describe('configuration', () => {
  it('uses the embedded default without a file: SQLite in data/, listener on 127.0.0.1:2525, file transport', () => {
    const cwd = tempDir('casegate-cwd-');
    const r = loadConfig({ env: {}, cwd });
    expect(r.source).toBeNull();
    expect(r.paths.dbPath).toBe(join(cwd, 'data', 'casegate.db'));
    expect(r.paths.outgoingDir).toBe(join(cwd, 'data', 'outgoing'));
    expect(r.config.listener).toMatchObject({ host: '127.0.0.1', port: 2525, enabled: true });
    expect(r.config.mailboxes).toEqual([expect.objectContaining({ name: 'support', addresses: ['support@localhost'] })]);
    expect(r.config.outgoing.transport).toBe('file');
    // The secret is generated once and kept.
    expect(r.secret.current.secret.length).toBeGreaterThanOrEqual(32);
    expect(readFileSync(join(cwd, 'data', 'secret'), 'utf8').trim()).toBe(r.secret.current.secret);
    expect(loadConfig({ env: {}, cwd }).secret.current).toEqual(r.secret.current);
  });

  it('the secret file appears whole or not at all: a second process starting at the same moment uses the first one\'s secret', () => {
    const cwd = tempDir('casegate-cwd-');
    const secretFile = join(cwd, 'data', 'secret');
    const theirs = 'the-other-process-secret-0123456789-abcdef';
    const seen: { size: number; mode: string }[] = [];
    const realLink = fs.linkSync;
    // The other process links its secret into place just before we do.
    fs.linkSync = ((from: fs.PathLike, to: fs.PathLike) => {
      const st = statSync(from);
      seen.push({ size: st.size, mode: (st.mode & 0o777).toString(8) });
      writeFileSync(secretFile, theirs + '\n', { mode: 0o600, flag: 'wx' });
      realLink(from, to);
    }) as typeof fs.linkSync;
    syncBuiltinESMExports();
    try {
      expect(loadConfig({ env: {}, cwd }).secret.current.secret).toBe(theirs);
    } finally {
      fs.linkSync = realLink;
      syncBuiltinESMExports();
    }
    // What was about to be linked was already complete and private; nothing is left beside it.
    expect(seen).toEqual([{ size: 44, mode: '600' }]);
    expect(readdirSync(join(cwd, 'data')).sort()).toEqual(['secret']);
    expect(loadConfig({ env: {}, cwd }).secret.current.secret).toBe(theirs);
  });

  it('reads CASEGATE_CONFIG and resolves relative paths against the file', () => {
    const f = file('dataDir: ./var\nmailboxes:\n  - name: billing\n    addresses: [Billing@Example.com]\n');
    const r = loadConfig({ env: { CASEGATE_CONFIG: f } });
    expect(r.source).toBe(f);
    expect(r.paths.dataDir).toBe(join(f, '..', 'var'));
    expect(r.config.mailboxes[0]!.addresses).toEqual(['billing@example.com']);
  });

  it('takes secrets from environment variables', () => {
    const f = file('instance:\n  secret: ${MY_SECRET}\noutgoing:\n  transport: smtp\n  smtp:\n    host: smtp.example.com\n    password: ${SMTP_PASS}\n');
    const r = loadConfig({ path: f, env: { MY_SECRET: 'a-long-enough-secret-value-0123456789', SMTP_PASS: 'pw' } });
    expect(r.secret.current.secret).toBe('a-long-enough-secret-value-0123456789');
    expect(r.config.outgoing.smtp?.password).toBe('pw');
  });

  it('a whole ${NAME} reference in a number or boolean key is read as one; text keys stay text; junk is still refused', () => {
    const f = file('listener:\n  port: ${SMTP_PORT}\ntemplates:\n  watch: ${WATCH}\noutgoing:\n  transport: smtp\n  smtp:\n    host: smtp.example.com\n    password: ${SMTP_PASS}\n');
    const r = loadConfig({ path: f, env: { SMTP_PORT: '2626', WATCH: 'false', SMTP_PASS: '1234' } });
    expect(r.config.listener.port).toBe(2626);
    expect(r.config.templates.watch).toBe(false);
    expect(r.config.outgoing.smtp?.password).toBe('1234');
    let problem: unknown;
    try {
      loadConfig({ path: f, env: { SMTP_PORT: '25x', WATCH: 'maybe', SMTP_PASS: '1234' } });
    } catch (err) {
      problem = err;
    }
    expect(problem).toBeInstanceOf(ConfigError);
    expect((problem as ConfigError).problems.map((p) => p.path).sort()).toEqual(['listener.port', 'templates.watch']);
    // The file holds no string there: the problem says where the text came from.
    expect((problem as ConfigError).problems.find((p) => p.path === 'listener.port')!.message).toBe('Invalid input: expected number, received string (${SMTP_PORT} is "25x")');
    expect((problem as ConfigError).problems.find((p) => p.path === 'templates.watch')!.message).toBe('Invalid input: expected boolean, received string (${WATCH} is "maybe")');
    // Part of a longer text is text: "port: 2${X}" is no number either way.
    expect(() => loadConfig({ path: file('listener:\n  port: 2${X}\n'), env: { X: '626' } })).toThrow(/listener\.port/);
  });

  it('reports every problem at once, each with its key path', () => {
    const f = file(
      [
        'instance:',
        '  secret: ${MISSING_SECRET}',
        'listener:',
        '  port: 70000',
        'mailboxes:',
        '  - name: Support Desk',
        '    addresses: [not-an-address]',
        '  - name: b',
        '    addresses: [x@example.com, x@example.com]',
        'outgoing:',
        '  transport: smtp',
        'autoReply:',
        '  neverTo: ["(unclosed"]',
      ].join('\n'),
    );
    let err: unknown;
    try {
      loadConfig({ path: f, env: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const paths = (err as ConfigError).problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining(['instance.secret', 'listener.port', 'mailboxes.0.name', 'mailboxes.0.addresses.0', 'mailboxes.1.addresses.1', 'outgoing.smtp', 'autoReply.neverTo.0']),
    );
    expect((err as Error).message).toContain('MISSING_SECRET');
  });

  it('says "required" for a key left out and "write [x]" for one address where a list is wanted, not zod\'s "expected array, received undefined"', () => {
    const problems = problemsOf(file(['mailboxes:', '  - name: support', '    addresses: support@example.com', '  - name: billing', '    address: [billing@example.com]', 'outgoing:', '  transport: smtp', '  smtp:', '    port: 587'].join('\n')));
    expect(problems.map((p) => ({ path: p.path, message: p.message }))).toEqual(
      expect.arrayContaining([
        { path: 'mailboxes.0.addresses', message: 'must be a list: write [support@example.com]' },
        { path: 'mailboxes.1.addresses', message: 'required: a list (this key is missing)' },
        { path: 'mailboxes.1.address', message: 'unknown key "address": did you mean "addresses"?' },
        { path: 'outgoing.smtp.host', message: 'required: a text (this key is missing)' },
      ]),
    );
    expect(problems.map((p) => p.message).join('\n')).not.toMatch(/received (undefined|string)/);
  });

  it('refuses an IMAP mailbox that would move processed or quarantined mail into the folder it watches (a loop), in any spelling of INBOX', () => {
    const problems = (imap: string): { path: string; message: string }[] =>
      problemsOf(file(['mailboxes:', '  - name: support', '    addresses: [support@example.com]', '    imap:', '      host: imap.example.com', '      auth: { method: password, user: u, password: p }', ...imap.split('\n').map((l) => `      ${l}`)].join('\n'))).map((p) => ({ path: p.path, message: p.message }));
    expect(problems('processedFolder: INBOX')).toEqual([{ path: 'mailboxes.0.imap.processedFolder', message: expect.stringContaining('must differ from imap.folder') }]);
    expect(problems('folder: Support/New\nquarantineFolder: /Support/New/')).toEqual([{ path: 'mailboxes.0.imap.quarantineFolder', message: expect.stringContaining('for ever') }]);
    expect(problems('folder: inbox\nprocessedFolder: Inbox')).toHaveLength(1);
    expect(problems('folder: casegate/Processed')).toEqual([{ path: 'mailboxes.0.imap.processedFolder', message: expect.stringContaining('casegate/Processed') }]);
    // Flag mode moves nothing; other folders are fine.
    expect(problems('afterProcessing: flag\nprocessedFolder: INBOX')).toEqual([]);
    expect(problems('folder: INBOX/support\nprocessedFolder: INBOX/support/done')).toEqual([]);
  });

  it('refuses staff addresses that are our own mailboxes (alerts would loop back and be dropped) and two mailboxes watching one IMAP folder', () => {
    const f = file(
      [
        'instance:',
        '  adminAddress: support@example.com',
        'mailboxes:',
        '  - name: support',
        '    addresses: [support@example.com]',
        '    imap: { host: imap.example.com, auth: { method: password, user: team, password: p } }',
        '  - name: sales',
        '    addresses: [sales@example.com]',
        '    imap: { host: IMAP.example.com, folder: inbox, auth: { method: password, user: Team, password: p } }',
        'queues:',
        '  support:',
        '    agents: [{ name: Ben, address: ben@example.com, aliases: [support@example.com, ben@example.com, carla@example.com] }, { name: Desk, address: sales+desk@example.com }, { name: Carla, address: carla@example.com }]',
        '    tiers: { 1: { addresses: [leads@example.com, support@example.com] } }',
      ].join('\n'),
    );
    const problems = problemsOf(f);
    expect(problems.map((p) => p.path).sort()).toEqual(['instance.adminAddress', 'mailboxes.1.imap.folder', 'queues.support.agents.0.aliases.0', 'queues.support.agents.0.aliases.1', 'queues.support.agents.0.aliases.2', 'queues.support.agents.1.address', 'queues.support.tiers.1.addresses.1']);
    expect(problems.find((p) => p.path === 'queues.support.agents.0.aliases.0')!.message).toContain('is an address of mailbox "support": mail from it would act as Ben');
    expect(problems.find((p) => p.path === 'queues.support.agents.0.aliases.2')!.message).toContain("carla@example.com is also Carla's: an alias names one person");
    expect(problems.find((p) => p.path === 'instance.adminAddress')!.message).toContain('is an address of mailbox "support": alerts sent there would come back');
    expect(problems.find((p) => p.path === 'mailboxes.1.imap.folder')!.message).toContain('mailbox "support" already watches team@imap.example.com:993/INBOX');
  });

  it('reports YAML syntax errors with the line', () => {
    const f = file('listener:\n  port: [1,\n');
    expect(() => loadConfig({ path: f, env: {} })).toThrow(/line \d+/);
  });

  it('reports an unreadable file', () => {
    expect(() => loadConfig({ path: '/nonexistent/casegate.yaml', env: {} })).toThrow(ConfigError);
  });

  it('ships an example that documents every key and validates', () => {
    const example = fileURLToPath(new URL('../../config/casegate.example.yaml', import.meta.url));
    expect(existsSync(example)).toBe(true);
    const r = loadConfig({ path: example, env: { CASEGATE_SECRET: 'x'.repeat(32), SMTP_PASSWORD: 'pw', IMAP_PASSWORD: 'pw' } });
    expect(r.config.mailboxes.length).toBeGreaterThan(1);
  });

  it('zod compiles no code while it reads a configuration: its generated fast path (and its new Function probe) is off in every schema file (a new process reading the shipped example)', () => {
    // zod decides when an object schema is built, not when it parses; schema parts in their own
    // files are built before schema.ts runs, so the switch lives in the module they all import first.
    assertBuilt();
    const script = `
      const Real = globalThis.Function;
      const built = [];
      globalThis.Function = new Proxy(Real, { construct(t, args, nt) { built.push(String(args.at(-1)).slice(0, 80)); return Reflect.construct(t, args, nt); } });
      const { loadConfig } = await import(${JSON.stringify(join(REPO_ROOT, 'dist', 'src', 'config', 'load.js'))});
      const r = loadConfig({ path: ${JSON.stringify(join(REPO_ROOT, 'config', 'casegate.example.yaml'))}, env: { CASEGATE_SECRET: 'x'.repeat(32), SMTP_PASSWORD: 'pw', IMAP_PASSWORD: 'pw' } });
      globalThis.Function = Real;
      process.stdout.write(JSON.stringify({ mailboxes: r.config.mailboxes.length, rules: r.config.rules.length, built }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { mailboxes: number; rules: number; built: string[] };
    expect(out.mailboxes).toBeGreaterThan(1);
    expect(out.rules).toBeGreaterThan(0);
    expect(out.built).toEqual([]);
  });
});

describe('the configuration schema and its example', () => {
  const EXAMPLE = readFileSync(fileURLToPath(new URL('../../config/casegate.example.yaml', import.meta.url)), 'utf8');
  /** Kept in the schema only to name its replacement when an old config uses it (security.senderAuth). */
  const REPLACED = new Set(['security.trustedAuthServId']);

  it('every object of every section is strict (an unknown key is an error with a "did you mean" hint)', () => {
    const objects = schemaObjects(configSchema);
    expect(objects.length).toBeGreaterThan(40);
    expect(objects.filter((o) => !o.strict).map((o) => o.path || '(top level)')).toEqual([]);
    // The sections the merged branches added are walked too.
    for (const section of ['agentMail', 'sla', 'sla.calendars.*', 'sla.policies.*', 'jobs', 'jobs.pendingReminder', 'web', 'alerts', 'security.spam', 'mime', 'pipeline', 'security.senderAuth']) {
      expect(objects.some((o) => o.path === section), section).toBe(true);
    }
  });

  it('config/casegate.example.yaml shows every key (set, or commented out where it belongs)', () => {
    const shown = exampleKeyPaths(EXAMPLE);
    const keys = schemaKeyPaths(configSchema);
    expect(keys.length).toBeGreaterThan(200);
    expect(keys.filter((k) => !REPLACED.has(k) && !documented(k, shown))).toEqual([]);
  });

  it('the key reader sees block keys, commented keys and flow maps at their place, and nothing else', () => {
    const shown = exampleKeyPaths(['a:', '  b: 1', '  # c: 2', '  list:', '    - { d: 1, e: [x] }', '    - f: 2', 'g: { h: 1 }', '# prose without a key'].join('\n'));
    for (const k of ['a.b', 'a.c', 'a.list.d', 'a.list.e', 'a.list.f', 'g.h']) expect(documented(k, shown), k).toBe(true);
    for (const k of ['a.d', 'b', 'a.g', 'a.list.h']) expect(documented(k, shown), k).toBe(false);
    expect(documented('q.*.x', exampleKeyPaths('q:\n  any:\n    x: 1'))).toBe(true);
  });
});

describe('language codes', () => {
  const base = ['instance: { name: Ex, domain: support.example.com, secret: test-secret-0123456789abcdef-0123456789 }', 'mailboxes: [ { name: support, addresses: [support@example.com] } ]'];
  it('a country code where a language code belongs is refused, with the language meant', () => {
    const problems = problemsOf(file([...base, 'templates: { languages: [en, de, jp] }', 'cases: { defaultLanguage: cz }', 'queues: { support: { language: gr } }'].join('\n')));
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p.message]));
    expect(byPath['templates.languages.2']).toMatch(/"jp" is not a language code \(a country code\? the language is "ja"\)/);
    expect(byPath['cases.defaultLanguage']).toMatch(/"cz" is not a language code .*"cs"/);
    expect(byPath['queues.support.language']).toMatch(/"gr" is not a language code .*"el"/);
    // With a region or a script too: neither ICU's likely subtags nor its language names know "jp".
    const regional = problemsOf(file([...base, 'templates: { languages: [en, jp-JP, xx-Latn] }'].join('\n')));
    expect(regional.map((p) => p.path)).toEqual(['templates.languages.1', 'templates.languages.2']);
  });
  it('security.bounces.reporters refuses a domain every Microsoft 365 or Mailgun customer gets a subdomain of (its postmaster@ would speak for every recipient); the provider itself and one tenant are fine', () => {
    const problems = problemsOf(file('security:\n  bounces:\n    reporters: [amazonses.com, ourtenant.onmicrosoft.com, onmicrosoft.com, MAILGUN.org]\n'));
    expect(problems.map((p) => p.path)).toEqual(['security.bounces.reporters.2', 'security.bounces.reporters.3']);
    expect(problems[0]!.message).toMatch(/^onmicrosoft\.com gives every customer a subdomain .*: name your own, e\.g\. <tenant>\.onmicrosoft\.com$/);
  });

  it('language and regional tags are accepted', () => {
    expect(problemsOf(file([...base, 'templates: { languages: [en, de, ja, pt-BR, zh-TW, ar, en-Latn-US, tlh] }', 'cases: { defaultLanguage: en, translations: { pt-BR: { expectedResponse: em um dia útil } } }'].join('\n')))).toEqual([]);
  });
});

describe('relays per mailbox (outgoing.relays, mailboxes[].relay)', () => {
  const base = ['instance: { name: Ex, domain: support.example.com, secret: test-secret-0123456789abcdef-0123456789 }'];
  const smtp = 'outgoing: { transport: smtp, smtp: { host: mail.example.com }, relays: { m365: { host: smtp.office365.com, auth: { method: xoauth2, user: a@example.de, tokenCommand: get-token } } } }';
  it('a mailbox naming an unknown relay, a relay named "default", auth beside user/password and an xoauth2 login without a token source are refused, each at its key', () => {
    const problems = problemsOf(file([...base, 'mailboxes: [ { name: support, addresses: [support@example.com], relay: m356 } ]', 'outgoing: { transport: smtp, smtp: { host: mail.example.com, user: x, auth: { method: password, user: x, password: y } }, relays: { default: { host: a.example }, m365: { host: smtp.office365.com, auth: { method: xoauth2, user: a@example.de } } } }'].join('\n')));
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p.message]));
    expect(byPath['outgoing.smtp.auth']).toMatch(/give auth or user\/password, not both/);
    expect(byPath['outgoing.relays.m365.auth']).toMatch(/give accessTokenEnv or tokenCommand/);
    expect(byPath['outgoing.relays.default']).toMatch(/"default" is outgoing\.smtp itself/);
    const unknown = problemsOf(file([...base, 'mailboxes: [ { name: support, addresses: [support@example.com], relay: m356 } ]', smtp].join('\n')));
    expect(unknown).toEqual([expect.objectContaining({ path: 'mailboxes.0.relay', message: 'no relay "m356" in outgoing.relays (known: default, m365)' })]);
  });
  it('a relay with transport file is refused; a mailbox naming its relay or "default" is fine', () => {
    expect(problemsOf(file([...base, 'mailboxes: [ { name: support, addresses: [support@example.com], relay: m365 }, { name: sales, addresses: [sales@example.com], relay: default } ]', smtp].join('\n')))).toEqual([]);
    const file_ = problemsOf(file([...base, 'mailboxes: [ { name: support, addresses: [support@example.com], relay: m365 } ]', smtp.replace('transport: smtp', 'transport: file')].join('\n')));
    expect(file_).toEqual([expect.objectContaining({ path: 'mailboxes.0.relay', message: expect.stringMatching(/needs outgoing\.transport: smtp/) })]);
  });
});
