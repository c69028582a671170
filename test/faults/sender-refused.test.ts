import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { classifySendError } from '../../src/mail-out/send-errors.js';
import { MimeThread } from '../../src/mime/mime-thread.js';
import { compiledMimeWorker } from '../helpers/mime-worker.js';
import { createTransport } from '../../src/mail-out/transport.js';
import { Metrics } from '../../src/ops/metrics.js';
import { parseExposition } from '../helpers/prom-text.js';
import { assessHealth, gatherHealthFacts } from '../../src/ops/health.js';
import { listOutboxRows, retryOutbox } from '../../src/mail-out/outbox-admin.js';
import { formatOutboxList } from '../../src/views.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';

/**
 * The relay refuses one mailbox's From address at MAIL FROM (553 "sender address rejected: not
 * owned by user", as Postfix's reject_sender_login_mismatch does): a configuration fault of that
 * sender, not of each email (src/mail-out/sender-holds.ts). Its emails are held — queued, not
 * failed — while the other mailbox's mail goes; the admin is alerted at once, once; one email
 * probes the sender now and then; when the relay takes it the rest go, each once, and the
 * all-clear follows.
 */
let sink: SmtpSink;
let env: TestEnv;
let worker: OutboxWorker | undefined;
const closing: (() => unknown)[] = [];

beforeEach(async () => {
  sink = await startSmtpSink();
  env = await testEnv({
    instance: { adminAddress: 'admin@example.com' },
    autoReply: { minIntervalSeconds: 0 },
    outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false }, probeSeconds: 1, authProbeSeconds: 2, sweepSeconds: 3600 },
  });
  const transport = createTransport(env.resolved);
  closing.push(() => transport.close());
  worker = new OutboxWorker(env.ctx, transport);
});
afterEach(async () => {
  await worker?.stop();
  for (const c of closing.splice(0).reverse()) await c();
  await env.close();
  await sink.close();
});

async function confirmationFor(from: string, mailbox: string): Promise<void> {
  await env.ingest(eml({ from, subject: `Question from ${from}`, to: `${mailbox}@example.com` }), { mailbox });
  await env.ctx.db.updateTable('outbox').set({ status: 'cancelled' }).where('kind', 'not in', ['confirmation', 'outbox-alert', 'outbox-recovered']).where('status', '=', 'queued').execute();
}

async function confirmations(): Promise<{ from_address: string; to_address: string; status: string }[]> {
  return env.ctx.db.selectFrom('outbox').select(['from_address', 'to_address', 'status']).where('kind', '=', 'confirmation').orderBy('id').execute();
}

