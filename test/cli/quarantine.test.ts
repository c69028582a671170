import { existsSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml } from '../helpers/context.js';
import { CliSandbox, describeResult } from '../helpers/cli.js';

/** `casegate quarantine list|show|retry`: messages we kept raw because they could not be processed. */

interface ReceiptJson {
  id: number;
  outcome: string;
  reason: string;
  stage: string;
  subject: string;
  from_address: string | null;
  envelope_from: string | null;
  message_id: string | null;
  raw_size: number;
  retried_as: number | null;
  is_primary: number;
}
interface PipeResultJson {
  source: string;
  outcome: { kind: string; reason: string; receiptId?: number; caseNumber?: number };
  exitCode: number;
}
interface RetryJson {
  id: string;
  outcome: { kind: string; reason: string; receiptId?: number };
}

const MARKER = 'NOSENDER-BODY-5d1c';
const NO_SENDER = /^no sender address/;

describe('casegate quarantine', () => {
  let box: CliSandbox;
  let qid: number;
  let storedReceiptId: number;
  const raw = eml({ from: null, subject: 'Who sent this?', messageId: 'nosender@nowhere.example', body: `${MARKER}\r\n` });

  beforeAll(async () => {
    box = CliSandbox.create();
    const file = box.write('nosender.eml', raw);
    const good = box.write('good.eml', eml({ subject: 'A normal message', messageId: 'good@customer.example' }));
    const results = await box.json<PipeResultJson[]>(['ingest', '--json', file, good]);
    // Quarantined is a committed outcome: exit 0, the MTA must not retry.
    expect(results[0]).toMatchObject({ exitCode: 0, outcome: { kind: 'quarantined' } });
    expect(results[0]!.outcome.reason).toMatch(NO_SENDER);
    expect(results[1]!.outcome.kind).toBe('stored');
    qid = results[0]!.outcome.receiptId!;
    storedReceiptId = results[1]!.outcome.receiptId!;
  });
  afterAll(() => box.cleanup());

  it('a message without From, Return-Path or envelope sender is listed with its reason (JSON and text)', async () => {
    const [rows, text] = await Promise.all([box.json<ReceiptJson[]>(['quarantine', 'list', '--json']), box.run(['quarantine', 'list'])]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: qid, outcome: 'quarantined', stage: 'sender', subject: 'Who sent this?', from_address: null, envelope_from: null, message_id: 'nosender@nowhere.example', retried_as: null });
    expect(rows[0]!.reason).toMatch(NO_SENDER);

    expect(text.code, describeResult(text)).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    // The message, and the zone its time is in.
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^\(times in \S+/);
    expect(lines[0]).toMatch(new RegExp(`^${qid}\\s+\\S+ \\S+ \\S+\\s+\\?\\s+Who sent this\\?\\s+no sender address`));
  });

  it('quarantine show ID prints the details; --raw adds the raw message; --json has the receipt and the raw path', async () => {
    const [r, withRaw, jsonRun] = await Promise.all([
      box.run(['quarantine', 'show', String(qid)]),
      box.run(['quarantine', 'show', String(qid), '--raw']),
      box.run(['quarantine', 'show', String(qid), '--json', '--raw']),
    ]);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout).toContain(`Quarantined message ${qid}\n`);
    expect(r.stdout).toMatch(/via pipe in mailbox support/);
    expect(r.stdout).toMatch(/from \(none\) · envelope \(none\)/);
    expect(r.stdout).toMatch(/stage sender: no sender address/);
    expect(r.stdout).toMatch(/message-id nosender@nowhere\.example/);
    const rawLine = /raw (\S+) \((\d+) bytes\)/.exec(r.stdout);
    expect(rawLine).not.toBeNull();
    expect(existsSync(rawLine![1]!)).toBe(true);
    expect(Number(rawLine![2])).toBe(Buffer.byteLength(raw));
    expect(statSync(rawLine![1]!).size).toBe(Buffer.byteLength(raw));
    expect(r.stdout).not.toContain(MARKER);

    expect(withRaw.code, describeResult(withRaw)).toBe(0);
    expect(withRaw.stdout).toContain('Subject: Who sent this?');
    expect(withRaw.stdout).toContain(MARKER);

    expect(jsonRun.code, describeResult(jsonRun)).toBe(0);
    const j = JSON.parse(jsonRun.stdout) as { receipt: ReceiptJson; rawPath: string; raw?: string };
    expect(j.receipt.id).toBe(qid);
    expect(j.rawPath).toBe(rawLine![1]);
    expect(j.raw).toBe(raw);
  });

  it('an id that is no number is a usage error (exit 2), not read as its leading digits', async () => {
    const [retry, show] = await Promise.all([box.run(['quarantine', 'retry', `${qid}abc`]), box.run(['quarantine', 'show', 'abc'])]);
    expect(retry.code, describeResult(retry)).toBe(2);
    expect(retry.stderr).toBe(`casegate quarantine: not a receipt id: "${qid}abc"\n`);
    expect(show.code, describeResult(show)).toBe(2);
    expect(show.stderr).toBe('casegate quarantine: not a receipt id: "abc"\n');
  });

  it('show/retry of an unknown id or of a message that was not quarantined → exit 1 with a message', async () => {
    const ids = ['99999', String(storedReceiptId)];
    const [retry, ...shows] = await Promise.all([box.run(['quarantine', 'retry', '--json', ...ids]), ...ids.map((id) => box.run(['quarantine', 'show', id]))]);
    shows.forEach((show, i) => {
      expect(show.code, describeResult(show)).toBe(1);
      expect(show.stderr).toBe(`no quarantined message ${ids[i]}\n`);
    });
    expect(retry.code, describeResult(retry)).toBe(1);
    const results = JSON.parse(retry.stdout) as RetryJson[];
    expect(results).toEqual([
      { id: '99999', outcome: { kind: 'error', reason: 'not a quarantined message awaiting retry' } },
      { id: String(storedReceiptId), outcome: { kind: 'error', reason: 'not a quarantined message awaiting retry' } },
    ]);
  });

  it('retry keeps it quarantined for the same reason; `list` shows only the newest receipt, `list --all` every attempt', async () => {
    const [first] = await box.json<RetryJson[]>(['quarantine', 'retry', '--json', String(qid)]);
    expect(first!.outcome.kind).toBe('quarantined');
    expect(first!.outcome.reason).toMatch(NO_SENDER);
    const second = first!.outcome.receiptId!;
    expect(second).toBeGreaterThan(qid);

    // After one retry: `list` has only the newest receipt, `list --all` both; the old one is no longer awaiting a retry.
    const [list, all, stale] = await Promise.all([
      box.json<ReceiptJson[]>(['quarantine', 'list', '--json']),
      box.json<ReceiptJson[]>(['quarantine', 'list', '--all', '--json']),
      box.run(['quarantine', 'retry', String(qid)]),
    ]);
    expect(list.map((r) => r.id)).toEqual([second]);
    expect(all.map((r) => [r.id, r.retried_as, r.is_primary])).toEqual([
      [second, null, 1],
      [qid, second, 0],
    ]);
    expect(stale.code).toBe(1);
    expect(stale.stdout).toBe(`${qid}: error — not a quarantined message awaiting retry\n`);

    // Retry the newest receipt again: still exactly one entry awaiting action.
    const again = await box.run(['quarantine', 'retry', String(second)]);
    expect(again.code, describeResult(again)).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`^${second}: quarantined — no sender address`));
    const [list2, all2, oldShow, status] = await Promise.all([
      box.json<ReceiptJson[]>(['quarantine', 'list', '--json']),
      box.json<ReceiptJson[]>(['quarantine', 'list', '--all', '--json']),
      box.run(['quarantine', 'show', String(qid)]),
      box.json<{ receipts: Record<string, number>; quarantineWaiting: number }>(['status', '--json']),
    ]);
    expect(list2).toHaveLength(1);
    const third = list2[0]!.id;
    expect(third).toBeGreaterThan(second);
    expect(all2.map((r) => [r.id, r.retried_as])).toEqual([
      [third, null],
      [second, third],
      [qid, second],
    ]);
    // A retried receipt can still be looked at, and says what became of it.
    expect(oldShow.code, describeResult(oldShow)).toBe(0);
    expect(oldShow.stdout).toContain(`Quarantined message ${qid} (retried as ${second})`);
    // Nothing became a case; status counts every receipt.
    expect(status.receipts).toEqual({ quarantined: 3, stored: 1 });
    expect(status.quarantineWaiting).toBe(1);
  });
});

