import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTransientDbError } from '../../src/db/dialect.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { silentProxy, type SilentProxy } from '../helpers/silent-proxy.js';
import { freshSchema, testPgUrl } from '../helpers/test-db.js';

/**
 * The server ends a connection casegate holds between two statements — what a PostgreSQL restart,
 * a failover or pg_terminate_backend does (FATAL 57P01 "terminating connection due to
 * administrator command"). pg-pool listens for errors of idle connections only; the error of a
 * checked-out one had no listener and ended the daemon (found by the two-daemons test: one daemon
 * of two exited at a PostgreSQL restart). Now the holder's work fails with a transient error, the
 * process lives on and the pool hands out a working connection.
 */

let env: TestEnv;
/** Its database connections pass a proxy that breaks them at a COMMIT. */
let proxied: TestEnv;
let proxy: SilentProxy;
let admin: pg.Pool;
const uncaught: unknown[] = [];
const onUncaught = (err: unknown): void => void uncaught.push(err);

beforeAll(async () => {
  env = await testEnv({});
  admin = new pg.Pool({ connectionString: testPgUrl(), max: 1 });
  const url = new URL(testPgUrl());
  proxy = await silentProxy(url.hostname, Number(url.port));
  url.port = String(proxy.port);
  proxied = await testEnv({ database: { url: url.toString(), schema: freshSchema(), poolSize: 3, busyTimeoutMs: 2000 } });
  process.on('uncaughtException', onUncaught);
});

afterAll(async () => {
  process.off('uncaughtException', onUncaught);
  await admin?.end();
  await env?.close();
  await proxied?.close();
  await proxy?.close();
});

describe('a PostgreSQL connection lost while checked out', () => {
  it('fails the transaction that held it as transient (retry), crashes nothing, and the next work gets a fresh connection', async () => {
    let pid!: (n: number) => void;
    const backend = new Promise<number>((r) => (pid = r));
    let go!: () => void;
    const proceed = new Promise<void>((r) => (go = r));
    const held = env.ctx.db.transaction().execute(async (trx) => {
      const r = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
      pid(Number(r.rows[0]!.pid));
      // Between two statements: the connection is checked out and nothing runs on it.
      await proceed;
      await sql`select 1`.execute(trx);
    });
    const outcome = held.then(
      () => null,
      (err: unknown) => err,
    );
    const terminated = await admin.query<{ ok: boolean }>('select pg_terminate_backend($1) as ok', [await backend]);
    expect(terminated.rows[0]!.ok).toBe(true);
    // Let the FATAL message and the socket's end reach the idle, checked-out client.
    await new Promise((r) => setTimeout(r, 500));
    go();
    const err = await outcome;
    expect(err).toBeInstanceOf(Error);
    expect(isTransientDbError(err)).toBe(true);
    expect(uncaught).toEqual([]);

    // The pool goes on: a message is stored on a fresh connection.
    const stored = await env.ingest(eml({ subject: 'After the connection loss' }));
    expect(stored.kind).toBe('stored');
    expect(uncaught).toEqual([]);
  });
});

describe('a message whose PostgreSQL connection breaks at its commit', () => {
  const countOf = async (subject: string): Promise<{ cases: number; messages: number; stored: number }> => {
    const r = await sql<{ cases: number; messages: number; stored: number }>`select
      (select count(*) from cases where subject = ${subject}) as cases,
      (select count(*) from messages m join cases c on c.id = m.case_id where c.subject = ${subject} and m.direction = 'in') as messages,
      (select count(*) from receipts where subject = ${subject} and outcome = 'stored') as stored`.execute(proxied.ctx.db);
    return r.rows[0]!;
  };

  it('before the server got the COMMIT (a restart: every connection closed, none accepted for 1.5 s): stored on a fresh connection, no 451', async () => {
    const broken = proxy.breakAtCommit('before', 1500);
    const outcome = await proxied.ingest(eml({ subject: 'Broken before commit', messageId: 'broken-before@customer.example' }));
    expect(outcome.kind).toBe('stored');
    await broken;
    expect(await countOf('Broken before commit')).toEqual({ cases: 1, messages: 1, stored: 1 });
  });

  it('after the server committed, its answer lost: the second attempt finds the stored message — a duplicate, never a second case', async () => {
    const broken = proxy.breakAtCommit('after');
    const outcome = await proxied.ingest(eml({ subject: 'Answer lost', messageId: 'answer-lost@customer.example' }));
    expect(outcome.kind).toBe('ignored');
    await broken;
    expect(outcome.reason).toMatch(/^duplicate of receipt \d+ \(stored\): this message's own first attempt, committed before the database connection broke and its answer was lost; not stored twice$/);
    expect(await countOf('Answer lost')).toEqual({ cases: 1, messages: 1, stored: 1 });
  });
});

describe('a pool whose open connections all went silent (a dropped NAT flow, a frozen proxy)', () => {
  it('once one is found silent, the others are not handed out again: the next query gets a new connection at once', async () => {
    const db = proxied.ctx.db;
    // Three connections open and idle in the pool.
    await Promise.all([1, 2, 3].map(() => sql`select pg_sleep(0.2)`.execute(db)));
    expect(proxy.silenceOpen()).toBeGreaterThanOrEqual(3);
    // The first query takes a silent one: found and closed by the check (about 6 s).
    const first = await sql`select 1`.execute(db).then(() => null, (e: unknown) => e);
    expect(isTransientDbError(first)).toBe(true);
    // Before, the next query took the next silent one and waited as long again.
    const t = Date.now();
    expect((await sql<{ n: number }>`select 2 as n`.execute(db)).rows).toEqual([{ n: 2 }]);
    expect(Date.now() - t).toBeLessThan(3_000);
  }, 60_000);
});
