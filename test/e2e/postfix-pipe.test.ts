import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import SQLite from 'better-sqlite3';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { assertBuilt, CLI_JS } from '../helpers/cli.js';
import { writeConfig } from '../helpers/context.js';
import { lockDatabase } from '../helpers/db-locker.js';
import { until } from '../imap/imap-env.js';
import { describeWithPostfix, startPostfix, type PostfixServer } from '../helpers/postfix-server.js';

/**
 * The Postfix pipe for real (issue 13, point 5; docs/channels.md): a private Postfix takes mail
 * over SMTP and delivers it through a pipe(8) transport to the installed `casegate ingest` —
 * the same master.cf line the docs give (flags=DORX, user=, ${recipient} ${sender},
 * <transport>_destination_recipient_limit = 1), the binary as `npm install -g` installs it (a
 * symlink to dist/bin/casegate.js, run through its #! line; no npx). The retry path: while another
 * process holds the database's write lock, ingest exits 75, Postfix defers the message and keeps
 * it; once the lock is gone, `postqueue -f` delivers it, exactly once.
 */

let postfix: PostfixServer;
let dir: string;
let configFile: string;
let dbPath: string;
const nobody = (() => {
  const f = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((l) => l.split(':'))
    .find((x) => x[0] === 'nobody');
  return { uid: Number(f?.[2] ?? 65534), gid: Number(f?.[3] ?? 65534) };
})();

