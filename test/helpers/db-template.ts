import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { migrateToLatest, openDatabase } from '../../src/db/database.js';
import { pgBinDir } from './pg-cluster.js';

/**
 * A database migrated once per test run, copied for every test environment (test/helpers/context.ts
 * writeConfig). Migrating a new database is ~200 DDL statements: on PostgreSQL as many round trips
 * (0.1 s on an idle machine, seconds when the suite loads both cores) and ~60 ms of the worker's
 * CPU in Kysely's migrator; on SQLite ~25 ms of CPU. A copy is one statement (PostgreSQL: the
 * migrated schema as pg_dump writes it, under the new schema's name) or one file copy (SQLite).
 * Only databases the helpers create for a test get one: a test that names its database (a path, a
 * schema) or tests migrating gets a database casegate migrates itself. The migrations themselves
 * run here, at the start of every run, and in the tests of migrating.
 */

const PG_TEMPLATE_SCHEMA = 'casegate_test_template';

/** Global setup: make the run's template; returns the environment variable the workers read. */
export async function makeDbTemplate(dir: string, pgUrl: string | undefined): Promise<Record<string, string>> {
  if (pgUrl === undefined) {
    const file = join(dir, 'casegate-template.db');
    const db = openDatabase({ path: file });
    await migrateToLatest(db);
    await db.destroy();
    return { CASEGATE_TEST_SQLITE_TEMPLATE: file };
  }
  const db = openDatabase({ kind: 'postgres', url: pgUrl, schema: PG_TEMPLATE_SCHEMA, poolSize: 1, lockTimeoutMs: 10_000 });
  await migrateToLatest(db);
  await db.destroy();
  const bin = pgBinDir();
  if (bin === null) throw new Error('pg_dump not found');
  const dump = spawnSync(join(bin, 'pg_dump'), ['--dbname', pgUrl, '--schema', PG_TEMPLATE_SCHEMA, '--inserts', '--no-owner', '--no-privileges', '--no-comments'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (dump.status !== 0) throw new Error(`pg_dump failed: ${dump.stderr}`);
  // Everything of the dump names the schema (pg_dump qualifies every object): a plain replace renames it.
  const sql = dump.stdout.split('\n').filter((l) => !/^(--|SET |SELECT pg_catalog\.set_config)/.test(l)).join('\n');
  const file = join(dir, 'casegate-template.sql');
  writeFileSync(file, sql);
  return { CASEGATE_TEST_PG_TEMPLATE: file };
}

let pgTemplateSql: string | undefined;
let psql: string | undefined;

/**
 * Schemas made from the template before a test asks for one, per server URL (this worker's own).
 * One psql run makes SCHEMAS_PER_RUN of them in one transaction: each run costs a psql process and
 * a server backend of its own, and the backend's first schema pays for warming its catalog caches.
 * Measured (private cluster, 40 schemas, 2-core machine): 61 ms of CPU a schema made alone (psql
 * 12, server 49), 36 ms made ten at a time (psql 5, server 31). The PostgreSQL pass makes hundreds
 * (about one per test). A worker leaves at most SCHEMAS_PER_RUN - 1 unused at its end.
 */
const SCHEMAS_PER_RUN = 8;
/** Below Linux's limit on one argument (MAX_ARG_STRLEN, 128 kB), with room for longer schema names. */
const MAX_ARG_BYTES = 120_000;
const madeAhead = new Map<string, string[]>();

/**
 * A new schema with the migrated tables, named by `name()`; null without a template (then the
 * caller picks a name and casegate migrates it). Each schema is handed out once.
 */
export function schemaFromTemplate(url: string, name: () => string): string | null {
  const file = process.env['CASEGATE_TEST_PG_TEMPLATE'];
  if (file === undefined || file === '') return null;
  let ready = madeAhead.get(url);
  if (ready === undefined) {
    ready = [];
    madeAhead.set(url, ready);
  }
  if (ready.length === 0) {
    pgTemplateSql ??= readFileSync(file, 'utf8');
    if (psql === undefined) {
      const bin = pgBinDir();
      if (bin === null) throw new Error('psql not found (the PostgreSQL client: apt-get install postgresql)');
      psql = join(bin, 'psql');
    }
    const names = Array.from({ length: SCHEMAS_PER_RUN }, name);
    const base = ['--no-psqlrc', '--quiet', '--single-transaction', '--set', 'ON_ERROR_STOP=1', '--dbname', url];
    // Each schema's SQL as one request (-c): the server runs its ~180 statements in one go. Read
    // from stdin, psql sends every statement alone and waits for its answer. Measured (private
    // cluster with ~400 schemas, 8 schemas a run, alternated, loaded 2-core machine): the server
    // 1.15 s and psql 0.24 s of CPU a run from stdin, 0.69 s and 0.09 s as requests. pg_dump's
    // psql meta-commands (\restrict, \unrestrict) have no place in a request: they guard the
    // restore of a dump someone else wrote, and this one is the run's own. Past the kernel's limit
    // of one argument (128 kB), stdin as before.
    const oneRequest = pgTemplateSql.split('\n').filter((l) => !/^\\(un)?restrict\b/.test(l)).join('\n');
    const r =
      Buffer.byteLength(oneRequest) < MAX_ARG_BYTES
        ? spawnSync(psql, [...base, ...names.flatMap((schema) => ['-c', oneRequest.replaceAll(PG_TEMPLATE_SCHEMA, schema)])], { encoding: 'utf8' })
        : spawnSync(psql, base, { input: names.map((schema) => pgTemplateSql!.replaceAll(PG_TEMPLATE_SCHEMA, schema)).join('\n'), encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`creating schemas ${names.join(', ')} from the template failed: ${r.stderr}`);
    ready.push(...names);
  }
  return ready.shift()!;
}

/** A SQLite file with the migrated tables at `dbPath` unless one is there; false without a template. */
export function copySqliteTemplate(dbPath: string): boolean {
  const file = process.env['CASEGATE_TEST_SQLITE_TEMPLATE'];
  if (file === undefined || file === '' || existsSync(dbPath)) return false;
  const dir = dirname(dbPath);
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o700);
  }
  copyFileSync(file, dbPath);
  return true;
}
