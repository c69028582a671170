/**
 * One-shot commands (issue 13: "`casegate ingest` of one small message ≤ 0.5 s wall on an idle
 * machine"): the wall time of `casegate ingest FILE` as an MTA runs it — a new Node process per
 * message, the embedded default configuration, a data directory whose template check is cached
 * (the first run after an install or an upgrade checks the templates and is not counted).
 *
 * The floor is a bare `node -e ''` start on the same machine: what no Node program can beat. The
 * binary (dist/bin/casegate.js: `ingest` runs from dist/bin/ingest.cjs with V8's code cache,
 * src/cli/code-cache.ts) is measured beside the same command from the ES module chunks the commands
 * without such a bundle run from (dist/bin/cli-run.js: no code cache) and the unbundled build (dist/src/cli.js,
 * Node's loader resolving each module file). Beside each ingest, `casegate cases show` of a case,
 * what an agent types, by the binary (dist/bin/cases.cjs with its code cache) and from the chunks.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { percentile } from './e2e.js';

export interface OneShotResult {
  readonly runs: number;
  readonly nodeFloorP50Ms: number;
  readonly bundleP50Ms: number;
  readonly bundleP90Ms: number;
  /** The same command from the ES module chunks, without the code cache. */
  readonly chunksP50Ms: number;
  readonly unbundledP50Ms: number;
  readonly bundlePeakRssMb: number;
  /** `casegate cases show N` by the binary (dist/bin/cases.cjs with its code cache) and from the ES module chunks. */
  readonly caseShowP50Ms: number;
  readonly caseShowChunksP50Ms: number;
}

function message(i: number): string {
  return ['From: Ann <ann@customer.example>', 'To: support@example.com', `Subject: Printer on fire ${i}`, `Message-ID: <oneshot-${i}-${Date.now()}@customer.example>`, 'Date: Mon, 02 Mar 2026 09:00:00 +0000', 'Content-Type: text/plain; charset=utf-8', '', 'Hello, the printer is on fire again.', ''].join('\r\n');
}

function timed(args: readonly string[], cwd: string): { ms: number; rssMb: number } {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: cwd };
  delete env['CASEGATE_CONFIG'];
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, ...args], { cwd, env, encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${String(r.status)}: ${r.stderr}`);
  const kb = Number(/(\d+)\s*$/.exec(r.stderr)?.[1] ?? 0);
  return { ms, rssMb: kb / 1024 };
}

export function oneShot(root: string, runs: number): OneShotResult {
  const top = mkdtempSync(join(tmpdir(), 'casegate-bench-oneshot-'));
  try {
    // The chunks' command line, started as the binary starts every command but `ingest`.
    const chunks = join(top, 'chunks.mjs');
    writeFileSync(chunks, `const m = await import(${JSON.stringify(pathToFileURL(join(root, 'dist', 'bin', 'cli-run.js')).href)});\nm.runCommandLine(process.argv).catch(async (e) => process.exit(await m.exitCodeFor(e)));\n`);
    // A data directory each: the tsc build fingerprints the template checker by its own files, so
    // it would not trust the bundles' checked set (nor they its).
    const variants = [join(root, 'dist', 'bin', 'casegate.js'), chunks, join(root, 'dist', 'src', 'cli.js')].map((cli, v) => {
      const dir = join(top, `v${v}`);
      cpSync(join(root, 'templates'), join(dir, 'templates'), { recursive: true });
      const file = join(dir, 'm.eml');
      writeFileSync(file, message(-1 - v));
      timed([cli, 'ingest', file], dir); // first run: migrations and the template check
      return { cli, dir, file, ms: [] as number[], rss: 0, show: [] as number[] };
    });
    const floor: number[] = [];
    // In turn, so that the machine's drift during the runs falls on every variant alike.
    for (let i = 0; i < runs; i++) {
      floor.push(timed(['-e', ''], top).ms);
      for (const v of variants) {
        writeFileSync(v.file, message(i));
        const r = timed([v.cli, 'ingest', v.file], v.dir);
        v.ms.push(r.ms);
        v.rss = Math.max(v.rss, r.rssMb);
      }
      // What an agent types: the binary and the chunks (the unbundled build is not a way to run it).
      for (const v of variants.slice(0, 2)) v.show.push(timed([v.cli, 'cases', 'show', '10001'], v.dir).ms);
    }
    const [bundle, esm, unbundled] = variants.map((v) => ({ ms: v.ms.sort((a, b) => a - b), rss: v.rss, show: v.show.sort((a, b) => a - b) }));
    floor.sort((a, b) => a - b);
    return {
      runs,
      nodeFloorP50Ms: percentile(floor, 50),
      bundleP50Ms: percentile(bundle!.ms, 50),
      bundleP90Ms: percentile(bundle!.ms, 90),
      chunksP50Ms: percentile(esm!.ms, 50),
      unbundledP50Ms: percentile(unbundled!.ms, 50),
      bundlePeakRssMb: bundle!.rss,
      caseShowP50Ms: percentile(bundle!.show, 50),
      caseShowChunksP50Ms: percentile(esm!.show, 50),
    };
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
}
