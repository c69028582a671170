import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { RelayOutbox } from '../../src/mail-out/relay-outbox.js';
import { createRelayTransports, createTransport } from '../../src/mail-out/transport.js';
import { classifySendError } from '../../src/mail-out/send-errors.js';
import { assessHealth, gatherHealthFacts } from '../../src/ops/health.js';
import { formatStatus, statusReport } from '../../src/ops/status-report.js';
import { explainRouting } from '../../src/cases/route-explain.js';
import { eml, testEnv, TRUSTED_SENDER_AUTH, writeConfig, type TestEnv } from '../helpers/context.js';
import { captureLogger } from '../imap/imap-env.js';
import { startDaemon } from '../../src/main.js';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';

/**
 * Relays per mailbox (docs/configuration.md, Relays): the billing mailbox sends through a relay of
 * its own with its own login (a Microsoft 365 shared mailbox authenticating as itself), support
 * through the default relay (outgoing.smtp). Two real SMTP servers that want different logins;
 * the billing relay's password goes bad: only billing's mail waits, support's goes on, the admin
 * is alerted naming the relay (through the default relay, which works), health names it; fixed,
 * billing's mail goes out once each, through its own relay only.
 */
let main: SmtpSink;
let billing: SmtpSink;
let env: TestEnv | undefined;
let outbox: RelayOutbox | undefined;

/** The default relay (support) wants casegate's password; billing's relay wants `billingAuth` (its sink: `billingSink`). */
async function setup(billingSink: { user: string; pass: string; xoauth2?: boolean }, billingAuth: Record<string, unknown>, billingRelay: Record<string, unknown> = {}, billingDsn = false): Promise<void> {
  main = await startSmtpSink({ auth: { user: 'casegate', pass: 'main-password' } });
  billing = await startSmtpSink({ auth: billingSink, dsn: billingDsn });
  env = await testEnv({
    instance: { adminAddress: 'admin@example.com' },
    autoReply: { minIntervalSeconds: 0 },
    mailboxes: [
      { name: 'support', addresses: ['support@example.com'] },
      { name: 'billing', addresses: ['billing@example.com'], relay: 'billing-m365' },
    ],
    outgoing: {
      transport: 'smtp',
      smtp: { host: '127.0.0.1', port: main.port, secure: false, user: 'casegate', password: 'main-password' },
      relays: { 'billing-m365': { host: '127.0.0.1', port: billing.port, secure: false, auth: billingAuth, ...billingRelay } },
      probeSeconds: 1,
      authProbeSeconds: 1,
      sweepSeconds: 3600,
    },
  });
  outbox = new RelayOutbox(env!.ctx, createRelayTransports(env!.resolved));
}
afterEach(async () => {
  await outbox?.stop();
  outbox?.close();
  outbox = undefined;
  await env?.close();
  env = undefined;
  await main.close();
  await billing.close();
});

async function confirmationFor(from: string, mailbox: string): Promise<void> {
  await env!.ingest(eml({ from, subject: `Question from ${from}`, to: `${mailbox}@example.com` }), { mailbox });
  await env!.ctx.db.updateTable('outbox').set({ status: 'cancelled' }).where('kind', 'not in', ['confirmation', 'outbox-alert', 'outbox-recovered']).where('status', '=', 'queued').execute();
}

