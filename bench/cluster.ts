/**
 * Several daemons on one PostgreSQL (BENCH_DB=postgres): the same number of messages through one
 * casegate process, then through two at once (each its own share, its own connection pool, its
 * outbox worker draining the shared outbox with SKIP LOCKED claims). Messages per second from "go"
 * until the last process saw the shared outbox empty.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MixName } from './mix.js';

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'cluster-worker.js');

export async function clusterThroughput(config: string, mix: MixName, total: number, processes: number, inFlight: number, tag: string): Promise<number> {
  const children = Array.from({ length: processes }, (_, i) =>
    spawn(process.execPath, [WORKER, config, mix, String(Math.ceil((total * 1.5) / processes) + 10), `${tag}-p${i}`, String(inFlight)], { stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  const outputs = children.map((c) => {
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    return { ready: waitFor(() => out.includes('ready\n')), done: new Promise<string>((res, rej) => c.on('close', (code) => (code === 0 ? res(out) : rej(new Error(`cluster worker exited ${code}`))))) };
  });
  await Promise.all(outputs.map((o) => o.ready));
  for (const c of children) c.stdin.write('go\n');
  const results = (await Promise.all(outputs.map((o) => o.done))).map((out) => JSON.parse(out.trim().split('\n').pop()!) as { start: number; end: number; messages: number });
  const start = Math.min(...results.map((r) => r.start));
  const end = Math.max(...results.map((r) => r.end));
  const messages = results.reduce((a, r) => a + r.messages, 0);
  return messages / ((end - start) / 1000);
}

async function waitFor(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
}
