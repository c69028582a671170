import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliSandbox, describeResult } from '../helpers/cli.js';
// Commands run in this process, as CliSandbox.run does (the binary's command code, cwd and environment borrowed).
import { runCliInProcess } from '../helpers/cli-in-process.js';

/** A broken configuration: every problem at once, each with its key path, exit 78 (EX_CONFIG). */

/** Field-level problems (each key checked on its own). */
const BAD_FIELDS = `# several independent problems
dataDir: data
instance:
  secret: short
  name: \${CASEGATE_TEST_SURELY_UNSET_VAR}
log:
  level: loud
listener:
  port: 99999
mailboxes:
  - name: Support Desk
    addresses: [support@example.com, not-an-address]
`;

/** Cross-field problems (checked across keys once every field is valid). */
const BAD_ACROSS = `dataDir: data
mailboxes:
  - name: support
    addresses: [support@example.com]
  - name: support
    addresses: [SUPPORT@example.com]
outgoing:
  transport: smtp
autoReply:
  neverTo: ['(unclosed']
`;

const FIELD_PROBLEMS = [
  'instance.name: environment variable CASEGATE_TEST_SURELY_UNSET_VAR is not set',
  'instance.secret: ',
  'log.level: ',
  'listener.port: ',
  'mailboxes.0.name: use lower-case letters, digits, - and _',
  'mailboxes.0.addresses.1: must be a plain email address',
];
const ACROSS_PROBLEMS = [
  'mailboxes.1.name: duplicate mailbox name "support"',
  'mailboxes.1.addresses.0: address support@example.com is already served by mailbox "support"',
  'outgoing.smtp: required when outgoing.transport is "smtp"',
  'autoReply.neverTo.0: invalid regular expression',
];

