/**
 * Named statements on PostgreSQL (src/db/pg-named-statements.ts), against the test cluster: what the
 * server holds per connection (pg_prepared_statements), the bound, and the rolling
 * upgrade — another process's migration adds a column to a table a named `select *` reads, and
 * PostgreSQL refuses the statement with "cached plan must not change result type".
 */
import type { Kysely, PostgresPool, PostgresPoolClient } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, migrateToLatest, type Db } from '../../src/db/database.js';
import { isTransientDbError } from '../../src/db/dialect.js';
import { createPostgresPool } from '../../src/db/dialect-postgres.js';
import { nulFree } from '../../src/db/nul-free.js';
import { namedStatementPool } from '../../src/db/pg-named-statements.js';
import { caseById, insertCase } from '../../src/db/repos/cases.js';
import { freshSchema, testPgUrl } from '../helpers/test-db.js';

let admin: pg.Pool;
let schema: string;
const pools: { end(): Promise<void> }[] = [];

beforeAll(async () => {
  schema = freshSchema();
  admin = new pg.Pool({ connectionString: testPgUrl(), max: 1 });
  await admin.query(`create schema ${schema}`);
  await admin.query(`create table ${schema}.t (a int)`);
  await admin.query(`insert into ${schema}.t values (1), (2)`);
});

afterAll(async () => {
  for (const p of pools) await p.end();
  await admin?.query(`drop schema if exists ${schema} cascade`);
  await admin?.end();
});

function pool(opts: { enabled?: boolean; perConnection?: number; size?: number } = {}): { kysely: PostgresPool; raw: pg.Pool } {
  const raw = createPostgresPool({ url: testPgUrl(), schema, poolSize: opts.size ?? 1, lockTimeoutMs: 5000, preparedStatements: opts.enabled ?? true });
  const kysely = namedStatementPool(raw, { enabled: opts.enabled ?? true, perConnection: opts.perConnection ?? 200 }, nulFree);
  pools.push(kysely);
  return { kysely, raw };
}

type Row = Record<string, unknown>;
async function q(c: PostgresPoolClient, text: string, params: readonly unknown[] = []): Promise<Row[]> {
  return (await c.query<Row>(text, params)).rows;
}

async function prepared(c: PostgresPoolClient): Promise<{ statement: string; generic_plans: number; custom_plans: number }[]> {
  // This query is a named data statement itself: left out of the answer.
  const rows = await q(c, 'select statement, generic_plans, custom_plans from pg_prepared_statements order by statement');
  return rows
    .map((r) => ({ statement: String(r['statement']), generic_plans: Number(r['generic_plans']), custom_plans: Number(r['custom_plans']) }))
    .filter((r) => !r.statement.includes('pg_prepared_statements'));
}

describe('named statements', () => {
  it('a data statement is parsed once per connection, and every call runs it with its own values', async () => {
    const { kysely } = pool();
    const c = await kysely.connect();
    try {
      for (let i = 0; i < 8; i++) expect(await q(c, 'select a from t where a = $1', [1 + (i % 2)])).toEqual([{ a: 1 + (i % 2) }]);
      const [only, ...more] = await prepared(c);
      expect(more).toEqual([]);
      expect(only?.statement).toBe('select a from t where a = $1');
      // Planned for each call's values at first; the server may keep a generic plan after five calls.
      expect(only!.custom_plans).toBeGreaterThanOrEqual(5);
      expect(only!.custom_plans + only!.generic_plans).toBe(8);
    } finally {
      c.release();
    }
  });

  it('transaction control and DDL run unnamed; values still lose NUL characters', async () => {
    const { kysely } = pool();
    const c = await kysely.connect();
    try {
      await q(c, 'begin');
      await q(c, `create temporary table scratch (x text)`);
      await q(c, 'insert into scratch values ($1)', ['a\u0000b']);
      expect(await q(c, 'select x from scratch')).toEqual([{ x: 'ab' }]);
      await q(c, 'rollback');
      expect((await prepared(c)).map((p) => p.statement).sort()).toEqual(['insert into scratch values ($1)', 'select x from scratch']);
    } finally {
      c.release();
    }
  });

  it('names at most perConnection distinct statements on a connection; the others still run', async () => {
    const { kysely } = pool({ perConnection: 3 });
    const c = await kysely.connect();
    try {
      for (let n = 1; n <= 6; n++) {
        const list = Array.from({ length: n }, (_, i) => `$${i + 1}`).join(', ');
        const rows = await q(c, `select a from t where a in (${list}) order by a`, Array.from({ length: n }, (_, i) => i + 1));
        expect(rows).toEqual(n === 1 ? [{ a: 1 }] : [{ a: 1 }, { a: 2 }]);
      }
      expect(await prepared(c)).toHaveLength(3);
    } finally {
      c.release();
    }
  });

  it('database.preparedStatements false: nothing is named', async () => {
    const { kysely } = pool({ enabled: false });
    const c = await kysely.connect();
    try {
      expect(await q(c, 'select a from t where a = $1', [2])).toEqual([{ a: 2 }]);
      expect(await prepared(c)).toEqual([]);
    } finally {
      c.release();
    }
  });
});

