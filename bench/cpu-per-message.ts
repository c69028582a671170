/**
 * CPU time a message of casegate in process, as the product phase runs it (bench/product.ts:
 * pipeline, outbox worker, nodemailer MIME build, no network), counted with `process.cpuUsage()`
 * (every thread of the process: the main thread, V8's GC helpers, libuv's pool, the checkpoint
 * worker). On a shared 2-core machine this is steadier than msg/s, so it suits an A/B of two builds
 * run alternately.
 *
 *   node dist/bench/cpu-per-message.js [plain|heavy] [N]     (default plain, 2000)
 *
 * 400 messages run first, uncounted (start-up, JIT warm-up). Prints one JSON line: CPU, user and
 * system milliseconds and wall milliseconds a message.
 */
import { makeMessages, type MixName } from './mix.js';
import { prepareDataDir, removeDataDir, runProduct } from './product.js';

const mix: MixName = process.argv[2] === 'heavy' ? 'heavy' : 'plain';
const n = Math.max(1, Number.parseInt(process.argv[3] ?? '', 10) || 2000);
const round = (ms: number): number => Math.round((ms / n) * 1000) / 1000;
const data = await prepareDataDir();
try {
  await runProduct(data.config, makeMessages(mix, 400, 'warm'), 8);
  const cpu = process.cpuUsage();
  const started = performance.now();
  await runProduct(data.config, makeMessages(mix, n, 'cpu'), 8);
  const used = process.cpuUsage(cpu);
  const wall = performance.now() - started;
  console.log(JSON.stringify({ mix, n, cpu_ms: round((used.user + used.system) / 1000), user_ms: round(used.user / 1000), system_ms: round(used.system / 1000), wall_ms: round(wall) }));
} finally {
  removeDataDir(data.dir);
}
