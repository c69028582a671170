import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { pgBinDir } from '../helpers/pg-cluster.js';
import { testPgUrl } from '../helpers/test-db.js';

/**
 * The PostgreSQL pass's test environments: a closed environment's schema, reset, serves the
 * worker's next one (test/helpers/db-template.ts recycleSchema). The next environment must start
 * from exactly what a new schema holds, and nothing that still uses the old one may reach it.
 */

/** pg_dump of a schema (tables, indexes, constraints, every row, every sequence's value), its name written as <schema>. */
function dump(schema: string): string {
  const r = spawnSync(join(pgBinDir()!, 'pg_dump'), ['--dbname', testPgUrl(), '--schema', schema, '--inserts', '--no-owner', '--no-privileges', '--no-comments'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`pg_dump failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => !/^(--|\\(un)?restrict\b)/.test(l))
    .join('\n')
    .replaceAll(schema, '<schema>');
}

const schemaOf = (env: TestEnv): string => env.resolved.config.database.schema;

let admin: pg.Client;
const opened: TestEnv[] = [];
async function open(): Promise<TestEnv> {
  const env = await testEnv();
  opened.push(env);
  return env;
}
async function oidOf(schema: string): Promise<number | null> {
  const r = await admin.query<{ oid: number }>('select oid::int as oid from pg_namespace where nspname = $1', [schema]);
  return r.rows[0]?.oid ?? null;
}

beforeAll(async () => {
  admin = new pg.Client({ connectionString: testPgUrl() });
  await admin.connect();
});

afterAll(async () => {
  for (const env of opened) await env.close().catch(() => undefined);
  await admin?.end().catch(() => undefined);
});

describe('a closed test environment’s schema', () => {
  it('serves the next environment under a new name, holding exactly what a new schema holds', async () => {
    const a = await open();
    const first = schemaOf(a);
    const oid = await oidOf(first);
    for (const from of ['ann@customer.example', 'bob@customer.example']) expect(await a.ingest(eml({ from, subject: `Help for ${from}` }))).toMatchObject({ kind: 'stored' });
    expect(await a.ctx.db.selectFrom('outbox').select('id').execute()).toHaveLength(2);
    // A connection on the old name that outlives the environment (a process the test has not stopped yet).
    const straggler = new pg.Client({ connectionString: testPgUrl(), options: `-c search_path="${first}"` });
    await straggler.connect();
    try {
      const count = { name: 'straggler-count', text: 'select count(*)::int as n from cases' };
      expect((await straggler.query<{ n: number }>(count)).rows[0]!.n).toBe(2);
      await a.close();
      expect(await oidOf(first)).toBeNull();
      const b = await open();
      expect(schemaOf(b)).not.toBe(first);
      // The same schema, renamed (one made anew would have another oid) …
      expect(await oidOf(schemaOf(b))).toBe(oid);
      // … with the tables, rows and sequence values of a new one.
      expect(dump(schemaOf(b))).toBe(dump('casegate_test_fresh'));
      expect(await b.ingest(eml({ from: 'carl@customer.example', subject: 'A new question' }))).toMatchObject({ kind: 'stored', caseNumber: 10001 });
      // The straggler finds no tables under the old name, even through its prepared statement.
      await expect(straggler.query(count)).rejects.toMatchObject({ code: '42P01' });
      await expect(straggler.query('insert into cases default values')).rejects.toMatchObject({ code: '42P01' });
    } finally {
      await straggler.end().catch(() => undefined);
    }
  });

  it('is not reused when the test changed more than its rows (here: planner statistics)', async () => {
    const a = await open();
    await a.ingest(eml({ from: 'ann@customer.example', subject: 'Help' }));
    const schema = schemaOf(a);
    const oid = await oidOf(schema);
    await admin.query(`analyze "${schema}".cases`);
    await a.close();
    const b = await open();
    expect(await oidOf(schemaOf(b))).not.toBe(oid);
    // Left as it was, under its own name.
    expect((await admin.query<{ n: number }>(`select count(*)::int as n from "${schema}".cases`)).rows[0]!.n).toBe(1);
  });
});
