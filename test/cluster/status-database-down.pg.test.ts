import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliSandbox } from '../helpers/cli.js';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';

/**
 * `casegate status` is what an operator runs when things go wrong. With the PostgreSQL server
 * down it printed a stack trace ("casegate: Error: connect ECONNREFUSED … at …/pg-pool/index.js")
 * and `--json` printed no JSON at all: no report, no health check to read. Now it reports the
 * database check as failed (text and JSON) and exits 1.
 * On a cluster of this file's own: it is stopped.
 */

let cluster: PgCluster;
let box: CliSandbox;

beforeAll(async () => {
  cluster = await startPgCluster({ maxConnections: 30 });
  box = CliSandbox.create({ database: { url: cluster.url, schema: 'status_down' } });
  // The schema exists: the database was fine until now.
  const up = await box.run(['status', '--json'], { childProcess: true });
  expect(up.code).toBe(0);
  cluster.halt();
}, 120_000);

afterAll(() => {
  cluster?.stop();
  box?.cleanup();
});

describe('casegate status while the database is down', () => {
  it('reports the failed database check, without a stack trace, and exits 1', async () => {
    const text = await box.run(['status'], { childProcess: true });
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/Health: UNHEALTHY/);
    expect(text.stdout).toMatch(/✗ database: .*ECONNREFUSED/);
    expect(text.stderr).not.toMatch(/\n\s+at /);

    const json = await box.run(['status', '--json'], { childProcess: true });
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as { health: { healthy: boolean; checks: { name: string; ok: boolean; detail: string }[] } };
    expect(report.health.healthy).toBe(false);
    expect(report.health.checks.find((c) => c.name === 'database')).toMatchObject({ ok: false, detail: expect.stringMatching(/ECONNREFUSED/) });
  });
});