describe('casegate quarantine and outbox list print mail’s text safely', () => {
  let box: CliSandbox;
  beforeAll(() => {
    box = CliSandbox.create();
  });
  afterAll(() => box.cleanup());

  it('C1 controls (8-bit CSI) and bidi overrides in a subject never reach the terminal raw; an address made of them is no address', async () => {
    // U+009B is a CSI that xterm and VTE act on; U+202E reverses the rest of the line.
    const subject = '=?utf-8?B?' + Buffer.from('raw \x1b]0;TITLE\x07 \u009b31mred \u202egnp.exe').toString('base64') + '?=';
    const quarantined = box.write('q.eml', eml({ from: null, subject, messageId: 'c1@nowhere.example' }));
    const c1From = box.write('c1.eml', eml({ from: `C1 <c1\u009b31mred\u202e@inj.example>`, subject: 'Address with controls', messageId: 'c1-from@inj.example' }));
    const results = await box.json<PipeResultJson[]>(['ingest', '--json', quarantined, c1From]);
    expect(results.map((r) => r.outcome.kind)).toEqual(['quarantined', 'quarantined']);
    expect(results[1]!.outcome.reason).toMatch(NO_SENDER);
    const id = results[0]!.outcome.receiptId!;
    for (const args of [['quarantine', 'list'], ['quarantine', 'show', String(id)], ['quarantine', 'show', String(id), '--raw'], ['outbox', 'list', '--all']]) {
      const r = await box.run(args);
      expect(r.code, describeResult(r)).toBe(0);
      expect(r.stdout, args.join(' ')).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    }
    // The C1 CSI shows as U+FFFD; the override never got into the stored subject (parse drops bidi overrides).
    expect((await box.run(['quarantine', 'list'])).stdout).toContain('\ufffd31mred gnp.exe');
  });

  it('dismiss: a message nobody will retry leaves the quarantine for good, with the reason; the same message again is still a duplicate', async () => {
    const box2 = CliSandbox.create();
    try {
      const file = box2.write('nosender.eml', eml({ from: null, subject: 'Junk without sender', messageId: 'junk@nowhere.example', body: 'junk\r\n' }));
      const [first] = await box2.json<PipeResultJson[]>(['ingest', '--json', file]);
      const id = first!.outcome.receiptId!;
      expect((await box2.run(['quarantine', 'dismiss', String(id)])).stderr).toMatch(/required option '--reason <text>'/);
      const r = await box2.run(['quarantine', 'dismiss', String(id), '--reason', 'spam, no sender']);
      expect(r.code, describeResult(r)).toBe(0);
      expect(r.stdout).toBe(`${id}: dismissed\n`);
      expect(await box2.json<ReceiptJson[]>(['quarantine', 'list', '--json'])).toEqual([]);
      expect(await box2.json<ReceiptJson[]>(['quarantine', 'list', '--all', '--json'])).toEqual([]);
      const again = await box2.run(['quarantine', 'dismiss', String(id), '--reason', 'twice']);
      expect(again.code).toBe(1);
      expect(again.stdout).toBe(`${id}: not dismissed — not a quarantined message awaiting retry\n`);
      expect((await box2.run(['quarantine', 'retry', String(id)])).code).toBe(1);
      // The same bytes once more: a duplicate of the dismissed receipt, not a new quarantine.
      const [dup] = await box2.json<PipeResultJson[]>(['ingest', '--json', file]);
      expect(dup!.outcome.kind).toBe('ignored');
      expect(dup!.outcome.reason).toMatch(/duplicate/);
      expect(await box2.json<ReceiptJson[]>(['quarantine', 'list', '--json'])).toEqual([]);
      const status = await box2.json<{ quarantine?: unknown; [k: string]: unknown }>(['status', '--json']);
      expect(JSON.stringify(status)).not.toMatch(/"quarantined":[1-9]/);
    } finally {
      box2.cleanup();
    }
  });
});
