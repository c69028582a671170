/**
 * One-shot commands (issue 13: "`casegate ingest` of one small message ≤ 0.5 s wall on an idle
 * machine"): the wall time of `casegate ingest FILE` as an MTA runs it — a new Node process per
 * message, the embedded default configuration, a data directory whose template check is cached
 * (the first run after an install or an upgrade checks the templates and is not counted).
 *
 * The floor is a bare `node -e ''` start on the same machine: what no Node program can beat. The
 * unbundled build (dist/src/cli.js, Node's loader resolving each module file) is measured beside
 * the bundle (dist/bin/casegate.js) that the `casegate` binary is.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile } from './e2e.js';

export interface OneShotResult {
  readonly runs: number;
  readonly nodeFloorP50Ms: number;
  readonly bundleP50Ms: number;
  readonly bundleP90Ms: number;
  readonly unbundledP50Ms: number;
  readonly bundlePeakRssMb: number;
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
  const dir = mkdtempSync(join(tmpdir(), 'casegate-bench-oneshot-'));
  try {
    cpSync(join(root, 'templates'), join(dir, 'templates'), { recursive: true });
    const series = (cli: string): { ms: number[]; rss: number } => {
      const file = join(dir, 'm.eml');
      writeFileSync(file, message(-1));
      timed([cli, 'ingest', file], dir); // first run: migrations and the template check
      const ms: number[] = [];
      let rss = 0;
      for (let i = 0; i < runs; i++) {
        writeFileSync(file, message(i));
        const r = timed([cli, 'ingest', file], dir);
        ms.push(r.ms);
        rss = Math.max(rss, r.rssMb);
      }
      return { ms: ms.sort((a, b) => a - b), rss };
    };
    const floor: number[] = [];
    for (let i = 0; i < runs; i++) floor.push(timed(['-e', ''], dir).ms);
    floor.sort((a, b) => a - b);
    const bundle = series(join(root, 'dist', 'bin', 'casegate.js'));
    const unbundled = series(join(root, 'dist', 'src', 'cli.js'));
    return {
      runs,
      nodeFloorP50Ms: percentile(floor, 50),
      bundleP50Ms: percentile(bundle.ms, 50),
      bundleP90Ms: percentile(bundle.ms, 90),
      unbundledP50Ms: percentile(unbundled.ms, 50),
      bundlePeakRssMb: bundle.rss,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
