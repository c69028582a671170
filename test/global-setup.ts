import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPgCluster } from './helpers/pg-cluster.js';

/**
 * The suite runs against SQLite (default) or PostgreSQL (CASEGATE_TEST_DB=postgres). For the
 * PostgreSQL pass this starts a private cluster (test/helpers/pg-cluster.ts) unless
 * CASEGATE_TEST_PG_URL names one already, and stops it at the end. Every test environment then
 * gets its own schema in it (test/helpers/test-db.ts), so files run in parallel, isolated. It also
 * makes the directory where the run keeps its records of checked template sets.
 */
export default async function setup(): Promise<() => void> {
  // Records of checked template sets, shared by the run's workers (test/helpers/template-check-seed.ts).
  const checks = mkdtempSync(join(tmpdir(), 'casegate-template-checks-'));
  process.env['CASEGATE_TEST_TEMPLATE_CHECKS'] = checks;
  const stops: (() => void)[] = [() => rmSync(checks, { recursive: true, force: true })];
  if (process.env['CASEGATE_TEST_DB'] === 'postgres' && (process.env['CASEGATE_TEST_PG_URL'] ?? '') === '') {
    const cluster = await startPgCluster();
    process.env['CASEGATE_TEST_PG_URL'] = cluster.url;
    console.log(`[casegate tests] PostgreSQL pass: private cluster on 127.0.0.1:${cluster.port} (${cluster.dir})`);
    stops.push(() => cluster.stop());
  }
  return () => {
    for (const stop of stops.reverse()) stop();
  };
}
