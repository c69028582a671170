/**
 * One-shot commands start fast (issue 12): a command loads only its own group's modules, and
 * reuses a template set whose content already passed the checks instead of checking and
 * trial-rendering every template again. Speed itself is measured by `npm run bench`-style timing
 * in the report, never asserted here; these tests assert the behaviour that makes it fast and safe.
 */
import { isAscii } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shebangNodeFlags } from '../../build/code-cache.js';
import { codeCacheFile } from '../../src/cli/code-cache.js';
import { CODE_CACHED_COMMANDS } from '../../src/cli/command-name.js';
import { eml } from '../helpers/context.js';
import { childEnv, CliSandbox, describeResult, REPO_ROOT, spawnCli } from '../helpers/cli.js';
import { eventually, sentTo } from '../helpers/daemon.js';
import { openSmtpSession } from '../helpers/smtp-probe.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';

interface LogLine {
  msg: string;
  checked?: boolean;
}

function logLines(stderr: string): LogLine[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

/** Every command here is a new casegate process: what is tested is what a process does at its start. */
const PROCESS = { childProcess: true } as const;

describe('one-shot commands and the template check cache', () => {
  let box: CliSandbox;
  let templates: string;
  beforeAll(() => {
    // Its own copy of the templates (templates.dir is relative to the config file).
    box = CliSandbox.create({ templates: { dir: 'templates', watch: false } }, { firstStart: true });
    templates = join(box.dir, 'templates');
    cpSync(join(REPO_ROOT, 'templates'), templates, { recursive: true });
  });
  afterAll(() => box.cleanup());

  it('the first ingest checks the templates, the next ones reuse the checked set; both store the message', async () => {
    const first = await box.run(['ingest', box.write('a.eml', eml({ messageId: 'a@customer.example', subject: 'First' }))], PROCESS);
    expect(first.code, describeResult(first)).toBe(0);
    expect(first.stdout).toMatch(/stored \(case 10001\)/);
    expect(logLines(first.stderr).find((l) => l.msg === 'email templates loaded')?.checked).toBe(true);
    // Its first line: the fingerprint; then one signed line per compiled template (template-set.ts).
    const cacheLines = readFileSync(join(box.dataDir, 'template-check.json'), 'utf8').trimEnd().split('\n');
    expect(JSON.parse(cacheLines[0]!)).toMatchObject({ hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(cacheLines.length).toBeGreaterThan(100);

    const second = await box.run(['ingest', box.write('b.eml', eml({ messageId: 'b@customer.example', subject: 'Second' }))], PROCESS);
    expect(second.code, describeResult(second)).toBe(0);
    expect(second.stdout).toMatch(/stored \(case 10002\)/);
    expect(logLines(second.stderr).find((l) => l.msg === 'email templates loaded')?.checked).toBe(false);
  });

  it('a template edited into an error is checked again: the MTA gets 75 (retry later) with the problem named; read-only commands still work', async () => {
    const file = join(templates, 'confirmation.subject.hbs');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, '{{case.tag}} {{case.subjcet}}');
    try {
      const r = await box.run(['ingest', box.write('c.eml', eml({ messageId: 'c@customer.example' }))], PROCESS);
      expect(r.code, describeResult(r)).toBe(75);
      expect(r.stderr).toContain('confirmation.subject.hbs:1 Unknown variable "case.subjcet" (did you mean "case.subject"?)');
      // Commands that send and render nothing load no templates: a broken set does not stop them.
      for (const args of [['cases', 'list'], ['cases', 'show', '10001', '--json'], ['status']]) {
        const ro = await box.run(args, PROCESS);
        expect(ro.code, describeResult(ro)).toBe(0);
        expect(ro.stderr).not.toContain('subjcet');
      }
      // A command that writes mail does refuse it.
      const work = await box.run(['cases', 'note', '10001', '--message', 'checked', '--agent', 'x@example.com'], PROCESS);
      expect(work.code, describeResult(work)).not.toBe(0);
      expect(work.stderr, describeResult(work)).toContain('subjcet');
    } finally {
      writeFileSync(file, good);
    }
    const again = await box.run(['ingest', box.write('c.eml', eml({ messageId: 'c@customer.example' }))], PROCESS);
    expect(again.code, describeResult(again)).toBe(0);
  });

  it('help still lists every command group (all groups are loaded for it)', async () => {
    const r = await box.run(['--help'], PROCESS);
    expect(r.code, describeResult(r)).toBe(0);
    for (const cmd of ['start', 'migrate', 'ingest', 'cases', 'quarantine', 'status', 'templates', 'config']) expect(r.stdout).toMatch(new RegExp(`\\n  ${cmd}\\b`));
    const unknown = await box.run(['frobnicate'], PROCESS);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
  });
});

describe("the daemon's start and the template check cache", () => {
  let box: CliSandbox;
  let sink: SmtpSink;
  let templates: string;
  beforeAll(async () => {
    sink = await startSmtpSink();
    box = CliSandbox.create(
      {
        templates: { dir: 'templates', watch: false },
        listener: { port: 0 },
        outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false }, sweepSeconds: 1 },
      },
      { firstStart: true },
    );
    templates = join(box.dir, 'templates');
    cpSync(join(REPO_ROOT, 'templates'), templates, { recursive: true });
  });
  afterAll(async () => {
    box.cleanup();
    await sink.close();
  });

  /** Start the daemon, return whether it checked the templates and its listener's port; stop() ends it. */
  async function start(): Promise<{ checked: boolean | undefined; port: number; stop: () => Promise<void> }> {
    const proc = spawnCli(['--config', box.configPath, 'start'], { cwd: box.dir, env: { HOME: box.dir } });
    try {
      const loaded = JSON.parse(await proc.waitForLine(/"msg":"email templates loaded"/, 30_000)) as LogLine;
      const port = (JSON.parse(await proc.waitForLine(/"msg":"smtp listener ready"/, 30_000)) as { port: number }).port;
      await proc.waitForLine(/"msg":"casegate started"/, 30_000);
      // MIME work (parsing inbound, building outgoing) is done on the daemon's MIME thread (mime.parseThread, on by default).
      await proc.waitForLine(/"msg":"MIME work on a thread of its own/, 30_000);
      return {
        checked: loaded.checked,
        port,
        stop: async () => {
          proc.kill('SIGTERM');
          expect((await proc.exited).code).toBe(0);
        },
      };
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    }
  }

  it('checks a set it has not seen, reuses it at the next start (and renders from it), checks an edited one again and refuses it', async () => {
    rmSync(join(box.dataDir, 'template-check.json'), { force: true });
    const first = await start();
    expect(first.checked).toBe(true);
    // The blob store's 256 directories are made at the start, not by the first messages.
    expect(readdirSync(join(box.dataDir, 'blobs')).filter((d) => /^[0-9a-f]{2}$/.test(d))).toHaveLength(256);
    await first.stop();

    const second = await start();
    expect(second.checked).toBe(false);
    // The reused set renders: a message through the listener (parsed and its confirmation built on the MIME thread) gets its confirmation.
    const smtp = await openSmtpSession(second.port);
    try {
      for (const line of ['EHLO customer.example', 'MAIL FROM:<jane@customer.example>', 'RCPT TO:<support@example.com>', 'DATA']) await smtp.command(line);
      const data = eml({ messageId: 'daemon-start@customer.example', subject: 'Printer on fire' }).replace(/^\./gm, '..');
      expect((await smtp.command(`${data}.`)).reply).toMatch(/^250/);
    } finally {
      smtp.close();
    }
    await eventually(() => expect(sentTo(sink, 'jane@customer.example', /Printer on fire/)).toHaveLength(1));
    expect(sentTo(sink, 'jane@customer.example')[0]!.parsed.text).toMatch(/10001/);
    await second.stop();

    const file = join(templates, 'confirmation.subject.hbs');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, '{{case.tag}} {{case.subjcet}}');
    try {
      const refused = await box.run(['start'], { timeoutMs: 30_000 });
      expect(refused.code, describeResult(refused)).toBe(78);
      expect(refused.stderr).toContain('templates have problems, not starting:\n  confirmation.subject.hbs:1: Unknown variable "case.subjcet" (did you mean "case.subject"?)');
    } finally {
      writeFileSync(file, good);
    }
  });
});

