import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml } from '../helpers/context.js';
import { eventually, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { silentProxy, type SilentProxy } from '../helpers/silent-proxy.js';
import { freshSchema, testPgUrl } from '../helpers/test-db.js';

/**
 * The outbox runs one pass at a time, and a pass waited for its claim however long it took. When
 * the claim's connection went silent — a server that stopped answering behind a peer that keeps
 * the socket (a frozen server, a proxy whose backend is gone), which TCP keepalive cannot see —
 * the daemon sent nothing more while it stored new mail on fresh connections (probe: 5 new cases'
 * confirmations still queued 30 s later, and for as long as the connection stays silent). Now the
 * pass gives the claim up after 10 s + 3 × busyTimeoutMs and the next one claims on another
 * connection.
 */

const schema = freshSchema();
let proxy: SilentProxy;
let d: TestDaemon;
let admin: pg.Client;

beforeAll(async () => {
  const url = new URL(testPgUrl());
  proxy = await silentProxy(url.hostname, Number(url.port));
  url.port = String(proxy.port);
  d = await startTestDaemon({
    mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
    database: { url: url.toString(), schema, poolSize: 4, busyTimeoutMs: 1000 },
    security: { senderAuth: { mode: 'none' } },
    autoReply: { minIntervalSeconds: 0 },
    jobs: { enabled: false },
  });
  admin = new pg.Client({ connectionString: testPgUrl(), options: `-c search_path=${schema}` });
  await admin.connect();
});

afterAll(async () => {
  // First the proxy: the silent connection then fails, and the daemon's pool can close.
  await proxy?.close();
  await d?.stop().catch(() => undefined);
  await admin?.end();
});

async function send(k: number): Promise<void> {
  await d.client().sendMail({ envelope: { from: `c${k}@customer.example`, to: ['support@example.com'] }, raw: eml({ from: `Customer ${k} <c${k}@customer.example>`, subject: `Silent ${k}`, messageId: `silent-${k}@customer.example` }) });
}

describe('the outbox when the connection of its claim goes silent', () => {
  it('gives the claim up and sends the next emails on another connection', async () => {
    await send(0);
    await eventually(() => expect(d.sink.messages).toHaveLength(1));
    // The next claim waits for this lock; then its connection goes silent.
    await admin.query('begin');
    await admin.query('lock table outbox in exclusive mode');
    const me = (await admin.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    // Until the outbox's next sweep (outgoing.sweepSeconds, 5 s) waits for the lock. This gave up
    // after ~5 s and went on regardless: on a loaded machine the claim was not waiting yet, and the
    // test silenced idle connections instead of the claim's (a different case, and a slow one).
    let blocked: number[] = [];
    for (const until = Date.now() + 30_000; blocked.length === 0 && Date.now() < until; ) {
      const r = await admin.query<{ port: number }>(`select client_port as port from pg_stat_activity where $1 = any(pg_blocking_pids(pid))`, [me]);
      blocked = r.rows.map((row) => row.port);
      if (blocked.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(blocked.length).toBeGreaterThan(0);
    // Only the claim's connection: silencing every open one silenced the pool's idle connections
    // too (more of them open on a loaded machine), and a new message stored on one of those got
    // 451 (a transient failure; a different case from this one's).
    expect(proxy.silenceOpen(blocked)).toBe(blocked.length);
    await admin.query('commit');
    for (let k = 1; k <= 3; k++) await send(k);
    await eventually(() => expect(d.sink.messages).toHaveLength(4), 400, 40_000);
    const queued = await admin.query<{ n: string }>(`select count(*) as n from outbox where status = 'queued'`);
    expect(Number(queued.rows[0]!.n)).toBe(0);
  }, 90_000);

  it('a message stored on a pooled connection that went silent: the connection is closed within seconds, a slow query is not, and the next messages are stored', async () => {
    // A query that runs longer than the silence check (5 s): its server session is active, so it is left alone.
    const slow = sql<{ ok: number }>`select 1 as ok from pg_sleep(7)`.execute(d.daemon.ctx.db).then((r) => r.rows);
    let sleeping: number[] = [];
    for (const until = Date.now() + 10_000; sleeping.length === 0 && Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
      sleeping = (await admin.query<{ port: number }>(`select client_port as port from pg_stat_activity where query like '%pg_sleep(7)%' and pid <> pg_backend_pid()`)).rows.map((r) => r.port);
    }
    expect(sleeping).toHaveLength(1);
    // Every other connection of the pool goes silent (a NAT or firewall dropped their flows).
    const idle = (await admin.query<{ port: number }>(`select client_port as port from pg_stat_activity where application_name like 'casegate #%' and datname = current_database() and client_port <> $1`, [sleeping[0]])).rows.map((r) => r.port);
    // (A session whose client just closed can still be listed while its backend exits: at least one, at most every listed one.)
    const silenced = proxy.silenceOpen(idle);
    expect(silenced).toBeGreaterThan(0);
    expect(silenced).toBeLessThanOrEqual(idle.length);
    // Each message takes a connection: a silent one, or a new one. Before, a message on a silent
    // one got 451 after pipeline.stageTimeoutSeconds (30 s), its connection stayed checked out
    // for good, and once the pool's four were, every message waited for a connection and got 451:
    // nothing was stored while the silence lasted. Now the check closes a silent connection within about 7 s.
    const first = await Promise.all([5, 6, 7, 8].map(async (k) => {
      const t = Date.now();
      const ok = await send(k).then(() => true, () => false);
      return { ok, ms: Date.now() - t };
    }));
    for (const r of first) expect(r.ms).toBeLessThan(15_000);
    // A message caught on a silent connection is run once more on a fresh one (run-pipeline.ts): 250, not 451.
    expect(first.map((r) => r.ok)).toEqual([true, true, true, true]);
    for (const k of [9, 10, 11]) await send(k);
    await expect(slow).resolves.toEqual([{ ok: 1 }]);
    // Every one stored, once.
    const stored = await admin.query<{ n: string }>(`select count(*) as n from cases where subject like 'Silent %'`);
    expect(Number(stored.rows[0]!.n)).toBe(4 + 3 + 4);
  }, 90_000);

  it('the daemon stops while that connection is still silent (it does not wait for it for ever)', async () => {
    const started = Date.now();
    const stopped = await Promise.race([d.daemon.stop().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 30_000))]);
    expect(stopped).toBe(true);
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 60_000);
});