it('each mailbox sends through its own relay and login; the billing relay\'s login fails: only its mail waits, support\'s goes, the admin is alerted naming the relay; fixed, billing\'s go once each through their relay', async () => {
  await setup({ user: 'billing@example.com', pass: 'billing-password' }, { method: 'password', user: 'billing@example.com', password: 'billing-password' });
  billing.acceptLogins(false);
  await confirmationFor('Ann <ann@customer.example>', 'billing');
  await confirmationFor('Jane <jane@customer.example>', 'support');
  await confirmationFor('Joe <joe@customer.example>', 'support');
  // (Jane's confirmation is answered late: while the relay has it, its row stays claimed by the default relay's sender — the billing relay's sender starting after it released that claim.)
  main.answerLater(/To: .*jane@customer\.example/, 1_000);
  await outbox!.start();
  await vi.waitFor(() => expect(main.messages.some((m) => m.envelopeTo[0] === 'jane@customer.example')).toBe(true), { timeout: 15_000, interval: 20 });
  expect((await env!.ctx.db.selectFrom('outbox').select(['status', 'claimed_by']).where('to_address', '=', 'jane@customer.example').executeTakeFirstOrThrow())).toEqual({ status: 'queued', claimed_by: outbox!.main.owner });
  // Support's two and the admin's alert (From the default mailbox: the default relay, which works).
  await main.waitFor(3, 15_000);
  expect(main.messages.map((m) => m.envelopeTo[0]).sort()).toEqual(['admin@example.com', 'jane@customer.example', 'joe@customer.example']);
  expect(main.messages.every((m) => m.envelopeFrom === 'support@example.com')).toBe(true);
  const alert = main.messages.find((m) => m.envelopeTo[0] === 'admin@example.com')!;
  expect(alert.parsed.subject).toBe('[casegate] Outgoing mail is failing (auth, paused) · relay billing-m365');
  expect(alert.parsed.text).toMatch(/check outgoing\.relays\.billing-m365\.auth\.user and outgoing\.relays\.billing-m365\.auth\.password\./);
  expect(billing.messages).toHaveLength(0);
  expect(billing.logins.rejected).toBeGreaterThan(0);
  expect(outbox!.pausedByRelay()).toEqual(new Map([['default', false], ['billing-m365', true]]));
  const ann = await env!.ctx.db.selectFrom('outbox').select(['status']).where('to_address', '=', 'ann@customer.example').executeTakeFirstOrThrow();
  expect(ann.status).toBe('queued');
  const health = assessHealth(env!.ctx.config, await gatherHealthFacts(env!.ctx), env!.ctx.clock.now());
  expect(health.checks.find((c) => c.name === 'relay:billing-m365')).toMatchObject({ ok: false, detail: expect.stringMatching(/^relay billing-m365 \(smtp:127\.0\.0\.1:\d+\) paused since .* \(auth\)/) });
  expect(health.checks.find((c) => c.name === 'outgoing')).toMatchObject({ ok: true });
  expect(formatStatus(await statusReport(env!.ctx))).toMatch(/relay billing-m365 \(smtp:127\.0\.0\.1:\d+\) · PAUSED since \S+ \(auth: relay broken, being probed; the other relays go on\) · failing since \S+ · admin alerted/);

  // The password is fixed at the relay: the probe logs in, billing's email goes through its own relay, once.
  billing.acceptLogins(true);
  await billing.waitFor(1, 15_000);
  await vi.waitFor(async () => expect((await env!.ctx.db.selectFrom('outbox').select(['status']).where('to_address', '=', 'ann@customer.example').executeTakeFirstOrThrow()).status).toBe('sent'), { timeout: 5_000, interval: 100 });
  expect(billing.messages.map((m) => [m.envelopeFrom, m.envelopeTo[0]])).toEqual([['billing@example.com', 'ann@customer.example']]);
  // The all-clear names the relay too; nothing of billing's went through the default relay.
  await main.waitFor(4, 15_000);
  expect(main.messages.at(-1)!.parsed.subject).toBe('[casegate] Outgoing mail works again · relay billing-m365');
  expect(main.messages.some((m) => m.envelopeFrom === 'billing@example.com')).toBe(false);
  expect([...main.countsByMessageId().values(), ...billing.countsByMessageId().values()].every((n) => n === 1)).toBe(true);
  // `casegate config explain` names the relay of a message's emails.
  const e = explainRouting(env!.ctx.config, { to: ['billing@example.com'], cc: [], from: 'ann@customer.example', subject: 'x', body: '', headers: new Map(), contentLanguage: null }, env!.ctx.clock.now());
  expect(e.mailbox?.relay.describe).toMatch(/^relay billing-m365 \(smtp:127\.0\.0\.1:\d+\), login billing@example\.com \(password\)$/);
});