/**
 * `casegate ingest` runs from its own CommonJS bundle with V8's code cache (src/cli/code-cache.ts,
 * build/bundle.ts), as `casegate cases` does (tested below); every other command from the ES module
 * chunks. What is tested: the binary uses
 * the cache the build made for its flags, a run under other flags still stores the message, and
 * both builds of the command line trust each other's checked template set.
 */
describe('ingest from its code-cached bundle', () => {
  let box: CliSandbox;
  beforeAll(() => {
    box = CliSandbox.create({}, { firstStart: true });
  });
  afterAll(() => box.cleanup());
  // The build makes caches for no NODE_OPTIONS (an MTA's environment): a test environment's own would only lose the cache.
  const REPORT = { CASEGATE_CODE_CACHE_REPORT: '1', NODE_OPTIONS: undefined } as const;

  it('the build made a bundle for each code-cached command, each holding its own group only, with a cache for the binary\'s own flags and for none', () => {
    const bin = join(REPO_ROOT, 'dist', 'bin');
    const flags = shebangNodeFlags(join(bin, 'casegate.js'));
    expect(flags).toEqual(['--max-old-space-size=192', '--max-semi-space-size=2']);
    expect(CODE_CACHED_COMMANDS).toEqual(['ingest', 'cases']);
    const registers: Record<string, string> = { ingest: 'registerIngestCommands', cases: 'registerCaseCommands' };
    for (const name of CODE_CACHED_COMMANDS) {
      const file = join(bin, `${name}.cjs`);
      expect(existsSync(file), file).toBe(true);
      // ASCII (build/ascii-regex.ts): Node holds it as one byte a character.
      const bundle = readFileSync(file);
      expect(isAscii(bundle), file).toBe(true);
      for (const [group, register] of Object.entries(registers)) expect(bundle.toString('latin1').includes(`function ${register}(`), `${name}.cjs holds ${register}`).toBe(group === name);
      for (const execArgv of [flags, []]) expect(existsSync(codeCacheFile(file, execArgv, null)), `${name}.cjs ${execArgv.join(' ')}`).toBe(true);
    }
    // mailauth (senderAuth: verify) is left out and required when used: from where the bundle is, with what sender-auth.ts takes of it.
    const ingest = readFileSync(join(bin, 'ingest.cjs'), 'latin1');
    expect(ingest).toContain('require("mailauth")');
    expect(ingest).not.toMatch(/node_modules\/(mailauth|undici|joi)\//);
    expect(typeof (createRequire(join(bin, 'ingest.cjs'))('mailauth') as { authenticate?: unknown }).authenticate).toBe('function');
  });

  it('node dist/bin/casegate.js ingest (no flags) uses its cache and stores the message; the ES module build trusts the set it checked', async () => {
    const r = await box.run(['ingest', box.write('a.eml', eml({ messageId: 'cc-a@customer.example', subject: 'Cached' }))], { childProcess: true, env: REPORT });
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stderr).toMatch(/casegate: code cache used: .*ingest\.cjs\.[0-9a-f]{16}\.v8-cache/);
    expect(r.stdout).toMatch(/stored \(case 10001\)/);
    expect(logLines(r.stderr).find((l) => l.msg === 'email templates loaded')?.checked).toBe(true);
    // The same command in this process runs the ES module chunks (dist/bin/cli-run.js): no new check.
    const inProcess = await box.run(['ingest', box.write('b.eml', eml({ messageId: 'cc-b@customer.example', subject: 'Chunks' }))]);
    expect(inProcess.code, describeResult(inProcess)).toBe(0);
    expect(inProcess.stderr).not.toContain('code cache');
    expect(inProcess.stdout).toMatch(/stored \(case 10002\)/);
    expect(logLines(inProcess.stderr).find((l) => l.msg === 'email templates loaded')?.checked).toBe(false);
  });

  it('the binary run as itself (its #! line\'s flags) uses the cache made for them; the ES module build\'s checked set is trusted', async () => {
    // A command of the ES module chunks, in a process of its own, checks the set and records it.
    rmSync(join(box.dataDir, 'template-check.json'), { force: true });
    const preview = await box.run(['templates', 'preview', 'confirmation'], { childProcess: true });
    expect(preview.code, describeResult(preview)).toBe(0);
    expect(existsSync(join(box.dataDir, 'template-check.json'))).toBe(true);
    const file = box.write('d.eml', eml({ messageId: 'cc-d@customer.example', subject: 'Shebang' }));
    const r = spawnSync(join(REPO_ROOT, 'dist', 'bin', 'casegate.js'), ['--config', box.configPath, 'ingest', file], { cwd: box.dir, env: childEnv({ HOME: box.dir, ...REPORT }), encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/casegate: code cache used: /);
    expect(r.stdout).toMatch(/stored \(case 10003\)/);
    expect(logLines(r.stderr).find((l) => l.msg === 'email templates loaded')?.checked).toBe(false);
  });

  it('the bundle cuts quoted replies by their non-ASCII attribution lines (its regular expressions made ASCII by the build)', async () => {
    const replies = [
      { id: 'cc-fr', body: 'Merci, cela fonctionne.\r\n\r\nLe lun. 2 mars 2026 à 09:00, Support <support@example.com> a écrit :\r\n> Bonjour Anne,\r\n> essayez de redémarrer.\r\n', visible: 'Merci, cela fonctionne.' },
      { id: 'cc-zh', body: '谢谢，现在可以了。\r\n\r\n在 2026年3月2日 09:00，Support <support@example.com> 写道：\r\n> 请重新启动打印机。\r\n', visible: '谢谢，现在可以了。' },
    ];
    for (const [i, r] of replies.entries()) {
      const raw = ['From: Anne <anne@customer.example>', 'To: support@example.com', `Subject: Reply ${i}`, `Message-ID: <${r.id}@customer.example>`, 'Content-Type: text/plain; charset=utf-8', '', r.body].join('\r\n');
      const res = await box.run(['ingest', box.write(`${r.id}.eml`, raw)], { childProcess: true, env: REPORT });
      expect(res.code, describeResult(res)).toBe(0);
      expect(res.stderr).toContain('code cache used');
      const number = /stored \(case (\d+)\)/.exec(res.stdout)?.[1];
      const shown = await box.json<{ messages: { direction: string; visible_text: string }[] }>(['cases', 'show', number ?? '', '--json']);
      expect(shown.messages.find((m) => m.direction === 'in')?.visible_text).toBe(r.visible);
    }
  });

  it('under other Node flags there is no cache: the bundle compiles as usual and stores the message', async () => {
    const r = await box.run(['ingest', box.write('e.eml', eml({ messageId: 'cc-e@customer.example', subject: 'Flags' }))], { nodeArgs: ['--stack-size=900'], env: REPORT });
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stderr).toMatch(/casegate: code cache none: /);
    expect(r.stdout, describeResult(r)).toMatch(/stored \(case 10006\)/);
  });
});

