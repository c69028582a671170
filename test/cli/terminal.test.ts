import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_JS, CliSandbox, childEnv, describeResult } from '../helpers/cli.js';
import { eml } from '../helpers/context.js';

/**
 * A person at a terminal vs. a script (issue 13, points 7 and 8): on a terminal the CLI logs
 * readable lines (pino-pretty) and long work shows a progress bar; in a pipe (scripts, cron,
 * journald) the same commands log JSON lines and show no bar. The terminal is a real
 * pseudo-terminal from util-linux `script`.
 */

let box: CliSandbox;
/** [stdout+stderr as a terminal shows them] */
function onTerminal(args: string[]): string {
  const command = [process.execPath, CLI_JS, '--config', box.configPath, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: box.dir, env: childEnv({ HOME: box.dir, TERM: 'xterm-256color' }), encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

beforeAll(() => {
  execFileSync('script', ['--version']);
  box = CliSandbox.create({ log: { level: 'info' }, jobs: { enabled: false } });
  const dir = join(box.dir, 'emls');
  mkdirSync(dir);
  for (let i = 0; i < 30; i++) writeFileSync(join(dir, `m${i}.eml`), eml({ subject: `Question ${i}`, messageId: `term-${i}@customer.example`, from: `c${i}@customer.example` }));
});
afterAll(() => box?.cleanup());

describe('on a terminal and in a script', () => {
  it('logs readable lines on a terminal, JSON lines in a pipe', async () => {
    const file = box.write('one.eml', eml({ subject: 'Pretty please', messageId: 'pretty-1@customer.example' }));
    const tty = onTerminal(['ingest', file]);
    expect(tty).toMatch(/INFO.*message stored/);
    expect(tty).not.toContain('{"level"');
    const piped = await box.run(['ingest', box.write('two.eml', eml({ subject: 'Plain please', messageId: 'plain-1@customer.example' }))]);
    expect(piped.code, describeResult(piped)).toBe(0);
    expect(piped.stderr).toMatch(/^\{"level":"info",.*"msg":"message stored"\}$/m);
  });

  it('log.format json keeps JSON on a terminal too', () => {
    const json = CliSandbox.create({ log: { level: 'info', format: 'json' } });
    try {
      const file = json.write('one.eml', eml({ subject: 'Machine readable', messageId: 'json-1@customer.example' }));
      const command = [process.execPath, CLI_JS, '--config', json.configPath, 'ingest', file].join(' ');
      const r = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: json.dir, env: childEnv({ HOME: json.dir }), encoding: 'utf8' });
      expect(r.stdout).toMatch(/\{"level":"info",.*"msg":"message stored"\}/);
    } finally {
      json.cleanup();
    }
  });

  it('import shows a progress bar on a terminal and ends with the summary; in a script only the summary', async () => {
    const tty = onTerminal(['import', '--eml', join(box.dir, 'emls')]);
    expect(tty).toMatch(/import: importing \[[#.]+\] \d+\/30/);
    expect(tty).toMatch(/imported 30 message\(s\) in [\d.]+ s .*: 30 stored \(30 new cases\)/);
    const piped = await box.run(['import', '--eml', join(box.dir, 'emls')]);
    expect(piped.code, describeResult(piped)).toBe(0);
    expect(piped.stderr).not.toMatch(/importing \[/);
    expect(piped.stdout).toMatch(/^imported 30 message\(s\) in [\d.]+ s .*: 0 stored \(0 new cases\), 30 already there/m);
  });
});
