import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTransport } from '../../src/mail-out/transport.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { closeContext, createContext } from '../../src/context.js';
import { silentLogger } from '../../src/log.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';

let sink: SmtpSink;
let env: TestEnv;
beforeEach(async () => {
  sink = await startSmtpSink();
  env = await testEnv({ outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false }, retry: { baseSeconds: 30, maxSeconds: 600, giveUpHours: 48 } } });
});
afterEach(async () => {
  await env.close();
  await sink.close();
});

async function rows() {
  return env.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute();
}

function worker(): { w: OutboxWorker; close: () => void } {
  const t = createTransport(env.resolved);
  return { w: new OutboxWorker(env.ctx, t), close: () => t.close() };
}

describe('outbox worker over real SMTP', () => {
  it('delivers the confirmation with our fixed headers and marks it sent', async () => {
    await env.ingest(eml({ messageId: 'orig@customer.example', subject: 'Help' }));
    const { w, close } = worker();
    expect(await w.drain()).toBe(1);
    close();
    const [m] = await sink.waitFor(1);
    const row = (await rows())[0]!;
    expect(row.status).toBe('sent');
    expect(m!.envelopeTo).toEqual(['jane@customer.example']);
    expect(m!.parsed.messageId).toBe(`<${row.message_id}>`);
    expect(m!.parsed.inReplyTo).toBe('<orig@customer.example>');
    expect(m!.parsed.subject).toBe('[Case #10001] We have received your request: Help');
    expect(m!.parsed.headers.get('auto-submitted')).toBe('auto-replied');
    expect(m!.parsed.headers.get('x-loop')).toBe('casegate@support.example.com');
    expect(m!.parsed.text).toContain('10001');
    expect(m!.parsed.html).toContain('10001');
    // Sent once: another pass sends nothing.
    expect(await worker().w.drain()).toBe(0);
    expect(sink.messages).toHaveLength(1);
  });

  it('retries a 4xx with backoff and then delivers exactly once', async () => {
    await env.ingest(eml({}));
    sink.failNext(451, 2);
    const { w, close } = worker();
    await w.drain();
    let row = (await rows())[0]!;
    expect(row).toMatchObject({ status: 'queued', attempts: 1 });
    expect(new Date(row.next_attempt_at).getTime() - env.clock.now().getTime()).toBe(30_000);
    expect(await w.drain()).toBe(0); // not due yet
    env.clock.advance(30_000);
    await w.drain();
    row = (await rows())[0]!;
    expect(row.attempts).toBe(2);
    expect(new Date(row.next_attempt_at).getTime() - env.clock.now().getTime()).toBe(60_000);
    env.clock.advance(60_000);
    expect(await w.drain()).toBe(1);
    close();
    expect((await rows())[0]!.status).toBe('sent');
    expect(sink.messages).toHaveLength(1);
  });

  it('marks a 5xx as failed with an event', async () => {
    await env.ingest(eml({}));
    sink.failNext(550);
    const { w, close } = worker();
    await w.drain();
    close();
    const row = (await rows())[0]!;
    expect(row.status).toBe('failed');
    expect(row.last_error).toMatch(/550/);
    const ev = await env.ctx.db.selectFrom('events').selectAll().where('type', '=', 'email.failed').execute();
    expect(ev).toHaveLength(1);
  });

  it('retries when the server is down and keeps the row across a restart', async () => {
    await env.ingest(eml({}));
    await sink.close();
    const { w, close } = worker();
    await w.drain();
    close();
    expect((await rows())[0]).toMatchObject({ status: 'queued', attempts: 1 });
    expect((await rows())[0]!.last_error).toMatch(/ECONNREFUSED|connect/i);
    // "Restart": a new context on the same files, and the server is back on a new port.
    sink = await startSmtpSink();
    await closeContext(env.ctx);
    const { writeConfig } = await import('../helpers/context.js');
    const resolved = writeConfig(env.dir, {
      mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
      templates: { watch: false },
      outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false } },
    });
    const ctx2 = await createContext({ resolved, log: silentLogger(), clock: env.clock });
    env.clock.advance(30_000);
    const t2 = createTransport(resolved);
    expect(await new OutboxWorker(ctx2, t2).drain()).toBe(1);
    t2.close();
    await sink.waitFor(1);
    Object.assign(env, { ctx: ctx2 });
  });

  it('does not send to an address that started bouncing after the mail was queued', async () => {
    await env.ingest(eml({}));
    await env.ctx.db.insertInto('address_status').values({ address: 'jane@customer.example', bouncing: 1, bounce_count: 1, last_bounce_at: null, last_reason: '5.1.1', updated_at: '2026-03-02T09:00:00Z' }).execute();
    const { w, close } = worker();
    await w.drain();
    close();
    expect((await rows())[0]!.status).toBe('suppressed');
    expect(sink.messages).toHaveLength(0);
  });
});

describe('file transport (embedded default)', () => {
  it('writes each outgoing email as a complete .eml file', async () => {
    const fileEnv = await testEnv({ outgoing: { transport: 'file' } });
    try {
      await fileEnv.ingest(eml({ subject: 'File me' }));
      const t = createTransport(fileEnv.resolved);
      expect(await new OutboxWorker(fileEnv.ctx, t).drain()).toBe(1);
      t.close();
      const dir = fileEnv.resolved.paths.outgoingDir;
      const files = readdirSync(dir).filter((f) => f.endsWith('.eml'));
      expect(files).toHaveLength(1);
      const text = readFileSync(join(dir, files[0]!), 'utf8');
      expect(text).toMatch(/^Subject: \[Case #10001\] We have received your request: File me$/m);
      expect(text).toMatch(/^Auto-Submitted: auto-replied$/m);
      expect(text).toMatch(/^To: .*jane@customer\.example/m);
    } finally {
      await fileEnv.close();
    }
  });
});
