import { randomBytes } from 'node:crypto';
import type { ConfigInput } from '../../src/config/schema.js';
import { recycleSchema, schemaFromTemplate } from './db-template.js';

/**
 * Which backend this test run uses: CASEGATE_TEST_DB=postgres (with CASEGATE_TEST_PG_URL, set by
 * test/global-setup.ts) or SQLite. In the PostgreSQL pass every configuration the tests write
 * gets the cluster's URL and a schema of its own (created by casegate's migrate), unless the test
 * pins SQLite (database.driver: sqlite, or a database.path) because what it tests is SQLite itself.
 */
export const TEST_BACKEND: 'sqlite' | 'postgres' = process.env['CASEGATE_TEST_DB'] === 'postgres' ? 'postgres' : 'sqlite';

/**
 * Notes that this test process configured a database through these helpers (the backend check of
 * test/setup/backend-pass.ts: a file listed as backend-independent must never do so).
 */
export function markDatabaseUsed(): void {
  (globalThis as { __casegateTestDatabase?: boolean }).__casegateTestDatabase = true;
}

/** A new test file starts (several files share one process when vitest does not isolate them). */
export function resetDatabaseUsed(): void {
  (globalThis as { __casegateTestDatabase?: boolean }).__casegateTestDatabase = false;
}

export function databaseUsed(): boolean {
  return (globalThis as { __casegateTestDatabase?: boolean }).__casegateTestDatabase === true;
}

export function testPgUrl(): string {
  markDatabaseUsed();
  const url = process.env['CASEGATE_TEST_PG_URL'];
  if (url === undefined || url === '') throw new Error('CASEGATE_TEST_DB=postgres but CASEGATE_TEST_PG_URL is not set (vitest globalSetup test/global-setup.ts starts a cluster)');
  return url;
}

let counter = 0;

/** A fresh schema name (unique across parallel workers). */
export function freshSchema(): string {
  markDatabaseUsed();
  counter += 1;
  return `t${process.pid}_${counter}_${randomBytes(3).toString('hex')}`;
}

/** The schema of each config directory: a config rewritten in the same directory (a "restart") keeps its data. */
const schemaOfDir = new Map<string, string>();

/** The database section of a test configuration (written into `dir`) for this run's backend. */
export function testDatabase(given: ConfigInput['database'], dir: string): ConfigInput['database'] {
  markDatabaseUsed();
  if (TEST_BACKEND !== 'postgres') return given;
  const g = (given ?? {}) as { driver?: string; path?: string; url?: string; schema?: string };
  if (g.driver === 'sqlite' || g.path !== undefined || g.url !== undefined) return given;
  let schema = g.schema ?? schemaOfDir.get(dir);
  if (schema === undefined) {
    // Made from the run's migrated template (test/helpers/db-template.ts), else migrated by casegate.
    schema = schemaFromTemplate(testPgUrl(), freshSchema) ?? freshSchema();
    schemaOfDir.set(dir, schema);
  }
  return { ...given, url: testPgUrl(), schema };
}

/**
 * The test environment of `dir` is closed (test/helpers/context.ts): its schema, when the helpers
 * made it from the template, goes back to this worker's schemas, reset (db-template.ts
 * recycleSchema), for the next environment. Creating a schema is ~180 DDL statements (~85 ms of
 * the server's CPU); a reset is a DELETE of each table's rows.
 */
export async function releaseTestDatabase(dir: string): Promise<void> {
  const schema = schemaOfDir.get(dir);
  if (TEST_BACKEND !== 'postgres' || schema === undefined) return;
  schemaOfDir.delete(dir);
  await recycleSchema(testPgUrl(), schema, freshSchema);
}
