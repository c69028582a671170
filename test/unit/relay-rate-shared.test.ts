import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { closeContext, createContext, type AppContext } from '../../src/context.js';
import { silentLogger } from '../../src/log.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { createTransport, relayTransport, type MailTransport } from '../../src/mail-out/transport.js';
import { takeRoom, usedLastMinute } from '../../src/db/repos/relay-rate.js';
import { relayBudgetKey, relayLanes } from '../../src/mail-out/relays.js';
import type { Config } from '../../src/config/schema.js';
import { RelayRate } from '../../src/mail-out/relay-rate.js';
import { Metrics } from '../../src/ops/metrics.js';
import { formatStatus, statusReport } from '../../src/ops/status-report.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { parseExposition } from '../helpers/prom-text.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';

/**
 * A relay's maxPerMinute is the database's (relay-rate.ts, migrations 0039 and 0040), shared by every
 * daemon sending through it: several daemons on one PostgreSQL (the supported high-availability
 * setup, every daemon runs the outbox worker) together send no more than the relay takes in a
 * minute. The budget is the relay's host:port and login, whatever a configuration names it.
 * Until 2026-12-08 each counted its own in memory: two daemons sent twice the limit. SQLite has one
 * daemon; the same code path runs there (two workers on one file stand in for two daemons).
 */

const MAX = 3;
let env: TestEnv;
let other: AppContext;
let sink: SmtpSink;
const transports: MailTransport[] = [];
const workers: OutboxWorker[] = [];
/** Rows of earlier tests: not counted. */
let baseline = 0;

beforeAll(async () => {
  sink = await startSmtpSink();
  env = await testEnv({ autoReply: { minIntervalSeconds: 0 }, outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false, maxPerMinute: MAX }, alertAfterSeconds: 0 } });
  // The second daemon: its own context and connection pool on the same database, the same clock.
  other = await createContext({ resolved: env.resolved, log: silentLogger(), clock: env.clock });
  BUDGET = relayBudgetKey(env.ctx.config.outgoing.smtp!);
}, 60_000);

afterAll(async () => {
  for (const w of workers) await w.stop().catch(() => undefined);
  for (const t of transports) t.close();
  await closeContext(other).catch(() => undefined);
  await env?.close();
  await sink?.close();
});

beforeEach(async () => {
  for (const w of workers.splice(0)) await w.stop();
  for (const t of transports.splice(0)) t.close();
  await env.ctx.db.updateTable('outbox').set({ status: 'cancelled', claimed_by: null, claim_expires_at: null }).where('status', '=', 'queued').execute();
  sink.messages.length = 0;
  baseline = Number((await env.ctx.db.selectFrom('outbox').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst())?.id ?? 0);
  // Every second of an earlier test out of the minute (one of them takes room ahead of the clock).
  env.clock.advance(120_000);
  await env.ctx.db.deleteFrom('relay_rate_seconds').execute();
});

/** `n` confirmations queued (one recipient each); everything else the intake queued is cancelled. */
async function queueConfirmations(tag: string, n: number): Promise<void> {
  const before = (await env.ctx.db.selectFrom('outbox').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst())?.id ?? 0;
  for (let i = 0; i < n; i++) await env.ingest(eml({ from: `${tag}${i}@customer.example`, subject: `Question ${tag} ${i}`, messageId: `${tag}-${i}@customer.example` }));
  await env.ctx.db.updateTable('outbox').set({ status: 'cancelled' }).where('id', '>', Number(before)).where('kind', '!=', 'confirmation').execute();
}

/** The relay's budget: its host:port (the sink) — no login. */
let BUDGET = '';

function worker(ctx: AppContext): OutboxWorker {
  const t = createTransport(env.resolved);
  transports.push(t);
  const w = new OutboxWorker(ctx, t);
  workers.push(w);
  return w;
}

async function rows(): Promise<{ queued: number; claimed: number; sent: number }> {
  const all = await env.ctx.db.selectFrom('outbox').select(['status', 'claimed_by']).where('id', '>', baseline).where('kind', '=', 'confirmation').where('status', 'in', ['queued', 'sent']).execute();
  return { queued: all.filter((r) => r.status === 'queued').length, claimed: all.filter((r) => r.status === 'queued' && r.claimed_by !== null).length, sent: all.filter((r) => r.status === 'sent').length };
}

