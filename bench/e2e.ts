/**
 * End to end: the real daemon (child process, as `npm start` runs it) reading a private Dovecot
 * over IMAP and delivering confirmations to an SMTP sink (the relay).
 *
 *  - backlog: N messages appended to the mailbox first, then the daemon starts; msg/s until every
 *    message has a receipt and every confirmation reached the sink.
 *  - live (IMAP): with the daemon idling, messages appended at random (exponential) intervals.
 *    Latency from the EXISTS the daemon received (its debug log line, switched on by a SIGHUP
 *    reload after the backlog; Dovecot announces new mail up to ~0.5 s after the APPEND — its
 *    mailbox-watch delay, not ours) to the confirmation accepted by the sink; also from the end
 *    of the APPEND, for comparison.
 *  - live (SMTP): messages submitted to the daemon's SMTP listener at random intervals; latency
 *    from the submission to the confirmation at the sink.
 *  - peak RSS of the daemon (VmHWM).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import SQLite from 'better-sqlite3';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { findFreePort, startDovecot, type DovecotServer } from '../test/helpers/dovecot-server.js';
import { ADDRESS, type BenchMessage } from './mix.js';
import { writeBenchConfig } from './product.js';
import { seedHistory } from './seed.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
// BENCH_CLI: the daemon's entry point (default the bundle; dist/src/cli.js runs the unbundled build, readable in profiles).
const CLI = process.env['BENCH_CLI'] ?? join(ROOT, 'dist', 'bin', 'casegate.js');
const FLOOR_CHANNEL = join(ROOT, 'dist', 'bench', 'floor-channel.js');

export interface EndToEndOptions {
  readonly messages: readonly BenchMessage[];
  readonly expectedConfirmations: number;
  readonly concurrency: number;
  /** V8 heap cap of the daemon in MB (0: Node's default). */
  readonly heapMb: number;
  /** Live samples over IMAP and over SMTP (0: no live phase). */
  readonly live: number;
  readonly liveMessages?: (n: number, prefix: string) => BenchMessage[];
  readonly meanGapMs: number;
  /** Seed this many stored messages of history before the daemon starts. */
  readonly seed?: number;
  readonly timeoutMs?: number;
  /** What reads the backlog: the daemon (default) or the channel floor (bench/floor-channel.ts; backlog only). */
  readonly runner?: 'daemon' | 'floor';
}

export interface EndToEndResult {
  /** From the first commit to the last confirmation at the relay. */
  readonly msgsPerS: number;
  /** Including the daemon's start-up. */
  readonly msgsPerSFromStart: number;
  readonly seconds: number;
  readonly startupSeconds: number;
  readonly peakRssMb: number;
  /** CPU time (user + system, all its threads) the process used per backlog message, start-up included. */
  readonly cpuMsPerMsg: number;
  /**
   * CPU time of the process's main thread per message from the first commit to the end of the
   * backlog (start-up left out): the work that no other thread can take over. On this 2-core
   * machine the main thread is not what sets the pace of a backlog (both cores are busy with the
   * process's threads, Dovecot and the relay sink): compare it with threadsCpuMsPerMsg.
   */
  readonly mainCpuMsPerMsg: number;
  /** The same for the main thread, the busiest other thread (the daemon's MIME thread) and the rest (threadsDelta). */
  readonly threadsCpuMsPerMsg: Readonly<Record<string, number>>;
  readonly existsToRelayMs: number[];
  readonly appendToRelayMs: number[];
  readonly smtpToRelayMs: number[];
  /** BENCH_GC_TRACE=1: what V8 itself said about the process (start-up included). */
  readonly v8?: V8Trace;
}

/**
 * BENCH_GC_TRACE=1 runs the daemon and the channel floor with `--trace-gc-nvp --trace-opt` and
 * counts what V8 prints: per isolate (in the order they first collected: the main thread's first)
 * its scavenges, full collections and the bytes its scavenges promoted to the old generation, and
 * how many functions TurboFan optimised (all isolates). A full collection drops the optimised code
 * of functions whose closures died, so these two counts go together (docs/performance.md).
 */
