import { afterEach, beforeEach, expect, it } from 'vitest';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { createTransport } from '../../src/mail-out/transport.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';

/**
 * A stop while an email waits for the relay's answer to its final "." (outgoing.smtp.stopWaitSeconds,
 * smtp-reply-wait.ts closePool): the stop waits for that answer instead of closing the connection
 * under it (the email then went out again at the next start: a duplicate when the relay had taken
 * it); an answer later than the wait is recorded (`email.unanswered`) and the email is sent again at
 * the next start, same Message-ID; a session that has not reached its final "." is closed at once.
 * Real SMTP server (smtp-sink), real database; "the next start" is a new worker on the same database.
 */
let sink: SmtpSink;
let env: TestEnv;
const closing: (() => unknown)[] = [];

beforeEach(async () => {
  sink = await startSmtpSink();
});
afterEach(async () => {
  for (const c of closing.splice(0).reverse()) await c();
  await env?.close();
  await sink.close();
});

async function setUp(stopWaitSeconds: number): Promise<void> {
  env = await testEnv({
    autoReply: { minIntervalSeconds: 0 },
    outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false, commandTimeoutSeconds: 60, replyTimeoutSeconds: 600, stopWaitSeconds }, retry: { baseSeconds: 30, maxSeconds: 600, giveUpHours: 48 } },
  });
}

/** A daemon's outbox: a worker on its own transport, started (a stop closes that transport). */
async function startWorker(): Promise<OutboxWorker> {
  const transport = createTransport(env.resolved);
  const worker = new OutboxWorker(env.ctx, transport);
  closing.push(async () => {
    await worker.stop();
    transport.close('now');
  });
  await worker.start();
  return worker;
}

/** A case from `from`; only its confirmation is left queued. */
async function confirmationFor(from: string, mailbox = 'support'): Promise<void> {
  await env.ingest(eml({ from, subject: `Question from ${from}`, to: `${mailbox}@example.com` }), { mailbox });
  await env.ctx.db.updateTable('outbox').set({ status: 'cancelled' }).where('kind', '!=', 'confirmation').where('status', '=', 'queued').execute();
}

async function rows(): Promise<{ status: string; attempts: number; claimed_by: string | null; last_error: string | null }[]> {
  return env.ctx.db.selectFrom('outbox').select(['status', 'attempts', 'claimed_by', 'last_error']).where('kind', '=', 'confirmation').orderBy('id').execute();
}

async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('a stop while the relay takes 7 s to answer the final ".": the stop waits for the answer, the email is recorded sent, the next start sends nothing again', async () => {
  await setUp(15);
  sink.answerLater(/jane@customer\.example/, 7_000);
  const worker = await startWorker();
  await confirmationFor('Jane <jane@customer.example>');
  // The relay has the email (recorded at its final "."), its answer is 7 s away.
  await sink.waitFor(1, 10_000);
  const t0 = Date.now();
  await worker.stop();
  const stoppedAfter = Date.now() - t0;
  expect(stoppedAfter).toBeGreaterThan(5_500);
  expect(stoppedAfter).toBeLessThan(12_000);
  // What the process leaves behind when it exits now.
  expect(await rows()).toEqual([{ status: 'sent', attempts: 1, claimed_by: null, last_error: null }]);
  sink.answerLater(null);
  const next = await startWorker();
  await confirmationFor('Joe <joe@customer.example>');
  await sink.waitFor(2, 10_000);
  await next.stop();
  expect([...sink.countsByMessageId().values()]).toEqual([1, 1]);
}, 60_000);

it('an answer later than stopWaitSeconds: the stop closes the connection after the wait, records that the relay may have the email (event, last_error) and the next start sends it again once, same Message-ID', async () => {
  await setUp(2);
  sink.answerLater(/jane@customer\.example/, 60_000);
  const worker = await startWorker();
  await confirmationFor('Jane <jane@customer.example>');
  await sink.waitFor(1, 10_000);
  const t0 = Date.now();
  await worker.stop();
  const stoppedAfter = Date.now() - t0;
  expect(stoppedAfter).toBeGreaterThan(1_500);
  expect(stoppedAfter).toBeLessThan(5_000);
  expect(await rows()).toEqual([{ status: 'queued', attempts: 1, claimed_by: null, last_error: expect.stringMatching(/stopped before the relay answered the final "\.".*may have taken the email; sent again at the next start, same Message-ID/) }]);
  const events = await env.ctx.db.selectFrom('events').select(['type', 'reason']).where('type', 'in', ['email.unanswered', 'email.failed', 'outbox.alert']).execute();
  expect(events).toEqual([{ type: 'email.unanswered', reason: expect.stringMatching(/^confirmation to jane@customer\.example: the daemon stopped before the relay answered .* may get it twice/) }]);
  sink.answerLater(null);
  const next = await startWorker();
  await sink.waitFor(2, 10_000);
  await until(async () => (await rows())[0]!.status === 'sent');
  await next.stop();
  const counts = [...sink.countsByMessageId().values()];
  expect(counts).toEqual([2]);
  expect(await rows()).toEqual([{ status: 'sent', attempts: 2, claimed_by: null, last_error: null }]);
}, 60_000);

it('a session that has not reached its final "." (the relay hangs at MAIL FROM) is closed at once at a stop: the email goes back to the queue untried, nothing is waited for, no alert', async () => {
  await setUp(15);
  sink.stallSender('billing@example.com', 30_000);
  const worker = await startWorker();
  await confirmationFor('Ann <ann@customer.example>', 'billing');
  await until(() => (sink.mailFroms.get('billing@example.com') ?? 0) > 0);
  const t0 = Date.now();
  await worker.stop();
  expect(Date.now() - t0).toBeLessThan(3_000);
  expect(await rows()).toEqual([{ status: 'queued', attempts: 0, claimed_by: null, last_error: null }]);
  expect(sink.messages).toEqual([]);
  expect(await env.ctx.db.selectFrom('events').select('type').where('type', 'in', ['email.unanswered', 'outbox.alert']).execute()).toEqual([]);
}, 60_000);
