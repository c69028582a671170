/**
 * `npm run bench` — casegate's benchmark (never part of the test suite's assertions).
 *
 *  1. floor:   the same N messages through parse → store → render → compose in this process,
 *              no network (outgoing MIME built by nodemailer and discarded);
 *  2. backlog: N messages appended to a private Dovecot, then the real daemon (child process,
 *              IMAP + IDLE) ingests them and delivers confirmations to an SMTP sink;
 *  3. live:    with the daemon idling, messages appended one by one; latency from APPEND to
 *              the confirmation reaching the sink.
 *
 * BENCH_N (default 2000) sets N, BENCH_LIVE (default 40) the live samples. The last line printed
 * is one JSON object with the figures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import SQLite from 'better-sqlite3';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { stringify } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { closeContext, createContext } from '../src/context.js';
import { silentLogger } from '../src/log.js';
import { OutboxWorker } from '../src/mail-out/outbox-worker.js';
import type { MailTransport } from '../src/mail-out/transport.js';
import { runPipeline } from '../src/pipeline/run-pipeline.js';
import { startDovecot, type DovecotServer } from '../test/helpers/dovecot-server.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const N = Number(process.env['BENCH_N'] ?? 2000);
const LIVE = Number(process.env['BENCH_LIVE'] ?? 40);
const CONCURRENCY = Number(process.env["BENCH_CONCURRENCY"] ?? 8);
const ADDRESS = 'support@bench.example';

// ------------------------------------------------------------------ the message mix

interface BenchMessage {
  readonly id: string;
  readonly raw: Buffer;
  readonly kind: 'plain' | 'html-quoted' | 'attachment' | 'reply';
}

const LOREM = 'The export to CSV stops at 65,536 rows and the dashboard shows an error afterwards. ';

function quotedChain(depth: number): string {
  let html = '';
  for (let d = 0; d < depth; d++) {
    html = `<div>Reply ${d}: ${LOREM.repeat(8)}</div><div class="gmail_quote">On Mon, 2 Mar 2026 at 09:${String(d).padStart(2, '0')}, Support wrote:<blockquote>${html}</blockquote></div>`;
  }
  return html;
}

const QUOTED = quotedChain(12); // ~30 KB of HTML
const ATTACHMENT = Buffer.alloc(200 * 1024, 'bench-attachment-').toString('base64').replace(/.{76}/g, '$&\r\n');

function makeMessages(n: number, prefix: string): BenchMessage[] {
  const out: BenchMessage[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${i}@customer.bench.example`;
    const from = `Customer ${i % 700} <customer${i % 700}@customer.bench.example>`;
    const head = [`From: ${from}`, `To: ${ADDRESS}`, `Message-ID: <${id}>`, 'Date: Mon, 02 Mar 2026 09:00:00 +0000', 'MIME-Version: 1.0'];
    const slot = i % 10;
    let kind: BenchMessage['kind'];
    let body: string[];
    if (slot >= 8 && i >= 10) {
      kind = 'reply';
      const target = `${prefix}-${i - 8}@customer.bench.example`; // a plain new-case message
      body = [`Subject: Re: Problem ${i - 8}`, `In-Reply-To: <${target}>`, `References: <${target}>`, 'Content-Type: text/plain; charset=utf-8', '', `More detail for you.\r\n\r\nOn Mon, Customer wrote:\r\n> ${LOREM}`];
    } else if (slot >= 4 && slot <= 6) {
      kind = 'html-quoted';
      body = [`Subject: Problem ${i}`, 'Content-Type: text/html; charset=utf-8', '', `<html><body><p>New question ${i}: ${LOREM}</p>${QUOTED}</body></html>`];
    } else if (slot === 7) {
      kind = 'attachment';
      body = [
        `Subject: Problem ${i} (screenshot attached)`,
        'Content-Type: multipart/mixed; boundary="b"',
        '',
        '--b',
        'Content-Type: text/plain; charset=utf-8',
        '',
        `See the attachment. ${LOREM}`,
        '--b',
        'Content-Type: application/octet-stream; name="dump.bin"',
        'Content-Disposition: attachment; filename="dump.bin"',
        'Content-Transfer-Encoding: base64',
        '',
        ATTACHMENT,
        '--b--',
      ];
    } else {
      kind = 'plain';
      body = [`Subject: Problem ${i}`, 'Content-Type: text/plain; charset=utf-8', '', `Hello,\r\n\r\n${LOREM.repeat(3)}\r\n\r\nRegards\r\nCustomer ${i}`];
    }
    out.push({ id, kind, raw: Buffer.from([...head, ...body].join('\r\n') + '\r\n') });
  }
  return out;
}

// ------------------------------------------------------------------ helpers

function writeBenchConfig(dir: string, extra: Record<string, unknown>): string {
  const file = join(dir, 'casegate.yaml');
  writeFileSync(
    file,
    stringify({
      dataDir: 'data',
      instance: { name: 'Bench Support', domain: 'bench.example', secret: 'bench-secret-0123456789abcdef' },
      log: { level: 'warn' },
      autoReply: { perSenderPerHour: 100_000 },
      templates: { watch: false },
      ...extra,
    }),
  );
  return file;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number): { rss: number; hwm: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

// ------------------------------------------------------------------ 1. in-process floor

async function floor(messages: readonly BenchMessage[]): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-bench-floor-'));
  try {
    const resolved = loadConfig({ path: writeBenchConfig(dir, { mailboxes: [{ name: 'support', addresses: [ADDRESS] }], listener: { enabled: false } }), env: {} });
    const ctx = await createContext({ resolved, log: silentLogger() });
    const mime = nodemailer.createTransport({ streamTransport: true, buffer: true });
    const transport: MailTransport = {
      name: 'discard',
      async send(message) {
        await mime.sendMail(message);
        return { response: 'discarded' };
      },
      close: () => mime.close(),
    };
    const worker = new OutboxWorker(ctx, transport);
    const mailbox = ctx.mailboxes.default;
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (;;) {
          const m = messages[next++];
          if (m === undefined) return;
          const raw = await ctx.blobs.put(Readable.from([m.raw]));
          const outcome = await runPipeline(ctx, { channel: 'test', mailbox, envelopeFrom: null, envelopeTo: [ADDRESS], receivedAt: ctx.clock.now(), raw });
          if (outcome.kind !== 'stored') throw new Error(`floor: ${m.id} ${outcome.kind}: ${outcome.reason}`);
        }
      }),
    );
    await worker.drain();
    const seconds = (performance.now() - t0) / 1000;
    transport.close();
    await closeContext(ctx);
    return messages.length / seconds;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ SMTP sink (light: no MIME parsing)

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

// ------------------------------------------------------------------ 2 + 3. end to end

interface EndToEnd {
  readonly ingestPerS: number;
  readonly latencies: number[];
  readonly peakRssMb: number;
}

async function endToEnd(messages: readonly BenchMessage[], expectedConfirmations: number): Promise<EndToEnd> {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-bench-e2e-'));
  let dovecot: DovecotServer | null = null;
  let daemon: ChildProcess | null = null;
  const sink = await startSink();
  try {
    dovecot = await startDovecot({ users: [{ user: 'support', password: 'bench-pass' }] });
    const client = await dovecot.connect('support');
    const tAppend = performance.now();
    for (const m of messages) await client.append('INBOX', m.raw);
    await client.logout();
    console.error(`bench: appended ${messages.length} messages to Dovecot in ${((performance.now() - tAppend) / 1000).toFixed(1)} s`);

    const config = writeBenchConfig(dir, {
      mailboxes: [
        {
          name: 'support',
          addresses: [ADDRESS],
          imap: { host: dovecot.host, port: dovecot.port, tls: 'none', auth: { method: 'password', user: 'support', password: 'bench-pass' }, concurrency: CONCURRENCY },
        },
      ],
      listener: { enabled: false },
      outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false, maxConnections: 5 }, sweepSeconds: 1 },
    });
    const t0 = performance.now();
    // Started as `npm start` / the casegate bin start it: with the daemon's heap budget (--max-old-space-size=192).
    daemon = spawn(process.execPath, ['--max-old-space-size=192', CLI, '--config', config, 'start'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const pid = daemon.pid ?? 0;
    let peak = 0;
    const dbPath = join(dir, 'data', 'casegate.db');
    let db: SQLite.Database | null = null;
    for (;;) {
      peak = Math.max(peak, rssMb(pid).rss);
      if (daemon.exitCode !== null) throw new Error(`daemon exited with ${daemon.exitCode}`);
      try {
        db ??= new SQLite(dbPath, { readonly: true, fileMustExist: true });
        const r = db.prepare("select count(*) as n from receipts").get() as { n: number };
        if (r.n >= messages.length && sink.count >= expectedConfirmations) break;
      } catch {
        // database not created yet
      }
      if (performance.now() - t0 > 600_000) throw new Error('backlog did not finish in 10 minutes');
      await sleep(50);
    }
    const seconds = (performance.now() - t0) / 1000;
    const counts = db!.prepare('select outcome, count(*) as n from receipts group by outcome').all();
    console.error(`bench: backlog of ${messages.length} done in ${seconds.toFixed(2)} s: ${JSON.stringify(counts)}; confirmations at the sink: ${sink.count}`);
    db?.close();

    // Live: one message at a time while the daemon idles.
    await sleep(1500);
    const live = makeMessages(LIVE, `live-${Date.now()}`).filter((m) => m.kind !== 'reply');
    const liveClient = await dovecot.connect('support');
    const latencies: number[] = [];
    for (const m of live) {
      await liveClient.append('INBOX', m.raw);
      const appended = performance.now();
      const deadline = appended + 30_000;
      while (!sink.arrivals.has(m.id) && performance.now() < deadline) {
        peak = Math.max(peak, rssMb(pid).rss);
        await sleep(5);
      }
      const at = sink.arrivals.get(m.id);
      if (at === undefined) throw new Error(`live message ${m.id} got no confirmation within 30 s`);
      latencies.push(at - appended);
      await sleep(100);
    }
    await liveClient.logout();
    peak = Math.max(peak, rssMb(pid).hwm);
    return { ingestPerS: messages.length / seconds, latencies: latencies.sort((a, b) => a - b), peakRssMb: peak };
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

async function main(): Promise<void> {
  const messages = makeMessages(N, `bench-${Date.now()}`);
  const mix: Record<string, number> = {};
  for (const m of messages) mix[m.kind] = (mix[m.kind] ?? 0) + 1;
  const newCases = messages.filter((m) => m.kind !== 'reply').length;
  console.error(`bench: N=${N} ${JSON.stringify(mix)}, ${(messages.reduce((s, m) => s + m.raw.length, 0) / 1048576).toFixed(1)} MB`);

  const floorPerS = await floor(messages);
  console.error(`bench: floor ${floorPerS.toFixed(0)} msg/s (in process, no network)`);
  if (process.env['BENCH_ONLY'] === 'floor') return;
  const e2e = await endToEnd(messages, newCases);
  const result = {
    n: N,
    ingest_msgs_per_s: Math.round(e2e.ingestPerS),
    floor_msgs_per_s: Math.round(floorPerS),
    ratio: Number((e2e.ingestPerS / floorPerS).toFixed(2)),
    latency_p50_ms: Math.round(percentile(e2e.latencies, 50)),
    latency_p99_ms: Math.round(percentile(e2e.latencies, 99)),
    live_samples: e2e.latencies.length,
    peak_rss_mb: Math.round(e2e.peakRssMb),
  };
  console.log(
    [
      '',
      `backlog ingest (IMAP → cases → confirmations at the sink): ${result.ingest_msgs_per_s} msg/s`,
      `in-process floor (parse + store + render + compose):        ${result.floor_msgs_per_s} msg/s`,
      `ratio end-to-end / floor:                                   ${result.ratio}   (target ≥ 0.5)`,
      `live IDLE latency APPEND → confirmation: p50 ${result.latency_p50_ms} ms, p99 ${result.latency_p99_ms} ms over ${result.live_samples}   (targets ≤ 1000 / ≤ 3000)`,
      `daemon peak RSS:                                            ${result.peak_rss_mb} MB   (target ≤ 200)`,
    ].join('\n'),
  );
  console.log(JSON.stringify(result));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
