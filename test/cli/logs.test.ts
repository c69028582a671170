import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml } from '../helpers/context.js';
import { CliSandbox, describeResult, jsonLines, type CliResult } from '../helpers/cli.js';

/**
 * What the CLI logs while ingesting: JSON lines on stderr (stdout is for the command's output),
 * exactly one line per outcome with the ids an admin greps for, and never the message text.
 */

const BODY_MARKER = 'SECRET-BODY-MARKER-41c9e0';
const SUBJECT = 'Log check';

function outcomeLines(r: CliResult, msg: string): Record<string, unknown>[] {
  return jsonLines(r.stderr).filter((l) => l['msg'] === msg);
}

function expectNoBodyAnywhere(r: CliResult): void {
  expect(r.stdout).not.toContain(BODY_MARKER);
  expect(r.stderr).not.toContain(BODY_MARKER);
}

function expectCleanStdout(r: CliResult): void {
  // Logs never mix into stdout: it holds only the command's own result line(s).
  expect(jsonLines(r.stdout)).toEqual([]);
}

async function ingestAndCheck(box: CliSandbox): Promise<void> {
  const file = box.write('logged.eml', eml({ subject: SUBJECT, messageId: 'logged@customer.example', body: `${BODY_MARKER}\r\nmore text\r\n` }));

  const stored = await box.run(['ingest', file]);
  expect(stored.code, describeResult(stored)).toBe(0);
  expectCleanStdout(stored);
  expectNoBodyAnywhere(stored);
  const lines = outcomeLines(stored, 'message stored');
  expect(lines, describeResult(stored)).toHaveLength(1);
  expect(lines[0]).toMatchObject({ messageId: 'logged@customer.example', outcome: 'stored', caseId: expect.any(Number), caseNumber: 10001, reason: 'new case (new)', channel: 'pipe' });
  expect(jsonLines(stored.stderr).filter((l) => /^message /.test(String(l['msg'])))).toHaveLength(1);
  // Every decision taken for the message (its SLA clocks, who is told) names the message and the
  // case, not only the outcome line; no key is written twice in a line.
  const aboutCase = jsonLines(stored.stderr).filter((l) => l['caseNumber'] === 10001);
  expect(aboutCase.map((l) => l['msg'])).toEqual(expect.arrayContaining(['sla clocks started', 'message stored']));
  for (const l of aboutCase) expect(l, JSON.stringify(l)).toMatchObject({ messageId: 'logged@customer.example', caseId: lines[0]!['caseId'] });
  for (const raw of stored.stderr.split('\n')) expect(raw.match(/"messageId":/g)?.length ?? 0, raw).toBeLessThanOrEqual(1);

  const dup = await box.run(['ingest', file]);
  expect(dup.code, describeResult(dup)).toBe(0);
  expectNoBodyAnywhere(dup);
  const dupLines = outcomeLines(dup, 'message ignored');
  expect(dupLines).toHaveLength(1);
  expect(dupLines[0]).toMatchObject({ messageId: 'logged@customer.example', outcome: 'ignored', reason: expect.stringMatching(/^duplicate/) });
  expect(dupLines[0]).toHaveProperty('caseId');

  const q = box.write('nosender.eml', eml({ from: null, subject: 'No sender', messageId: 'nosender-log@x.example', body: `${BODY_MARKER}\r\n` }));
  const quarantined = await box.run(['ingest', q]);
  expect(quarantined.code, describeResult(quarantined)).toBe(0);
  expectNoBodyAnywhere(quarantined);
  const qLines = outcomeLines(quarantined, 'message quarantined');
  expect(qLines).toHaveLength(1);
  expect(qLines[0]).toMatchObject({ messageId: 'nosender-log@x.example', outcome: 'quarantined', caseId: null, reason: expect.stringMatching(/^no sender address/) });
}

describe('ingest logs at log.level info (the default)', () => {
  let box: CliSandbox;
  beforeAll(() => {
    box = CliSandbox.create({ log: { level: 'info' } });
  });
  afterAll(() => box.cleanup());

  it('writes exactly one JSON line per outcome to stderr (messageId, caseId, outcome, reason), never the body', async () => {
    await ingestAndCheck(box);
  });
});

describe('ingest logs at log.level debug', () => {
  let box: CliSandbox;
  beforeAll(() => {
    box = CliSandbox.create({ log: { level: 'debug' } });
  });
  afterAll(() => box.cleanup());

  it('writes exactly one JSON line per outcome to stderr (messageId, caseId, outcome, reason), never the body', async () => {
    await ingestAndCheck(box);
  });
});

describe('ingest logs at log.level warn', () => {
  let box: CliSandbox;
  beforeAll(() => {
    box = CliSandbox.create({ log: { level: 'warn' } });
  });
  afterAll(() => box.cleanup());

  it('a successful ingest is silent on stderr; the result is on stdout', async () => {
    const file = box.write('quiet.eml', eml({ subject: 'Quiet', body: `${BODY_MARKER}\r\n` }));
    const r = await box.run(['ingest', file]);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/stored \(case 10001\)/);
    expectNoBodyAnywhere(r);
  });

  it('ingest run again and again in one process (the tests run the CLI in theirs) guards stdout and stderr once: no MaxListenersExceededWarning on stderr', async () => {
    // (Other code in this worker may have listeners there too: what counts is that ingest adds at most its one.)
    const before = { out: process.stdout.listenerCount('error'), err: process.stderr.listenerCount('error') };
    for (let i = 0; i < 12; i++) {
      const r = await box.run(['ingest', box.write(`again-${i}.eml`, eml({ subject: `Again ${i}`, from: `again${i}@customer.example`, messageId: `again-${i}@customer.example` }))]);
      expect(r.code, describeResult(r)).toBe(0);
      expect(r.stderr).toBe('');
    }
    expect(process.stdout.listenerCount('error')).toBeLessThanOrEqual(before.out + 1);
    expect(process.stderr.listenerCount('error')).toBeLessThanOrEqual(before.err + 1);
  });
});
