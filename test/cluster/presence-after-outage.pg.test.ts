import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusReport } from '../../src/ops/status-report.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';

/**
 * A daemon on PostgreSQL shows in `casegate status` by its presence lease, which it renews every
 * third of database.leaseSeconds. When the database was away for longer than a lease, the lease ran
 * out and was never taken again: the daemon went on working but `casegate status` said "not
 * running" (and unhealthy) for good. Now it takes its presence again once the database is back.
 * On a cluster of this file's own: it is stopped mid-test.
 */

const LEASE_SECONDS = 3;
let cluster: PgCluster;
let d: TestDaemon;

beforeAll(async () => {
  cluster = await startPgCluster({ maxConnections: 30 });
  d = await startTestDaemon({
    mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
    database: { url: cluster.url, schema: 'presence_outage', poolSize: 3, leaseSeconds: LEASE_SECONDS },
  });
}, 120_000);

afterAll(async () => {
  await d?.stop().catch(() => undefined);
  cluster?.stop();
});

async function listed(): Promise<readonly string[]> {
  return (await statusReport(d.daemon.ctx)).daemon.nodes ?? [];
}

describe('the daemon’s presence after a database outage longer than its lease', () => {
  it('is taken again: casegate status lists the daemon once the database is back', async () => {
    expect(await listed()).toEqual([d.daemon.ctx.nodeId]);
    cluster.halt();
    await new Promise((r) => setTimeout(r, (LEASE_SECONDS + 2) * 1000));
    cluster.start();
    const deadline = Date.now() + 4 * LEASE_SECONDS * 1000;
    let nodes: readonly string[] = [];
    while (Date.now() < deadline) {
      nodes = await listed().catch(() => []);
      if (nodes.length > 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(nodes).toEqual([d.daemon.ctx.nodeId]);
    expect((await statusReport(d.daemon.ctx)).daemon.running).toBe(true);
  }, 60_000);
});
