/**
 * A seeded history to measure one-shot commands against (`casegate status`, `report`, `cases list`)
 * at scale: `node dist/bench/seed-scale.js [sqlite|postgres|both]` makes a data directory per
 * backend under TMPDIR with BENCH_SEED (default 1,000,000) stored messages of history
 * (bench/seed.ts, bench/seed-postgres.ts, plus the search index), and prints each one's config file.
 * PostgreSQL: a private cluster (test/helpers/pg-cluster.ts, fsync off, shared_buffers 256 MB) is
 * started under TMPDIR and left running; the printed line says how to stop it.
 */
import { loadConfig } from '../src/config/load.js';
import { prepareDataDir, seedHistoryIn, useBenchPostgres } from './product.js';
import { pgBinDir, startPgCluster } from '../test/helpers/pg-cluster.js';

const which = process.argv[2] ?? 'both';
const messages = Number(process.env['BENCH_SEED'] ?? 1_000_000);

async function one(backend: 'sqlite' | 'postgres'): Promise<void> {
  const data = await prepareDataDir();
  const s = await seedHistoryIn(data, messages);
  const r = loadConfig({ path: data.config, env: {} });
  console.log(`${backend}: ${s.messages} messages, ${s.cases} cases in ${s.seconds.toFixed(1)} s, ${(s.dbBytes / 1e6).toFixed(0)} MB — casegate --config ${data.config} (data ${r.paths.dataDir})`);
}

if (which === 'sqlite' || which === 'both') await one('sqlite');
if (which === 'postgres' || which === 'both') {
  const cluster = await startPgCluster({ sharedBuffers: process.env['BENCH_PG_SHARED_BUFFERS'] ?? '256MB', maxConnections: 100 });
  useBenchPostgres(cluster.url);
  await one('postgres');
  console.log(`postgres: cluster ${cluster.url} in ${cluster.dir}; stop: ${pgBinDir()}/pg_ctl -D ${cluster.dir}/data -m fast stop (as postgres when root)`);
}
