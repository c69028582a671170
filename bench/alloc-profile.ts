/**
 * Where casegate allocates, per package: V8's sampling heap profiler (through node:inspector,
 * counting objects the garbage collector has already freed too, i.e. every byte allocated, not what
 * stays) while casegate runs messages in process as the product phase does (bench/product.ts:
 * pipeline, outbox worker, nodemailer MIME build, no network).
 *
 *   node dist/bench/alloc-profile.js [plain|heavy] [N]     (default plain, 2000)
 *
 * Prints KB allocated per message and the packages that allocated most; writes the raw profile to
 * $BENCH_ALLOC_OUT (default /tmp/casegate-alloc-<mix>.heapprofile, loadable in Chrome DevTools).
 * 300 messages run first, unprofiled, so start-up and warm-up are not counted.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { makeMessages, type MixName } from './mix.js';
import { prepareDataDir, removeDataDir, runProduct } from './product.js';

interface ProfileNode {
  readonly callFrame: { readonly url: string; readonly functionName: string };
  readonly selfSize: number;
  readonly children: readonly ProfileNode[];
}

/** "kysely", "@zone-eu/mailsplit", "casegate:pipeline", "node:buffer", or "(V8 built-ins)" for String.replace & co. */
function owner(url: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg !== null) return pkg[1]!;
  const own = /\/dist\/src\/([^/]+)/.exec(url);
  if (own !== null) return `casegate:${own[1]!.replace(/\.js$/, '')}`;
  return url === '' ? '(V8 built-ins)' : url.replace(/^node:internal\//, 'node:').split('/').slice(0, 2).join('/');
}

const mix: MixName = process.argv[2] === 'heavy' ? 'heavy' : 'plain';
const n = Math.max(1, Number.parseInt(process.argv[3] ?? '', 10) || 2000);
const data = await prepareDataDir();
try {
  await runProduct(data.config, makeMessages(mix, 300, 'warm'), 8);
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  await runProduct(data.config, makeMessages(mix, n, 'alloc'), 8);
  const { profile } = await session.post('HeapProfiler.stopSampling');
  session.disconnect();
  const byOwner = new Map<string, number>();
  let total = 0;
  const visit = (node: ProfileNode): void => {
    total += node.selfSize;
    const key = owner(node.callFrame.url);
    byOwner.set(key, (byOwner.get(key) ?? 0) + node.selfSize);
    for (const child of node.children) visit(child);
  };
  visit(profile.head as unknown as ProfileNode);
  const out = process.env['BENCH_ALLOC_OUT'] ?? `/tmp/casegate-alloc-${mix}.heapprofile`;
  writeFileSync(out, JSON.stringify(profile));
  console.log(`${mix}: ${n} messages, ${(total / n / 1024).toFixed(0)} KB allocated per message (sampled every 4 KB); profile: ${out}`);
  for (const [key, bytes] of [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    console.log(`  ${key.padEnd(32)} ${(bytes / n / 1024).toFixed(1).padStart(7)} KB/msg ${((100 * bytes) / total).toFixed(1).padStart(5)} %`);
  }
} finally {
  removeDataDir(data.dir);
}
