/**
 * /metrics `casegate_sla_breaches_total{target}`: the SLA breaches the sla-check job recorded, a
 * Prometheus counter (increase() / rate() work on it) by target, kept in two `counters` rows the job
 * raises in the transaction that records each breach. Until 2026-12-07 it was the gauge
 * `casegate_sla_breaches_recorded`, which counted every `sla.breach` event on every scrape (every
 * 15 s, a cost growing with the history: query-plans.test.ts checks the read now), went down when a
 * purge took cases, and had no target. Real database, the real job, in-process scrapes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { databaseTarget, migrateTo, migrateToLatest, openDatabase, type Db } from '../../src/db/database.js';
import { countSlaBreach, slaBreachTotals } from '../../src/db/repos/ops.js';
import { createJobScheduler } from '../../src/jobs/scheduler.js';
import { Metrics } from '../../src/ops/metrics.js';
import { purge } from '../../src/ops/purge.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { parseExposition } from '../helpers/prom-text.js';
import { SLA_CONFIG } from '../helpers/sla-config.js';
import { tempDir } from '../helpers/temp-dirs.js';
import { freshSchema, TEST_BACKEND, testPgUrl } from '../helpers/test-db.js';

let env: TestEnv;
const live = { outboxPaused: () => false };
const noProgress = () => ({ tick: () => undefined, setTotal: () => undefined, stop: () => undefined });

beforeAll(async () => {
  // Monday 09:00 Chicago (15:00Z): normal cases are due 13:00 Chicago (first response) and, 24
  // business hours on (8 + 10 + 6), Wednesday 13:00 Chicago (resolution).
  env = await testEnv(SLA_CONFIG, '2026-03-02T15:00:00Z');
});
afterAll(async () => {
  await env?.close();
});

async function scrape(): Promise<ReturnType<typeof parseExposition>> {
  // A new Metrics each time: a daemon that just started (its in-memory counters at zero).
  return parseExposition(await new Metrics('test').render(env.ctx, live));
}

async function slaCheck(at: string): Promise<void> {
  env.clock.set(at);
  await createJobScheduler(env.ctx).run('sla-check', 'manual');
}

describe('casegate_sla_breaches_total', () => {
  it('counts each breach the sla-check job records, by target; kept across restarts; a purge of the breached cases leaves it', async () => {
    const first = await scrape();
    expect(first.types.get('casegate_sla_breaches_total')).toBe('counter');
    expect(first.all('casegate_sla_breaches_recorded')).toEqual([]);
    const base = { fr: first.value('casegate_sla_breaches_total', { target: 'first_response' }), res: first.value('casegate_sla_breaches_total', { target: 'resolution' }) };
    expect(base).toEqual({ fr: 0, res: 0 });

    for (const who of ['ann', 'bob']) {
      const out = await env.ingest(eml({ from: `${who}@customer.example`, subject: `Printer ${who}`, messageId: `${who}@customer.example` }));
      expect(out.kind).toBe('stored');
    }
    // Past the first-response target (13:00 Chicago = 19:00Z): two breaches, each once.
    await slaCheck('2026-03-02T19:05:00Z');
    await slaCheck('2026-03-02T19:10:00Z');
    let m = await scrape();
    expect(m.value('casegate_sla_breaches_total', { target: 'first_response' })).toBe(2);
    expect(m.value('casegate_sla_breaches_total', { target: 'resolution' })).toBe(0);
    // Past the resolution target (Wednesday 13:00 Chicago = 19:00Z).
    await slaCheck('2026-03-04T19:05:00Z');
    m = await scrape();
    expect(m.value('casegate_sla_breaches_total', { target: 'first_response' })).toBe(2);
    expect(m.value('casegate_sla_breaches_total', { target: 'resolution' })).toBe(2);
    const events = await env.ctx.db.selectFrom('events').select('id').where('type', '=', 'sla.breach').execute();
    expect(events).toHaveLength(4);

    // Ann's erasure takes her case and its events: the breaches happened all the same.
    await purge(env.ctx, { requester: 'ann@customer.example', dryRun: false, actor: 'test' }, noProgress);
    expect(await env.ctx.db.selectFrom('events').select('id').where('type', '=', 'sla.breach').execute()).toHaveLength(2);
    m = await scrape();
    expect(m.value('casegate_sla_breaches_total', { target: 'first_response' })).toBe(2);
    expect(m.value('casegate_sla_breaches_total', { target: 'resolution' })).toBe(2);
  });

  it('two daemons recording breaches at once lose no increment (each its own connection pool on one database)', async () => {
    const before = await slaBreachTotals(env.ctx.db);
    const other: Db = openDatabase(databaseTarget(env.ctx.config, env.ctx.paths));
    try {
      // Each breach in its own transaction, as the job records it, from both at once.
      const record = (db: Db, i: number) =>
        db.transaction().execute(async (trx) => {
          await countSlaBreach(trx, i % 3 === 0 ? 'resolution' : 'first_response');
        });
      await Promise.all(Array.from({ length: 30 }, (_, i) => record(i % 2 === 0 ? env.ctx.db : other, i)));
    } finally {
      await other.destroy();
    }
    expect(await slaBreachTotals(env.ctx.db)).toEqual({ first_response: before.first_response + 20, resolution: before.resolution + 10 });
  });

  it('an upgrade (migration 0037) starts the totals from the breach events the database holds', async () => {
    const db = openDatabase(TEST_BACKEND === 'postgres' ? { kind: 'postgres', url: testPgUrl(), schema: freshSchema(), poolSize: 2, lockTimeoutMs: 10_000 } : { kind: 'sqlite', path: join(tempDir('casegate-breach-seed-'), 'casegate.db') });
    try {
      await migrateTo(db, '0035-intake-forward-subject');
      const event = (type: string, target: string) => ({ case_id: null, message_row_id: null, type, actor: 'system', reason: `${target} missed`, data_json: JSON.stringify({ target, dueAt: '2026-03-02T19:00:00.000Z' }), created_at: '2026-03-02T19:05:00.000Z' });
      await db.insertInto('events').values([event('sla.breach', 'first-response'), event('sla.breach', 'first-response'), event('sla.breach', 'resolution'), event('sla.warning', 'resolution'), event('sla.breach', 'first-response')]).execute();
      await migrateToLatest(db);
      expect(await slaBreachTotals(db)).toEqual({ first_response: 3, resolution: 1 });
    } finally {
      await db.destroy();
    }
  });
});
