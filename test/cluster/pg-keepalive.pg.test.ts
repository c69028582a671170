import { execFileSync } from 'node:child_process';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresPool } from '../../src/db/dialect-postgres.js';
import { testPgUrl } from '../helpers/test-db.js';

/**
 * A PostgreSQL server that vanishes mid-query — its host lost, a network partition, a failover
 * that moved the name but not the old connections — sends nothing more, not even a reset: only TCP
 * keepalive notices. casegate's pool had keepalive on without an initial delay, which leaves the
 * first probe to the kernel's default, 2 hours: a query in flight (the outbox's claim, a lease
 * renewal, a job) waited that long, and the outbox sent nothing meanwhile. Measured in a network
 * namespace whose loopback went down one second into `select pg_sleep(5)`: no answer after 60 s
 * before, `read ETIMEDOUT` (transient: retried on a new connection) after 20 s now.
 * Here: the kernel's keepalive timer of the pool's connection, as `ss` shows it.
 */

let pool: pg.Pool;

beforeAll(() => {
  pool = createPostgresPool({ url: testPgUrl(), schema: 'public', poolSize: 2, lockTimeoutMs: 1000 });
});

afterAll(async () => {
  await pool?.end();
});

/** ss's timer (`119min`, `8.412ms` = 8 s 412 ms, `12sec`) in milliseconds. */
function timerMs(text: string): number {
  const m = /keepalive,(?:(\d+)min)?(?:(\d+)(?:sec|\.))?(?:(\d+)ms)?,/.exec(text);
  if (m === null) throw new Error(`no keepalive timer in: ${text}`);
  return Number(m[1] ?? 0) * 60_000 + Number(m[2] ?? 0) * 1000 + Number(m[3] ?? 0);
}

describe('the PostgreSQL connections of casegate', () => {
  it('are probed by TCP keepalive after 10 s of silence, not after the kernel default of 2 hours', async () => {
    const port = (await pool.query<{ port: number }>('select inet_client_port() as port')).rows[0]!.port;
    const line = execFileSync('ss', ['-tnoH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
    expect(line).toMatch(/keepalive/);
    const ms = timerMs(line);
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThanOrEqual(10_000);
  });
});
