/**
 * `npm run bench` — casegate's benchmark (never part of the test suite's assertions).
 *
 * For both mixes (plain 2 KB new mail; the heavy mix with HTML quote chains, attachments and
 * replies) and both shapes (one message at a time; BENCH_CONCURRENCY in flight):
 *  1. floor:   an independent minimal pipeline with the same libraries (bench/floor.ts);
 *  2. product: casegate in process (pipeline + outbox worker building every MIME, no network);
 *  3. history: casegate's per-message cost at 0 and with BENCH_SEED stored messages of history
 *              generated directly in the database (bench/seed.ts), measured in alternating rounds
 *              (BENCH_HISTORY_ROUNDS, 3) and compared by their medians;
 *  4. e2e:     the daemon from a real Dovecot to an SMTP relay (backlog msg/s, ratio to the floor's
 *              in-flight shape and to the channel floor — the floor behind the same IMAP fetch and
 *              SMTP send, in its own process: bench/floor-channel.ts — in alternating rounds
 *              (BENCH_E2E_ROUNDS, 3) compared by the median ratio), live latency from the EXISTS / the SMTP submission to the
 *              relay's acceptance (random intervals), the daemon's peak RSS (bench/e2e.ts);
 *  5. oneshot: wall time of `casegate ingest FILE` (a new process per message, as an MTA pipe
 *              runs it) against a bare Node start: the binary (code-cached bundle), the ES module chunks and
 *              the unbundled build, run in turn (bench/oneshot.ts).
 * BENCH_MODE=large instead runs a backlog of BENCH_LARGE messages (default 50) with a
 * BENCH_LARGE_MB attachment each (default 25) and reports time and peak RSS.
 *
 * Settings (environment): BENCH_N (2000), BENCH_CONCURRENCY (8), BENCH_SEED (200000; 0 skips the
 * history phase), BENCH_LIVE (100 samples per channel), BENCH_GAP_MS (mean gap, 150),
 * BENCH_HEAP (daemon heap cap in MB, 192; 0 = Node's default), BENCH_ONESHOT (runs, 20),
 * BENCH_HISTORY_ROUNDS (3), BENCH_E2E_ROUNDS (3),
 * BENCH_PHASES (comma list of floor,product,history,e2e,oneshot). The last line printed is one JSON object with every figure,
 * with the cost of creating a small file in the OS temp directory before and after the run
 * (bench/disk-probe.ts): where the stores live, that cost moves the figures between runs.
 *
 * BENCH_DB=postgres runs the product and history phases on PostgreSQL (a private cluster started
 * for the run, or BENCH_PG_URL), history seeded by bench/seed-postgres.ts, plus the cluster phase:
 * messages per second through one casegate process and through two at once on one database
 * (bench/cluster.ts). Default phases there: product,history,cluster. BENCH_PG_PREPARED=0 runs them
 * with database.preparedStatements false (every statement unnamed, parsed by the server each time).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileCreateMicros } from './disk-probe.js';
import { endToEnd, percentile, type EndToEndResult } from './e2e.js';
import { createFloor } from './floor.js';
import { describeMix, expectedConfirmations, makeLargeMessages, makeMessages, type BenchMessage, type MixName } from './mix.js';
import { benchBackend, prepareDataDir, removeDataDir, runProduct, seedHistoryIn, useBenchPostgres } from './product.js';
import { clusterThroughput } from './cluster.js';
import { oneShot } from './oneshot.js';
import { startPgCluster, type PgCluster } from '../test/helpers/pg-cluster.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const env = (key: string, fallback: number): number => Number(process.env[key] ?? fallback);
const N = env('BENCH_N', 2000);
const CONCURRENCY = env('BENCH_CONCURRENCY', 8);
const SEED = env('BENCH_SEED', 200_000);
const HISTORY_ROUNDS = Math.max(1, env('BENCH_HISTORY_ROUNDS', 3));
const E2E_ROUNDS = Math.max(1, env('BENCH_E2E_ROUNDS', 3));
const LIVE = env('BENCH_LIVE', 100);
const GAP_MS = env('BENCH_GAP_MS', 150);
const HEAP = env('BENCH_HEAP', 192);
const POSTGRES = process.env['BENCH_DB'] === 'postgres';
const PHASES = new Set((process.env['BENCH_PHASES'] ?? (POSTGRES ? 'product,history,cluster' : 'floor,product,history,e2e,oneshot')).split(',').map((p) => p.trim()));
const MIXES: readonly MixName[] = ['plain', 'heavy'];

type Shapes = { serial: number; parallel: number };
const round = (x: number, digits = 0): number => Number(x.toFixed(digits));

async function floorOf(messages: readonly BenchMessage[], inFlight: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-bench-floor-'));
  const floor = await createFloor(dir, join(ROOT, 'templates'));
  try {
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        for (let m = messages[next++]; m !== undefined; m = messages[next++]) await floor.handle(m);
      }),
    );
    return messages.length / ((performance.now() - t0) / 1000);
  } finally {
    await floor.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function productOf(messages: readonly BenchMessage[], inFlight: number): Promise<number> {
  const data = await prepareDataDir();
  try {
    return await runProduct(data.config, messages, inFlight);
  } finally {
    removeDataDir(data.dir);
  }
}

/** The middle value; for an even count the mean of the two middle ones (BENCH_E2E_ROUNDS=2 reported the lower ratio). */
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

