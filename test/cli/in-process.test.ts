import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml } from '../helpers/context.js';
import { CliSandbox, describeResult, type CliResult } from '../helpers/cli.js';

/**
 * Most CLI tests run their commands in the test's own process (test/helpers/cli-in-process.ts).
 * This file holds that shortcut to account: the same command lines, on two sandboxes built alike,
 * one run as real `casegate` processes and one in the test's process, must give the same exit
 * codes, the same stdout and the same stderr (log lines compared without their time and pid):
 * output, usage errors, commander's help and its errors, a configuration error, a failing command,
 * a JSON document, and the files a command writes.
 */

const CONFIG = {
  mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
  queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } },
  templates: { watch: false },
  // Commands log at info: their JSON log lines on stderr are compared too.
  log: { level: 'info' as const },
};

/** The command lines, in order (each sandbox runs all of them). FILE: the message file of the sandbox. */
const SCRIPT: readonly (readonly string[])[] = [
  ['--help'],
  ['cases', '--help'],
  ['frobnicate'],
  ['cases', 'list', '--bogus-option'],
  ['ingest', 'FILE'],
  ['ingest', 'FILE'],
  ['cases', 'list'],
  ['cases', 'list', '--json'],
  ['cases', 'show', '10001', '--json'],
  ['cases', 'show', '99999'],
  ['cases', 'reply', '10001', '--message', 'We are on it.', '--agent', 'Ben', '--json'],
  ['cases', 'resolve', '10001', '--agent', 'nobody@example.com'],
  ['outbox', 'list', '--json'],
  ['templates', 'check'],
  ['status', '--check'],
  ['--config', 'missing.yaml', 'cases', 'list'],
];

/**
 * What may differ between two runs of one command line: times and durations, process ids, the
 * sandbox's path, and the random part of our signed Message-IDs (and Thread-Index, a time).
 */
function normalise(text: string, box: CliSandbox): string {
  return text
    .split(box.dir)
    .join('<sandbox>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/g, '<time>')
    .replace(/\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)?/g, '<local time>')
    .replace(/\b[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d\s[AP]M\b/g, '<time in an email>')
    .replace(/\bc\d+(?:\.[0-9a-z]+)+@support\.example\.com/g, '<signed id>@support.example.com')
    .replace(/\\"Thread-Index\\":\\"[^\\]+\\"/g, '\\"Thread-Index\\":<index>')
    .replace(/\bwaiting \d+ s\b/g, 'waiting N s')
    .replace(/"pid":\d+/g, '"pid":0')
    .replace(/"(ms|durationMs|elapsedMs|uptimeSeconds)":[\d.]+/g, '"$1":0')
    .replace(/\bin \d+ ms\b/g, 'in N ms');
}

/** One message for both runs (eml() stamps a Date of its own on every call). */
const JANE = eml({ messageId: 'jane-1@customer.example', subject: 'VPN broken', body: 'Certificate expired.' });

/** Line i of the script in a sandbox (its message file written first). */
async function runLine(box: CliSandbox, i: number, childProcess: boolean): Promise<CliResult> {
  const file = box.write('jane.eml', JANE);
  return box.run(SCRIPT[i]!.map((a) => (a === 'FILE' ? file : a)), { childProcess });
}

describe('a command run in the test’s process gives what the casegate process gives', () => {
  let spawned: CliSandbox;
  let inProcess: CliSandbox;
  const viaProcess: CliResult[] = [];
  // Each line runs in its own test, in both sandboxes, in script order (the tests of a file run one
  // after another): the state a line leaves (a stored case, a reply) is the next line's. All 36 runs
  // in one beforeAll took past the hook's 120 s under load and skipped the whole file.
  beforeAll(() => {
    spawned = CliSandbox.create(CONFIG);
    inProcess = CliSandbox.create(CONFIG);
  });
  afterAll(() => {
    spawned?.cleanup();
    inProcess?.cleanup();
  });

  it.each(SCRIPT.map((line, i) => [line.join(' '), i] as const))('casegate %s', async (_line, i) => {
    const a = await runLine(spawned, i, true);
    const b = await runLine(inProcess, i, false);
    viaProcess.push(a);
    expect(b.command, describeResult(b)).toMatch(/in the test's process/);
    expect(a.command).not.toMatch(/in the test's process/);
    expect(b.code, `${describeResult(a)}\n\n${describeResult(b)}`).toBe(a.code);
    expect(normalise(b.stdout, inProcess)).toBe(normalise(a.stdout, spawned));
    expect(normalise(b.stderr, inProcess)).toBe(normalise(a.stderr, spawned));
  });

  it('the daemon is never started in the test’s process (it would take the process’s signals); its help is', async () => {
    await expect(inProcess.run(['start'])).rejects.toThrow(/casegate start runs as a process of its own/);
    const help = await inProcess.run(['start', '--help']);
    expect(help.code, describeResult(help)).toBe(0);
    expect(help.stdout).toMatch(/^Usage: casegate start/);
  });

  it('the script covers success, usage errors, a failing command and a configuration error', () => {
    expect(viaProcess).toHaveLength(SCRIPT.length);
    const codes = new Set(viaProcess.map((r) => r.code));
    expect([...codes].sort()).toEqual(expect.arrayContaining([0, 1, 78]));
    // Something went to each stream, so the comparisons above compare text.
    expect(viaProcess.filter((r) => r.stdout !== '').length).toBeGreaterThan(8);
    expect(viaProcess.filter((r) => r.stderr !== '').length).toBeGreaterThan(4);
    expect(viaProcess.some((r) => r.stderr.includes('"msg":"message stored"'))).toBe(true);
  });
});
