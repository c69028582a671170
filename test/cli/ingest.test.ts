import SQLite from 'better-sqlite3';
import pg from 'pg';
import { loadConfig } from '../../src/config/load.js';
import { peekConfig } from '../helpers/db-peek.js';
import { TEST_BACKEND } from '../helpers/test-db.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml } from '../helpers/context.js';
import { execFileSync } from 'node:child_process';
import { assertBuilt, childEnv, CLI_JS, CliSandbox, describeResult, filesUnder, runCli } from '../helpers/cli.js';

/** `casegate ingest` as an MTA (or an admin) runs it: exit codes are the contract with the MTA. */

interface PipeResultJson {
  source: string;
  outcome: { kind: string; reason: string; caseNumber?: number | null; caseId?: number | null; receiptId?: number };
  exitCode: number;
}
interface CaseJson {
  number: number;
  queue: string;
  mailbox: string;
  status: string;
  subject: string;
  requester_address: string;
}

describe('casegate ingest: files, stdin, duplicates, mailbox choice', () => {
  let box: CliSandbox;
  beforeAll(() => {
    box = CliSandbox.create();
  });
  afterAll(() => box.cleanup());

  it('one .eml file → exit 0 and the outcome with the case number; the same file again → exit 0, ignored duplicate', async () => {
    const file = box.write('first.eml', eml({ subject: 'Printer on fire', messageId: 'first@customer.example' }));
    const r = await box.run(['ingest', file]);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout).toBe(`${file}: stored (case 10001) — new case (new)\n`);

    const again = await box.run(['ingest', file]);
    expect(again.code, describeResult(again)).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ignored \\(case \\d+\\) — duplicate of receipt \\d+ \\(stored\\)\\n$`));

    const cases = await box.json<CaseJson[]>(['cases', 'list', '--json']);
    expect(cases.map((c) => c.number)).toEqual([10001]);
  });

  it('--recipient that no mailbox serves → exit 67 (EX_NOUSER: the MTA bounces it), nothing recorded — like the listener\'s 550', async () => {
    const file = box.write('nouser.eml', eml({ to: 'postmaster@example.com', subject: 'For the postmaster', messageId: 'nouser@customer.example' }));
    const r = await box.run(['ingest', '--recipient', 'postmaster@example.com'], { stdin: { file } });
    expect(r.code, describeResult(r)).toBe(67);
    expect(r.stdout).toBe('stdin: rejected — no mailbox serves postmaster@example.com\n');
    const db = peekConfig(box.configPath);
    try {
      expect(await db.all("SELECT id FROM receipts WHERE message_id = 'nouser@customer.example'")).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('reads one message from stdin (`casegate ingest < file`), reported as source "stdin"', async () => {
    const file = box.write('stdin.eml', eml({ subject: 'Sent through the pipe', messageId: 'pipe@customer.example' }));
    const results = await box.json<PipeResultJson[]>(['ingest', '--json'], { stdin: { file } });
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ source: 'stdin', exitCode: 0, outcome: { kind: 'stored', caseNumber: 10002 } });

    // The same bytes again through stdin: the duplicate is recognised, still exit 0.
    const dup = await box.run(['ingest'], { stdin: { file } });
    expect(dup.code, describeResult(dup)).toBe(0);
    expect(dup.stdout).toMatch(/^stdin: ignored \(case \d+\) — duplicate/);
  });

  it('several files at once: one text line and one JSON entry per file, in order', async () => {
    const files = ['a', 'b', 'c'].map((n) => box.write(`multi-${n}.eml`, eml({ subject: `Batch ${n}`, messageId: `batch-${n}@customer.example` })));
    const results = await box.json<PipeResultJson[]>(['ingest', '--json', ...files]);
    expect(results.map((r) => r.source)).toEqual(files);
    expect(results.map((r) => r.outcome.kind)).toEqual(['stored', 'stored', 'stored']);
    expect(results.map((r) => r.exitCode)).toEqual([0, 0, 0]);
    expect(results.map((r) => r.outcome.caseNumber)).toEqual([10003, 10004, 10005]);

    // Text output for a batch: one line per file (now all duplicates).
    const text = await box.run(['ingest', ...files]);
    expect(text.code, describeResult(text)).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    lines.forEach((l, i) => expect(l.startsWith(`${files[i]}: ignored (case ${10003 + i}) — duplicate`)).toBe(true));
  });

  it('--recipient billing@… picks the billing mailbox (and its queue) even when the To header says support@', async () => {
    const file = box.write('billing.eml', eml({ to: 'support@example.com', subject: 'Invoice 42 is wrong', messageId: 'invoice@customer.example' }));
    const [res] = await box.json<PipeResultJson[]>(['ingest', '--json', '--recipient', 'billing@example.com', file]);
    expect(res!.outcome.kind).toBe('stored');

    // Without --recipient the To header decides: support.
    const plain = box.write('support.eml', eml({ to: 'support@example.com', subject: 'Plain', messageId: 'plain@customer.example' }));
    const [res2] = await box.json<PipeResultJson[]>(['ingest', '--json', plain]);
    const cases = await box.json<CaseJson[]>(['cases', 'list', '--json']);
    const byNumber = new Map(cases.map((c) => [c.number, c]));
    expect(byNumber.get(res!.outcome.caseNumber!)).toMatchObject({ mailbox: 'billing', queue: 'finance' });
    expect(byNumber.get(res2!.outcome.caseNumber!)).toMatchObject({ mailbox: 'support', queue: 'support' });
  });

  it('an unreadable file path → non-zero exit and a message naming the file', async () => {
    const missing = `${box.dir}/does-not-exist.eml`;
    const r = await box.run(['ingest', missing]);
    expect(r.code, describeResult(r)).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr).toContain(missing);
    expect(r.stderr).toMatch(/ENOENT|no such file/i);
  });

  it('an unreadable file in the middle of a batch is reported; the files around it are still ingested', async () => {
    const good = box.write('batch-good.eml', eml({ subject: 'Good one', messageId: 'batch-good@customer.example' }));
    const missing = `${box.dir}/missing-in-batch.eml`;
    const late = box.write('batch-late.eml', eml({ subject: 'After the missing one', messageId: 'batch-late@customer.example' }));
    const r = await box.run(['ingest', '--json', good, missing, late]);
    expect(r.code, describeResult(r)).not.toBe(0);
    const results = JSON.parse(r.stdout) as PipeResultJson[];
    expect(results.map((x) => x.source)).toEqual([good, missing, late]);
    expect(results.map((x) => x.outcome.kind)).toEqual(['stored', expect.not.stringMatching(/^stored$/), 'stored']);
    expect(results[1]!.exitCode).not.toBe(0);
    expect(results[1]!.outcome.reason).toMatch(/ENOENT/);
  });

  it('an unreadable FIRST file is reported cleanly (no uncaught exception) and the files after it are still ingested', async () => {
    const missing = `${box.dir}/missing-first.eml`;
    const good = box.write('after-missing.eml', eml({ subject: 'After a missing first file', messageId: 'after-missing@customer.example' }));
    const r = await box.run(['ingest', '--json', missing, good]);
    expect(r.stderr).not.toContain("Unhandled 'error' event");
    expect(r.code).not.toBe(0);
    const results = JSON.parse(r.stdout) as PipeResultJson[];
    expect(results.map((x) => x.source)).toEqual([missing, good]);
    expect(results[1]!.outcome.kind).toBe('stored');
  });
});

describe('casegate ingest: charsets decoded by the converters the binary loads on demand', () => {
  let box: CliSandbox;
  beforeAll(() => {
    box = CliSandbox.create();
  });
  afterAll(() => box.cleanup());

  // The bundled binary leaves iconv-lite, encoding-japanese and html-to-text outside and loads them
  // (and their tables) the first time a message needs them: the decoded texts prove they loaded.
  it('ISO-2022-JP (encoding-japanese), Shift_JIS, windows-1252 and GBK (iconv-lite) subjects and bodies, and HTML-only mail (html-to-text), come out as text', async () => {
    const message = (id: string, charset: string, subject: string, body: Buffer): Buffer =>
      Buffer.concat([
        Buffer.from(`From: Customer <${id}@customer.example>\r\nTo: support@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${id}@customer.example>\r\nDate: Mon, 02 Mar 2026 08:59:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=${charset}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`, 'latin1'),
        body,
        Buffer.from('\r\n'),
      ]);
    const files = [
      box.write('jp.eml', message('jis', 'ISO-2022-JP', '=?ISO-2022-JP?B?GyRCJEYkOSRIGyhC?=', Buffer.from('\x1b$B$3$s$K$A$O\x1b(B', 'latin1'))),
      box.write('sjis.eml', message('sjis', 'Shift_JIS', '=?Shift_JIS?B?g2WDWINn?=', Buffer.from([0x82, 0xb1, 0x82, 0xf1, 0x82, 0xc9, 0x82, 0xbf, 0x82, 0xcd]))),
      box.write('cp1252.eml', message('cp', 'windows-1252', '=?windows-1252?Q?Caf=E9_cr=E8me?=', Buffer.from('d\xe9j\xe0 vu \x80 5', 'latin1'))),
      box.write('gbk.eml', message('gbk', 'GBK', '=?GB2312?B?xOO6ww==?=', Buffer.from([0xc4, 0xe3, 0xba, 0xc3, 0xca, 0xc0, 0xbd, 0xe7]))),
    ];
    const html = box.write('html.eml', message('html', 'utf-8', 'Only HTML', Buffer.from('<html><body><p>Hello <b>team</b>,</p><p>the printer&nbsp;is on fire.</p></body></html>')).toString('latin1').replace('text/plain', 'text/html'));
    const r = await box.run(['ingest', ...files, html]);
    expect(r.code, describeResult(r)).toBe(0);
    const shown = await Promise.all([10001, 10002, 10003, 10004, 10005].map((n) => box.json<{ case: { subject: string }; messages: { visible_text: string }[] }>(['cases', 'show', String(n), '--json'])));
    expect(shown.map((d) => d.case.subject)).toEqual(['てすと', 'テスト', 'Café crème', '你好', 'Only HTML']);
    expect(shown.map((d) => d.messages[0]!.visible_text.trim())).toEqual(['こんにちは', 'こんにちは', 'déjà vu € 5', '你好世界', 'Hello team,\n\nthe printer\u00a0is on fire.']);
  });
});

describe('casegate ingest: size limit → 65 and nothing stored', () => {
  let box: CliSandbox;
  beforeAll(() => {
    box = CliSandbox.create({ listener: { maxMessageBytes: 2000 } });
  });
  afterAll(() => box.cleanup());

  it('a message above listener.maxMessageBytes → exit 65 (file and stdin), no receipt, no blob', async () => {
    const big = box.write('big.eml', eml({ subject: 'Too big', body: 'too big\r\n'.repeat(500) }));
    const r = await box.run(['ingest', '--json', big]);
    expect(r.code, describeResult(r)).toBe(65);
    const [res] = JSON.parse(r.stdout) as PipeResultJson[];
    expect(res).toMatchObject({ source: big, exitCode: 65, outcome: { kind: 'rejected' } });
    expect(res!.outcome.reason).toMatch(/size limit of 2000 bytes/);

    // The MTA's way: the message on stdin.
    const viaStdin = await box.run(['ingest'], { stdin: { file: big } });
    expect(viaStdin.code, describeResult(viaStdin)).toBe(65);
    expect(viaStdin.stdout).toMatch(/^stdin: rejected — message exceeds the size limit/);

    const status = await box.json<{ receipts: Record<string, number> }>(['status', '--json']);
    expect(status.receipts).toEqual({});
    expect(filesUnder(`${box.dataDir}/blobs`)).toEqual([]);
  });

  it('a message just under the limit is stored', async () => {
    const ok = box.write('ok.eml', eml({ subject: 'Small enough', body: 'fits' }));
    const r = await box.run(['ingest', ok]);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout).toMatch(/stored \(case 10001\)/);
  });
});

describe('casegate ingest: its output is no part of the outcome', () => {
  let box: CliSandbox;
  beforeAll(() => {
    box = CliSandbox.create();
  });
  afterAll(() => box.cleanup());

  it('a reader that went away before the result line (a closed pipe: EPIPE) → still exit 0 for the stored message, not a crash the MTA bounces', async () => {
    assertBuilt();
    const file = box.write('epipe.eml', eml({ subject: 'Nobody reads my result', messageId: 'epipe@customer.example' }));
    // `| true`: the pipe's reader exits at once; every line ingest writes (log and result) meets EPIPE.
    const script = `"${process.execPath}" "${CLI_JS}" -c "${box.configPath}" ingest --recipient support@example.com < "${file}" 2>&1 | true; echo "exit=\${PIPESTATUS[0]}"`;
    const out = execFileSync('bash', ['-c', script], { env: childEnv(), encoding: 'utf8', timeout: 60_000 });
    expect(out.trim()).toBe('exit=0');
    const cases = await box.json<CaseJson[]>(['cases', 'list', '--json']);
    expect(cases.map((c) => c.subject)).toEqual(['Nobody reads my result']);
  });
});

describe('casegate ingest: exit 75 when the outcome cannot be committed', () => {
  let box: CliSandbox;
  beforeAll(async () => {
    box = CliSandbox.create({ database: { busyTimeoutMs: 200 } });
    const m = await box.run(['migrate']);
    expect(m.code, describeResult(m)).toBe(0);
  });
  afterAll(() => box.cleanup());

  it('a database locked by another process → 75 and nothing committed; after the lock is released the same message → 0 and exactly one case', async () => {
    const file = box.write('locked.eml', eml({ subject: 'While the DB is locked', messageId: 'locked@customer.example' }));
    if (TEST_BACKEND === 'postgres') {
      // PostgreSQL: another session holds the receipts table; the wait ends after lock_timeout (busyTimeoutMs).
      const resolvedConfig = loadConfig({ path: box.configPath, env: {} });
      const holderPg = new pg.Client({ connectionString: resolvedConfig.config.database.url!, options: `-c search_path=${resolvedConfig.config.database.schema}` });
      await holderPg.connect();
      try {
        await holderPg.query('BEGIN');
        await holderPg.query('LOCK TABLE receipts IN ACCESS EXCLUSIVE MODE');
        const r = await box.run(['ingest', '--json', file]);
        expect(r.code, describeResult(r)).toBe(75);
        const [res] = JSON.parse(r.stdout) as PipeResultJson[];
        expect(res!.outcome.kind).toBe('retry');
        expect(res!.outcome.reason).toMatch(/55P03|lock timeout/);
        expect((await holderPg.query('SELECT count(*)::int AS n FROM receipts')).rows).toEqual([{ n: 0 }]);
        await holderPg.query('COMMIT');
      } finally {
        await holderPg.end();
      }
    } else {
    const holder = new SQLite(box.dbPath);
    try {
      holder.exec('BEGIN EXCLUSIVE');
      const started = Date.now();
      const r = await box.run(['ingest', '--json', file]);
      expect(r.code, describeResult(r)).toBe(75);
      const [res] = JSON.parse(r.stdout) as PipeResultJson[];
      expect(res!.outcome.kind).toBe('retry');
      expect(res!.outcome.reason).toMatch(/SQLITE_BUSY/);
      expect(Date.now() - started).toBeLessThan(15_000);
      // Nothing was committed (seen from the lock holder's own transaction).
      expect(holder.prepare('SELECT count(*) AS n FROM receipts').get()).toEqual({ n: 0 });
      holder.exec('COMMIT');
    } finally {
      if (holder.inTransaction) holder.exec('ROLLBACK');
      holder.close();
    }
    }
    const again = await box.run(['ingest', file]);
    expect(again.code, describeResult(again)).toBe(0);
    expect(again.stdout).toMatch(/stored \(case 10001\)/);
    // Exactly one case and one receipt: the failed attempt left nothing behind.
    const check = peekConfig(box.configPath);
    try {
      expect(await check.all('SELECT number, subject FROM cases')).toEqual([{ number: 10001, subject: 'While the DB is locked' }]);
      expect(await check.all('SELECT outcome FROM receipts')).toEqual([{ outcome: 'stored' }]);
    } finally {
      await check.close();
    }
  });
});

describe('casegate ingest: configuration problems never bounce mail', () => {
  let box: CliSandbox;
  beforeAll(() => {
    box = CliSandbox.withRawConfig('dataDir: data\nlistener:\n  port: not-a-port\nmailboxes: []\n');
  });
  afterAll(() => box.cleanup());

  it('a broken config file → exit 75 (the MTA retries), the problems with their key paths on stderr', async () => {
    const file = box.write('m.eml', eml({ subject: 'Arrives while the config is broken' }));
    const r = await box.run(['ingest', file]);
    expect(r.code, describeResult(r)).toBe(75);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('casegate ingest:');
    expect(r.stderr).toContain(box.configPath);
    expect(r.stderr).toMatch(/listener\.port: /);
    expect(r.stderr).toMatch(/mailboxes: /);
  });

  it('a YAML syntax error, or CASEGATE_CONFIG naming a missing file → exit 75 too (message on stdin)', async () => {
    const syntax = CliSandbox.withRawConfig('listener: {\n');
    try {
      const r = await syntax.run(['ingest'], { stdin: eml({}) });
      expect(r.code, describeResult(r)).toBe(75);
      expect(r.stderr).toMatch(/YAML syntax error at line/);
      const missing = await runCli(['ingest'], { cwd: syntax.dir, env: { HOME: syntax.dir, CASEGATE_CONFIG: 'nope.yaml' }, stdin: eml({}) });
      expect(missing.code, describeResult(missing)).toBe(75);
      expect(missing.stderr).toMatch(/nope\.yaml.*cannot read: ENOENT/s);
    } finally {
      syntax.cleanup();
    }
  });
});