function liveMessages(mix: MixName): (n: number, prefix: string) => BenchMessage[] {
  return (n, prefix) => makeMessages(mix, Math.ceil(n * 1.5) + 10, prefix).filter((m) => m.kind !== 'reply').slice(0, n);
}

async function large(): Promise<void> {
  const count = env('BENCH_LARGE', 50);
  const mb = env('BENCH_LARGE_MB', 25);
  const messages = makeLargeMessages(count, mb, `large-${Date.now()}`);
  console.error(`bench: large mode: ${count} messages, ${describeMix(messages)}, heap cap ${HEAP || 'default'} MB`);
  const r = await endToEnd({ messages, expectedConfirmations: count, concurrency: CONCURRENCY, heapMb: HEAP, live: 0, meanGapMs: GAP_MS, timeoutMs: 3_600_000 });
  const result = { mode: 'large', messages: count, attachment_mb: mb, heap_mb: HEAP, seconds: round(r.seconds, 1), msgs_per_s: round(count / r.seconds, 3), peak_rss_mb: round(r.peakRssMb) };
  console.log(`\nlarge messages: ${count} × ${mb} MB in ${result.seconds} s (${result.msgs_per_s} msg/s), daemon peak RSS ${result.peak_rss_mb} MB (target ≤ 200)`);
  console.log(JSON.stringify(result));
}

async function main(): Promise<void> {
  if (process.env['BENCH_MODE'] === 'large') return large();
  let cluster: PgCluster | null = null;
  if (POSTGRES) {
    const given = process.env['BENCH_PG_URL'];
    if (given === undefined || given === '') {
      cluster = await startPgCluster({ sharedBuffers: '512MB', maxConnections: 100 });
      console.error(`bench: PostgreSQL: private cluster on 127.0.0.1:${cluster.port}`);
    }
    useBenchPostgres(given !== undefined && given !== '' ? given : cluster!.url);
  }
  try {
    await phases();
  } finally {
    cluster?.stop();
  }
}

