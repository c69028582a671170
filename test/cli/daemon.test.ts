import { mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { describeResult, jsonLines, spawnCli, type CliProcess } from '../helpers/cli.js';
// One-shot commands run in this process (the binary's command code, test/helpers/cli-in-process.ts); the daemon is a process of its own.
import { runCliInProcess } from '../helpers/cli-in-process.js';

/**
 * The embedded default (no config file, no CASEGATE_CONFIG: everything under ./data) and the
 * daemon as `casegate start` runs it: real SMTP in, a confirmation .eml out, SIGTERM to stop.
 */

const running: CliProcess[] = [];
afterEach(() => {
  // Never leave a daemon behind, even when a test failed half-way.
  for (const p of running.splice(0)) p.kill('SIGKILL');
});

function start(cwd: string, env: Record<string, string | undefined>): CliProcess {
  const p = spawnCli(['start'], { cwd, env: { HOME: cwd, ...env } });
  running.push(p);
  return p;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('embedded default configuration', () => {
  let dir: string;
  beforeAll(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'casegate-cli-default-')));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('`casegate config` in an empty directory prints the embedded default: ./data, 127.0.0.1:2525, file transport, support@localhost', async () => {
    const r = await runCliInProcess(['config'], { cwd: dir, env: { HOME: dir } });
    expect(r.code, describeResult(r)).toBe(0);
    const shown = JSON.parse(r.stdout) as {
      source: string;
      paths: Record<string, string>;
      config: { listener: { host: string; port: number }; outgoing: { transport: string }; mailboxes: { name: string; addresses: string[] }[]; instance: Record<string, unknown> };
    };
    expect(shown.source).toBe('embedded default');
    expect(shown.paths).toMatchObject({
      dataDir: join(dir, 'data'),
      dbPath: join(dir, 'data', 'casegate.db'),
      outgoingDir: join(dir, 'data', 'outgoing'),
      blobDir: join(dir, 'data', 'blobs'),
    });
    expect(shown.config.listener).toMatchObject({ host: '127.0.0.1', port: 2525 });
    expect(shown.config.outgoing.transport).toBe('file');
    expect(shown.config.mailboxes).toEqual([{ name: 'support', addresses: ['support@localhost'], plusAddressing: false, formSenders: [], verp: false, verpSeparator: '+' }]);
    // The generated secret lives in ./data/secret and is not printed.
    const secret = readFileSync(join(dir, 'data', 'secret'), 'utf8').trim();
    expect(secret.length).toBeGreaterThanOrEqual(16);
    expect(r.stdout).not.toContain(secret);
  });

  it('`casegate config` hides configured secrets and passwords', async () => {
    const cfg = join(dir, 'secret.yaml');
    writeFileSync(cfg, 'instance:\n  secret: very-secret-value-0123456789-0123456789\noutgoing:\n  transport: smtp\n  smtp:\n    host: smtp.example.com\n    password: hunter2-password\n');
    const r = await runCliInProcess(['--config', cfg, 'config'], { cwd: dir, env: { HOME: dir } });
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout).not.toContain('very-secret-value');
    expect(r.stdout).not.toContain('hunter2');
    const shown = JSON.parse(r.stdout) as { source: string; config: { instance: { secret: string }; outgoing: { smtp: { password: string } } } };
    expect(shown.source).toBe(cfg);
    expect(shown.config.instance.secret).toBe('***');
    expect(shown.config.outgoing.smtp.password).toBe('***');
  });

  it('a command without --config or CASEGATE_CONFIG and no ./data database yet says it runs on a new, empty one (a purge there would "remove 0 cases" of the wrong database)', async () => {
    const empty = realpathSync(mkdtempSync(join(tmpdir(), 'casegate-cli-default-note-')));
    try {
      const first = await runCliInProcess(['purge', '--requester', 'jane@customer.example'], { cwd: empty, env: { HOME: empty } });
      expect(first.code, describeResult(first)).toBe(0);
      expect(first.stderr).toBe(`casegate: note: no configuration given (--config FILE or CASEGATE_CONFIG) and no database at ${join(empty, 'data', 'casegate.db')}: this runs on the embedded default, with a new, empty database in ${join(empty, 'data')}\n`);
      // The README tour's ./data exists now: no note; nor with a configuration file.
      const again = await runCliInProcess(['status'], { cwd: empty, env: { HOME: empty } });
      expect(again.stderr).not.toContain('note:');
      writeFileSync(join(empty, 'casegate.yaml'), 'dataDir: other\n');
      const configured = await runCliInProcess(['status'], { cwd: empty, env: { HOME: empty, CASEGATE_CONFIG: 'casegate.yaml' } });
      expect(configured.stderr).not.toContain('note:');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('`casegate start` with no config listens on 127.0.0.1:2525 (or, if that port is taken on this machine, fails saying so)', async () => {
    const empty = realpathSync(mkdtempSync(join(tmpdir(), 'casegate-cli-default-start-')));
    try {
      const daemon = start(empty, {});
      // Either the listener comes up, or the process exits (waitForLine rejects then).
      const line = await daemon.waitForLine(/"msg":"smtp listener ready"/, 20_000).catch(() => null);
      if (line !== null) {
        expect(JSON.parse(line)).toMatchObject({ host: '127.0.0.1', port: 2525 });
        const started = JSON.parse(await daemon.waitForLine(/"msg":"casegate started"/)) as Record<string, unknown>;
        expect(started).toMatchObject({ config: 'embedded default', database: join(empty, 'data', 'casegate.db'), smtp: '127.0.0.1:2525', outgoing: `file:${join(empty, 'data', 'outgoing')}` });
        daemon.child.kill('SIGTERM');
        const exit = await daemon.exited;
        expect(exit.code, daemon.stderr()).toBe(0);
      } else {
        // Port 2525 is in use by something else here: the daemon must say which address it wanted.
        console.warn('[cli tests] 127.0.0.1:2525 is busy on this machine: checked the embedded default via the EADDRINUSE error instead of a running listener');
        const exit = await daemon.exited;
        expect(exit.code, daemon.stdout()).not.toBe(0);
        expect(daemon.stderr()).toMatch(/EADDRINUSE.*127\.0\.0\.1:2525/);
      }
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('a port that is taken at start', () => {
  let dir: string;
  let blocker: Server;
  let taken: number;
  beforeAll(async () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'casegate-cli-port-taken-')));
    blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    taken = (blocker.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => blocker.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['ops', (port: number) => `listener:\n  port: 0\nops:\n  enabled: true\n  port: ${port}\n`, 'ops.host / ops.port'],
    ['web', (port: number) => `listener:\n  port: 0\nweb:\n  enabled: true\n  port: ${port}\n`, 'web.host / web.port'],
    ['listener', (port: number) => `listener:\n  port: ${port}\n`, 'listener.host / listener.port'],
  ])('the %s port: one line naming the keys that chose it, exit 1, no stack trace in the log', async (_which, yaml, keys) => {
    writeFileSync(join(dir, 'casegate.yaml'), yaml(taken));
    const daemon = start(dir, { CASEGATE_CONFIG: 'casegate.yaml' });
    const exit = await daemon.exited;
    expect(exit.code, daemon.stderr()).toBe(1);
    expect(daemon.stderr()).toBe(`casegate: cannot listen: listen EADDRINUSE: address already in use 127.0.0.1:${taken} (see ${keys})\n`);
    expect(daemon.stdout()).not.toMatch(/"stack"|    at /);
  });
});

describe('a data directory casegate cannot write', () => {
  let dir: string;
  beforeAll(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'casegate-cli-datadir-')));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a file where the data directory should be: one line naming the path and the keys, not "cannot listen … (see listener.port)" or a stack', async () => {
    writeFileSync(join(dir, 'data'), 'not a directory\n');
    writeFileSync(join(dir, 'casegate.yaml'), 'listener:\n  port: 0\n');
    const daemon = start(dir, { CASEGATE_CONFIG: 'casegate.yaml' });
    const exit = await daemon.exited;
    expect(exit.code, daemon.stderr()).toBe(1);
    expect(daemon.stderr()).toMatch(new RegExp(`^casegate: cannot (mkdir|open) ${join(dir, 'data').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\S*: (EEXIST|ENOTDIR) \\(a file stands where a directory is needed\\); if it is one of casegate's own paths \\(dataDir, database\\.path, outgoing\\.fileDir: .*\\n$`));
    expect(daemon.stderr()).not.toMatch(/ {4}at |cannot listen/);
  });

  it('permission denied (a data directory another user made): names the user and the fix, not "cannot listen … (see listener.host / listener.port)"', async () => {
    const { exitCodeFor } = await import('../../src/cli/program.js');
    // What fs throws when the daemon's user may not write the data directory (here: the secret).
    const denied = Object.assign(new Error("EACCES: permission denied, open '/var/lib/casegate/secret.1.tmp'"), { code: 'EACCES', errno: -13, syscall: 'open', path: '/var/lib/casegate/secret.1.tmp' });
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
    let code: number;
    try {
      code = await exitCodeFor(denied);
    } finally {
      process.stderr.write = write;
    }
    expect(code).toBe(1);
    expect(written.join('')).toMatch(/^casegate: cannot open \/var\/lib\/casegate\/secret\.1\.tmp: EACCES \(permission denied for user \S+, uid \d+\)\. .*the data directory .* must belong to the user casegate runs as: .*chown -R casegate: \/var\/lib\/casegate\); see docs\/security\.md\n$/);
    expect(written.join('')).not.toContain('listener');
  });
});