function expectProblems(stderr: string, paths: readonly string[]): void {
  for (const path of paths) expect(stderr, `missing "${path}" in:\n${stderr}`).toContain(`\n  ${path}`);
  // The count in the header matches the listed lines, and a config problem is not a crash.
  const count = /(\d+) configuration problem\(s\)/.exec(stderr);
  expect(Number(count?.[1])).toBe(stderr.trimEnd().split('\n').filter((l) => /^ {2}\S/.test(l)).length);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('configuration errors', () => {
  let box: CliSandbox;
  let across: CliSandbox;
  beforeAll(() => {
    box = CliSandbox.withRawConfig(BAD_FIELDS);
    across = CliSandbox.withRawConfig(BAD_ACROSS);
  });
  afterAll(() => {
    box.cleanup();
    across.cleanup();
  });

  it('`casegate --config bad.yaml cases list` → exit 78 and stderr lists every field problem with its key path', async () => {
    const r = await box.run(['cases', 'list'], { env: { CASEGATE_TEST_SURELY_UNSET_VAR: undefined } });
    expect(r.code, describeResult(r)).toBe(78);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`casegate: ${box.configPath}: `);
    expectProblems(r.stderr, FIELD_PROBLEMS);
  });

  it('cross-field problems (duplicate names and addresses, missing outgoing.smtp, bad regex) → 78, every one listed', async () => {
    const r = await across.run(['cases', 'list']);
    expect(r.code, describeResult(r)).toBe(78);
    expectProblems(r.stderr, ACROSS_PROBLEMS);
  });

  it('field-level and cross-field problems in one file are all reported at once', async () => {
    const both = CliSandbox.withRawConfig(BAD_ACROSS.replace('dataDir: data\n', 'dataDir: data\nlog:\n  level: loud\n'));
    try {
      const r = await both.run(['cases', 'list']);
      expect(r.code, describeResult(r)).toBe(78);
      expectProblems(r.stderr, ['log.level: ', ...ACROSS_PROBLEMS]);
    } finally {
      both.cleanup();
    }
  });

  it('the same problems through CASEGATE_CONFIG, for any command (config, status) → 78', async () => {
    const runs = await Promise.all([['config'], ['status', '--json']].map((cmd) => runCliInProcess(cmd, { cwd: box.dir, env: { HOME: box.dir, CASEGATE_CONFIG: 'casegate.yaml' } })));
    for (const r of runs) {
      expect(r.code, describeResult(r)).toBe(78);
      expect(r.stderr).toContain('\n  mailboxes.0.addresses.1: ');
    }
  });

  it('typos in keys (`listner:`, `secrett:`, `adresses:`) → 78, each with a "did you mean" hint, all at once', async () => {
    const typos = CliSandbox.withRawConfig(
      ['dataDir: data', 'instance:', '  secrett: x', 'listner:', '  port: 2526', 'mailboxes:', '  - name: support', '    addresses: [support@example.com]', '    adresses: [help@example.com]'].join('\n'),
    );
    try {
      const r = await typos.run(['cases', 'list']);
      expect(r.code, describeResult(r)).toBe(78);
      expectProblems(r.stderr, [
        'listner: unknown key "listner": did you mean "listener"?',
        'instance.secrett: unknown key "secrett": did you mean "secret"?',
        'mailboxes.0.adresses: unknown key "adresses": did you mean "addresses"?',
      ]);
    } finally {
      typos.cleanup();
    }
  });

  it('commands that need no mailbox password work without the IMAP password variable; `config` (and the daemon) report it', async () => {
    const imap = CliSandbox.withRawConfig(
      [
        'dataDir: data',
        'mailboxes:',
        '  - name: support',
        '    addresses: [support@example.com]',
        '    imap:',
        '      host: imap.example.com',
        '      auth: { method: password, user: support@example.com, password: "${CASEGATE_TEST_IMAP_PW_UNSET}" }',
      ].join('\n'),
    );
    try {
      const list = await imap.run(['cases', 'list'], { env: { CASEGATE_TEST_IMAP_PW_UNSET: undefined } });
      expect(list.code, describeResult(list)).toBe(0);
      const check = await imap.run(['config'], { env: { CASEGATE_TEST_IMAP_PW_UNSET: undefined } });
      expect(check.code, describeResult(check)).toBe(78);
      expect(check.stderr).toContain('\n  mailboxes.0.imap.auth.password: environment variable CASEGATE_TEST_IMAP_PW_UNSET is not set');
    } finally {
      imap.cleanup();
    }
  });

  it('migrate-data with a wrong --from or --to, or a SQLite file that is not there: one line, exit 1, no stack trace', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'casegate-migrate-args-')));
    try {
      const cases: [string[], RegExp][] = [
        [['--from', 'data/casegate.db', '--to', 'postgres://db/casegate'], /^casegate migrate-data: --from must be sqlite:PATH, e\.g\. sqlite:\/var\/lib\/casegate\/casegate\.db \(got "data\/casegate\.db"\)\n$/],
        [['--from', 'sqlite:nope.db', '--to', 'postgres://db/casegate'], /^casegate migrate-data: \S+\/nope\.db does not exist \(--from names the SQLite file: database\.path, default <dataDir>\/casegate\.db\)\n$/],
      ];
      for (const [args, want] of cases) {
        const r = await runCliInProcess(['migrate-data', ...args], { cwd: dir, env: { HOME: dir } });
        expect(r.code, describeResult(r)).toBe(1);
        expect(r.stderr).toMatch(want);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a YAML syntax error → 78 with the line; a missing file → 78 "cannot read"', async () => {
    const syntax = CliSandbox.withRawConfig('instance:\n  name: ok\nlistener: {\n');
    try {
      const r = await syntax.run(['cases', 'list']);
      expect(r.code, describeResult(r)).toBe(78);
      expect(r.stderr).toMatch(/\(file\): YAML syntax error at line \d+/);
      const missing = await runCliInProcess(['--config', 'nope.yaml', 'cases', 'list'], { cwd: syntax.dir, env: { HOME: syntax.dir } });
      expect(missing.code, describeResult(missing)).toBe(78);
      expect(missing.stderr).toContain(`${syntax.dir}/nope.yaml: 1 configuration problem(s):\n  (file): cannot read: ENOENT`);
      // In words, with where the name came from.
      expect(missing.stderr).toContain('cannot read: ENOENT, no such file (--config or CASEGATE_CONFIG names it');
    } finally {
      syntax.cleanup();
    }
  });

  it('`casegate config explain ADDRESS` says which mailbox, rule, queue, priority, calendar, SLA and templates a new message gets; exit 1 for an address no mailbox serves', async () => {
    const cfg = CliSandbox.withRawConfig(
      [
        'dataDir: data',
        'instance: { domain: example.com }',
        'mailboxes:',
        '  - { name: support, addresses: [support@example.com] }',
        '  - { name: billing-de, addresses: [rechnung@example.de], queue: finance-de }',
        'queues:',
        '  finance-de: { language: de, calendar: berlin, slaPolicy: finance, agents: [{ name: Birgit, address: birgit@staff.example.com }] }',
        'rules:',
        '  - { name: vip, match: { senderDomain: acme.example }, set: { priority: high } }',
        'sla:',
        '  calendars: { berlin: { zone: Europe/Berlin, holidays: { country: DE } } }',
        '  policies: { finance: { targets: { high: { firstResponse: 2h, resolution: 1h30m } } } }',
      ].join('\n'),
    );
    try {
      const r = await cfg.run(['config', 'explain', 'rechnung@example.de', '--from', 'x@eu.acme.example', '--subject', 'Rechnung']);
      expect(r.code, describeResult(r)).toBe(0);
      expect(r.stdout).toContain('mailbox      billing-de (our mail From casegate Support <rechnung@example.de>; SMTP listener or casegate ingest)\n');
      expect(r.stdout).toContain('rule         vip (rules.0) sets {"priority":"high"}\n');
      expect(r.stdout).toContain('queue        finance-de — by mailbox billing-de\n');
      expect(r.stdout).toContain('language     de — by queues.finance-de.language\n');
      expect(r.stdout).toMatch(/\ncalendar     berlin \(Europe\/Berlin\) — by queues\.finance-de\.calendar; (open now|closed now, opens \w{3} \d+ \w{3}, \d\d:\d\d Europe\/Berlin)\n/);
      expect(r.stdout).toContain('sla          policy finance — by queues.finance-de.slaPolicy: first response 2h, resolution 1h30m (business-hours)\n');
      expect(r.stdout).toContain('notified     Birgit <birgit@staff.example.com>\n');
      expect(r.stdout).toContain('             text    de/confirmation.text.hbs (shipped with casegate)\n');
      const json = await cfg.run(['config', 'explain', 'support@example.com', '--json']);
      expect(json.code, describeResult(json)).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({ mailbox: { name: 'support' }, queue: { name: 'support', configured: false }, sla: { policy: '' }, staff: { notified: [] } });
      // A real message: its sender, To, Cc, subject and Content-Language decide.
      const eml = cfg.write('wrong-queue.eml', 'From: Max <max@acme.example>\r\nTo: info@example.org\r\nCc: Rechnung@example.de\r\nSubject: Rechnung fehlt\r\nContent-Language: de\r\n\r\nHallo\r\n');
      const fromFile = await cfg.run(['config', 'explain', '--eml', eml, '--json']);
      expect(fromFile.code, describeResult(fromFile)).toBe(0);
      expect(JSON.parse(fromFile.stdout)).toMatchObject({ mailbox: { name: 'billing-de' }, rule: { name: 'vip' }, priority: { level: 'high' }, language: { code: 'de', by: 'Content-Language de' } });
      const none = await cfg.run(['config', 'explain', 'sales@example.com']);
      expect(none.code, describeResult(none)).toBe(1);
      expect(none.stdout).toContain('no mailbox serves these addresses');
    } finally {
      cfg.cleanup();
    }
  });

  it('`casegate config` checks the templates against the configuration as the daemon\'s start does: a queue renamed while its template folder keeps the old name → 78, not "OK" and then a daemon that does not start', async () => {
    const text = (queue: string) => ['dataDir: data', 'instance: { domain: example.com }', 'templates: { dir: tpl }', 'mailboxes:', `  - { name: ${queue}, addresses: [support@example.de] }`].join('\n');
    const box = CliSandbox.withRawConfig(text('support-de'));
    try {
      box.write('tpl/support-de/confirmation.text.hbs', '{{replyMarker}}\nDanke.\n');
      const ok = await box.run(['config']);
      expect(ok.code, describeResult(ok)).toBe(0);
      box.write('casegate.yaml', text('de-support'));
      const r = await box.run(['config']);
      expect(r.code, describeResult(r)).toBe(78);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('have problems with this configuration: the daemon would not start (exit 78) and a reload would be refused:\n  support-de/: Folder "support-de" is neither a configured queue nor a configured language');
    } finally {
      box.cleanup();
    }
  });
});
