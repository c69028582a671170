import { afterEach, describe, expect, it } from 'vitest';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { claimDue, outboxRow } from '../../src/db/repos/outbox.js';
import { writeOutcome } from '../../src/mail-out/outbox-outcome.js';
import { recordRetryMaxMs } from '../../src/mail-out/outcome-recorder.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { createTransport } from '../../src/mail-out/transport.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { startSmtpSink } from '../helpers/smtp-sink.js';

/**
 * A sender (daemon A) whose claim on a row lapsed — it could not reach the database for longer
 * than outgoing.claimSeconds, a network partition — while another sender (B) took the row over.
 * A's late outcome was written whatever B had done: its "retry" freed the row under B while B was
 * sending it (a third sender, or A itself at the retry time, then sent it once more), its "failed"
 * turned B's sent row into a failed one (an admin's requeue sends it again). Now an outcome other
 * than "sent" is written only while the sender still holds the claim.
 */

let env: TestEnv;
afterEach(async () => {
  await env?.close();
});

const at = (s: number) => new Date(Date.parse('2026-03-02T09:00:00Z') + s * 1000).toISOString();

describe('a late outcome of a sender whose claim was taken over', () => {
  it('leaves the row with the sender that holds it now', async () => {
    env = await testEnv({});
    const stored = await env.ingest(eml({}));
    expect(stored.kind).toBe('stored');
    const [rowA] = await claimDue(env.ctx.db, { owner: 'A', now: at(0), until: at(10), limit: 1, exclude: [] });
    expect(rowA?.claimed_by).toBe('A');
    // A's claim lapsed; B takes the row over and is sending it.
    const [rowB] = await claimDue(env.ctx.db, { owner: 'B', now: at(20), until: at(40), limit: 1, exclude: [] });
    expect(rowB?.id).toBe(rowA!.id);

    // A is back and writes what it knew: the relay answered 451.
    expect(await writeOutcome(env.ctx.db, rowA!, { kind: 'retry', attempts: 1, nextAt: at(25), error: '451 try later' }, null, at(21))).toBe(false);
    expect((await outboxRow(env.ctx.db, rowA!.id))!.claimed_by).toBe('B');
    // Nobody else can claim it while B sends it.
    expect(await claimDue(env.ctx.db, { owner: 'C', now: at(26), until: at(46), limit: 1, exclude: [] })).toEqual([]);

    // B's send is accepted; A's late "failed" does not turn it into a failed email.
    expect(await writeOutcome(env.ctx.db, rowB!, { kind: 'sent', attempts: 1, at: at(27), response: '250 ok', signedBy: null }, null, at(27))).toBe(true);
    expect(await writeOutcome(env.ctx.db, rowA!, { kind: 'failed', attempts: 1, error: '550 no', why: 'permanent failure' }, null, at(28))).toBe(false);
    expect(await writeOutcome(env.ctx.db, rowA!, { kind: 'released', attempts: 1, error: null }, null, at(28))).toBe(false);
    const row = await outboxRow(env.ctx.db, rowA!.id);
    expect(row).toMatchObject({ status: 'sent', claimed_by: null });
    expect((await eventsOfCase(env.ctx.db, row!.case_id!)).filter((e) => e.type === 'email.failed')).toEqual([]);
  });
});

describe('a row waiting its turn behind a slow relay', () => {
  it('keeps its claim while this sender holds it: no other sender can take it over', async () => {
    const sink = await startSmtpSink();
    try {
      env = await testEnv({ outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false }, claimSeconds: 10 } });
      expect((await env.ingest(eml({}))).kind).toBe('stored');
      // The relay takes the email and answers 250 only 4 s later (a slow content filter).
      sink.setAcceptDelay(4_000);
      const t = createTransport(env.resolved);
      const w = new OutboxWorker(env.ctx, t);
      const drained = w.drain();
      await sink.waitFor(1);
      const [row] = await env.ctx.db.selectFrom('outbox').selectAll().execute();
      expect(row!.claimed_by).not.toBeNull();
      // 9 s pass on the clock: the claim taken at 0 would lapse at 10 s. The renewal (every
      // claimSeconds / 3, real time) extends it to 10 s from now.
      env.clock.advance(9_000);
      await new Promise((r) => setTimeout(r, 3_600));
      const renewed = await outboxRow(env.ctx.db, row!.id);
      expect(Date.parse(renewed!.claim_expires_at!)).toBe(env.clock.now().getTime() + 10_000);
      // Past the first claim's end: another sender still finds nothing to take.
      env.clock.advance(2_000);
      const now = env.clock.now().getTime();
      expect(await claimDue(env.ctx.db, { owner: 'other', now: new Date(now).toISOString(), until: new Date(now + 10_000).toISOString(), limit: 5, exclude: [] })).toEqual([]);
      expect(await drained).toBe(1);
      t.close();
      expect(await outboxRow(env.ctx.db, row!.id)).toMatchObject({ status: 'sent', claimed_by: null });
      expect(sink.messages).toHaveLength(1);
    } finally {
      await sink.close();
    }
  });
});

describe('a dead sender\'s lapsed claim (outgoing.takeoverGraceSeconds)', () => {
  /** A row claimed by a sender that died (its claim lapsed) and a new worker that started 0 s ago on the test clock. */
  async function deadSendersRow(config: { takeoverGraceSeconds?: number }): Promise<{ worker: OutboxWorker; close: () => Promise<void>; sink: Awaited<ReturnType<typeof startSmtpSink>> }> {
    const sink = await startSmtpSink();
    env = await testEnv({ outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false }, claimSeconds: 10, ...config } });
    expect((await env.ingest(eml({}))).kind).toBe('stored');
    await env.ctx.db.updateTable('outbox').set({ status: 'cancelled' }).where('kind', '!=', 'confirmation').execute();
    const now = env.clock.now().getTime();
    const [row] = await claimDue(env.ctx.db, { owner: 'dead-daemon', now: new Date(now).toISOString(), until: new Date(now + 10_000).toISOString(), limit: 1, exclude: [] });
    expect(row?.claimed_by).toBe('dead-daemon');
    // Its claim lapses; then this daemon starts.
    env.clock.advance(11_000);
    const t = createTransport(env.resolved);
    return { worker: new OutboxWorker(env.ctx, t), sink, close: async () => (t.close(), await sink.close()) };
  }

  /** The dead sender's row is left alone for `graceMs` after the new daemon's start on PostgreSQL, then sent; on SQLite at once. */
  async function takenOverAfter(config: { takeoverGraceSeconds?: number }, graceMs: number): Promise<void> {
    const { worker, sink, close } = await deadSendersRow(config);
    try {
      if (env.resolved.config.database.driver === 'postgres') {
        // A live daemon may still be about to record it (it retries within a third of the grace).
        env.clock.advance(graceMs - 100);
        expect(await worker.drain()).toBe(0);
        env.clock.advance(100);
      }
      expect(await worker.drain()).toBe(1);
      expect(sink.messages).toHaveLength(1);
    } finally {
      await close();
    }
  }

  it('is taken over once the database has answered a new daemon for the grace (PostgreSQL; SQLite: at once, the only sender)', async () => {
    await takenOverAfter({ takeoverGraceSeconds: 4 }, 4_000);
  });

  it('the default grace is 30 s', async () => {
    await takenOverAfter({}, 30_000);
  });

  it.each([
    [30, 10_000],
    [60, 10_000],
    [6, 2_000],
    [1, 333],
  ])('a sender holding an accepted email retries recording it within a third of a %i s grace (%i ms at most)', (grace, ms) => {
    expect(recordRetryMaxMs(grace)).toBe(ms);
  });
});
