import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { closeContext, createContext, type AppContext } from '../../src/context.js';
import { silentLogger } from '../../src/log.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { createTransport, type MailTransport } from '../../src/mail-out/transport.js';
import { statusReport } from '../../src/ops/status-report.js';
import { eml } from '../helpers/context.js';
import { outboxBehindPostfix, type OutboxBehindPostfix } from '../helpers/postfix-outbox.js';
import { describeWithPostfix, startRelayTo } from '../helpers/postfix-server.js';

/**
 * Two daemons on one PostgreSQL (two contexts, two connection pools, two outbox workers, two
 * transports: the supported high-availability setup, where every daemon sends) in front of a real
 * Postfix that limits what a client sends in a minute (smtpd_client_message_rate_limit, as
 * Microsoft 365's 30 a minute), with outgoing.smtp.maxPerMinute set to that limit on both. Until
 * 2026-12-08 each daemon counted its own minute: together they made twice the limit's
 * transactions, and Postfix refused the surplus ("450 4.7.1 Error: too much mail from 127.0.0.1").
 * Now the minute is the database's (relay-rate.ts): the limit's worth goes, the rest waits queued.
 */
describeWithPostfix('two daemons on one PostgreSQL in front of a Postfix that limits messages per minute', () => {
  const LIMIT = 3;
  let box: OutboxBehindPostfix;
  let other: AppContext;
  const transports: MailTransport[] = [];
  const workers: OutboxWorker[] = [];

  beforeAll(async () => {
    box = await outboxBehindPostfix(
      (customerMxPort) =>
        startRelayTo(customerMxPort, {
          // Three messages a minute per client, loopback included (by default $mynetworks is exempt).
          smtpd_client_message_rate_limit: String(LIMIT),
          anvil_rate_time_unit: '60s',
          smtpd_client_event_limit_exceptions: '',
        }),
      { autoReply: { minIntervalSeconds: 0 }, outgoing: { probeSeconds: 1, authProbeSeconds: 2 } },
      { maxPerMinute: LIMIT },
    );
    // The second daemon: its own context and connection pool on the same database, the same clock.
    other = await createContext({ resolved: box.env.resolved, log: silentLogger(), clock: box.env.clock });
  }, 60_000);

  afterAll(async () => {
    for (const w of workers) await w.stop().catch(() => undefined);
    for (const t of transports) t.close();
    if (other !== undefined) await closeContext(other).catch(() => undefined);
    await box?.close();
  });

  it('seven confirmations, both daemons sending at once: three reach Postfix in the minute between them, none refused, four wait queued, and casegate status says so', async () => {
    const { env, postfix, customerMx } = box;
    for (let i = 0; i < 7; i++) await env.ingest(eml({ from: `customer${i}@customer.example`, subject: `Question ${i}`, messageId: `q-${i}@customer.example` }));
    await env.ctx.db.updateTable('outbox').set({ status: 'cancelled' }).where('kind', '!=', 'confirmation').execute();
    for (const ctx of [env.ctx, other]) {
      const t = createTransport(env.resolved);
      transports.push(t);
      workers.push(new OutboxWorker(ctx, t));
    }
    await Promise.all(workers.map((w) => w.start()));
    const rows = async () => env.ctx.db.selectFrom('outbox').select(['to_address', 'status', 'claimed_by', 'last_error']).where('kind', '=', 'confirmation').execute();
    const refusedByPostfix = async () => /rate limit exceeded/.test(postfix.log()) && (await rows()).some((r) => r.last_error !== null);
    // Three relayed and the rest waiting unclaimed — or (before) refused by Postfix, and that recorded.
    await vi.waitFor(
      async () => {
        const r = await rows();
        expect((customerMx.messages.length === LIMIT && r.filter((x) => x.status === 'sent').length === LIMIT && r.every((x) => x.claimed_by === null)) || (await refusedByPostfix())).toBe(true);
      },
      { timeout: 30_000, interval: 50 },
    );
    // Both daemons' passes once more: the minute is still full for either.
    await Promise.all(workers.map((w) => w.drain()));
    expect(postfix.log().split('\n').filter((l) => /rate limit exceeded/.test(l))).toEqual([]);
    const r = await rows();
    expect(r.filter((x) => x.last_error !== null)).toEqual([]);
    expect(r.filter((x) => x.status === 'sent')).toHaveLength(LIMIT);
    expect(r.filter((x) => x.status === 'queued')).toHaveLength(7 - LIMIT);
    expect(customerMx.messages).toHaveLength(LIMIT);
    expect(await env.ctx.db.selectFrom('transport_health').select(['transport', 'state']).where('transport', 'like', 'sender:%').execute()).toEqual([]);
    expect(await env.ctx.db.selectFrom('events').select('type').where('type', 'in', ['email.failed', 'email.partly-sent']).execute()).toEqual([]);
    // What an admin whose confirmations go out late reads.
    const status = await statusReport(other);
    expect(status.outgoing.rate).toEqual([expect.objectContaining({ relay: 'default', maxPerMinute: LIMIT, usedLastMinute: LIMIT, due: 7 - LIMIT, waiting: 7 - LIMIT })]);
  }, 90_000);
});
