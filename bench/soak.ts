/**
 * `npm run soak` — the daemon as one long-lived process under mixed load, for an hour or more
 * (never part of the test suite). docs/development.md, "Soak".
 *
 * Starts its own servers — a private Dovecot (mailboxes support and billing, read over IMAP IDLE),
 * an SMTP relay (bench/soak-relay.ts) and, with --db postgres, a private PostgreSQL cluster — and
 * the built daemon as `npm start` runs it (dist/bin/casegate.js, heap capped at 192 MB), with a
 * compressed clock (bench/soak-config.ts). Sends the mix of bench/soak-traffic.ts at --rate actions
 * a second; every --flood-minutes one sender's flood, every --large-minutes a large message;
 * restarts Dovecot every --dovecot-restart-minutes, lets the relay answer 451 to every email for a
 * minute every --relay-outage-minutes and restarts the relay every --relay-restart-minutes.
 * Samples the daemon every --sample-seconds (bench/soak-probe.ts). After the traffic, --idle-minutes
 * of idling (log volume of an idle daemon), then the verdict:
 *  - every message the daemon accepted has exactly one receipt, and nothing it refused has one;
 *  - no Message-ID reached the relay twice;
 *  - the outbox is empty but for emails to the addresses the relay refuses;
 *  - the daemon stops cleanly.
 * Prints a line per sample while it runs and, last, one JSON object: options, verdict, totals and
 * the curves (one point per sample). Exit 1 when the verdict fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { findFreePort, startDovecot } from '../test/helpers/dovecot-server.js';
import { startPgCluster, type PgCluster } from '../test/helpers/pg-cluster.js';
import { writeSoakConfig } from './soak-config.js';
import { dirSize, fetchMetrics, fileSize, metricValue, procSample, round, trends } from './soak-probe.js';
import { startSoakRelay } from './soak-relay.js';
import { AGENTS, Traffic } from './soak-traffic.js';
import { DaemonLog } from './soak-log.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    'idle-minutes': { type: 'string', default: '3' },
    rate: { type: 'string', default: '1.5' },
    db: { type: 'string', default: 'sqlite' },
    'sample-seconds': { type: 'string', default: '30' },
    'dovecot-restart-minutes': { type: 'string', default: '4' },
    'relay-outage-minutes': { type: 'string', default: '12' },
    'relay-restart-minutes': { type: 'string', default: '10' },
    'flood-minutes': { type: 'string', default: '7' },
    'large-minutes': { type: 'string', default: '5' },
    'large-mb': { type: 'string', default: '8' },
    heap: { type: 'string', default: '192' },
    'log-level': { type: 'string', default: 'info' },
    keep: { type: 'boolean', default: false },
  },
});
const num = (key: keyof typeof args): number => Number(args[key]);
const MIN = 60_000;
const opts = {
  minutes: num('minutes'),
  idleMinutes: num('idle-minutes'),
  rate: num('rate'),
  db: args.db === 'postgres' ? 'postgres' : 'sqlite',
  sampleSeconds: num('sample-seconds'),
  dovecotRestartMinutes: num('dovecot-restart-minutes'),
  relayOutageMinutes: num('relay-outage-minutes'),
  relayRestartMinutes: num('relay-restart-minutes'),
  floodMinutes: num('flood-minutes'),
  largeMinutes: num('large-minutes'),
  largeMb: num('large-mb'),
  heapMb: num('heap'),
} as const;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const say = (s: string): void => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

const dir = mkdtempSync(join(tmpdir(), 'casegate-soak-'));
say(`soak ${JSON.stringify(opts)} in ${dir}`);
cpSync(join(ROOT, 'templates'), join(dir, 'templates'), { recursive: true });
const dovecot = await startDovecot({ users: ['support', 'billing'].map((u) => ({ user: u, password: `pw-${u}` })) });
const cluster: PgCluster | null = opts.db === 'postgres' ? await startPgCluster() : null;
const ports = { imap: { host: dovecot.host, port: dovecot.port }, relay: await findFreePort(), listener: await findFreePort(), web: await findFreePort(), ops: await findFreePort() };
const relay = await startSoakRelay(ports.relay, { isAgent: (a) => AGENTS.some((x) => x.address === a), linkPrefix: `http://127.0.0.1:${ports.web}/` });
const configPath = writeSoakConfig(dir, ports, { pgUrl: cluster?.url ?? null, templates: join(dir, 'templates'), logLevel: String(args['log-level']) });
const bin = join(ROOT, 'dist', 'bin', 'casegate.js');
const dbPath = join(dir, 'data', 'casegate.db');

const log = new DaemonLog(createWriteStream(join(dir, 'daemon.log')));
const daemon: ChildProcess = spawn(process.execPath, [...(opts.heapMb > 0 ? [`--max-old-space-size=${opts.heapMb}`, '--max-semi-space-size=2'] : []), bin, '-c', configPath, 'start'], {
  env: { ...process.env, MALLOC_ARENA_MAX: '2' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
createInterface({ input: daemon.stdout! }).on('line', (line) => log.line(line));
daemon.stderr!.on('data', (b: Buffer) => log.line(`STDERR ${b.toString()}`));
const exited = new Promise<{ code: number | null; signal: string | null }>((r) => daemon.once('exit', (code, signal) => r({ code, signal })));
await Promise.race([log.started, exited.then((e) => Promise.reject(new Error(`the daemon exited at start: ${JSON.stringify(e)} (${dir}/daemon.log)`)))]);
const pid = daemon.pid!;
say(`daemon ${pid} up; dovecot :${dovecot.port}, relay :${ports.relay}, listener :${ports.listener}, web :${ports.web}, ops :${ports.ops}`);

const traffic = new Traffic({ dovecot, relay, listenerPort: ports.listener, cli: [process.execPath, bin, '-c', configPath], largeMb: opts.largeMb });

async function query<T>(sql: string): Promise<T[]> {
  if (cluster !== null) {
    const client = new pg.Client({ connectionString: cluster.url });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }
  const db = new SQLite(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

const ROW_TABLES = ['receipts', 'messages', 'cases', 'events', 'outbox'] as const;
async function dbSample(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  try {
    const counts = await query<Record<string, number | string>>(`SELECT ${ROW_TABLES.map((t) => `(SELECT count(*) FROM ${t}) AS ${t}`).join(', ')}`);
    for (const t of ROW_TABLES) out[t] = Number(counts[0]?.[t] ?? 0);
    if (cluster !== null) {
      const size = await query<{ s: string }>('SELECT pg_database_size(current_database()) AS s');
      out['dbMb'] = round(Number(size[0]?.s ?? 0) / 1048576, 1);
    } else {
      out['dbMb'] = round(fileSize(dbPath) / 1048576, 1);
      out['walMb'] = round(fileSize(`${dbPath}-wal`) / 1048576, 1);
    }
  } catch (err) {
    say(`db sample failed: ${(err as Error).message}`);
  }
  return out;
}

const t0 = Date.now();
const curve: Record<string, unknown>[] = [];
let lastCpu = procSample(pid)?.cpuMs ?? 0;
let lastAt = t0;
let lastReceipts = 0;
/** The daemon's own arrival → commit time per channel (casegate_message_commit_seconds), between two samples. */
const lastCommit = new Map<string, { sum: number; count: number }>();
function commitMeanMs(metrics: string, channel: string): number | null {
  const sum = metricValue(metrics, 'casegate_message_commit_seconds_sum', { channel });
  const count = metricValue(metrics, 'casegate_message_commit_seconds_count', { channel });
  if (sum === null || count === null) return null;
  const before = lastCommit.get(channel) ?? { sum: 0, count: 0 };
  lastCommit.set(channel, { sum, count });
  return count > before.count ? round(((sum - before.sum) / (count - before.count)) * 1000) : null;
}
async function sample(phase: string): Promise<void> {
  const proc = procSample(pid);
  const metrics = await fetchMetrics(`http://127.0.0.1:${ports.ops}/metrics`);
  const db = await dbSample();
  const data = dirSize(join(dir, 'data'));
  const window = log.takeWindow(traffic.accepted);
  const now = Date.now();
  const receipts = db['receipts'] ?? lastReceipts;
  const point = {
    t: round((now - t0) / 1000),
    phase,
    rssMb: proc?.rssMb ?? null,
    heapMb: round((metricValue(metrics, 'nodejs_heap_size_used_bytes') ?? 0) / 1048576, 1),
    handles: metricValue(metrics, 'nodejs_active_handles_total'),
    timers: metricValue(metrics, 'nodejs_active_resources', { type: 'Timeout' }),
    fds: proc?.fds ?? null,
    sockets: proc?.sockets ?? null,
    files: proc?.files ?? null,
    threads: proc?.threads ?? null,
    lagP99Ms: round((metricValue(metrics, 'nodejs_eventloop_lag_p99_seconds') ?? 0) * 1000, 1),
    commitSmtpMs: commitMeanMs(metrics, 'smtp'),
    commitImapMs: commitMeanMs(metrics, 'imap'),
    cpuPct: proc === null ? null : round(((proc.cpuMs - lastCpu) / (now - lastAt)) * 100),
    cpuMsPerReceipt: proc === null || receipts === lastReceipts ? null : round((proc.cpuMs - lastCpu) / (receipts - lastReceipts)),
    ...db,
    dataMb: round(data.bytes / 1048576, 1),
    dataFiles: data.files,
    sentByRelay: relay.accepted(),
    ...window,
  };
  lastCpu = proc?.cpuMs ?? lastCpu;
  lastAt = now;
  lastReceipts = receipts;
  curve.push(point);
  say(`sample ${JSON.stringify(point)}`);
}

