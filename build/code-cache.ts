/**
 * Writes the V8 code caches of the code-cached commands' bundles (dist/bin/ingest.cjs and
 * cases.cjs, src/cli/code-cache.ts) by running them in a scratch data directory: first
 * `casegate ingest` of a sample message to migrate and check the templates (not cached: an
 * installed casegate reuses a checked set), then, for each set of Node flags a cache is kept for,
 * an ingest, `cases list` and `cases show`. Each run adds what it compiled to its bundle's cache
 * (the loader reads the cache the earlier runs wrote). The `cases` cache holds what every
 * subcommand shares (the configuration, the database, the case views) and no more: V8 reads a
 * whole cache at every start, and one that also held what `cases reply` alone compiles (rendering
 * and building an email) made `list` and `show` 20–30 ms slower to save `reply` 14 ms (medians of
 * 21 runs, 15 for `reply`, which takes 365 ms with the smaller cache against 498 ms without one).
 *
 * The flag sets: the binary's own (its #! line: `casegate ingest` as an MTA runs it, `casegate
 * cases` as an agent types it) and none (`node dist/bin/casegate.js …`). V8 refuses a cache made
 * under other flags; such a run compiles as it would without one.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CODE_CACHED_COMMANDS } from '../src/cli/command-name.js';

/** The Node flags of a script's `#!/usr/bin/env -S … node --flag …` line. */
export function shebangNodeFlags(script: string): string[] {
  const first = readFileSync(script, 'utf8').split('\n', 1)[0] ?? '';
  const words = first.split(/\s+/);
  const node = words.indexOf('node');
  return node < 0 ? [] : words.slice(node + 1).filter((w) => w.startsWith('--'));
}

function sample(n: number): string {
  return ['From: Ann <ann@customer.example>', 'To: support@example.com', `Subject: Code cache sample ${n}`, `Message-ID: <code-cache-${n}@build.invalid>`, 'Date: Mon, 02 Mar 2026 09:00:00 +0000', 'Content-Type: text/plain; charset=utf-8', '', 'The printer is on fire.', ''].join('\r\n');
}

/**
 * What the build runs, after the ingest that made case `n` (which writes the `ingest` cache), to
 * write the cache of each code-cached command (src/cli/command-name.ts).
 */
const SAMPLE_RUNS: Readonly<Record<string, (n: string) => readonly (readonly string[])[]>> = {
  ingest: () => [],
  cases: (n) => [
    ['cases', 'list'],
    ['cases', 'show', n],
  ],
};

/** Run the sample commands; returns the line the build prints. Never throws: without a cache a command only compiles more. */
export function writeCodeCaches(bin: string, cliSource: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-code-cache-'));
  const flagSets = [shebangNodeFlags(cliSource), []];
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir };
    delete env['CASEGATE_CONFIG'];
    delete env['NODE_OPTIONS'];
    const run = (args: readonly string[], flags: readonly string[], write: boolean): string => {
      const r = spawnSync(process.execPath, [...flags, bin, ...args], { cwd: dir, env: { ...env, CASEGATE_CODE_CACHE_WRITE: write ? '1' : undefined }, encoding: 'utf8', timeout: 120_000 });
      if (r.status !== 0) throw new Error(`casegate ${args.join(' ')} exited ${String(r.status ?? r.signal)}: ${(r.stderr || String(r.error ?? '')).trim().split('\n').slice(-3).join(' / ')}`);
      return r.stdout;
    };
    const ingest = (n: number, flags: readonly string[], write: boolean): string => {
      const file = join(dir, `m${n}.eml`);
      writeFileSync(file, sample(n));
      const out = run(['ingest', file], flags, write);
      const number = /stored \(case (\d+)\)/.exec(out)?.[1];
      if (number === undefined) throw new Error(`casegate ingest stored no case: ${out.trim()}`);
      return number;
    };
    const missing = CODE_CACHED_COMMANDS.filter((c) => SAMPLE_RUNS[c] === undefined);
    if (missing.length > 0) throw new Error(`no sample runs for ${missing.join(', ')} (build/code-cache.ts)`);
    ingest(0, flagSets[0]!, false);
    flagSets.forEach((flags, i) => {
      const number = ingest(i + 1, flags, true);
      for (const c of CODE_CACHED_COMMANDS) for (const args of SAMPLE_RUNS[c]!(number)) run(args, flags, true);
    });
    return `code caches: dist/bin/${CODE_CACHED_COMMANDS.map((c) => `${c}.cjs`).join(', ')} for ${flagSets.map((f) => (f.length > 0 ? f.join(' ') : 'no flags')).join('; ')}`;
  } catch (err) {
    return `code caches: NOT written (${(err as Error).message}); ${CODE_CACHED_COMMANDS.map((c) => `\`casegate ${c}\``).join(' and ')} compile their code at every run`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
