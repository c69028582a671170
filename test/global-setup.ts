import { startPgCluster } from './helpers/pg-cluster.js';

/**
 * The suite runs against SQLite (default) or PostgreSQL (CASEGATE_TEST_DB=postgres). For the
 * PostgreSQL pass this starts a private cluster (test/helpers/pg-cluster.ts) unless
 * CASEGATE_TEST_PG_URL names one already, and stops it at the end. Every test environment then
 * gets its own schema in it (test/helpers/test-db.ts), so files run in parallel, isolated.
 */
export default async function setup(): Promise<(() => void) | undefined> {
  if (process.env['CASEGATE_TEST_DB'] !== 'postgres') return undefined;
  if ((process.env['CASEGATE_TEST_PG_URL'] ?? '') !== '') return undefined;
  const cluster = await startPgCluster();
  process.env['CASEGATE_TEST_PG_URL'] = cluster.url;
  console.log(`[casegate tests] PostgreSQL pass: private cluster on 127.0.0.1:${cluster.port} (${cluster.dir})`);
  return () => cluster.stop();
}