let stop = false;
const inFlight = new Set<Promise<void>>();
const launch = (p: Promise<void>): void => {
  const tracked = p.catch((err: unknown) => say(`traffic error: ${(err as Error).message}`)).finally(() => inFlight.delete(tracked));
  inFlight.add(tracked);
};
const load = (async () => {
  while (!stop) {
    if (inFlight.size < 6) launch(traffic.one());
    await sleep(Math.min(5, -Math.log(1 - Math.random())) * (1000 / opts.rate));
  }
})();
const every = (minutes: number, from: number, what: string, act: () => Promise<void>): Promise<void> =>
  (async () => {
    if (!(minutes > 0)) return;
    for (let k = 1; ; k += 1) {
      const at = t0 + (Math.min(from, minutes) + (k - 1) * minutes) * MIN;
      if (at > t0 + (opts.minutes - 1) * MIN) return;
      while (Date.now() < at) {
        if (stop) return;
        await sleep(Math.min(1000, at - Date.now()));
      }
      say(what);
      await act().catch((err: unknown) => say(`${what} failed: ${(err as Error).message}`));
    }
  })();
const disturbances = [
  every(opts.dovecotRestartMinutes, 3, 'dovecot restart', () => dovecot.restart()),
  every(opts.relayOutageMinutes, 9, 'relay answers 451 for 60 s', async () => {
    relay.failing(true);
    await sleep(60_000);
    relay.failing(false);
  }),
  every(opts.relayRestartMinutes, 6, 'relay restart (down 5 s)', () => relay.restart(5_000)),
  every(opts.floodMinutes, 2, 'flood of 15 from one sender', () => traffic.flood(15)),
  every(opts.largeMinutes, 1, `large message (${opts.largeMb} MB)`, () => traffic.large()),
];
const sampler = (async () => {
  while (!stop) {
    await sample('load');
    const next = Date.now() + opts.sampleSeconds * 1000;
    while (!stop && Date.now() < next) await sleep(500);
  }
})();

