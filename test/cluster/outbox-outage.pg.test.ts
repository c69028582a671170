import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml } from '../helpers/context.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';

/**
 * Two daemons sending, and PostgreSQL goes away for longer than outgoing.claimSeconds while the
 * relay is taking some of their emails. The daemon whose email the relay accepted holds the
 * "sent" in memory until the database is back; the other daemon saw the claim lapse and, as soon
 * as the database answered again, claimed the row and sent the email a second time (the holder
 * retries its write with a backoff of up to 10 s; the other sweeps every second). Now a daemon
 * takes over another one's lapsed claims only once the database has answered it for a while.
 * On a cluster of this file's own: it is stopped mid-test.
 */

const SCHEMA = 'outbox_outage';
const MESSAGES = 8;

let cluster: PgCluster;
let a: TestDaemon;
let b: TestDaemon;
let admin: pg.Pool;

beforeAll(async () => {
  cluster = await startPgCluster({ maxConnections: 50 });
  const config = {
    mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
    database: { url: cluster.url, schema: SCHEMA, poolSize: 4 },
    security: { senderAuth: { mode: 'none' as const } },
    autoReply: { minIntervalSeconds: 0 },
    outgoing: { claimSeconds: 5 },
  };
  a = await startTestDaemon(config);
  b = await startTestDaemon(config);
  admin = new pg.Pool({ connectionString: cluster.url, options: `-c search_path=${SCHEMA}`, max: 1 });
  admin.on('error', () => undefined);
}, 120_000);

afterAll(async () => {
  await a?.stop().catch(() => undefined);
  await b?.stop().catch(() => undefined);
  await admin?.end().catch(() => undefined);
  cluster?.stop();
});

async function count(query: string): Promise<number> {
  return Number((await admin.query<{ n: string }>(query)).rows[0]!.n);
}

describe('PostgreSQL away longer than a claim while the relay takes emails', () => {
  it('each email the relay accepted is recorded by its sender and sent once, not again by the other daemon', async () => {
    // The relays record each message at once and answer 250 three seconds later.
    for (const d of [a, b]) d.sink.setAcceptDelay(3_000);
    for (let i = 0; i < MESSAGES; i++) {
      const d = i % 2 === 0 ? a : b;
      await d.client().sendMail({
        envelope: { from: `c${i}@customer.example`, to: ['support@example.com'] },
        raw: eml({ from: `Customer ${i} <c${i}@customer.example>`, subject: `Outage ${i}`, messageId: `outage-${i}@customer.example` }),
      });
    }
    // Confirmations in flight (the relay has them, the daemons wait for its answer): the database goes.
    const deadline = Date.now() + 10_000;
    while (a.sink.messages.length + b.sink.messages.length < MESSAGES / 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    cluster.halt();
    for (const d of [a, b]) d.sink.setAcceptDelay(0);
    // Longer than outgoing.claimSeconds: every claim lapses.
    await new Promise((r) => setTimeout(r, 7_000));
    cluster.start();

    const sentAll = Date.now() + 60_000;
    while ((await count(`select count(*) n from outbox where status = 'sent'`)) < MESSAGES && Date.now() < sentAll) await new Promise((r) => setTimeout(r, 200));
    expect(await count(`select count(*) n from outbox where status = 'sent'`)).toBe(MESSAGES);
    // Stragglers a second sender would send.
    await new Promise((r) => setTimeout(r, 3_000));
    const deliveries = new Map<string, number>();
    for (const m of [...a.sink.messages, ...b.sink.messages]) deliveries.set(m.parsed.messageId ?? '', (deliveries.get(m.parsed.messageId ?? '') ?? 0) + 1);
    expect(deliveries.size).toBe(MESSAGES);
    expect([...deliveries.entries()].filter(([, n]) => n > 1)).toEqual([]);
    // The scenario happened (each holder wrote its own outcome): outcomes accepted by the relay were recorded after the outage.
    expect(await count(`select count(*) n from events where type = 'email.record-delayed'`)).toBeGreaterThan(0);
  }, 150_000);
});
