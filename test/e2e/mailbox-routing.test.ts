import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mailboxOfStored } from '../../src/channels/arrival.js';
import { ingestOne } from '../../src/channels/pipe.js';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { ManualClock } from '../../src/clock.js';
import { workFromCli } from '../../src/cases/case-commands.js';
import { closeContext, createContext } from '../../src/context.js';
import { silentLogger } from '../../src/log.js';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import { eml, testEnv, TRUSTED_SENDER_AUTH, writeConfig } from '../helpers/context.js';
import { tempDir } from '../helpers/temp-dirs.js';
import { removeDir, runDaemon } from '../imap/imap-env.js';
import { eventually, sentTo, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

/**
 * Several mailboxes and queues of one desk, end to end: customers' MTAs speak real SMTP to the
 * daemon's listener, what casegate sends reaches a real SMTP sink.
 */
let env: TestDaemon;

beforeAll(async () => {
  env = await startTestDaemon({
    mailboxes: [
      { name: 'support', addresses: ['support@example.com'] },
      { name: 'billing', addresses: ['billing@example.com'], queue: 'finance' },
      // An internationalised domain, configured as people write it.
      { name: 'buecher', addresses: ['hilfe@bücher.example'], queue: 'books' },
    ],
    rules: [{ name: 'books-vip', match: { recipient: 'vip@bücher.example', senderDomain: 'xn--kunde--gua.example' }, set: { priority: 'high', tags: ['vip'] } }],
    autoReply: { minIntervalSeconds: 0 },
  });
});

afterAll(async () => {
  await env.stop();
});

describe('internationalised mailbox domains', () => {
  it('the listener and `casegate ingest --recipient` take the punycode spelling of a mailbox address: that mailbox, its queue, its From', async () => {
    // Mail systems without SMTPUTF8 (most MTAs relaying to us, Postfix's ${recipient}) spell the domain in ASCII.
    const info = await env.client().sendMail({
      envelope: { from: 'leser@customer.example', to: ['hilfe@xn--bcher-kva.example'] },
      from: 'Lea Leser <leser@customer.example>',
      to: 'hilfe@xn--bcher-kva.example',
      subject: 'Buch fehlt',
      text: 'Mein bestelltes Buch ist nicht angekommen.',
    });
    const n = Number(/^250 .*Stored in case (\d+)/.exec(info.response)?.[1]);
    const c = (await caseByNumber(env.daemon.ctx.db, n))!;
    expect([c.queue, c.mailbox]).toEqual(['books', 'buecher']);

    const raw = eml({ from: 'Lea Leser <leser2@customer.example>', to: 'hilfe@xn--bcher-kva.example', subject: 'Rechnung', body: 'Bitte die Rechnung neu senden.' });
    const piped = await ingestOne(env.daemon.ctx, 'stdin', Readable.from([Buffer.from(raw)]), { recipient: 'hilfe@xn--bcher-kva.example', sender: 'leser2@customer.example' });
    expect(piped.exitCode).toBe(0);
    expect(piped.outcome.kind).toBe('stored');
    const p = (await caseByNumber(env.daemon.ctx.db, (piped.outcome as { caseNumber: number }).caseNumber))!;
    expect([p.queue, p.mailbox]).toEqual(['books', 'buecher']);
    await eventually(() => expect(sentTo(env.sink, 'leser2@customer.example')).toHaveLength(1));
    expect(sentTo(env.sink, 'leser2@customer.example')[0]!.parsed.from?.value[0]?.address).toMatch(/^hilfe@(bücher|xn--bcher-kva)\.example$/);
  });

  it('rules compare recipient and sender domain whatever spelling the domain arrives in', async () => {
    const info = await env.client().sendMail({
      envelope: { from: 'kim@kunde-ä.example', to: ['hilfe+vip@xn--bcher-kva.example'] },
      from: 'Kim <kim@kunde-ä.example>',
      to: 'vip@xn--bcher-kva.example',
      subject: 'Bestellung',
      text: 'Wo bleibt meine Bestellung?',
    });
    const n = Number(/Stored in case (\d+)/.exec(info.response)?.[1]);
    const c = (await caseByNumber(env.daemon.ctx.db, n))!;
    expect(c.priority).toBe('high');
  });
});

describe('a mailbox renamed in the configuration', () => {
  it('its open cases keep sending From its address (the mailbox of their queue), not the default mailbox\'s', async () => {
    const dir = tempDir('casegate-rename-');
    const base = { templates: { watch: false }, security: { senderAuth: TRUSTED_SENDER_AUTH }, outgoing: { transport: 'file' as const } };
    const support = { name: 'support', addresses: ['support@example.com'] };
    const clock = new ManualClock('2026-03-02T09:00:00Z');
    let ctx = await createContext({ resolved: writeConfig(dir, { ...base, mailboxes: [support, { name: 'billing', addresses: ['billing@example.com'], queue: 'finance' }] }), log: silentLogger(), clock });
    try {
      const blob = await ctx.blobs.put(Readable.from([Buffer.from(eml({ to: 'billing@example.com', subject: 'Refund?', messageId: 'refund@customer.example' }))]));
      const out = await runPipeline(ctx, { channel: 'smtp', mailbox: ctx.mailboxes.byName('billing')!, envelopeFrom: null, envelopeTo: ['billing@example.com'], receivedAt: clock.now(), raw: blob });
      expect(out.kind).toBe('stored');
    } finally {
      await closeContext(ctx);
    }
    // The admin renames the mailbox (same address, same queue) and restarts.
    ctx = await createContext({ resolved: writeConfig(dir, { ...base, mailboxes: [support, { name: 'finance-desk', addresses: ['billing@example.com'], queue: 'finance' }] }), log: silentLogger(), clock });
    try {
      await workFromCli(ctx, 10001, { text: 'Your refund is on its way.' });
      const rows = await ctx.db.selectFrom('outbox').select(['kind', 'from_address']).orderBy('id').execute();
      expect(rows.at(-1)).toEqual({ kind: 'agent-reply', from_address: 'billing@example.com' });
    } finally {
      await closeContext(ctx);
    }
  });
});

describe('a queue taken out of the configuration while it has open cases', () => {
  it('a reload (and a start) warns that nobody is notified about them', async () => {
    const dir = tempDir('casegate-stranded-');
    const base = { templates: { watch: false }, security: { senderAuth: TRUSTED_SENDER_AUTH }, listener: { enabled: false }, outgoing: { transport: 'file' as const }, jobs: { enabled: false } };
    const support = { name: 'support', addresses: ['support@example.com'] };
    const d = await runDaemon({ ...base, mailboxes: [support, { name: 'billing', addresses: ['billing@example.com'], queue: 'finance' }], queues: { finance: { agents: [{ name: 'Fin', address: 'fin@example.com' }] } } }, dir);
    try {
      const { ctx } = d.daemon;
      const blob = await ctx.blobs.put(Readable.from([Buffer.from(eml({ to: 'billing@example.com', subject: 'Refund?', messageId: 'stranded@customer.example' }))]));
      expect((await runPipeline(ctx, { channel: 'smtp', mailbox: ctx.mailboxes.byName('billing')!, envelopeFrom: null, envelopeTo: ['billing@example.com'], receivedAt: new Date(), raw: blob })).kind).toBe('stored');
      const warned = () => d.lines.filter((l) => l.level === 40 && l.msg.includes('queue "finance" has 1 open case(s)'));
      expect(warned()).toEqual([]);
      // The admin merges billing into support and takes the finance team out.
      writeConfig(dir, { ...base, mailboxes: [{ ...support, addresses: ['support@example.com', 'billing@example.com'] }] });
      expect((await d.daemon.reload()).ok).toBe(true);
      expect(warned()).toHaveLength(1);
      expect(warned()[0]!.msg).toContain('no agent is notified');
      await d.stop();
      // And at every start while it lasts.
      const again = await runDaemon({ ...base, mailboxes: [{ ...support, addresses: ['support@example.com', 'billing@example.com'] }] }, dir);
      await again.stop();
      expect(again.lines.filter((l) => l.level === 40 && l.msg.includes('queue "finance" has 1 open case(s)'))).toHaveLength(1);
    } finally {
      await d.stop();
      removeDir(dir);
    }
  });
});

describe('a stored message run again after its mailbox was renamed', () => {
  it('goes to the mailbox serving its recipients, not the first mailbox (quarantine retry)', async () => {
    const env = await testEnv({ mailboxes: [{ name: 'support', addresses: ['support@example.com'] }, { name: 'finance-desk', addresses: ['billing@example.com'], queue: 'finance' }] });
    try {
      const blob = await env.ctx.blobs.put(Readable.from([Buffer.from(eml({ to: 'Billing <billing@example.com>', subject: 'Invoice', messageId: 'stored@customer.example' }))]));
      // Received by the listener as mailbox "billing" (since renamed): the envelope decides …
      expect((await mailboxOfStored(env.ctx, { mailbox: 'billing', envelopeTo: ['billing@example.com'] }, blob)).name).toBe('finance-desk');
      // … or, read from IMAP (no envelope), its recipient headers.
      expect((await mailboxOfStored(env.ctx, { mailbox: 'billing', envelopeTo: [] }, blob)).name).toBe('finance-desk');
      expect((await mailboxOfStored(env.ctx, { mailbox: 'support', envelopeTo: [] }, blob)).name).toBe('support');
    } finally {
      await env.close();
    }
  });
});