await sleep(opts.minutes * MIN);
stop = true;
await Promise.all([load, sampler, ...disturbances]);
await Promise.all(inFlight);
relay.failing(false);
say(`traffic over: ${traffic.accepted.size} accepted, ${traffic.refused.length} refused; idling ${opts.idleMinutes} min`);
const idleFrom = Date.now();
log.markIdle(idleFrom);
while (Date.now() < idleFrom + opts.idleMinutes * MIN) {
  await sleep(Math.min(opts.sampleSeconds * 1000, idleFrom + opts.idleMinutes * MIN - Date.now()));
  await sample('idle');
}
const idle = log.idleSummary();

// The verdict.
const receipts = await query<{ message_id: string; n: number | string; outcomes: string }>(
  cluster !== null
    ? `SELECT message_id, count(*) AS n, string_agg(outcome, ',') AS outcomes FROM receipts GROUP BY message_id`
    : `SELECT message_id, count(*) AS n, group_concat(outcome) AS outcomes FROM receipts GROUP BY message_id`,
);
const byId = new Map(receipts.filter((r) => r.message_id !== null).map((r) => [r.message_id.replace(/^<|>$/g, ''), { n: Number(r.n), outcomes: r.outcomes }]));
const missing = [...traffic.accepted.values()].filter((a) => !byId.has(a.id));
const multi = [...traffic.accepted.values()].filter((a) => (byId.get(a.id)?.n ?? 0) > 1).map((a) => ({ ...a, ...byId.get(a.id) }));
const refusedButStored = traffic.refused.filter((r) => byId.has(r.id));
const outcomes: Record<string, number> = {};
for (const a of traffic.accepted.values()) {
  const k = `${a.kind} → ${byId.get(a.id)?.outcomes ?? 'none'}`;
  outcomes[k] = (outcomes[k] ?? 0) + 1;
}
const outbox = await query<{ status: string; kind: string; n: number | string }>('SELECT status, kind, count(*) AS n FROM outbox GROUP BY status, kind');
const refusedSet = new Set(traffic.refusedCustomers);
const unsent = await query<{ id: number; kind: string; status: string; to_address: string }>(`SELECT id, kind, status, to_address FROM outbox WHERE status IN ('queued', 'failed')`);
const unexplained = unsent.filter((o) => !refusedSet.has(String(o.to_address).toLowerCase()));
const duplicates = relay.duplicates();

