import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeContext, createContext, type AppContext } from '../../src/context.js';
import { silentLogger } from '../../src/log.js';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import type { Outcome } from '../../src/pipeline/types.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';

/**
 * Two daemons' worth of casegate on one PostgreSQL schema — two contexts, two connection pools —
 * taking mail at the same moment: the guarantees that rest on the database hold across them.
 */

let env: TestEnv;
let other: AppContext;

beforeAll(async () => {
  // minIntervalSeconds 0: the rate limit itself is under test (the interval would allow one).
  env = await testEnv({ autoReply: { perSenderPerHour: 3, minIntervalSeconds: 0 } });
  other = await createContext({ resolved: env.resolved, log: silentLogger(), clock: env.clock });
});

afterAll(async () => {
  await closeContext(other);
  await env.close();
});

async function ingestOn(ctx: AppContext, raw: string): Promise<Outcome> {
  const blob = await ctx.blobs.put(Readable.from([Buffer.from(raw)]));
  return runPipeline(ctx, { channel: 'smtp', mailbox: ctx.mailboxes.default, envelopeFrom: null, envelopeTo: [], receivedAt: env.clock.now(), raw: blob });
}

describe('two daemons on one PostgreSQL', () => {
  it('the same message committed by both at once is stored once; the other copy is a duplicate', async () => {
    for (let round = 0; round < 5; round++) {
      const raw = eml({ from: `Twin ${round} <twin${round}@customer.example>`, subject: `Twice ${round}`, messageId: `twice-${round}@customer.example` });
      const outs = await Promise.all([ingestOn(env.ctx, raw), ingestOn(other, raw), ingestOn(env.ctx, raw), ingestOn(other, raw)]);
      expect(outs.map((o) => o.kind).sort()).toEqual(['ignored', 'ignored', 'ignored', 'stored']);
      for (const o of outs) if (o.kind === 'ignored') expect(o.reason).toMatch(/duplicate/);
    }
    const stored = await env.ctx.db.selectFrom('receipts').select('id').where('outcome', '=', 'stored').execute();
    expect(stored).toHaveLength(5);
  });

  it('case numbers are never handed out twice', async () => {
    const outs = await Promise.all(
      Array.from({ length: 40 }, (_, i) => ingestOn(i % 2 === 0 ? env.ctx : other, eml({ from: `Many ${i} <many${i}@customer.example>`, subject: `Many ${i}`, messageId: `many-${i}@customer.example` }))),
    );
    expect(outs.every((o) => o.kind === 'stored')).toBe(true);
    const numbers = outs.map((o) => ('caseNumber' in o ? o.caseNumber : null));
    expect(new Set(numbers).size).toBe(40);
    const all = await env.ctx.db.selectFrom('cases').select('number').execute();
    expect(new Set(all.map((c) => c.number)).size).toBe(all.length);
  });

  it('the per-sender rate limit holds across both', async () => {
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => ingestOn(i % 2 === 0 ? env.ctx : other, eml({ from: 'Flood <flood@customer.example>', subject: `Flood ${i}`, messageId: `flood-${i}@customer.example` }))),
    );
    const replies = await env.ctx.db.selectFrom('outbox').select('status').where('to_address', '=', 'flood@customer.example').where('auto_reply', '=', 1).execute();
    expect(replies.filter((r) => r.status !== 'suppressed')).toHaveLength(3);
  });
});