describe('another process changes a table a named select * reads (rolling upgrade)', () => {
  async function backendPid(c: PostgresPoolClient): Promise<number> {
    return Number((await q(c, 'select pg_backend_pid() as pid'))[0]!['pid']);
  }

  it('outside a transaction the statement is run again unnamed and answers with the new column; the connection is then closed', async () => {
    await admin.query(`create table ${schema}.wide1 (a int)`);
    await admin.query(`insert into ${schema}.wide1 values (7)`);
    const { kysely, raw } = pool();
    const c = await kysely.connect();
    let pid = 0;
    try {
      pid = await backendPid(c);
      expect(await q(c, 'select * from wide1')).toEqual([{ a: 7 }]);
      await admin.query(`alter table ${schema}.wide1 add column b text default 'new'`);
      // Without the retry: error 0A000 "cached plan must not change result type", at every call.
      expect(await q(c, 'select * from wide1')).toEqual([{ a: 7, b: 'new' }]);
      expect(await q(c, 'select * from wide1')).toEqual([{ a: 7, b: 'new' }]);
    } finally {
      c.release();
    }
    expect(raw.totalCount).toBe(0);
    const next = await kysely.connect();
    try {
      expect(await backendPid(next)).not.toBe(pid);
      expect(await q(next, 'select * from wide1')).toEqual([{ a: 7, b: 'new' }]);
    } finally {
      next.release();
    }
  });

  it('inside a transaction the error stands and is transient; the retry on a fresh connection succeeds', async () => {
    await admin.query(`create table ${schema}.wide2 (a int)`);
    await admin.query(`insert into ${schema}.wide2 values (8)`);
    const { kysely, raw } = pool();
    const c = await kysely.connect();
    try {
      expect(await q(c, 'select * from wide2')).toEqual([{ a: 8 }]);
      await admin.query(`alter table ${schema}.wide2 add column b int default 9`);
      await q(c, 'begin');
      const err = await q(c, 'select * from wide2').then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: '0A000', message: expect.stringContaining('cached plan must not change result type') });
      expect(isTransientDbError(err)).toBe(true);
      await q(c, 'rollback');
    } finally {
      c.release();
    }
    expect(raw.totalCount).toBe(0);
    const next = await kysely.connect();
    try {
      await q(next, 'begin');
      expect(await q(next, 'select * from wide2')).toEqual([{ a: 8, b: 9 }]);
      await q(next, 'commit');
    } finally {
      next.release();
    }
  });

  it('casegate\'s own repos through Kysely: a column added by a newer migration does not break an older process', async () => {
    const url = testPgUrl();
    const s = freshSchema();
    const db: Db = openDatabase({ kind: 'postgres', url, schema: s, poolSize: 2, lockTimeoutMs: 5000 });
    try {
      await migrateToLatest(db);
      const at = '2026-12-06T00:00:00.000Z';
      const { id } = await insertCase(db, { number: 10001, subject: 'Printer', requester_address: 'ann@customer.example', requester_name: 'Ann', status: 'new', priority: 'normal', queue: 'support', mailbox: 'support', language: 'en', created_at: at, updated_at: at });
      for (let i = 0; i < 4; i++) expect((await caseById(db, id))?.subject).toBe('Printer');
      await admin.query(`alter table ${s}.cases add column added_by_a_newer_version text`);
      for (let i = 0; i < 4; i++) expect((await caseById(db, id))?.subject).toBe('Printer');
    } finally {
      await (db as Kysely<unknown>).destroy();
      await admin.query(`drop schema if exists ${s} cascade`);
    }
  });
});