export interface V8Trace {
  readonly isolates: readonly { readonly scavenges: number; readonly full: number; readonly promotedBytes: number }[];
  readonly optimised: number;
}

const GC_TRACE = process.env['BENCH_GC_TRACE'] === '1';
const GC_TRACE_ARGS = ['--trace-gc-nvp', '--trace-opt'];

interface IsolateCounts {
  scavenges: number;
  full: number;
  promotedBytes: number;
}
/** What traceV8 adds up while the process runs. */
interface V8Tracer {
  readonly isolates: IsolateCounts[];
  optimised: number;
  readonly byIsolate: Map<string, IsolateCounts>;
}

function traceV8(trace: V8Tracer, line: string): void {
  if (line.includes('completed compiling')) {
    trace.optimised += 1;
    return;
  }
  const m = /\[\d+:(0x[0-9a-f]+)\].*? gc=(\w+)/.exec(line);
  if (m === null) return;
  let isolate = trace.byIsolate.get(m[1]!);
  if (isolate === undefined) {
    isolate = { scavenges: 0, full: 0, promotedBytes: 0 };
    trace.byIsolate.set(m[1]!, isolate);
    trace.isolates.push(isolate);
  }
  if (m[2] === 's') {
    isolate.scavenges += 1;
    isolate.promotedBytes += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0);
  } else if (m[2] === 'mc') {
    isolate.full += 1;
  }
}

interface Sink {
  readonly port: number;
  readonly arrivals: Map<string, number>;
  count: number;
  close(): Promise<void>;
}