async function phases(): Promise<void> {
  const stamp = Date.now();
  const sets: Record<MixName, BenchMessage[]> = { plain: makeMessages('plain', N, `plain-${stamp}`), heavy: makeMessages('heavy', N, `heavy-${stamp}`) };
  for (const mix of MIXES) console.error(`bench: ${mix}: N=${N} ${describeMix(sets[mix])}`);
  const result: Record<string, unknown> = { backend: benchBackend(), n: N, concurrency: CONCURRENCY, seed: SEED, heap_mb: HEAP };
  const lines: string[] = [''];
  // The disk's file-create cost before and after the run (bench/disk-probe.ts): it varies between
  // runs by more than most effects measured here.
  const diskBefore = fileCreateMicros();
  console.error(`bench: creating a small file in ${tmpdir()}: ${round(diskBefore)} µs (median; see bench/disk-probe.ts)`);

  const floor: Partial<Record<MixName, Shapes>> = {};
  const product: Partial<Record<MixName, Shapes>> = {};
  for (const mix of MIXES) {
    if (PHASES.has('floor')) {
      floor[mix] = { serial: await floorOf(sets[mix], 1), parallel: await floorOf(sets[mix], CONCURRENCY) };
      console.error(`bench: floor ${mix}: ${floor[mix]!.serial.toFixed(0)} msg/s one at a time, ${floor[mix]!.parallel.toFixed(0)} with ${CONCURRENCY} in flight`);
    }
    if (PHASES.has('product')) {
      product[mix] = { serial: await productOf(sets[mix], 1), parallel: await productOf(sets[mix], CONCURRENCY) };
      console.error(`bench: casegate in process ${mix}: ${product[mix]!.serial.toFixed(0)} msg/s one at a time, ${product[mix]!.parallel.toFixed(0)} with ${CONCURRENCY} in flight`);
    }
    const f = floor[mix];
    const p = product[mix];
    if (f !== undefined) result[`floor_${mix}_serial`] = round(f.serial);
    if (f !== undefined) result[`floor_${mix}_parallel`] = round(f.parallel);
    if (p !== undefined) result[`product_${mix}_serial`] = round(p.serial);
    if (p !== undefined) result[`product_${mix}_parallel`] = round(p.parallel);
    if (f !== undefined && p !== undefined) {
      result[`ratio_product_floor_${mix}_serial`] = round(p.serial / f.serial, 2);
      result[`ratio_product_floor_${mix}_parallel`] = round(p.parallel / f.parallel, 2);
      lines.push(`${mix.padEnd(5)} in process: floor ${round(f.serial)} / ${round(f.parallel)} msg/s, casegate ${round(p.serial)} / ${round(p.parallel)} msg/s (one at a time / ${CONCURRENCY} in flight): ratio ${round(p.serial / f.serial, 2)} / ${round(p.parallel / f.parallel, 2)}`);
    }
  }

  if (PHASES.has('history') && SEED > 0) {
    // One database without history and one seeded with SEED stored messages, measured in turns
    // (HISTORY_ROUNDS rounds, each with fresh messages, the order swapped every round) and compared
    // by their medians: a shared machine drifts by more than the effect between two runs minutes apart.
    const empty = await prepareDataDir();
    const seeded = await prepareDataDir();
    try {
      const s = await seedHistoryIn(seeded, SEED);
      console.error(`bench: seeded ${s.messages} messages (${s.cases} cases, ${(s.dbBytes / 1048576).toFixed(0)} MB) in ${s.seconds.toFixed(1)} s`);
      for (const mix of MIXES) {
        const ms: Record<'at0' | 'atSeed', number[]> = { at0: [], atSeed: [] };
        for (let r = 0; r < HISTORY_ROUNDS; r++) {
          const messages = makeMessages(mix, N, `${mix}-history-${stamp}-${r}`);
          const order = r % 2 === 0 ? (['at0', 'atSeed'] as const) : (['atSeed', 'at0'] as const);
          for (const which of order) ms[which].push(1000 / (await runProduct((which === 'at0' ? empty : seeded).config, messages, CONCURRENCY)));
          console.error(`bench: history ${mix} round ${r + 1}/${HISTORY_ROUNDS}: ${round(ms.at0.at(-1)!, 2)} ms at 0, ${round(ms.atSeed.at(-1)!, 2)} ms at ${SEED}`);
        }
        const ms0 = median(ms.at0);
        const msSeed = median(ms.atSeed);
        result[`cost_${mix}_ms_at_0`] = round(ms0, 2);
        result[`cost_${mix}_ms_at_seed`] = round(msSeed, 2);
        result[`cost_${mix}_growth_pct`] = round((msSeed / ms0 - 1) * 100, 1);
        result[`cost_${mix}_rounds`] = { at_0: ms.at0.map((x) => round(x, 2)), at_seed: ms.atSeed.map((x) => round(x, 2)) };
        lines.push(`${mix.padEnd(5)} cost per message (casegate on ${benchBackend()}, ${CONCURRENCY} in flight, median of ${HISTORY_ROUNDS} alternating rounds): ${round(ms0, 2)} ms with no history, ${round(msSeed, 2)} ms with ${SEED} stored messages (${round((msSeed / ms0 - 1) * 100, 1)} %, target ≤ 20 %)`);
      }
    } finally {
      removeDataDir(empty.dir);
      removeDataDir(seeded.dir);
    }
  }

  if (PHASES.has('cluster') && POSTGRES) {
    for (const mix of MIXES) {
      const rates: number[] = [];
      for (const processes of [1, 2]) {
        const data = await prepareDataDir();
        try {
          rates.push(await clusterThroughput(data.config, mix, N, processes, CONCURRENCY, `${mix}-${stamp}-${processes}`));
        } finally {
          removeDataDir(data.dir);
        }
      }
      result[`cluster_${mix}_1_daemon_msgs_per_s`] = round(rates[0]!);
      result[`cluster_${mix}_2_daemons_msgs_per_s`] = round(rates[1]!);
      result[`cluster_${mix}_speedup`] = round(rates[1]! / rates[0]!, 2);
      lines.push(`${mix.padEnd(5)} several daemons on one PostgreSQL (${CONCURRENCY} in flight each): 1 daemon ${round(rates[0]!)} msg/s, 2 daemons ${round(rates[1]!)} msg/s (× ${round(rates[1]! / rates[0]!, 2)})`);
    }
  }

  if (PHASES.has('e2e')) {
    let peak = 0;
    const all: { imap: number[]; append: number[]; smtp: number[] } = { imap: [], append: [], smtp: [] };
    // Channel floor and daemon in alternating rounds (the order swapped every round), compared by
    // the median of each round's ratio: two single runs minutes apart differ by more than most
    // changes (ratios of 0.45 and 0.66 for one build). The live phase runs in the last round only.
    for (const mix of MIXES) {
      const backlog = { messages: sets[mix], expectedConfirmations: expectedConfirmations(sets[mix]), concurrency: CONCURRENCY, heapMb: HEAP, meanGapMs: GAP_MS };
      const floors: EndToEndResult[] = [];
      const daemons: EndToEndResult[] = [];
      for (let k = 0; k < E2E_ROUNDS; k++) {
        const last = k === E2E_ROUNDS - 1;
        const runFloor = async (): Promise<void> => {
          floors.push(await endToEnd({ ...backlog, live: 0, runner: 'floor' }));
        };
        const runDaemon = async (): Promise<void> => {
          daemons.push(await endToEnd({ ...backlog, live: last ? LIVE : 0, liveMessages: liveMessages(mix) }));
        };
        for (const run of k % 2 === 0 ? [runFloor, runDaemon] : [runDaemon, runFloor]) await run();
        console.error(`bench: e2e ${mix} round ${k + 1}/${E2E_ROUNDS}: channel floor ${round(floors.at(-1)!.msgsPerS)} msg/s, daemon ${round(daemons.at(-1)!.msgsPerS)} msg/s (${round(daemons.at(-1)!.msgsPerS / floors.at(-1)!.msgsPerS, 2)})`);
      }
      const r = daemons.at(-1)!;
      all.imap.push(...r.existsToRelayMs);
      all.append.push(...r.appendToRelayMs);
      all.smtp.push(...r.smtpToRelayMs);
      const ratios = daemons.map((d, i) => d.msgsPerS / floors[i]!.msgsPerS);
      const ratio = { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
      const cfRate = median(floors.map((f) => f.msgsPerS));
      const cfCpu = median(floors.map((f) => f.cpuMsPerMsg));
      const rate = median(daemons.map((d) => d.msgsPerS));
      const rateFromStart = median(daemons.map((d) => d.msgsPerSFromStart));
      const startup = median(daemons.map((d) => d.startupSeconds));
      const cpu = median(daemons.map((d) => d.cpuMsPerMsg));
      const mainCpu = median(daemons.map((d) => d.mainCpuMsPerMsg));
      const cfMainCpu = median(floors.map((f) => f.mainCpuMsPerMsg));
      const rss = Math.max(...daemons.map((d) => d.peakRssMb));
      peak = Math.max(peak, rss);
      result[`e2e_floor_${mix}_msgs_per_s`] = round(cfRate);
      result[`e2e_floor_${mix}_cpu_ms_per_msg`] = round(cfCpu, 2);
      result[`e2e_${mix}_msgs_per_s`] = round(rate);
      result[`e2e_${mix}_msgs_per_s_incl_startup`] = round(rateFromStart);
      result[`e2e_${mix}_startup_s`] = round(startup, 2);
      result[`e2e_${mix}_peak_rss_mb`] = round(rss);
      result[`e2e_${mix}_cpu_ms_per_msg`] = round(cpu, 2);
      // The main thread's CPU a message from the first commit on: what limits throughput, and stable across machine states.
      result[`e2e_floor_${mix}_main_cpu_ms_per_msg`] = round(cfMainCpu, 2);
      result[`e2e_${mix}_main_cpu_ms_per_msg`] = round(mainCpu, 2);
      // Every thread's CPU a message from the first commit, by thread name (the last round).
      result[`e2e_floor_${mix}_threads_cpu_ms_per_msg`] = floors.at(-1)!.threadsCpuMsPerMsg;
      result[`e2e_${mix}_threads_cpu_ms_per_msg`] = r.threadsCpuMsPerMsg;
      const f = floor[mix]?.parallel;
      if (f !== undefined) result[`ratio_e2e_floor_${mix}`] = round(rate / f, 2);
      result[`ratio_e2e_channel_floor_${mix}`] = round(ratio.median, 2);
      result[`ratio_e2e_channel_floor_${mix}_min`] = round(ratio.min, 2);
      result[`ratio_e2e_channel_floor_${mix}_max`] = round(ratio.max, 2);
      // BENCH_GC_TRACE=1: the last round's V8 counts, per isolate (the main thread's first).
      for (const [key, run] of [[`e2e_floor_${mix}_v8`, floors.at(-1)!], [`e2e_${mix}_v8`, r]] as const) {
        if (run.v8 === undefined) continue;
        result[key] = {
          optimised: run.v8.optimised,
          full_gcs: run.v8.isolates.map((i) => i.full),
          scavenges: run.v8.isolates.map((i) => i.scavenges),
          promoted_kb_per_msg: run.v8.isolates.map((i) => round(i.promotedBytes / 1024 / sets[mix].length, 1)),
        };
      }
      lines.push(
        `${mix.padEnd(5)} channel floor (Dovecot → minimal pipeline → relay, its own process): ${round(cfRate)} msg/s, ${round(cfCpu, 2)} ms CPU per message; casegate end to end = ${round(ratio.median, 2)} of it (median of ${E2E_ROUNDS} alternating rounds, ${round(ratio.min, 2)}–${round(ratio.max, 2)}; target ≥ 0.8), ${round(cpu, 2)} ms CPU per message (start-up included in both); main thread ${round(cfMainCpu, 2)} ms (floor) and ${round(mainCpu, 2)} ms (casegate) CPU per message from the first commit`,
      );
      lines.push(
        `${mix.padEnd(5)} end to end (Dovecot → daemon → relay): ${round(rate)} msg/s from the first commit${f !== undefined ? ` = ${round(rate / f, 2)} of the in-process floor` : ''} (${round(rateFromStart)} msg/s with the ${round(startup, 1)} s start-up); peak RSS ${round(rss)} MB`,
      );
      lines.push(
        `${mix.padEnd(5)} latency to the relay: from EXISTS p50 ${round(percentile(r.existsToRelayMs, 50))} / p99 ${round(percentile(r.existsToRelayMs, 99))} ms (${r.existsToRelayMs.length}); from APPEND p50 ${round(percentile(r.appendToRelayMs, 50))} / p99 ${round(percentile(r.appendToRelayMs, 99))} ms; from SMTP submission p50 ${round(percentile(r.smtpToRelayMs, 50))} / p99 ${round(percentile(r.smtpToRelayMs, 99))} ms`,
      );
    }
    for (const a of Object.values(all)) a.sort((x, y) => x - y);
    Object.assign(result, {
      latency_exists_p50_ms: round(percentile(all.imap, 50)),
      latency_exists_p99_ms: round(percentile(all.imap, 99)),
      latency_append_p50_ms: round(percentile(all.append, 50)),
      latency_append_p99_ms: round(percentile(all.append, 99)),
      latency_smtp_p50_ms: round(percentile(all.smtp, 50)),
      latency_smtp_p99_ms: round(percentile(all.smtp, 99)),
      live_samples: all.imap.length + all.smtp.length,
      peak_rss_mb: round(peak),
    });
    lines.push(`latency (both mixes): EXISTS → relay p50 ${result['latency_exists_p50_ms']} ms, p99 ${result['latency_exists_p99_ms']} ms; SMTP → relay p50 ${result['latency_smtp_p50_ms']} ms, p99 ${result['latency_smtp_p99_ms']} ms (targets ≤ 100 / ≤ 500); daemon peak RSS ${round(peak)} MB (target ≤ 200)`);
  }
  if (PHASES.has('oneshot')) {
    const o = oneShot(ROOT, env('BENCH_ONESHOT', 20));
    Object.assign(result, {
      oneshot_node_floor_p50_ms: round(o.nodeFloorP50Ms),
      oneshot_ingest_p50_ms: round(o.bundleP50Ms),
      oneshot_ingest_p90_ms: round(o.bundleP90Ms),
      oneshot_ingest_chunks_p50_ms: round(o.chunksP50Ms),
      oneshot_ingest_unbundled_p50_ms: round(o.unbundledP50Ms),
      oneshot_ingest_peak_rss_mb: round(o.bundlePeakRssMb),
      oneshot_cases_show_p50_ms: round(o.caseShowP50Ms),
      oneshot_cases_show_chunks_p50_ms: round(o.caseShowChunksP50Ms),
    });
    lines.push(`one-shot \`casegate ingest\` of a small message (${o.runs} runs, template check cached): p50 ${round(o.bundleP50Ms)} ms, p90 ${round(o.bundleP90Ms)} ms (target ≤ 500), peak RSS ${round(o.bundlePeakRssMb)} MB; from the ES module chunks (no code cache) p50 ${round(o.chunksP50Ms)} ms; unbundled p50 ${round(o.unbundledP50Ms)} ms; bare \`node -e ''\` p50 ${round(o.nodeFloorP50Ms)} ms`);
    lines.push(`one-shot \`casegate cases show\`: p50 ${round(o.caseShowP50Ms)} ms; from the ES module chunks (no code cache) p50 ${round(o.caseShowChunksP50Ms)} ms`);
  }
  const diskAfter = fileCreateMicros();
  result['disk_file_create_us_before'] = round(diskBefore);
  result['disk_file_create_us_after'] = round(diskAfter);
  lines.push(`disk: creating a small file in ${tmpdir()} took ${round(diskBefore)} µs before the run and ${round(diskAfter)} µs after it (median; on this machine 15–20 µs in a directory without churn, 300–700 µs in one with much: bench/disk-probe.ts)`);
  console.log(lines.join('\n'));
  console.log(JSON.stringify(result));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
