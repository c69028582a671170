import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/ops/metrics.js';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { parseExposition } from '../helpers/prom-text.js';

/**
 * Automated mail by kind in /metrics. Bounces, auto-replies and bulk mail all ended as
 * `outcome="ignored"` (or stored on their case) in casegate_messages_total, so a rise in
 * bounces — recipients rejecting our mail: a blocklisted relay, a broken DKIM key — could not be
 * told from a newsletter. casegate_automated_messages_total{kind} counts them apart.
 */

let env: TestEnv | null = null;
afterEach(async () => {
  await env?.close();
  env = null;
});

describe('automated mail in the metrics', () => {
  it('bounces, auto-replies and human mail counted by kind', async () => {
    env = await testEnv({ autoReply: { minIntervalSeconds: 0 } });
    const metrics = new Metrics('test');
    const ctx = { ...env.ctx, telemetry: metrics };
    const ingest = async (raw: string) => {
      const blob = await ctx.blobs.put(Readable.from([Buffer.from(raw)]));
      return runPipeline(ctx, { channel: 'smtp', mailbox: ctx.mailboxes.default, envelopeFrom: null, envelopeTo: [], receivedAt: env!.clock.now(), raw: blob });
    };
    expect((await ingest(eml({ from: 'Ann <ann@customer.example>', subject: 'Printer on fire' }))).kind).toBe('stored');
    await ingest(eml({ from: 'Bob <bob@customer.example>', subject: 'Out of office', headers: { 'Auto-Submitted': 'auto-replied' } }));
    await ingest(eml({ from: 'Mail Delivery System <MAILER-DAEMON@mx.customer.example>', subject: 'Undelivered Mail Returned to Sender', body: 'This is the mail system at host mx.customer.example.\n\nI\'m sorry to have to inform you that your message could not be delivered.' }));
    const m = parseExposition(await metrics.render(ctx, { outboxPaused: () => false }));
    expect(m.value('casegate_automated_messages_total', { kind: 'bounce' })).toBe(1);
    expect(m.value('casegate_automated_messages_total', { kind: 'auto-reply' })).toBe(1);
    expect(m.value('casegate_automated_messages_total', { kind: 'bulk' })).toBe(0);
    expect(m.sum('casegate_automated_messages_total')).toBe(2);
    expect(m.sum('casegate_messages_total')).toBe(3);
  });
});