async function startSink(): Promise<Sink> {
  const sink = { port: 0, arrivals: new Map<string, number>(), count: 0, close: async () => undefined } as Sink;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    maxClients: 100,
    onData(stream, _session, callback) {
      let head = '';
      stream.on('data', (c: Buffer) => {
        if (head.length < 8192) head += c.toString('latin1');
      });
      stream.on('end', () => {
        const at = performance.now();
        const irt = /^In-Reply-To:\s*<([^>]+)>/im.exec(head)?.[1];
        if (irt !== undefined) sink.arrivals.set(irt, at);
        sink.count += 1;
        callback();
      });
    },
  });
  server.on('error', () => undefined); // a reset client connection is not the benchmark's concern
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.server.address();
  return Object.assign(sink, {
    port: typeof addr === 'object' && addr !== null ? addr.port : 0,
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Exponentially distributed gap (Poisson arrivals) with the given mean, capped at 5× the mean. */
export function randomGap(meanMs: number): number {
  return Math.min(5 * meanMs, -Math.log(1 - Math.random()) * meanMs);
}

/**
 * CPU time a process used so far (utime + stime of /proc/PID/stat, clock ticks of 10 ms), or with
 * `mainThread` only its main thread's (/proc/PID/task/PID/stat: the main thread's id is the pid).
 */
function cpuMsOf(pid: number, mainThread = false): number {
  try {
    return statCpuMs(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`);
  } catch {
    return Number.NaN;
  }
}

/** utime + stime (ms) of a /proc stat file; the fields after the command name, which may contain spaces and parentheses. */
function statCpuMs(file: string): number {
  const stat = readFileSync(file, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** CPU time (ms) of each thread of a process so far, by thread id. */
function threadsCpuOf(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        out.set(tid, statCpuMs(`/proc/${pid}/task/${tid}/stat`));
      } catch {
        // the thread ended meanwhile
      }
    }
  } catch {
    // the process is gone
  }
  return out;
}

/**
 * CPU (ms) a message of the threads between two snapshots of threadsCpuOf: the main thread, the
 * busiest other thread (the daemon's MIME thread) and all the others (V8's helper threads —
 * concurrent marking, parallel scavenges, optimising compiles — and libuv's thread pool). Node does
 * not name its threads, so they are told apart by what they did.
 */
function threadsDelta(pid: number, before: Map<string, number>, after: Map<string, number>, n: number): Record<string, number> {
  const used = [...after].map(([tid, ms]) => ({ main: tid === String(pid), ms: ms - (before.get(tid) ?? 0) }));
  const others = used.filter((t) => !t.main).sort((a, b) => b.ms - a.ms);
  const per = (ms: number): number => Math.round((ms / n) * 100) / 100;
  return {
    main: per(used.find((t) => t.main)?.ms ?? 0),
    busiest_other: per(others[0]?.ms ?? 0),
    rest: per(others.slice(1).reduce((a, t) => a + t.ms, 0)),
  };
}

function statusMb(pid: number): { rss: number; hwm: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

export async function endToEnd(o: EndToEndOptions): Promise<EndToEndResult> {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-bench-e2e-'));
  let dovecot: DovecotServer | null = null;
  let daemon: ChildProcess | null = null;
  const sink = await startSink();
  try {
    dovecot = await startDovecot({ users: [{ user: 'support', password: 'bench-pass' }] });
    const client = await dovecot.connect('support');
    const tAppend = performance.now();
    for (const m of o.messages) await client.append('INBOX', m.raw);
    await client.logout();
    console.error(`bench: appended ${o.messages.length} messages to Dovecot in ${((performance.now() - tAppend) / 1000).toFixed(1)} s`);

    const listenerPort = await findFreePort();
    const config = writeBenchConfig(dir, {
      mailboxes: [
        {
          name: 'support',
          addresses: [ADDRESS],
          imap: { host: dovecot.host, port: dovecot.port, tls: 'none', auth: { method: 'password', user: 'support', password: 'bench-pass' }, concurrency: o.concurrency },
        },
      ],
      listener: { enabled: true, host: '127.0.0.1', port: listenerPort },
      // BENCH_MIME_THREAD=0: the daemon parses and builds MIME on its main thread (mime.parseThread: false).
      ...(process.env['BENCH_MIME_THREAD'] === '0' ? { mime: { parseThread: false } } : {}),
      outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false, maxConnections: 5 }, sweepSeconds: 1 },
    });
    const floorRun = o.runner === 'floor';
    const dbPath = floorRun ? join(dir, 'floor.db') : join(dir, 'data', 'casegate.db');
    if (o.seed !== undefined && o.seed > 0) {
      // Migrate (a one-shot command opens the database), then seed before the daemon starts.
      await runCli(config, ['status']);
      const s = seedHistory(dbPath, o.seed);
      console.error(`bench: e2e history seeded: ${s.messages} messages in ${s.seconds.toFixed(1)} s`);
    }
    const t0 = performance.now();
    // The heap flags and the malloc arena cap of `npm start` and the casegate bin (the floor gets the same).
    const heap = o.heapMb > 0 ? [`--max-old-space-size=${o.heapMb}`, '--max-semi-space-size=2'] : [];
    const env = { ...process.env, MALLOC_ARENA_MAX: '2' };
    // BENCH_DAEMON_NODE_ARGS: extra Node options for the daemon, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    const extra = [...(process.env['BENCH_DAEMON_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== ''), ...(GC_TRACE ? GC_TRACE_ARGS : [])];
    const v8: V8Tracer | null = GC_TRACE ? { isolates: [], optimised: 0, byIsolate: new Map() } : null;
    const floorArgs = { dir, templates: join(ROOT, 'templates'), imap: { host: dovecot.host, port: dovecot.port, user: 'support', pass: 'bench-pass' }, relayPort: sink.port, concurrency: o.concurrency };
    // The daemon's log (JSON lines on stdout) is read for its EXISTS lines (live phase, at debug
    // level); BENCH_DAEMON_LOG=FILE also keeps every line of the last run.
    const logFile = process.env['BENCH_DAEMON_LOG'];
    const keep = logFile !== undefined && logFile !== '' && !floorRun ? createWriteStream(logFile) : null;
    const daemonExists: number[] = [];
    let reloaded = false;
    daemon = floorRun
      ? spawn(process.execPath, [...heap, ...extra, FLOOR_CHANNEL, JSON.stringify(floorArgs)], { env, stdio: ['ignore', GC_TRACE ? 'pipe' : 'ignore', 'inherit'] })
      : spawn(process.execPath, [...heap, ...extra, CLI, '--config', config, 'start'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    if (daemon.stdout !== null) {
      createInterface({ input: daemon.stdout }).on('line', (line) => {
        keep?.write(`${line}\n`);
        if (v8 !== null) traceV8(v8, line);
        if (line.includes('"new mail announced (EXISTS)"')) {
          const t = /"time":"([^"]+)"/.exec(line)?.[1];
          // Wall clock (the log's millisecond time) → this process's performance clock.
          if (t !== undefined) daemonExists.push(Date.parse(t) - performance.timeOrigin);
        } else if (line.includes('"configuration reloaded"')) {
          reloaded = true;
        }
      });
    }
    const pid = daemon.pid ?? 0;
    let peak = 0;
    let db: SQLite.Database | null = null;
    const base = o.seed ?? 0;
    let firstCommit: number | null = null;
    let lastSinkCount = -1;
    let sinkQuietSince = performance.now();
    let mainCpuAtFirstCommit = 0;
    let threadsAtFirstCommit = new Map<string, number>();
    for (;;) {
      peak = Math.max(peak, statusMb(pid).rss);
      if (daemon.exitCode !== null) throw new Error(`daemon exited with ${daemon.exitCode}`);
      try {
        db ??= new SQLite(dbPath, { readonly: true, fileMustExist: true });
        const r = db.prepare('select count(*) as n from receipts where id > ?').get(base / 2) as { n: number };
        if (r.n > 0 && firstCommit === null) {
          firstCommit = performance.now();
          mainCpuAtFirstCommit = cpuMsOf(pid, true);
          threadsAtFirstCommit = threadsCpuOf(pid);
        }
        if (r.n >= o.messages.length && sink.count >= o.expectedConfirmations) break;
        if (r.n >= o.messages.length) {
          // Every message stored but confirmations missing: say so within a minute, not after the
          // timeout (an automatic-reply rule that answers fewer messages than the mix expects).
          if (sink.count !== lastSinkCount) [lastSinkCount, sinkQuietSince] = [sink.count, performance.now()];
          else if (performance.now() - sinkQuietSince > 60_000) {
            const suppressed = db.prepare("select reason, count(*) as n from events where type = 'auto-reply.suppressed' group by reason order by n desc limit 3").all();
            throw new Error(`${o.messages.length} messages stored, ${sink.count} of ${o.expectedConfirmations} confirmations at the relay and none for 60 s; suppressed: ${JSON.stringify(suppressed)}`);
          }
        }
      } catch (err) {
        if (err instanceof Error && err.message.includes('confirmations at the relay')) throw err;
        // database not created yet
      }
      if (performance.now() - t0 > (o.timeoutMs ?? 900_000)) throw new Error(`backlog did not finish in ${(o.timeoutMs ?? 900_000) / 1000} s`);
      await sleep(50);
    }
    const end = performance.now();
    const cpuMs = cpuMsOf(pid);
    const mainCpuMs = cpuMsOf(pid, true) - mainCpuAtFirstCommit;
    const threads = threadsDelta(pid, threadsAtFirstCommit, threadsCpuOf(pid), o.messages.length - 1);
    const seconds = (end - t0) / 1000;
    // Steady state: from the first committed message (the daemon's start-up is a fixed cost, reported apart).
    const steady = (end - (firstCommit ?? t0)) / 1000;
    const counts = db!.prepare('select outcome, count(*) as n from receipts where id > ? group by outcome').all(base / 2);
    console.error(`bench: backlog of ${o.messages.length} done in ${seconds.toFixed(2)} s from the daemon's start, ${steady.toFixed(2)} s from its first commit: ${JSON.stringify(counts)}; confirmations at the sink: ${sink.count}`);
    db?.close();

    const existsToRelay: number[] = [];
    const appendToRelay: number[] = [];
    const smtpToRelay: number[] = [];
    if (o.live > 0 && o.liveMessages !== undefined && !floorRun) {
      // IMAP, measured from the EXISTS the daemon itself received (issue 12: Dovecot holds IDLE
      // notifications ~0.5 s — its mailbox-watch delay — which is not ours to count): the daemon
      // logs each at debug level, switched on now by a configuration reload (SIGHUP).
      writeFileSync(config, readFileSync(config, 'utf8').replace(/^(\s*)level: \w+$/m, '$1level: debug'));
      daemon.kill('SIGHUP');
      await waitFor(() => reloaded, 10_000, 'the daemon reloading its configuration');
      await sleep(1000);
      const appender = await dovecot.connect('support');
      const live = o.liveMessages(o.live, `live-imap-${Date.now()}`);
      const appendedAt = new Map<string, number>();
      for (const m of live) {
        await sleep(randomGap(o.meanGapMs));
        await appender.append('INBOX', m.raw);
        appendedAt.set(m.id, performance.now());
        peak = Math.max(peak, statusMb(pid).rss);
      }
      await waitFor(() => live.every((m) => sink.arrivals.has(m.id)), 30_000, 'live IMAP confirmations');
      let unannounced = 0;
      for (const m of live) {
        const appended = appendedAt.get(m.id)!;
        const at = sink.arrivals.get(m.id)!;
        appendToRelay.push(at - appended);
        // The first EXISTS the daemon received after the APPEND announced it — unless the daemon had
        // already taken the message (found by its own search after an earlier one): then from the
        // end of the APPEND.
        const exists = daemonExists.find((e) => e >= appended);
        if (exists === undefined || exists > at) unannounced += 1;
        existsToRelay.push(at - (exists !== undefined && exists <= at ? exists : appended));
      }
      if (unannounced > 0) console.error(`bench: ${unannounced} of ${live.length} live messages were taken by the daemon before its EXISTS announced them: measured from their APPEND`);
      await appender.logout();

      // SMTP: one pooled connection to the daemon's listener.
      const smtp = nodemailer.createTransport({ host: '127.0.0.1', port: listenerPort, secure: false, ignoreTLS: true, pool: true, maxConnections: 1 });
      const viaSmtp = o.liveMessages(o.live, `live-smtp-${Date.now()}`);
      const started = new Map<string, number>();
      const sends: Promise<unknown>[] = [];
      for (const m of viaSmtp) {
        await sleep(randomGap(o.meanGapMs));
        started.set(m.id, performance.now());
        sends.push(smtp.sendMail({ envelope: { from: 'bench@customer.bench.example', to: [ADDRESS] }, raw: m.raw }));
      }
      await Promise.all(sends);
      await waitFor(() => viaSmtp.every((m) => sink.arrivals.has(m.id)), 30_000, 'live SMTP confirmations');
      for (const m of viaSmtp) smtpToRelay.push(sink.arrivals.get(m.id)! - started.get(m.id)!);
      smtp.close();
    }
    peak = Math.max(peak, statusMb(pid).hwm);
    const sorted = (a: number[]): number[] => a.sort((x, y) => x - y);
    return {
      msgsPerS: (o.messages.length - 1) / steady,
      msgsPerSFromStart: o.messages.length / seconds,
      seconds,
      startupSeconds: ((firstCommit ?? t0) - t0) / 1000,
      peakRssMb: peak,
      cpuMsPerMsg: cpuMs / o.messages.length,
      mainCpuMsPerMsg: mainCpuMs / (o.messages.length - 1),
      threadsCpuMsPerMsg: threads,
      existsToRelayMs: sorted(existsToRelay),
      appendToRelayMs: sorted(appendToRelay),
      smtpToRelayMs: sorted(smtpToRelay),
      ...(v8 !== null ? { v8: { isolates: v8.isolates, optimised: v8.optimised } } : {}),
    };
  } finally {
    if (daemon !== null && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon!.once('exit', r));
    }
    await sink.close();
    await dovecot?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitFor(done: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`${what}: not complete within ${ms / 1000} s`);
    await sleep(5);
  }
}

function runCli(config: string, args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, '--config', config, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`casegate ${args.join(' ')} exited with ${code}`))));
  });
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}