/** Both workers' passes over, nothing claimed: what the minute allowed has gone, the rest waits queued. */
async function settle(a: OutboxWorker, b: OutboxWorker): Promise<void> {
  await Promise.all([a.drain(), b.drain()]);
  await vi.waitFor(async () => expect((await rows()).claimed).toBe(0), { timeout: 10_000, interval: 20 });
  await Promise.all([a.drain(), b.drain()]);
  // A pass kicked in the background (a start, a send) may hold rows a moment before it gives back what the minute has no room for.
  await vi.waitFor(async () => expect((await rows()).claimed).toBe(0), { timeout: 10_000, interval: 20 });
}

describe('a relay\'s maxPerMinute shared by two daemons on one database', () => {
  it('two daemons (own contexts, pools, outbox workers and transports) send through one relay: the minute\'s 3 between them, the rest waits queued, none failed; each minute on, 3 more', async () => {
    await queueConfirmations('pair', 8);
    const a = worker(env.ctx);
    const b = worker(other);
    // (SQLite: only the first releases an earlier run's claims, as with several relays of one daemon.)
    await Promise.all([a.start(), b.start({ releaseOldClaims: false })]);
    await settle(a, b);
    // Until 2026-12-08 each daemon took its own 3: six in the minute, at a relay that takes three.
    expect(await rows()).toEqual({ queued: 5, claimed: 0, sent: 3 });
    await sink.waitFor(MAX);
    expect(sink.messages).toHaveLength(MAX);
    env.clock.advance(61_000);
    await settle(a, b);
    expect(await rows()).toEqual({ queued: 2, claimed: 0, sent: 6 });
    // Due for over a minute (max(60 s, alertAfterSeconds 0)): the outbox check fails, and says why.
    const outboxCheck = (await statusReport(other)).health.checks.find((c) => c.name === 'outbox')!;
    expect(outboxCheck.ok).toBe(false);
    expect(outboxCheck.detail).toMatch(/is not sent; 2 queued \(2 wait for room under maxPerMinute 3 of the default relay \(outgoing\.smtp, smtp:127\.0\.0\.1:\d+\), 3 used in the last minute: the relay's limit holds them back; see casegate status\)$/);
    await sink.waitFor(2 * MAX);
    expect(sink.messages).toHaveLength(2 * MAX);
    env.clock.advance(61_000);
    await settle(a, b);
    expect(await rows()).toEqual({ queued: 0, claimed: 0, sent: 8 });
    await sink.waitFor(8);
    expect(sink.messages).toHaveLength(8);
    expect([...sink.countsByMessageId().values()].every((n) => n === 1)).toBe(true);
    const failed = await env.ctx.db.selectFrom('events').select('type').where('type', 'in', ['email.failed', 'email.partly-sent']).execute();
    expect(failed).toEqual([]);
  }, 60_000);

  it('room taken at the same instant from two connection pools: each unit goes once, never more than the minute holds', async () => {
    const w = worker(env.ctx);
    await w.start();
    const now = env.clock.now().getTime();
    const take = (ctx: AppContext, n = 1, at = now) => takeRoom(ctx.db, { relay: BUDGET, max: MAX, n, nowMs: at, whole: false });
    const got = await Promise.all(Array.from({ length: 12 }, (_, i) => take(i % 2 === 0 ? env.ctx : other)));
    expect(got.reduce((a, b) => a + b, 0)).toBe(MAX);
    // The minute is full for the worker as well: nothing goes.
    await queueConfirmations('instant', 2);
    await w.drain();
    expect(sink.messages).toHaveLength(0);
    expect((await rows()).queued).toBe(2);
    // A take of n takes n, never more (0039's first form took 3 for n = 2 on PostgreSQL); a full minute gives nothing.
    let at = now;
    for (let round = 0; round < 5; round++) {
      at += 61_000;
      expect(await take(other, 2, at)).toBe(2);
    }
    expect(await take(env.ctx, 2, at)).toBe(1);
    expect(await take(other, 1, at)).toBe(0);
  }, 60_000);

  it('a transaction to two readers on each daemon, room for three: one goes, the other takes nothing (all or nothing) and waits for the next minute, whole', async () => {
    const wakes: string[] = [];
    const rate = (ctx: AppContext, name: string) => new RelayRate(ctx.db, BUDGET, MAX, () => env.clock.now().getTime(), () => void wakes.push(name), silentLogger());
    const a = rate(env.ctx, 'a');
    const b = rate(other, 'b');
    await Promise.all([a.start(), b.start()]);
    try {
      const settled: string[] = [];
      const pa = a.take(2).then((ok) => void settled.push(`a ${ok}`));
      const pb = b.take(2).then((ok) => void settled.push(`b ${ok}`));
      await vi.waitFor(() => expect(settled).toHaveLength(1), { timeout: 10_000, interval: 10 });
      // Two for the one that went; none for the other (all or nothing: none lost, none counted twice).
      expect(await usedLastMinute(env.ctx.db, BUDGET, env.clock.now().getTime())).toBe(2);
      expect(a.waiting + b.waiting).toBe(1);
      env.clock.advance(61_000);
      await Promise.all([a.refresh(), b.refresh()]);
      await Promise.all([pa, pb]);
      expect(settled.sort()).toEqual(['a true', 'b true']);
      expect(await usedLastMinute(env.ctx.db, BUDGET, env.clock.now().getTime())).toBe(2);
    } finally {
      a.stop();
      b.stop();
    }
  }, 60_000);

  it('one relay that one daemon calls "default" and another names "eu" (same host, port and login) is one budget: the minute\'s 3 between them; another login on that host has its own', async () => {
    await queueConfirmations('named', 8);
    // The second daemon's configuration names the relay "eu", and its mailbox sends through it.
    const smtp = env.ctx.config.outgoing.smtp!;
    const config: Config = { ...env.ctx.config, outgoing: { ...env.ctx.config.outgoing, relays: { eu: smtp } }, mailboxes: env.ctx.config.mailboxes.map((m) => ({ ...m, relay: 'eu' })) };
    const named = await createContext({ resolved: { ...env.resolved, config }, log: silentLogger(), clock: env.clock });
    try {
      const a = worker(env.ctx);
      const eu = relayTransport({ ...env.resolved, config }, 'eu');
      transports.push(eu);
      const b = new OutboxWorker(named, eu, relayLanes(config).find((l) => l.relay === 'eu')!);
      workers.push(b);
      await Promise.all([a.start(), b.start({ releaseOldClaims: false })]);
      await settle(a, b);
      // Until 2026-12-08 the budget was the relay's name: 3 for "default" and 3 for "eu", six in the minute.
      expect(await rows()).toEqual({ queued: 5, claimed: 0, sent: 3 });
      expect((await statusReport(named)).outgoing.rate).toEqual(expect.arrayContaining([expect.objectContaining({ relay: 'eu', usedLastMinute: 3 })]));
      for (const w of workers.splice(0)) await w.stop();
    } finally {
      for (const w of workers.splice(0)) await w.stop().catch(() => undefined);
      await closeContext(named).catch(() => undefined);
    }
    // The same host with another login (a second Microsoft 365 mailbox): its own budget, whole.
    const billing = relayBudgetKey({ ...smtp, user: 'Billing@Example.com' });
    expect(billing).toBe(`${BUDGET}/billing@example.com`);
    expect(await takeRoom(env.ctx.db, { relay: billing, max: MAX, n: MAX, nowMs: env.clock.now().getTime(), whole: false })).toBe(MAX);
    expect(await takeRoom(env.ctx.db, { relay: BUDGET, max: MAX, n: 1, nowMs: env.clock.now().getTime(), whole: false })).toBe(0);
  }, 60_000);

  it('a relay that takes 100,000 a minute: nothing is written at start, the minute holds exactly its limit, and a budget keeps about a row a second, whatever its limit', async () => {
    const big = 100_000;
    const rate = new RelayRate(env.ctx.db, 'big.example:587', big, () => env.clock.now().getTime(), () => undefined, silentLogger());
    const count = async (): Promise<number> => Number((await env.ctx.db.selectFrom('relay_rate_seconds').select((eb) => eb.fn.countAll<number>().as('n')).where('relay', '=', 'big.example:587').executeTakeFirstOrThrow()).n);
    await rate.start();
    try {
      expect(await count()).toBe(0);
      // Ninety seconds of sending, a batch every 1.5 s: the minute never holds more than the limit.
      let sent = 0;
      const start = env.clock.now().getTime();
      const log: [number, number][] = [];
      for (let i = 0; i < 60; i++) {
        const got = await rate.handed(2_500);
        sent += got;
        log.push([env.clock.now().getTime() - start, got]);
        env.clock.advance(1_500);
      }
      const inAnyMinute = Math.max(...log.map(([t]) => log.filter(([u]) => u >= t && u < t + 60_000).reduce((a, [, g]) => a + g, 0)));
      expect(inAnyMinute).toBe(big);
      expect(sent).toBeGreaterThan(big);
      expect(await count()).toBeLessThanOrEqual(62);
      expect(await usedLastMinute(env.ctx.db, 'big.example:587', env.clock.now().getTime())).toBeLessThanOrEqual(big);
    } finally {
      rate.stop();
    }
  }, 60_000);

  it('a daemon that died holding room: the budget is whole again a minute after it took it, not later', async () => {
    await queueConfirmations('dead', 4);
    const now = env.clock.now();
    // The other daemon took the whole minute, then died before sending (nothing else of it is left).
    expect(await takeRoom(other.db, { relay: BUDGET, max: MAX, n: MAX, nowMs: now.getTime(), whole: false })).toBe(MAX);
    const w = worker(env.ctx);
    await w.start();
    // The pass start() kicked ends before the clock moves. Beside the test's passes it took room
    // with the clock of before a move (none), gave its rows back only after the pass at 60 s had
    // claimed the one row left (1 of the 3 sent), and, finding room by then, held further claims
    // for 50 ms of a clock that stands still (RelayRate #full): nothing more went out.
    await w.idle();
    await w.drain();
    expect(sink.messages).toHaveLength(0);
    env.clock.advance(59_000);
    await w.drain();
    expect(sink.messages).toHaveLength(0);
    env.clock.advance(1_000);
    await w.drain();
    await sink.waitFor(MAX);
    await vi.waitFor(async () => expect(await rows()).toEqual({ queued: 1, claimed: 0, sent: MAX }), { timeout: 10_000, interval: 20 });
  }, 60_000);

  it('casegate status (and --json) and /metrics show what waits for room under maxPerMinute, and since when the oldest is due, whichever daemon took the minute', async () => {
    await queueConfirmations('wait', 5);
    const a = worker(env.ctx);
    const b = worker(other);
    await Promise.all([a.start(), b.start({ releaseOldClaims: false })]);
    await settle(a, b);
    expect(await rows()).toEqual({ queued: 2, claimed: 0, sent: 3 });
    // Half a minute later: still no room; the two left have waited since they were queued.
    const dueSince = (await env.ctx.db.selectFrom('outbox').select((eb) => eb.fn.min('next_attempt_at').as('at')).where('id', '>', baseline).where('status', '=', 'queued').executeTakeFirstOrThrow()).at!;
    env.clock.advance(30_000);
    const waited = Math.round((env.clock.now().getTime() - Date.parse(dueSince)) / 1000);
    // Read through the other daemon's context: what every daemon (and the CLI) sees is the database's.
    const report = await statusReport(other);
    expect(report.outgoing.rate).toEqual([
      expect.objectContaining({ relay: 'default', maxPerMinute: MAX, usedLastMinute: 3, due: 2, waiting: 2, oldestWaitingSince: dueSince, oldestWaitingSeconds: waited }),
    ]);
    expect(JSON.parse(JSON.stringify(report)).outgoing.rate[0].waiting).toBe(2);
    expect(formatStatus(report)).toMatch(/default relay \(outgoing\.smtp, smtp:127\.0\.0\.1:\d+\) · maxPerMinute 3: 3 used in the last minute \(every daemon\) · 2 due now · 2 email\(s\) WAIT for room in a later minute, the oldest due since \S+ \(\d+ s\)/);
    const m = parseExposition(await new Metrics('test').render(other, { outboxPaused: () => false }));
    expect(m.value('casegate_relay_rate_waiting', { relay: 'default' })).toBe(2);
    expect(m.value('casegate_relay_rate_used', { relay: 'default' })).toBe(3);
    expect(m.value('casegate_relay_rate_oldest_waiting_seconds', { relay: 'default' })).toBe(waited);
    // The minute over, they go: nothing waits, and the gauges say so.
    env.clock.advance(31_000);
    await settle(a, b);
    expect(await rows()).toEqual({ queued: 0, claimed: 0, sent: 5 });
    const after = await statusReport(env.ctx);
    expect(after.outgoing.rate).toEqual([expect.objectContaining({ relay: 'default', usedLastMinute: 2, due: 0, waiting: 0, oldestWaitingSince: null, oldestWaitingSeconds: 0 })]);
    expect(formatStatus(after)).toMatch(/maxPerMinute 3: 2 used in the last minute \(every daemon\) · 0 due now · none waits for room/);
    const m2 = parseExposition(await new Metrics('test').render(env.ctx, { outboxPaused: () => false }));
    expect(m2.value('casegate_relay_rate_waiting', { relay: 'default' })).toBe(0);
    expect(m2.value('casegate_relay_rate_oldest_waiting_seconds', { relay: 'default' })).toBe(0);
  }, 60_000);
});