it('a relay that logs in with XOAUTH2 (Microsoft 365): the token comes from tokenCommand; a rejected token is asked for again, and once the command prints a good one the held email goes', async () => {
  // The token helper prints what is in this file (a real helper would ask Entra ID and cache).
  const tokenFile = join(tmpdir(), `casegate-relay-token-${process.pid}-${Date.now()}`);
  writeFileSync(tokenFile, 'expired-token\n');
  await setup({ user: 'billing@example.com', pass: 'fresh-token', xoauth2: true }, { method: 'xoauth2', user: 'billing@example.com', tokenCommand: `cat ${tokenFile}` });
  await confirmationFor('Ann <ann@customer.example>', 'billing');
  await outbox!.start();
  await main.waitFor(1, 15_000);
  expect(main.messages[0]!.parsed.text).toMatch(/check outgoing\.relays\.billing-m365\.auth \(xoauth2 for billing@example\.com: the token its tokenCommand prints/);
  // nodemailer asks for a new token once the relay rejected the first (renew), before giving up.
  expect(billing.logins.rejected).toBeGreaterThanOrEqual(2);
  writeFileSync(tokenFile, 'fresh-token\n');
  await billing.waitFor(1, 15_000);
  expect(billing.messages.map((m) => [m.envelopeFrom, m.envelopeTo[0]])).toEqual([['billing@example.com', 'ann@customer.example']]);
  expect(billing.logins.ok).toBeGreaterThan(0);
  rmSync(tokenFile, { force: true });
});

it('a reload moves a mailbox to a relay of its own: its next emails go through that relay, the other mailbox\'s stay on the default; casegate_relay_paused names each relay', async () => {
  main = await startSmtpSink({ auth: { user: 'casegate', pass: 'main-password' } });
  billing = await startSmtpSink({ auth: { user: 'billing@example.com', pass: 'billing-password' } });
  const dir = mkdtempSync(join(tmpdir(), 'casegate-relays-'));
  const base = {
    instance: { adminAddress: 'admin@example.com' },
    autoReply: { minIntervalSeconds: 0 },
    templates: { watch: false },
    security: { senderAuth: TRUSTED_SENDER_AUTH },
    listener: { enabled: false },
    jobs: { enabled: false },
    mailboxes: [
      { name: 'support', addresses: ['support@example.com'] },
      { name: 'billing', addresses: ['billing@example.com'] },
    ],
  };
  const outgoing = { transport: 'smtp' as const, smtp: { host: '127.0.0.1', port: main.port, secure: false, user: 'casegate', password: 'main-password' }, sweepSeconds: 1 };
  const { log } = captureLogger();
  const daemon = await startDaemon({ resolved: writeConfig(dir, { ...base, outgoing }), log });
  const ingest = async (from: string, mailbox: string): Promise<void> => {
    const blob = await daemon.ctx.blobs.put(Readable.from([Buffer.from(eml({ from, subject: `Question from ${from}`, to: `${mailbox}@example.com` }))]));
    await runPipeline(daemon.ctx, { channel: 'test', mailbox: daemon.ctx.mailboxes.byName(mailbox)!, envelopeFrom: null, envelopeTo: [`${mailbox}@example.com`], receivedAt: new Date(), raw: blob });
  };
  try {
    await ingest('Ann <ann@customer.example>', 'billing');
    await main.waitFor(1, 15_000);
    expect(main.messages[0]!.envelopeFrom).toBe('billing@example.com');
    writeConfig(dir, { ...base, mailboxes: [base.mailboxes[0]!, { ...base.mailboxes[1]!, relay: 'billing-m365' }], outgoing: { ...outgoing, relays: { 'billing-m365': { host: '127.0.0.1', port: billing.port, secure: false, user: 'billing@example.com', password: 'billing-password' } } } });
    const defaultSender = daemon.outbox.workers.get('default');
    const report = await daemon.reload();
    expect(report.ok).toBe(true);
    expect(report.actions.join('; ')).toMatch(/outgoing transport now smtp:127\.0\.0\.1:\d+, relay billing-m365 \(smtp:127\.0\.0\.1:\d+\) \(new sender: billing-m365; kept running: default\)/);
    // The default relay did not change: its sender (sends in flight, pause, rate, health) goes on.
    expect(daemon.outbox.workers.get('default')).toBe(defaultSender);
    await ingest('Bob <bob@customer.example>', 'billing');
    await ingest('Jane <jane@customer.example>', 'support');
    await billing.waitFor(1, 15_000);
    await main.waitFor(2, 15_000);
    expect(billing.messages.map((m) => [m.envelopeFrom, m.envelopeTo[0]])).toEqual([['billing@example.com', 'bob@customer.example']]);
    expect(main.messages.map((m) => [m.envelopeFrom, m.envelopeTo[0]])).toEqual([['billing@example.com', 'ann@customer.example'], ['support@example.com', 'jane@customer.example']]);
    // Only a mailbox mapping changes (support joins billing's relay): no relay is rebuilt, support's next email takes billing's relay.
    const billingSender = daemon.outbox.workers.get('billing-m365');
    writeConfig(dir, { ...base, mailboxes: [{ ...base.mailboxes[0]!, relay: 'billing-m365' }, { ...base.mailboxes[1]!, relay: 'billing-m365' }], outgoing: { ...outgoing, relays: { 'billing-m365': { host: '127.0.0.1', port: billing.port, secure: false, user: 'billing@example.com', password: 'billing-password' } } } });
    const moved = await daemon.reload();
    expect(moved.actions.join('; ')).toMatch(/\(kept running: default, billing-m365\)/);
    expect(daemon.outbox.workers.get('default')).toBe(defaultSender);
    expect(daemon.outbox.workers.get('billing-m365')).toBe(billingSender);
    await ingest('Kim <kim@customer.example>', 'support');
    await billing.waitFor(2, 15_000);
    expect(billing.messages.map((m) => [m.envelopeFrom, m.envelopeTo[0]])[1]).toEqual(['support@example.com', 'kim@customer.example']);
    const exposition = await daemon.metrics.render(daemon.ctx, { outboxPaused: () => daemon.outbox.paused, relaysPaused: () => daemon.outbox.pausedByRelay() });
    expect(exposition).toMatch(/^casegate_relay_paused\{relay="default"\} 0$/m);
    expect(exposition).toMatch(/^casegate_relay_paused\{relay="billing-m365"\} 0$/m);
    // Each relay's send failures are counted apart, from zero.
    expect(exposition).toMatch(/^casegate_send_failures_total\{class="auth",relay="billing-m365"\} 0$/m);
    expect(exposition).toMatch(/^casegate_send_failures_total\{class="auth",relay="default"\} 0$/m);
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

it('a relay\'s maxPerMinute: a backlog goes out at that pace (Microsoft 365 allows 30 a minute), the rest waits queued, none failed; the default relay is not held back', async () => {
  await setup({ user: 'billing@example.com', pass: 'billing-password' }, { method: 'password', user: 'billing@example.com', password: 'billing-password' }, { maxPerMinute: 2 });
  for (const who of ['ann', 'bob', 'cid']) await confirmationFor(`${who} <${who}@customer.example>`, 'billing');
  await confirmationFor('jane <jane@customer.example>', 'support');
  await outbox!.start();
  await billing.waitFor(2, 15_000);
  await main.waitFor(1, 15_000);
  await outbox!.drain();
  expect(billing.messages).toHaveLength(2);
  const queued = async () => (await env!.ctx.db.selectFrom('outbox').select(['to_address']).where('status', '=', 'queued').execute()).map((r) => r.to_address).sort();
  await vi.waitFor(async () => expect(await queued()).toHaveLength(1), { timeout: 5_000, interval: 100 });
  expect(billing.messages).toHaveLength(2);
  // A minute on, the third.
  env!.clock.advance(61_000);
  await outbox!.drain();
  await billing.waitFor(3, 15_000);
  expect(new Set(billing.messages.map((m) => m.envelopeTo[0]))).toEqual(new Set(['ann@customer.example', 'bob@customer.example', 'cid@customer.example']));
  await vi.waitFor(async () => expect(await queued()).toEqual([]), { timeout: 5_000, interval: 100 });
});

it('a relay\'s maxPerMinute counts what the relay counts, every recipient of every SMTP transaction: an email to Ann and her Cc\'d boss through a relay that offers DSN is two transactions, and the minute holds two, not three', async () => {
  await setup({ user: 'billing@example.com', pass: 'billing-password' }, { method: 'password', user: 'billing@example.com', password: 'billing-password' }, { maxPerMinute: 2 }, true);
  await confirmationFor('Ann <ann@customer.example>', 'billing');
  // Her boss copied in (as an agent's reply to a case with participants is): one email, two readers.
  const cc = JSON.stringify([{ address: 'boss@customer.example', name: 'Boss' }]);
  await env!.ctx.db.updateTable('outbox').set({ cc_json: cc }).where('to_address', '=', 'ann@customer.example').execute();
  await confirmationFor('Bob <bob@customer.example>', 'billing');
  const sender = outbox!.workers.get('billing-m365')!;
  await outbox!.start();
  // Until 2026-12-07 the limit counted rows: both went in the first minute, three transactions at a
  // relay that allows two (Postfix answers the third "450 4.7.1 … too much mail": relay-rate-postfix.test.ts).
  await vi.waitFor(() => expect(billing.messages.length + (sender.waitingForRate ?? 0)).toBe(3), { timeout: 15_000, interval: 20 });
  expect(billing.messages).toHaveLength(2);
  expect(billing.messages.every((m) => m.envelopeTo.length === 1)).toBe(true);
  const rows = async () => (await env!.ctx.db.selectFrom('outbox').select(['to_address', 'status', 'pending_rcpt_json']).where('from_address', '=', 'billing@example.com').orderBy('id').execute()).map((r) => [r.to_address, r.status, r.pending_rcpt_json]);
  // A minute on, the third goes: Boss's copy, or the whole of Bob's email.
  env!.clock.advance(61_000);
  await outbox!.drain();
  await billing.waitFor(3, 15_000);
  await vi.waitFor(async () => expect((await rows()).map((r) => r[1])).toEqual(['sent', 'sent']), { timeout: 5_000, interval: 50 });
  expect(billing.messages.map((m) => m.envelopeTo[0]).sort()).toEqual(['ann@customer.example', 'bob@customer.example', 'boss@customer.example']);
  expect([...billing.countsByMessageId().values()].sort()).toEqual([1, 2]);
});

it('a relay\'s maxPerMinute counts each reader of one transaction too: through a relay without DSN an email to Ann, her boss and Carl is one transaction of three recipients, and waits for room for three', async () => {
  await setup({ user: 'billing@example.com', pass: 'billing-password' }, { method: 'password', user: 'billing@example.com', password: 'billing-password' }, { maxPerMinute: 3 });
  await confirmationFor('Bob <bob@customer.example>', 'billing');
  const sender = outbox!.workers.get('billing-m365')!;
  await outbox!.start();
  // Bob's email: the relay's EHLO says it has no DSN, so emails to several readers go in one transaction.
  await billing.waitFor(1, 15_000);
  await vi.waitFor(async () => expect((await env!.ctx.db.selectFrom('outbox').select('status').where('to_address', '=', 'bob@customer.example').executeTakeFirstOrThrow()).status).toBe('sent'), { timeout: 5_000, interval: 50 });
  const bob = await env!.ctx.db.selectFrom('outbox').selectAll().where('to_address', '=', 'bob@customer.example').executeTakeFirstOrThrow();
  const { id: _id, ...rest } = bob;
  const cc = JSON.stringify([{ address: 'boss@customer.example', name: 'Boss' }, { address: 'carl@customer.example', name: 'Carl' }]);
  await env!.ctx.db.insertInto('outbox').values({ ...rest, to_address: 'ann@customer.example', message_id: `ann-${bob.message_id}`, cc_json: cc, status: 'queued', attempts: 0, sent_at: null, claimed_by: null, claim_expires_at: null }).execute();
  outbox!.kick();
  // Two of the minute's three are left: the email to three waits (until 2026-12-07 it went: one row).
  await vi.waitFor(() => expect(billing.messages.length + (sender.waitingForRate ?? 0)).toBe(2), { timeout: 15_000, interval: 20 });
  expect(billing.messages).toHaveLength(1);
  env!.clock.advance(61_000);
  await outbox!.drain();
  await billing.waitFor(2, 15_000);
  expect(billing.messages[1]!.envelopeTo.sort()).toEqual(['ann@customer.example', 'boss@customer.example', 'carl@customer.example']);
});

it('a login is never sent in plain text beyond this machine: a relay at another address that offers no STARTTLS is a TLS failure, before AUTH', async () => {
  main = await startSmtpSink({ auth: { user: 'casegate', pass: 'main-password' }, host: '0.0.0.0' });
  billing = await startSmtpSink();
  // This machine's own address on its network: reached like a remote relay (not loopback).
  const address = Object.values(networkInterfaces()).flat().find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)!.address;
  const dir = mkdtempSync(join(tmpdir(), 'casegate-relays-'));
  const transport = createTransport(writeConfig(dir, { outgoing: { transport: 'smtp', smtp: { host: address, port: main.port, secure: false, user: 'casegate', password: 'main-password' } } }));
  try {
    const failure = await transport.verify!().then(() => null, (err: unknown) => err);
    expect(classifySendError(failure, transport.relay)).toMatchObject({ errorClass: 'tls', decision: 'pause', summary: expect.stringMatching(/offers no STARTTLS/) });
    expect(main.logins).toEqual({ ok: 0, rejected: 0 });
  } finally {
    transport.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
