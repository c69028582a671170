import { afterEach, beforeEach, expect, it } from 'vitest';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { createTransport, type MailTransport } from '../../src/mail-out/transport.js';
import { MimeThread } from '../../src/mime/mime-thread.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { compiledMimeWorker } from '../helpers/mime-worker.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';

/**
 * outgoing.smtp.replyTimeoutSeconds / commandTimeoutSeconds (src/mail-out/smtp-reply-wait.ts) against
 * a real SMTP server: a relay that answers the final "." late (a slow milter) is waited for — the
 * email goes once and is recorded sent, not timed out and sent again — while a relay that hangs
 * mid-session (at MAIL FROM) gives the connection back after the short command limit, so the
 * emails behind it go on. Short limits here (1 s for commands, 6 s for the answer), the same code.
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

async function setUp(smtp: { maxConnections?: number } = {}): Promise<{ worker: OutboxWorker; transport: MailTransport }> {
  env = await testEnv({
    autoReply: { minIntervalSeconds: 0 },
    outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false, commandTimeoutSeconds: 1, replyTimeoutSeconds: 6, ...smtp }, retry: { baseSeconds: 30, maxSeconds: 600, giveUpHours: 48 } },
  });
  const transport = createTransport(env.resolved);
  closing.push(() => transport.close());
  return { worker: new OutboxWorker(env.ctx, transport), transport };
}

/** A case from `from` to `mailbox`; only its confirmation is left queued (the agents' notices are not what this is about). */
async function confirmationFor(from: string, mailbox = 'support'): Promise<void> {
  await env.ingest(eml({ from, subject: `Question from ${from}`, to: `${mailbox}@example.com` }), { mailbox });
  await env.ctx.db.updateTable('outbox').set({ status: 'cancelled' }).where('kind', '!=', 'confirmation').where('status', '=', 'queued').execute();
}

async function rows(): Promise<{ to_address: string; status: string; attempts: number; last_error: string | null }[]> {
  return env.ctx.db.selectFrom('outbox').select(['to_address', 'status', 'attempts', 'last_error']).where('kind', '=', 'confirmation').orderBy('id').execute();
}

it('a relay that answers the final "." after 2.5 s (past the 1 s command limit, within the 6 s reply wait): sent once, recorded sent', async () => {
  const { worker } = await setUp();
  sink.answerLater(/jane@customer\.example/, 2_500);
  await confirmationFor('Jane <jane@customer.example>');
  const t0 = Date.now();
  expect(await worker.drain()).toBe(1);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(2_400);
  expect(await rows()).toEqual([{ to_address: 'jane@customer.example', status: 'sent', attempts: 1, last_error: null }]);
  // The connection's limit is the command limit again for the next email: a stall at MAIL FROM ends after ~1 s.
  sink.answerLater(null);
  await confirmationFor('Joe <joe@customer.example>');
  expect(await worker.drain()).toBe(1);
  expect([...sink.countsByMessageId().values()]).toEqual([1, 1]);
  expect(worker.paused).toBe(false);
}, 30_000);

it('the same on the daemon\'s MIME thread (its own pool of the same settings): the late answer is waited for, the thread is not stopped under it', async () => {
  const { transport } = await setUp();
  const lost: string[] = [];
  const mime = new MimeThread(env.ctx.blobs, compiledMimeWorker(), (reason) => lost.push(reason));
  closing.push(() => mime.close());
  sink.answerLater(/Late one/, 2_500);
  const sent = await transport.sendOn!(mime, { from: 'support@example.com', to: 'jane@customer.example', subject: 'Late one', text: 'x', messageId: '<late-1@example.com>' });
  expect(sent.response).toMatch(/^250 /);
  expect(lost).toEqual([]);
  expect([...sink.countsByMessageId().entries()]).toEqual([['<late-1@example.com>', 1]]);
}, 30_000);

it('a relay answering later than the reply wait: the email is given up after it (not after the 1 s command limit) and retried later, once', async () => {
  const { worker } = await setUp();
  sink.answerLater(/jane@customer\.example/, 8_000);
  await confirmationFor('Jane <jane@customer.example>');
  const t0 = Date.now();
  expect(await worker.drain()).toBe(0);
  const waited = Date.now() - t0;
  expect(waited).toBeGreaterThanOrEqual(5_900);
  expect(waited).toBeLessThan(7_900);
  // Its final "." was out: the row says the relay may have it (a resend may be a duplicate).
  expect(await rows()).toEqual([{ to_address: 'jane@customer.example', status: 'queued', attempts: 1, last_error: expect.stringMatching(/^no answer to the final "\." \(.*ETIMEDOUT.*\): the relay may have taken it; sent again with the same Message-ID$/) }]);
}, 30_000);

it('a relay hanging at MAIL FROM for one sender holds its connection for the command limit only: with one connection the emails behind it still go within seconds', async () => {
  const { worker } = await setUp({ maxConnections: 1 });
  sink.stallSender('billing@example.com', 20_000);
  await confirmationFor('Ann <ann@customer.example>', 'billing');
  await confirmationFor('Jane <jane@customer.example>');
  await confirmationFor('Joe <joe@customer.example>');
  const t0 = Date.now();
  await worker.drain();
  // The paused transport (a timeout is a connection fault) is probed after 1 s and resumes.
  while ((await rows()).filter((r) => r.status === 'sent').length < 2 && Date.now() - t0 < 15_000) {
    await new Promise((r) => setTimeout(r, 200));
    worker.kick();
  }
  expect(Date.now() - t0).toBeLessThan(10_000);
  expect(await rows()).toEqual([
    // Hung before its final ".": nothing to say about the relay having it.
    { to_address: 'ann@customer.example', status: 'queued', attempts: 1, last_error: expect.stringMatching(/^(?!no answer to the final).*(ETIMEDOUT|Timeout)/i) },
    { to_address: 'jane@customer.example', status: 'sent', attempts: 1, last_error: null },
    { to_address: 'joe@customer.example', status: 'sent', attempts: 1, last_error: null },
  ]);
  // (In either order: each send reads its readers first, and on PostgreSQL those reads may finish in any order.)
  expect(sink.messages.map((m) => m.envelopeTo).sort()).toEqual([['jane@customer.example'], ['joe@customer.example']]);
}, 30_000);
