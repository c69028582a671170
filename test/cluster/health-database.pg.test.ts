import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatherHealthFacts } from '../../src/ops/health.js';
import { Metrics } from '../../src/ops/metrics.js';
import { parseExposition } from '../helpers/prom-text.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { PG_TEST_DB, startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';

/**
 * /healthz and `casegate status` ask whether the database answers. Two ways PostgreSQL can fail
 * every message while `select 1` looks fine or never returns:
 *  - the server stops answering (a hung host, a network path that drops packets): the health
 *    check waited as long as the query did — /healthz never answered, `casegate status` hung;
 *  - the server takes no writes (a standby after a failover, default_transaction_read_only): every
 *    message ended in `retry`, and health said "ok".
 * Now the check gives up after 5 s ("did not answer"), and a read-only server is unhealthy (and a
 * message refused by it is retried like one refused by a server that is restarting).
 * On a cluster of this file's own: it is frozen and made read-only.
 */

let cluster: PgCluster;
let env: TestEnv;
let admin: pg.Client;

/** The server's processes (postmaster and its children), by id. */
function serverPids(): number[] {
  const postmaster = Number(readFileSync(join(cluster.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const children = execFileSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' }).trim().split('\n').filter((l) => l !== '').map(Number);
  return [postmaster, ...children];
}

function signalServer(sig: 'SIGSTOP' | 'SIGCONT'): void {
  for (const pid of serverPids()) process.kill(pid, sig);
}

beforeAll(async () => {
  cluster = await startPgCluster({ maxConnections: 30 });
  env = await testEnv({ database: { url: cluster.url, schema: 'health_db', poolSize: 3 } });
  admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
}, 120_000);

afterAll(async () => {
  try {
    signalServer('SIGCONT');
  } catch {
    // already gone
  }
  await admin?.end().catch(() => undefined);
  await env?.close();
  cluster?.stop();
});

describe('the health check of the database', () => {
  it('says unhealthy within seconds when the server stops answering', async () => {
    expect((await gatherHealthFacts(env.ctx)).databaseError).toBeNull();
    signalServer('SIGSTOP');
    try {
      const started = Date.now();
      const facts = await Promise.race([gatherHealthFacts(env.ctx), new Promise<null>((r) => setTimeout(() => r(null), 15_000))]);
      expect(facts?.databaseError ?? 'no answer within 15 s').toMatch(/did not answer within 5 s/);
      expect(Date.now() - started).toBeLessThan(8_000);
    } finally {
      signalServer('SIGCONT');
    }
  }, 30_000);

  it('/metrics while the server does not answer: rendered within seconds, unhealthy with the database check failing, stored-state gauges NaN, the process metrics there', async () => {
    // The scrape waited as long as the first query did (Prometheus gave up: up 0, no series at
    // all), so "casegate is down" and "its database is" looked alike.
    const metrics = new Metrics('test');
    const live = { outboxPaused: () => false };
    const before = parseExposition(await metrics.render(env.ctx, live));
    expect(before.value('casegate_healthy')).toBe(1);
    expect(before.value('casegate_outbox_queued')).toBe(0);
    signalServer('SIGSTOP');
    try {
      const started = Date.now();
      const text = await Promise.race([metrics.render(env.ctx, live), new Promise<null>((r) => setTimeout(() => r(null), 15_000))]);
      expect(text ?? 'no exposition within 15 s').toMatch(/casegate_healthy/);
      expect(Date.now() - started).toBeLessThan(8_000);
      const m = parseExposition(text!);
      expect(m.value('casegate_healthy')).toBe(0);
      expect(m.value('casegate_health_check_ok', { check: 'database' })).toBe(0);
      expect(m.value('casegate_outbox_queued')).toBeNaN();
      expect(m.value('casegate_outbox_oldest_queued_age_seconds')).toBeNaN();
      expect(m.value('casegate_quarantine_waiting')).toBeNaN();
      expect(m.all('casegate_open_cases')).toHaveLength(0);
      expect(m.value('process_resident_memory_bytes')).toBeGreaterThan(0);
    } finally {
      signalServer('SIGCONT');
    }
    const again = parseExposition(await metrics.render(env.ctx, live));
    expect(again.value('casegate_healthy')).toBe(1);
    expect(again.value('casegate_outbox_queued')).toBe(0);
  }, 40_000);

  it('says unhealthy when the server takes no writes (read-only, a standby)', async () => {
    await admin.query(`alter database ${PG_TEST_DB} set default_transaction_read_only = on`);
    // casegate's connections were opened before: new ones get the setting.
    await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name like 'casegate #%'`);
    try {
      let error: string | null = null;
      for (let i = 0; i < 20; i++) {
        error = (await gatherHealthFacts(env.ctx)).databaseError;
        if (error !== null && /read-only/.test(error)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(error).toMatch(/read-only/);
    } finally {
      await admin.query(`alter database ${PG_TEST_DB} reset default_transaction_read_only`);
      await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name like 'casegate #%'`);
    }
    let error: string | null = 'not asked';
    for (let i = 0; i < 20 && error !== null; i++) error = (await gatherHealthFacts(env.ctx)).databaseError;
    expect(error).toBeNull();
  }, 30_000);

  it('a message arriving while the database is read-only is retried, not first sent to quarantine', async () => {
    // 25006 (read_only_sql_transaction) is a server state — a standby during a failover — not
    // something in the message: the quarantine was tried (and, once the primary was back between the
    // two writes, would have held a customer's mail until an admin released it).
    await admin.query(`alter database ${PG_TEST_DB} set default_transaction_read_only = on`);
    await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name like 'casegate #%'`);
    try {
      let out = await env.ingest(eml({ messageId: 'read-only-1@customer.example' }));
      // The first statements may meet connections the server ended above: each pooled connection
      // (poolSize 3) fails once (ECONNRESET) and is replaced.
      for (let i = 0; i < 3 && out.kind === 'retry' && !/25006/.test(out.reason); i++) out = await env.ingest(eml({ messageId: 'read-only-1@customer.example' }));
      expect(out.kind).toBe('retry');
      expect(out.reason).toMatch(/25006/);
      expect(out.reason).not.toMatch(/quarantine/);
    } finally {
      await admin.query(`alter database ${PG_TEST_DB} reset default_transaction_read_only`);
      await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name like 'casegate #%'`);
    }
  }, 30_000);

  it('a message the database refuses for missing privileges (42501) is retried, not sent to quarantine', async () => {
    // Grants changed under the daemon (a DBA revoked INSERT): every message would fail alike, so it is
    // not the message's fault. The server's own error code, raised where a revoked grant raises it.
    await admin.query(`create or replace function casegate_test_denied() returns trigger language plpgsql as $$ begin raise exception 'permission denied for table cases' using errcode = '42501'; end $$`);
    await admin.query(`create trigger casegate_test_denied before insert on health_db.cases for each row execute function casegate_test_denied()`);
    try {
      const out = await env.ingest(eml({ messageId: 'denied-1@customer.example' }));
      expect(out.kind).toBe('retry');
      expect(out.reason).toMatch(/permission denied/);
      expect(out.reason).not.toMatch(/quarantine/);
    } finally {
      await admin.query(`drop trigger casegate_test_denied on health_db.cases`);
      await admin.query(`drop function casegate_test_denied()`);
    }
    expect((await env.ingest(eml({ messageId: 'denied-1@customer.example' }))).kind).toBe('stored');
  }, 30_000);
});