/** The casegate CLI as the pipe's user runs it (one-shot commands beside deliveries must not leave root-owned files). */
function cliAsNobody(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI_JS, '-c', configFile, ...args], { cwd: dir, uid: nobody.uid, gid: nobody.gid, encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function chownTree(path: string): void {
  chownSync(path, nobody.uid, nobody.gid);
  if (statSync(path).isDirectory()) for (const e of readdirSync(path)) chownTree(join(path, e));
}

async function send(to: string, subject: string, id: string): Promise<string> {
  const t = nodemailer.createTransport({ host: postfix.host, port: postfix.port, secure: false, ignoreTLS: true });
  const info = await t.sendMail({ from: 'Ann Customer <ann@customer.example>', to, subject, text: 'The printer is on fire.\n', messageId: `<${id}>` });
  t.close();
  const queued = /queued as ([0-9A-F]+)/.exec(String(info.response));
  if (queued === null) throw new Error(`postfix did not queue it: ${info.response}`);
  return queued[1]!;
}

describeWithPostfix('Postfix pipes mail into the installed `casegate ingest`', () => {
  beforeAll(async () => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), 'casegate-pipe-'));
    chmodSync(dir, 0o755);
    configFile = writeConfig(dir, {
      mailboxes: [
        { name: 'support', addresses: ['support@example.com'] },
        { name: 'billing', addresses: ['billing@example.com'], queue: 'finance' },
      ],
      listener: { enabled: false },
      database: { busyTimeoutMs: 500 },
      templates: { watch: false },
    }).source!;
    mkdirSync(join(dir, 'data'), { recursive: true });
    chownTree(join(dir, 'data'));
    dbPath = join(dir, 'data', 'casegate.db');
    // "Installed": a `casegate` on a bin path pointing at the built CLI, as `npm install -g` links it.
    mkdirSync(join(dir, 'bin'));
    chmodSync(CLI_JS, 0o755);
    symlinkSync(CLI_JS, join(dir, 'bin', 'casegate'));
    const path = `${dirname(process.execPath)}:/usr/bin:/bin`;
    postfix = await startPostfix({
      routes: { 'example.com': 'casegate:' },
      services: [
        {
          name: 'casegate',
          command: `pipe flags=DORX user=nobody argv=/usr/bin/env PATH=${path} ${join(dir, 'bin', 'casegate')} -c ${configFile} ingest --recipient \${recipient} --sender \${sender}`,
        },
      ],
      main: { casegate_destination_recipient_limit: '1', casegate_time_limit: '120s' },
    });
  }, 60_000);

  afterAll(async () => {
    await postfix?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('delivers: ingest gets the envelope recipient and sender, the case is opened in the mailbox of the recipient', async () => {
    const id = await send('support@example.com', 'Printer on fire', 'pipe-1@customer.example');
    const line = await postfix.waitForLog(new RegExp(`${id}: to=<support@example\\.com>, relay=casegate, .*status=(sent|deferred|bounced)`), 30_000);
    // The status text is what ingest says first (pipe(8) keeps 100 characters): its result line, not a log line.
    expect(line, postfix.log()).toMatch(/status=sent \(delivered via casegate service \(stdin: stored \(case 10001\) .{1,3} new case \(new\)/);
    const cases = JSON.parse(cliAsNobody(['cases', 'list', '--json']).stdout) as { number: number; subject: string; mailbox: string; requester_address: string }[];
    expect(cases).toEqual([expect.objectContaining({ subject: 'Printer on fire', mailbox: 'support', requester_address: 'ann@customer.example' })]);
    expect(await postfix.queue()).toEqual([]);
  }, 60_000);

  it('retries: database locked → exit 75 → Postfix defers and keeps the mail → after the lock, postqueue -f delivers it once', async () => {
    const locker = lockDatabase(dbPath, 120_000, nobody);
    await locker.locked;
    let id: string;
    try {
      id = await send('billing@example.com', 'Invoice twice', 'pipe-2@customer.example');
      const deferred = await postfix.waitForLog(new RegExp(`${id}: to=<billing@example\\.com>, relay=casegate, .*status=deferred`), 30_000);
      // pipe(8) reports the command's own words: the message is left for a retry because the database is locked.
      // ingest's result line first, the log lines after it (the defer reason is the start of what it printed).
      expect(deferred).toMatch(/status=deferred \(temporary failure\. Command output: stdin: retry .{1,3} commit: SQLITE_BUSY: database is locked/);
      // pipe(8) logs the deferral before the queue manager moves the file from active to deferred.
      const queue = await until(async () => {
        const q = await postfix.queue();
        return q.length === 1 && q[0]!.queue_name !== 'active' ? q : null;
      }, 'the message leaving the active queue', 15_000, 100);
      expect(queue).toHaveLength(1);
      expect(queue[0]).toMatchObject({ queue_name: 'deferred', queue_id: id, sender: 'ann@customer.example' });
      expect(queue[0]!.recipients[0]!.address).toBe('billing@example.com');
      // Nothing of it was committed.
      expect(JSON.parse(cliAsNobody(['cases', 'list', '--json']).stdout)).toHaveLength(1);
    } finally {
      locker.release();
      await locker.released;
    }
    await postfix.flush();
    const sent = await postfix.waitForLog(new RegExp(`${id!}: to=<billing@example\\.com>, relay=casegate, .*status=sent`), 30_000);
    expect(sent).toMatch(/status=sent \(delivered via casegate service/);
    expect(await postfix.queue()).toEqual([]);
    const cases = JSON.parse(cliAsNobody(['cases', 'list', '--json']).stdout) as { subject: string; mailbox: string; queue: string }[];
    expect(cases.map((c) => [c.subject, c.mailbox, c.queue]).sort()).toEqual([
      ['Invoice twice', 'billing', 'finance'],
      ['Printer on fire', 'support', 'support'],
    ]);
  }, 90_000);

  it('the stored mail carries what Postfix adds (Return-Path, Delivered-To, X-Original-To) and the envelope is recorded', () => {
    const db = new SQLite(dbPath, { readonly: true });
    try {
      const receipts = db.prepare('select envelope_from, envelope_to_json, channel, raw_sha256, outcome from receipts order by id').all() as { envelope_from: string; envelope_to_json: string; channel: string; raw_sha256: string; outcome: string }[];
      expect(receipts.map((r) => [r.channel, r.outcome, r.envelope_from, JSON.parse(r.envelope_to_json)])).toEqual([
        ['pipe', 'stored', 'ann@customer.example', ['support@example.com']],
        ['pipe', 'stored', 'ann@customer.example', ['billing@example.com']],
      ]);
      const s = receipts[1]!.raw_sha256;
      const raw = readFileSync(join(dir, 'data', 'blobs', s.slice(0, 2), s), 'utf8');
      expect(raw).toMatch(/^Return-Path: <ann@customer\.example>$/m);
      expect(raw).toMatch(/^Delivered-To: billing@example\.com$/m);
      expect(raw).toMatch(/^X-Original-To: billing@example\.com$/m);
    } finally {
      db.close();
    }
  });
});
