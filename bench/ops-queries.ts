/**
 * Every statement `casegate status`, `casegate report` and a /metrics scrape run, timed and
 * explained, on a data directory's database (either backend): `node dist/bench/ops-queries.js
 * CONFIG [status|report|metrics] [--since 7d] [--plans]` (metrics: the stored state a scrape reads,
 * Metrics.render; run it twice, `metrics metrics`, to time a second scrape too). Each command's statements run as the command runs them (statusReport,
 * buildReport), through a Kysely that records them with their time; `--plans` then prints each
 * one's plan (PostgreSQL: EXPLAIN (ANALYZE, BUFFERS); SQLite: EXPLAIN QUERY PLAN). Made to find
 * what grows with the history (bench/seed-scale.ts makes one).
 */
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, type CompiledQuery, type LogEvent } from 'kysely';
import pg from 'pg';
import { loadConfig } from '../src/config/load.js';
import { closeContext, createContext } from '../src/context.js';
import { createPostgresPool } from '../src/db/dialect-postgres.js';
import type { Database } from '../src/db/schema.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/ops/metrics.js';
import { statusReport } from '../src/ops/status-report.js';
import { buildReport } from '../src/reports/report.js';
import { parseSince } from '../src/cli/report.js';

const [config, what = 'status', ...rest] = process.argv.slice(2);
if (config === undefined) throw new Error('usage: ops-queries CONFIG [status|report|metrics] [--since 7d] [--plans]');
const since = rest.includes('--since') ? rest[rest.indexOf('--since') + 1]! : '7d';
const plans = rest.includes('--plans');

const resolved = loadConfig({ path: config, env: {} });
const ctx = await createContext({ resolved, log: silentLogger() });
const d = resolved.config.database;
const ran: { q: CompiledQuery; ms: number }[] = [];
const log = (e: LogEvent): void => void ran.push({ q: e.query, ms: e.queryDurationMillis });
const postgres = d.driver === 'postgres';
const capture = postgres
  ? new Kysely<Database>({ dialect: new PostgresDialect({ pool: createPostgresPool({ url: d.url!, schema: d.schema, poolSize: 4, lockTimeoutMs: 5000 }) }), log })
  : new Kysely<Database>({ dialect: new SqliteDialect({ database: new SQLite(ctx.paths.dbPath, { readonly: true }) }), log });
const run = { ...ctx, db: capture };

const t0 = performance.now();
if (what === 'status') await statusReport(run);
else if (what === 'metrics') {
  const metrics = new Metrics('bench');
  await metrics.render(run, { outboxPaused: () => false });
  if (rest.includes('metrics')) {
    // A second scrape (warm caches), timed on its own.
    const first = performance.now() - t0;
    ran.length = 0;
    const t1 = performance.now();
    await metrics.render(run, { outboxPaused: () => false });
    console.log(`first scrape ${first.toFixed(1)} ms; second scrape ${(performance.now() - t1).toFixed(1)} ms`);
  }
} else {
  const now = ctx.clock.now();
  const from = parseSince(since, now, resolved.config.jobs.timezone)!;
  await buildReport(capture, resolved.config, { from, to: now, periodName: 'custom', zone: resolved.config.jobs.timezone, now });
}
const total = performance.now() - t0;
console.log(`${what}${what === 'report' ? ` --since ${since}` : ''} on ${d.driver}: ${ran.length} statements, ${total.toFixed(1)} ms in all`);
for (const { q, ms } of [...ran].sort((a, b) => b.ms - a.ms)) console.log(`${ms.toFixed(2).padStart(9)} ms  ${q.sql.replace(/\s+/g, ' ').slice(0, 220)}`);

if (plans) {
  if (postgres) {
    const explain = new pg.Pool({ connectionString: d.url!, options: `-c search_path=${d.schema}`, max: 1 });
    for (const { q } of ran) {
      if (!/^\s*select/i.test(q.sql)) continue;
      const r = await explain.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${q.sql}`, q.parameters as unknown[]);
      console.log(`\n${q.sql}\n  ${JSON.stringify(q.parameters)}\n${r.rows.map((x) => `    ${x['QUERY PLAN']}`).join('\n')}`);
    }
    await explain.end();
  } else {
    const conn = new SQLite(ctx.paths.dbPath, { readonly: true });
    for (const { q } of ran) {
      if (!/^\s*select/i.test(q.sql)) continue;
      const rows = conn.prepare(`explain query plan ${q.sql}`).all(...(q.parameters as unknown[])) as { detail: string }[];
      console.log(`\n${q.sql}\n  ${JSON.stringify(q.parameters)}\n${rows.map((x) => `    ${x.detail}`).join('\n')}`);
    }
    conn.close();
  }
}
await capture.destroy();
await closeContext(ctx);