describe('casegate start (the daemon) as a child process', () => {
  let dir: string;
  beforeAll(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'casegate-cli-daemon-')));
    // Only the port differs from the embedded default; everything else (./data, file transport) is default.
    writeFileSync(join(dir, 'casegate.yaml'), 'listener:\n  port: 0\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes mail over SMTP, writes the confirmation to ./data/outgoing, shares its database with the CLI, and stops cleanly on SIGTERM', async () => {
    const daemon = start(dir, { CASEGATE_CONFIG: 'casegate.yaml' });
    const ready = JSON.parse(await daemon.waitForLine(/"msg":"smtp listener ready"/, 20_000)) as { host: string; port: number };
    expect(ready.host).toBe('127.0.0.1');
    expect(ready.port).toBeGreaterThan(0);
    const started = JSON.parse(await daemon.waitForLine(/"msg":"casegate started"/)) as Record<string, unknown>;
    expect(started).toMatchObject({ config: join(dir, 'casegate.yaml'), database: join(dir, 'data', 'casegate.db'), outgoing: `file:${join(dir, 'data', 'outgoing')}` });

    const marker = 'DAEMON-BODY-MARKER-8e21';
    const client = nodemailer.createTransport({ host: '127.0.0.1', port: ready.port, secure: false, ignoreTLS: true });
    const info = await client.sendMail({
      from: 'Jane Customer <jane@customer.example>',
      to: 'support@localhost',
      subject: 'Laptop will not boot',
      text: `${marker}\nIt shows a blinking cursor.`,
      messageId: '<daemon-1@customer.example>',
    });
    client.close();
    expect(info.response).toMatch(/^250 .*Stored in case 10001/);

    // The outbox worker writes the confirmation as an .eml file (transport "file").
    const outgoing = join(dir, 'data', 'outgoing');
    const confirmation = await waitFor('a confirmation .eml in data/outgoing', 10_000, () => {
      let names: string[];
      try {
        names = readdirSync(outgoing).filter((n) => n.endsWith('.eml'));
      } catch {
        return undefined;
      }
      return names.map((n) => readFileSync(join(outgoing, n), 'utf8')).find((t) => t.includes('[Case #10001]'));
    });
    expect(confirmation).toMatch(/^To: .*jane@customer\.example/m);
    expect(confirmation).toMatch(/^Subject: \[Case #10001\] /m);
    expect(confirmation).toMatch(/^In-Reply-To: <daemon-1@customer\.example>/m);

    // While the daemon runs, the CLI in the same directory sees the case: through the same
    // config, and through the embedded default (which resolves to the same ./data/casegate.db).
    const [viaConfig, viaDefault] = await Promise.all([
      runCliInProcess(['cases', 'list', '--json'], { cwd: dir, env: { HOME: dir, CASEGATE_CONFIG: 'casegate.yaml' } }),
      runCliInProcess(['cases', 'list', '--json'], { cwd: dir, env: { HOME: dir } }),
    ]);
    for (const r of [viaConfig, viaDefault]) {
      expect(r.code, describeResult(r)).toBe(0);
      const rows = JSON.parse(r.stdout) as { number: number; subject: string; requester_address: string }[];
      expect(rows.map((c) => [c.number, c.subject, c.requester_address])).toEqual([[10001, 'Laptop will not boot', 'jane@customer.example']]);
    }

    // The daemon logs (JSON on stdout): one line for the outcome, never the body.
    const stored = jsonLines(daemon.stdout()).filter((l) => l['msg'] === 'message stored');
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ messageId: 'daemon-1@customer.example', outcome: 'stored', caseNumber: 10001, channel: 'smtp' });
    await daemon.waitForLine(/"msg":"email sent"/, 10_000);

    const t0 = Date.now();
    daemon.child.kill('SIGTERM');
    const exit = await Promise.race([daemon.exited, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`daemon still running 8 s after SIGTERM\n${daemon.stdout()}\n${daemon.stderr()}`)), 8_000))]);
    expect(exit.code, daemon.stderr()).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(daemon.stdout()).toMatch(/"msg":"casegate stopping"/);
    expect(daemon.stdout()).not.toContain(marker);
    expect(daemon.stderr()).not.toContain(marker);
  });
});