/**
 * `casegate cases …`, what agents run all day, also runs from a code-cached bundle of its own
 * (dist/bin/cases.cjs). What is tested: the binary uses its cache, with no flags and with its own
 * #! line's, and the bundle shows, lists and changes cases exactly as the ES module chunks do.
 */
describe('cases from its code-cached bundle', () => {
  let box: CliSandbox;
  const REPORT = { CASEGATE_CODE_CACHE_REPORT: '1', NODE_OPTIONS: undefined } as const;
  beforeAll(async () => {
    box = CliSandbox.create({});
    for (const [i, subject] of ['Printer on fire', 'VPN down'].entries()) {
      const r = await box.run(['ingest', box.write(`m${i}.eml`, eml({ messageId: `cases-cc-${i}@customer.example`, subject }))]);
      expect(r.code, describeResult(r)).toBe(0);
    }
  });
  afterAll(() => box.cleanup());

  it('shows and lists cases as the ES module chunks do, from its cache', async () => {
    for (const args of [['cases', 'show', '10001', '--json'], ['cases', 'list', '--json'], ['cases', 'show', '10002']]) {
      const bundled = await box.run(args, { childProcess: true, env: REPORT });
      expect(bundled.code, describeResult(bundled)).toBe(0);
      expect(bundled.stderr).toMatch(/casegate: code cache used: .*cases\.cjs\.[0-9a-f]{16}\.v8-cache/);
      // The same command line in this process: the ES module chunks (dist/bin/cli-run.js).
      const chunks = await box.run(args);
      expect(chunks.code, describeResult(chunks)).toBe(0);
      expect(chunks.stderr).not.toContain('code cache');
      expect(bundled.stdout, args.join(' ')).toBe(chunks.stdout);
    }
    expect(JSON.parse((await box.run(['cases', 'list', '--json'], { childProcess: true })).stdout)).toHaveLength(2);
  });

  it('the binary run as itself (its #! line\'s flags) uses the cache made for them; a reply from the bundle is queued for the customer', () => {
    const r = spawnSync(join(REPO_ROOT, 'dist', 'bin', 'casegate.js'), ['--config', box.configPath, 'cases', 'reply', '10002', '--message', 'We restarted the VPN gateway.', '--json'], { cwd: box.dir, env: childEnv({ HOME: box.dir, ...REPORT }), encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/casegate: code cache used: .*cases\.cjs\./);
    const shown = spawnSync(join(REPO_ROOT, 'dist', 'bin', 'casegate.js'), ['--config', box.configPath, 'cases', 'show', '10002', '--json'], { cwd: box.dir, env: childEnv({ HOME: box.dir, ...REPORT }), encoding: 'utf8', timeout: 60_000 });
    expect(shown.status, shown.stderr).toBe(0);
    const c = JSON.parse(shown.stdout) as { messages: { direction: string; visible_text: string }[] };
    // The reply, rendered into the customer's email (the templates' greeting and footer around it).
    expect(c.messages.filter((m) => m.direction === 'out').find((m) => m.visible_text.includes('We restarted the VPN gateway.'))?.visible_text).toContain('[Case #10002]');
  });
});