daemon.kill('SIGTERM');
const stopStart = Date.now();
const exit = await Promise.race([exited, sleep(30_000).then(() => ({ code: null, signal: 'timeout' }))]);
const stopMs = Date.now() - stopStart;
const verdict = {
  accepted: traffic.accepted.size,
  refusedByDaemon: traffic.refused.length,
  missingReceipt: missing.length,
  moreThanOneReceipt: multi.length,
  refusedButStored: refusedButStored.length,
  sentTwice: duplicates.length,
  outboxNotSentUnexplained: unexplained.length,
  cleanStop: exit.code === 0,
};
const ok = verdict.missingReceipt === 0 && verdict.moreThanOneReceipt === 0 && verdict.refusedButStored === 0 && verdict.sentTwice === 0 && verdict.outboxNotSentUnexplained === 0 && verdict.cleanStop;
say(`verdict ${ok ? 'OK' : 'FAILED'} ${JSON.stringify(verdict)}`);
if (missing.length > 0) say(`missing: ${JSON.stringify(missing.slice(0, 10))}`);
if (multi.length > 0) say(`more than one receipt: ${JSON.stringify(multi.slice(0, 10))}`);
if (refusedButStored.length > 0) say(`refused but stored: ${JSON.stringify(refusedButStored.slice(0, 10))}`);
if (duplicates.length > 0) say(`sent twice: ${JSON.stringify(duplicates.slice(0, 10))}`);
if (unexplained.length > 0) say(`outbox not sent: ${JSON.stringify(unexplained.slice(0, 10))}`);
const summary = {
  options: opts,
  dir,
  ok,
  verdict,
  stop: { ...exit, ms: stopMs },
  traffic: { kinds: Object.fromEntries(traffic.kinds), outcomes, refused: traffic.refused.slice(0, 20), cli: traffic.cli, web: traffic.web },
  relay: { accepted: relay.accepted(), ...relay.stats() },
  outbox,
  log: log.summary(),
  idle,
  latencyMs: log.latencyOverall(),
  trends: trends(curve, ['rssMb', 'heapMb', 'handles', 'timers', 'fds', 'sockets', 'threads', 'lagP99Ms', 'commitSmtpMs', 'commitImapMs', 'latencyP50Ms', 'latencyP99Ms', 'cpuMsPerReceipt', 'dbMb', 'walMb', 'dataMb', 'logKb', 'warnLines']),
  curve,
};
writeFileSync(join(dir, 'soak.json'), JSON.stringify(summary, null, 1));
traffic.close();
await relay.close();
await dovecot.stop();
cluster?.stop();
if (!args.keep && ok) rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
