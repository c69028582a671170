/**
 * casegate itself, in process: the same messages through createContext → blob store → runPipeline,
 * with the outbox worker running alongside (as in the daemon) and building every email's MIME
 * with nodemailer's stream transport (discarded: no network).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import { stringify } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import type { Kysely } from 'kysely';
import { databaseTarget, openDatabase } from '../src/db/database.js';
import { startPgCluster, type PgCluster } from '../test/helpers/pg-cluster.js';
import { seedHistory, type SeedResult } from './seed.js';
import { seedHistoryPostgres } from './seed-postgres.js';
import { nextDueAt } from '../src/db/repos/outbox.js';
import { rebuildSearchIndex } from '../src/db/repos/search.js';
import { closeContext, createContext } from '../src/context.js';
import { silentLogger } from '../src/log.js';
import { OutboxWorker } from '../src/mail-out/outbox-worker.js';
import type { MailTransport } from '../src/mail-out/transport.js';
import { runPipeline } from '../src/pipeline/run-pipeline.js';
import { ADDRESS, type BenchMessage } from './mix.js';

export function writeBenchConfig(dir: string, extra: Record<string, unknown>): string {
  const file = join(dir, 'casegate.yaml');
  writeFileSync(
    file,
    stringify({
      dataDir: 'data',
      instance: { name: 'Bench Support', domain: 'bench.example', secret: 'bench-secret-0123456789abcdef-0123456789' },
      log: { level: process.env['BENCH_LOG_LEVEL'] ?? 'warn' },
      // The mixes' 2,000 messages come from 700 senders (bench/mix.ts), several of them within a
      // backlog's few seconds: the loop guards would rightly answer only the first of each
      // (autoReply.minIntervalSeconds: one confirmation a sender per 120 s), and the bench compares
      // a confirmation for every new case with the floor's. The guards' queries still run.
      autoReply: { perSenderPerHour: 100_000, minIntervalSeconds: 0 },
      templates: { watch: false },
      ...extra,
    }),
  );
  return file;
}

/** BENCH_DB=postgres: the bench's PostgreSQL (bench/run.ts sets the URL); each data directory gets a schema of its own. */
let benchPgUrl: string | null = null;
let schemas = 0;
export function useBenchPostgres(url: string): void {
  benchPgUrl = url;
}
export const benchBackend = (): 'sqlite' | 'postgres' => (benchPgUrl !== null ? 'postgres' : 'sqlite');

/**
 * A one-file bench on `backend`: on PostgreSQL a private cluster, which every data directory made
 * after it uses (stop it at the end); null on SQLite.
 */
export async function startBenchBackend(backend: 'sqlite' | 'postgres'): Promise<PgCluster | null> {
  if (backend !== 'postgres') return null;
  const cluster = await startPgCluster({ sharedBuffers: '256MB', maxConnections: 50 });
  useBenchPostgres(cluster.url);
  return cluster;
}

/** A data directory with a migrated (empty) casegate database; the caller may seed it (seedHistoryIn). */
export async function prepareDataDir(): Promise<{ dir: string; config: string; dbPath: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-bench-product-'));
  // BENCH_PG_PREPARED=0: database.preparedStatements false, to measure what named statements bring.
  const preparedStatements = process.env['BENCH_PG_PREPARED'] !== '0';
  const database = benchPgUrl !== null ? { database: { url: benchPgUrl, schema: `bench_${process.pid}_${++schemas}`, poolSize: 12, preparedStatements } } : {};
  const config = writeBenchConfig(dir, { mailboxes: [{ name: 'support', addresses: [ADDRESS] }], listener: { enabled: false }, ...database });
  const ctx = await createContext({ resolved: loadConfig({ path: config, env: {} }), log: silentLogger() });
  const dbPath = ctx.paths.dbPath;
  await closeContext(ctx);
  return { dir, config, dbPath };
}

/** Seed `messages` stored messages of history into the database of a prepared data directory (either backend). */
export async function seedHistoryIn(data: { config: string; dbPath: string }, messages: number): Promise<SeedResult> {
  const seeded = benchPgUrl === null ? seedHistory(data.dbPath, messages) : null;
  const r = loadConfig({ path: data.config, env: {} });
  const db = openDatabase(databaseTarget(r.config, r.paths));
  try {
    const s = seeded ?? (await seedHistoryPostgres(db as unknown as Kysely<unknown>, messages));
    // The seed writes rows with SQL; the search index is made in JavaScript (as migration 0025 does).
    const t = performance.now();
    const indexed = await rebuildSearchIndex(db);
    if (process.env['BENCH_SEED_DEBUG'] === '1') console.error(`seed: search index ${indexed} messages ${((performance.now() - t) / 1000).toFixed(2)} s`);
    return { ...s, seconds: s.seconds + (performance.now() - t) / 1000 };
  } finally {
    await db.destroy();
  }
}

export function removeDataDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Messages per second through casegate in this process, `inFlight` at a time, until every email is built. */
export async function runProduct(config: string, messages: readonly BenchMessage[], inFlight: number): Promise<number> {
  const ctx = await createContext({ resolved: loadConfig({ path: config, env: {} }), log: silentLogger(), backgroundCheckpoints: true });
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
  try {
    const t0 = performance.now();
    worker.start();
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        for (;;) {
          const m = messages[next++];
          if (m === undefined) return;
          const raw = await ctx.blobs.put(Readable.from([m.raw]));
          const outcome = await runPipeline(ctx, { channel: 'test', mailbox, envelopeFrom: null, envelopeTo: [ADDRESS], receivedAt: ctx.clock.now(), raw });
          if (outcome.kind !== 'stored') throw new Error(`product: ${m.id} ${outcome.kind}: ${outcome.reason}`);
        }
      }),
    );
    // The worker runs alongside (woken by each commit, as in the daemon): wait until nothing is queued.
    while ((await nextDueAt(ctx.db)) !== null) await new Promise((r) => setTimeout(r, 5));
    const seconds = (performance.now() - t0) / 1000;
    return messages.length / seconds;
  } finally {
    await worker.stop();
    transport.close();
    await closeContext(ctx);
  }
}
