import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest, openDatabase } from '../../src/db/database.js';
import { isLostConnection } from '../../src/db/dialect.js';
import { startPgBouncer, type PgBouncer } from '../helpers/pgbouncer.js';
import { silentProxy } from '../helpers/silent-proxy.js';
import { freshSchema, testPgUrl } from '../helpers/test-db.js';

/**
 * Behind PgBouncer in transaction pooling, Kysely's migration lock — a session advisory lock
 * taken and released by statements of their own — was taken on one server session and released
 * on another when the pooler was busy: the lock stayed with an idle pooled session and the next
 * migration (the next upgrade) waited an hour for it, then failed. Now the lock is a
 * transaction lock inside the migration's own transaction.
 */

const ROUNDS = 8;
/**
 * Advisory locks held by a session outside any transaction: a lock left behind. (Other test files
 * migrate on the same cluster meanwhile: their locks are held inside their migration transaction.)
 */
const LEFT_LOCKS = `select l.pid from pg_locks l join pg_stat_activity a using (pid) where l.locktype = 'advisory' and a.state = 'idle'`;
const schemas = Array.from({ length: ROUNDS + 1 }, () => freshSchema());
let bouncer: PgBouncer;
const admin = new pg.Client({ connectionString: testPgUrl() });

beforeAll(async () => {
  await admin.connect();
  // One alias per schema: its server connections get the search path from connect_query (PgBouncer
  // drops casegate's `options` startup parameter), and lock_timeout.
  bouncer = await startPgBouncer(testPgUrl(), { poolMode: 'transaction', poolSize: 3, databases: [...schemas.slice(0, ROUNDS).map((s, i) => ({ alias: `round${i}`, connectQuery: `set search_path = "${s}"; set lock_timeout = '5s'` })), { alias: 'bare' }] });
});

afterAll(async () => {
  await bouncer?.stop();
  for (const s of schemas) await admin.query(`drop schema if exists "${s}" cascade`);
  await admin.end();
});

describe('migrations behind PgBouncer (transaction pooling)', () => {
  it('leave no advisory lock behind on a busy pooler, and the next migration does not wait for one', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      // Other clients keep the pooler's server connections changing hands meanwhile.
      let stop = false;
      const noise = Array.from({ length: 8 }, async () => {
        const c = new pg.Client({ connectionString: bouncer.url(`round${round}`) });
        await c.connect();
        while (!stop) await c.query('select pg_sleep(0.002)');
        await c.end();
      });
      const db = openDatabase({ kind: 'postgres', url: bouncer.url(`round${round}`), schema: schemas[round]!, poolSize: 2, preparedStatements: false, lockTimeoutMs: 5000 });
      try {
        const started = Date.now();
        const result = await migrateToLatest(db);
        expect(result.applied.length).toBeGreaterThan(0);
        expect(Date.now() - started).toBeLessThan(20_000);
      } finally {
        stop = true;
        await Promise.all(noise);
        await db.destroy();
      }
      const held = await admin.query(LEFT_LOCKS);
      expect(held.rows, `round ${round}`).toEqual([]);
      const tables = await admin.query(`select count(*)::int as n from information_schema.tables where table_schema = $1 and table_name = 'cases'`, [schemas[round]]);
      expect(tables.rows[0].n).toBe(1);
    }
  }, 120_000);

  it('(directly, no pooler) processes migrating a new schema at the same moment: one applies every migration, the others wait and find nothing to do', async () => {
    const schema = schemas[ROUNDS]!;
    const dbs = Array.from({ length: 3 }, () => openDatabase({ kind: 'postgres', url: testPgUrl(), schema, poolSize: 2, lockTimeoutMs: 5000 }));
    try {
      const results = await Promise.all(dbs.map((db) => migrateToLatest(db)));
      const applied = results.map((r) => r.applied.length).sort((a, b) => b - a);
      expect(applied[0]).toBeGreaterThan(0);
      expect(applied.slice(1)).toEqual([0, 0]);
      expect((await admin.query(LEFT_LOCKS)).rows).toEqual([]);
    } finally {
      for (const db of dbs) await db.destroy();
    }
  });

});

