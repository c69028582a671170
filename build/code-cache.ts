/**
 * Writes the V8 code caches of dist/bin/ingest.cjs (src/cli/code-cache.ts) by running
 * `casegate ingest` on a sample message in a scratch data directory: once to migrate and check the
 * templates (not cached: an installed casegate reuses a checked set), then once for each set of
 * Node flags a cache is kept for, which writes what that run compiled.
 *
 * The flag sets: the binary's own (its #! line: `casegate ingest` as an MTA runs it) and none
 * (`node dist/bin/casegate.js ingest`). V8 refuses a cache made under other flags; such a run
 * compiles as it would without one.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

/** Run the sample ingests; returns the line the build prints. Never throws: without a cache `ingest` only compiles more. */
export function writeIngestCodeCaches(bin: string, cliSource: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-code-cache-'));
  const flagSets = [shebangNodeFlags(cliSource), []];
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir };
    delete env['CASEGATE_CONFIG'];
    delete env['NODE_OPTIONS'];
    const run = (n: number, flags: readonly string[], write: boolean): void => {
      const file = join(dir, `m${n}.eml`);
      writeFileSync(file, sample(n));
      const r = spawnSync(process.execPath, [...flags, bin, 'ingest', file], { cwd: dir, env: { ...env, CASEGATE_CODE_CACHE_WRITE: write ? '1' : undefined }, encoding: 'utf8', timeout: 120_000 });
      if (r.status !== 0) throw new Error(`casegate ingest exited ${String(r.status ?? r.signal)}: ${(r.stderr || String(r.error ?? '')).trim().split('\n').slice(-3).join(' / ')}`);
    };
    run(0, flagSets[0]!, false);
    flagSets.forEach((flags, i) => run(i + 1, flags, true));
    return `code caches: dist/bin/ingest.cjs for ${flagSets.map((f) => (f.length > 0 ? f.join(' ') : 'no flags')).join('; ')}`;
  } catch (err) {
    return `code caches: NOT written (${(err as Error).message}); \`casegate ingest\` compiles its code at every run`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