it('one mailbox\'s sender refused at MAIL FROM: its emails held (not failed), the other mailbox\'s sent, the admin alerted once; fixed at the relay: the held ones go once each and the all-clear follows', async () => {
  sink.refuseSender('billing@example.com', 553);
  await confirmationFor('Ann <ann@customer.example>', 'billing');
  await confirmationFor('Bob <bob@customer.example>', 'billing');
  await confirmationFor('Jane <jane@customer.example>', 'support');
  await confirmationFor('Joe <joe@customer.example>', 'support');
  await worker!.start();
  // The support mailbox's two, and the admin's alert (sent from the default mailbox, support@).
  await sink.waitFor(3, 15_000);
  expect(sink.messages.map((m) => m.envelopeTo[0]).sort()).toEqual(['admin@example.com', 'jane@customer.example', 'joe@customer.example']);
  // (the relay records a message before it answers: its outcome follows)
  await vi.waitFor(async () => expect((await confirmations()).filter((r) => r.status === 'sent')).toHaveLength(2), { timeout: 5_000, interval: 100 });
  expect(await confirmations()).toEqual([
    { from_address: 'billing@example.com', to_address: 'ann@customer.example', status: 'queued' },
    { from_address: 'billing@example.com', to_address: 'bob@customer.example', status: 'queued' },
    { from_address: 'support@example.com', to_address: 'jane@customer.example', status: 'sent' },
    { from_address: 'support@example.com', to_address: 'joe@customer.example', status: 'sent' },
  ]);
  const alert = sink.messages.find((m) => m.envelopeTo[0] === 'admin@example.com')!;
  expect(alert.parsed.text).toMatch(/553 5\.7\.1 <billing@example\.com>: Sender address rejected/);
  expect(alert.parsed.text).toMatch(/The relay refuses the sender \(MAIL FROM\)/);
  const health = assessHealth(env.ctx.config, await gatherHealthFacts(env.ctx), env.ctx.clock.now());
  expect(health.checks.find((c) => c.name === 'sender:billing@example.com')).toMatchObject({ ok: false, detail: expect.stringMatching(/refuses this sender at MAIL FROM/) });
  // The transport itself works: its own check is fine.
  expect(health.checks.find((c) => c.name === 'outgoing')).toMatchObject({ ok: true });
  // Held on purpose, not stuck: an hour on, the outbox check names the held emails and stays fine.
  const later = assessHealth(env.ctx.config, await gatherHealthFacts(env.ctx), new Date(env.ctx.clock.now().getTime() + 3_600_000));
  expect(later.checks.find((c) => c.name === 'outbox')).toMatchObject({ ok: true, detail: '2 queued, 0 failed (2 held: their sender is refused by the relay, see the sender: check)' });
  expect(worker!.paused).toBe(false);
  // Prometheus tells held from stuck too (the oldest queued age counts the held ones).
  const m = parseExposition(await new Metrics('test').render(env.ctx, { outboxPaused: () => false }));
  expect(m.value('casegate_outbox_queued')).toBe(2);
  expect(m.value('casegate_outbox_held')).toBe(2);
  expect(m.value('casegate_health_check_ok', { check: 'sender:billing@example.com' })).toBe(0);
  // An admin who tries `casegate outbox retry` on one is told why it waits, not that it is due.
  const annRow = await env.ctx.db.selectFrom('outbox').select('id').where('kind', '=', 'confirmation').where('to_address', '=', 'ann@customer.example').executeTakeFirstOrThrow();
  expect(await retryOutbox(env.ctx, [annRow.id], 'cli')).toEqual([
    { id: annRow.id, ok: false, status: 'queued', message: expect.stringMatching(/^email #\d+ is held: the relay refuses its sender billing@example\.com \(casegate status, check sender:billing@example\.com\)/) },
  ]);
  // The same while a probe has it claimed (every probeSeconds): still "held", not "being sent right now".
  const probeClaim = { claimed_by: worker!.owner, claim_expires_at: new Date(env.ctx.clock.now().getTime() + 60_000).toISOString() };
  const before = await env.ctx.db.selectFrom('outbox').select(['claimed_by', 'claim_expires_at']).where('id', '=', annRow.id).executeTakeFirstOrThrow();
  await env.ctx.db.updateTable('outbox').set(probeClaim).where('id', '=', annRow.id).execute();
  expect(await retryOutbox(env.ctx, [annRow.id], 'cli')).toEqual([
    { id: annRow.id, ok: false, status: 'queued', message: expect.stringMatching(/^email #\d+ is held: the relay refuses its sender billing@example\.com .*\(it is being tried right now, as the probe of that sender\)$/) },
  ]);
  await env.ctx.db.updateTable('outbox').set(before).where('id', '=', annRow.id).where('claimed_by', '=', probeClaim.claimed_by).where('claim_expires_at', '=', probeClaim.claim_expires_at).execute();

  // While still refused: a probe now and then, ONE email each time, and no second alert.
  const tried = sink.mailFroms.get('billing@example.com') ?? 0;
  await vi.waitFor(() => expect(sink.mailFroms.get('billing@example.com') ?? 0).toBeGreaterThanOrEqual(tried + 1), { timeout: 5_000, interval: 100 });
  await new Promise((r) => setTimeout(r, 300));
  expect(sink.mailFroms.get('billing@example.com')).toBe(tried + 1);
  expect(await env.ctx.db.selectFrom('events').select('type').where('type', 'in', ['outbox.alert', 'email.failed']).execute()).toEqual([{ type: 'outbox.alert' }]);

  // The relay's admin lets casegate send as billing@: the next probe goes, then the rest, and the all-clear.
  sink.refuseSender('billing@example.com', null);
  await vi.waitFor(async () => expect((await confirmations()).every((r) => r.status === 'sent')).toBe(true), { timeout: 15_000, interval: 200 });
  worker!.kick();
  await sink.waitFor(6, 15_000);
  expect(sink.messages.map((m) => m.envelopeTo[0]).sort()).toEqual(['admin@example.com', 'admin@example.com', 'ann@customer.example', 'bob@customer.example', 'jane@customer.example', 'joe@customer.example']);
  expect([...sink.countsByMessageId().values()].every((n) => n === 1)).toBe(true);
  expect((await env.ctx.db.selectFrom('events').select('type').where('type', 'in', ['outbox.alert', 'outbox.recovered']).orderBy('id').execute()).map((e) => e.type)).toEqual(['outbox.alert', 'outbox.recovered']);
  const after = assessHealth(env.ctx.config, await gatherHealthFacts(env.ctx), env.ctx.clock.now());
  expect(after.checks.filter((c) => c.name.startsWith('sender:'))).toEqual([]);
}, 60_000);

it('a daemon restarted while a sender is refused: holds it again from the start (one email tries it), and alerts no second time', async () => {
  sink.refuseSender('billing@example.com', 553);
  await confirmationFor('Ann <ann@customer.example>', 'billing');
  await worker!.start();
  await sink.waitFor(1, 15_000);
  await worker!.stop();
  await confirmationFor('Bob <bob@customer.example>', 'billing');
  await confirmationFor('Carl <carl@customer.example>', 'billing');
  const before = sink.mailFroms.get('billing@example.com') ?? 0;
  const transport = createTransport(env.resolved);
  closing.push(() => transport.close());
  worker = new OutboxWorker(env.ctx, transport);
  await worker.start();
  await vi.waitFor(() => expect(sink.mailFroms.get('billing@example.com') ?? 0).toBe(before + 1), { timeout: 5_000, interval: 100 });
  await new Promise((r) => setTimeout(r, 500));
  // One probe, not three attempts; nothing failed, one alert in all.
  expect(sink.mailFroms.get('billing@example.com')).toBe(before + 1);
  expect((await confirmations()).map((r) => r.status)).toEqual(['queued', 'queued', 'queued']);
  expect(await env.ctx.db.selectFrom('events').select('type').where('type', 'in', ['outbox.alert', 'email.failed']).execute()).toEqual([{ type: 'outbox.alert' }]);
}, 60_000);

it('on the daemon\'s MIME thread (where the daemon sends) the refusal crosses back with its command: the same sender class', async () => {
  sink.refuseSender('billing@example.com', 553);
  const transport = createTransport(env.resolved);
  closing.push(() => transport.close());
  const mime = new MimeThread(env.ctx.blobs, compiledMimeWorker(), () => undefined);
  closing.push(() => mime.close());
  const err = await transport.sendOn!(mime, { from: 'billing@example.com', to: 'ann@customer.example', subject: 'x', text: 'x', messageId: '<b-1@example.com>' })!.then(
    () => null,
    (e: unknown) => e,
  );
  expect(classifySendError(err)).toMatchObject({ errorClass: 'sender', decision: 'hold', responseCode: 553 });
  expect(sink.messages).toEqual([]);
});

it('held emails are never given up: held for 72 h (past giveUpHours 48), listed as held; when the relay takes the sender again, a 451 for the probe and then for the next one retries them — their age counts from the end of the hold', async () => {
  sink.refuseSender('billing@example.com', 553);
  await confirmationFor('Ann <ann@customer.example>', 'billing');
  await confirmationFor('Bob <bob@customer.example>', 'billing');
  await worker!.start();
  await sink.waitFor(1, 15_000); // the admin's alert
  const listed = await listOutboxRows(env.ctx, ['queued'], 10);
  expect(listed.filter((r) => r.kind === 'confirmation').map((r) => r.held_sender)).toEqual([true, true]);
  expect(formatOutboxList(listed, env.ctx.clock.now())).toMatch(/held: the relay refuses the sender billing@example\.com \(never given up/);
  // The start's pass claimed both before the hold began: once neither is claimed, that pass is over
  // and every later try is a probe (one email at a time). (Under load its second send could still be
  // on its way to the relay three "days" later, and an email queued 72 h ago that is not a probe
  // is rightly given up at its first 4xx.)
  await vi.waitFor(async () => expect((await env.ctx.db.selectFrom('outbox').select('claimed_by').where('kind', '=', 'confirmation').execute()).every((r) => r.claimed_by === null)).toBe(true), { timeout: 15_000, interval: 20 });
  // Three days on (giveUpHours: 48), the relay's admin allows billing@, and the relay defers the next email once.
  env.clock.advance(72 * 3_600_000);
  sink.failNext(451, 1);
  sink.refuseSender('billing@example.com', null);
  // The probe got the 451: retried, not given up; the next probe (the other email) goes, the hold ends.
  await vi.waitFor(async () => expect((await confirmations()).map((r) => r.status).sort()).toEqual(['queued', 'sent']), { timeout: 15_000, interval: 200 });
  const waiting = await env.ctx.db.selectFrom('outbox').select(['id', 'queued_at', 'attempts']).where('kind', '=', 'confirmation').where('status', '=', 'queued').executeTakeFirstOrThrow();
  // Ann: refused once at the start, then the probe that got the 451.
  expect(waiting.attempts).toBe(2);
  expect(waiting.queued_at).toBe(env.ctx.clock.now().toISOString());
  // Its retry is deferred once more: a retry again (72 h after it was queued), not "gave up after 48 h".
  await sink.waitFor(3, 10_000); // the alert, Bob's, the all-clear
  env.clock.advance(3_600_000);
  sink.failNext(451, 1);
  worker!.kick();
  await vi.waitFor(async () => expect((await env.ctx.db.selectFrom('outbox').select('attempts').where('id', '=', waiting.id).executeTakeFirstOrThrow()).attempts).toBe(3), { timeout: 10_000, interval: 100 });
  expect((await confirmations()).map((r) => r.status).sort()).toEqual(['queued', 'sent']);
  expect(await env.ctx.db.selectFrom('events').select('type').where('type', '=', 'email.failed').execute()).toEqual([]);
}, 60_000);