describe('behind PgBouncer, casegate\'s startup parameter `options` (search_path, lock_timeout)', () => {
  const tablesIn = async (schema: string): Promise<number> => (await admin.query<{ n: number }>(`select count(*)::int as n from information_schema.tables where table_schema = $1`, [schema])).rows[0]!.n;

  it('dropped by the pooler (ignore_startup_parameters): the start is refused, saying what to set on the role; nothing is created in "public"', async () => {
    const schema = freshSchema();
    const before = await tablesIn('public');
    const db = openDatabase({ kind: 'postgres', url: bouncer.url('bare'), schema, poolSize: 2, preparedStatements: false, lockTimeoutMs: 5000 });
    try {
      await expect(migrateToLatest(db)).rejects.toThrow(/use the search_path .*, not the schema "t[^"]*" \(database\.schema\).*PgBouncer.*ALTER ROLE "casegate" IN DATABASE "casegate_test" SET search_path = "t/);
      expect(await tablesIn('public')).toBe(before);
    } finally {
      await db.destroy();
      await admin.query(`drop schema if exists "${schema}" cascade`);
    }
  });

  it('refused by the pooler: one line saying so and how to fix it, not "is the server up?"', async () => {
    const strict = await startPgBouncer(testPgUrl(), { poolMode: 'transaction', poolSize: 2, databases: [{ alias: 'strict' }], ignoreOptions: false });
    const db = openDatabase({ kind: 'postgres', url: strict.url('strict'), schema: freshSchema(), poolSize: 2, preparedStatements: false, lockTimeoutMs: 5000 });
    try {
      const err = await migrateToLatest(db).then(() => null, (e: unknown) => e as Error);
      expect(err?.name).toBe('DatabaseOpenError');
      expect(err?.message).toMatch(/unsupported startup parameter: options: a pooler \(PgBouncer\).*ignore_startup_parameters.*ALTER ROLE/);
      expect(err?.message).not.toMatch(/is the server up/);
    } finally {
      await db.destroy();
      await strict.stop();
    }
  });
});

describe('behind PgBouncer, a pooled connection that goes silent under a query', () => {
  it('is found by its application_name (PgBouncer\'s process ids are its own) and closed within seconds: session pooling, and a transaction in transaction pooling', async () => {
    const session = await startPgBouncer(testPgUrl(), { poolMode: 'session', poolSize: 3, databases: [{ alias: 'bare' }] });
    const run = async (bouncerUrl: string, inTransaction: boolean): Promise<{ err: unknown; ms: number; silent: () => number }> => {
      const url = new URL(bouncerUrl);
      const proxy = await silentProxy(url.hostname, Number(url.port));
      url.port = String(proxy.port);
      let silent = 0;
      const db = openDatabase({ kind: 'postgres', url: url.toString(), schema: 'public', poolSize: 1, preparedStatements: false, lockTimeoutMs: 5000, onSilent: () => void (silent += 1) });
      try {
        const t = Date.now();
        const work = async (q: typeof db): Promise<void> => {
          await sql`select 1`.execute(q);
          // The connection goes silent (a NAT or firewall between casegate and the pooler dropped its flow).
          proxy.silenceOpen();
          await sql`select 2`.execute(q);
        };
        const err = await Promise.race([
          (inTransaction ? db.transaction().execute(work) : work(db)).then(() => null, (e: unknown) => e),
          new Promise((r) => setTimeout(() => r(new Error('still waiting after 20 s')), 20_000)),
        ]);
        const ms = Date.now() - t;
        // The pool goes on with a new connection.
        expect((await sql<{ n: number }>`select 3 as n`.execute(db)).rows).toEqual([{ n: 3 }]);
        // The check reports once it has ended the server session (up to 5 s after PgBouncer closed ours).
        for (const until = Date.now() + 8_000; silent === 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
        return { err, ms, silent: () => silent };
      } finally {
        await proxy.close();
        await db.destroy();
      }
    };
    try {
      const results = await Promise.all([run(session.url('bare'), false), run(bouncer.url('bare'), true)]);
      for (const r of results) {
        // Closed by the check (ETIMEDOUT), or by PgBouncer when the check ended its server session.
        expect(isLostConnection(r.err), String(r.err)).toBe(true);
        expect(r.ms).toBeLessThan(15_000);
        expect(r.silent()).toBe(1);
      }
    } finally {
      await session.stop();
    }
  }, 60_000);
});
