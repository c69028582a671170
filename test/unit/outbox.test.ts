import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { KyselyPlugin, RootOperationNode } from 'kysely';
import pino from 'pino';
import { createTransport, type MailTransport } from '../../src/mail-out/transport.js';
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
    expect(m!.parsed.subject).toBe('[Case #10001] Re: Help');
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

describe('outbox worker: a relay that refuses some recipients of an email (RCPT TO) and takes it for the others', () => {
  /** The confirmation of a new case, with a Cc (as an agent's reply to a case with participants has). */
  async function emailWithCc(): Promise<void> {
    await env.ingest(eml({}));
    await env.ctx.db.updateTable('outbox').set({ cc_json: JSON.stringify([{ address: 'boss@customer.example', name: 'Boss' }]) }).execute();
  }

  function capturingWorker(): { w: OutboxWorker; close: () => void; lines: { level: number; msg: string; refused?: unknown }[] } {
    const lines: { level: number; msg: string }[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
    const t = createTransport(env.resolved);
    return { w: new OutboxWorker({ ...env.ctx, log }, t), close: () => t.close(), lines };
  }

  async function events(type: string) {
    return env.ctx.db.selectFrom('events').select(['reason', 'data_json']).where('type', '=', type).orderBy('id').execute();
  }

  it('a recipient refused for good (550) is reported on the case and in an error line, never dropped in silence; the others get it once', async () => {
    await emailWithCc();
    sink.refuseRecipient('jane@customer.example', 550);
    const { w, close, lines } = capturingWorker();
    await w.drain();
    close();
    expect(sink.messages.map((m) => m.envelopeTo)).toEqual([['boss@customer.example']]);
    expect((await rows())[0]).toMatchObject({ status: 'sent', attempts: 1 });
    const ev = await events('email.recipient-refused');
    expect(ev).toHaveLength(1);
    expect(ev[0]!.reason).toMatch(/^confirmation to jane@customer\.example: not delivered to jane@customer\.example \(550 5\.1\.1 .*User unknown\)/);
    const line = lines.find((l) => /email sent, but the relay refused jane@customer\.example/.test(l.msg));
    expect(line?.level).toBe(50);
    // Sent: another pass sends nothing more.
    env.clock.advance(3_600_000);
    expect(await worker().w.drain()).toBe(0);
    expect(sink.messages).toHaveLength(1);
  });

  it('a recipient refused for now (452) gets the same email later, alone; nobody gets it twice', async () => {
    await emailWithCc();
    sink.refuseRecipient('boss@customer.example', 452);
    const { w, close } = capturingWorker();
    await w.drain();
    expect(sink.messages.map((m) => m.envelopeTo)).toEqual([['jane@customer.example']]);
    let row = (await rows())[0]!;
    expect(row).toMatchObject({ status: 'queued', attempts: 1, pending_rcpt_json: '["boss@customer.example"]' });
    expect(row.last_error).toMatch(/boss@customer\.example .*452/);
    expect(new Date(row.next_attempt_at).getTime() - env.clock.now().getTime()).toBe(30_000);
    expect((await events('email.partly-sent'))[0]!.reason).toMatch(/^confirmation to jane@customer\.example: refused for now: boss@customer\.example/);
    // The thread entry went out (to the customer).
    const msg = await env.ctx.db.selectFrom('messages').select('sent_at').where('outbox_id', '=', row.id).executeTakeFirstOrThrow();
    expect(msg.sent_at).not.toBeNull();
    // Still refused: retried with backoff, for boss alone.
    env.clock.advance(30_000);
    await w.drain();
    row = (await rows())[0]!;
    expect(row).toMatchObject({ status: 'queued', attempts: 2, pending_rcpt_json: '["boss@customer.example"]' });
    expect(sink.messages).toHaveLength(1);
    sink.refuseRecipient('boss@customer.example', null);
    env.clock.advance(60_000);
    expect(await w.drain()).toBe(1);
    close();
    expect(sink.messages.map((m) => m.envelopeTo)).toEqual([['jane@customer.example'], ['boss@customer.example']]);
    // The same message both times: one Message-ID, both names in its headers.
    expect(sink.messages[1]!.parsed.messageId).toBe(sink.messages[0]!.parsed.messageId);
    expect(sink.messages[1]!.parsed.headers.get('cc')).toMatchObject({ value: [{ address: 'boss@customer.example' }] });
    expect((await rows())[0]).toMatchObject({ status: 'sent', attempts: 3 });
  });

  it('the customer in To bouncing since does not hold back the copy still to go to a Cc (only the ones it still goes to count)', async () => {
    await emailWithCc();
    sink.refuseRecipient('boss@customer.example', 452);
    const { w, close } = capturingWorker();
    await w.drain();
    await env.ctx.db.insertInto('address_status').values({ address: 'jane@customer.example', bouncing: 1, bounce_count: 1, last_bounce_at: null, last_reason: '5.1.1', updated_at: '2026-03-02T09:00:00Z' }).execute();
    sink.refuseRecipient('boss@customer.example', null);
    env.clock.advance(30_000);
    await w.drain();
    close();
    expect(sink.messages.map((m) => m.envelopeTo)).toEqual([['jane@customer.example'], ['boss@customer.example']]);
    expect((await rows())[0]).toMatchObject({ status: 'sent' });
  });

  it('a recipient still refused for now at outgoing.retry.giveUpHours is reported as not delivered', async () => {
    await emailWithCc();
    sink.refuseRecipient('boss@customer.example', 452);
    const { w, close } = capturingWorker();
    await w.drain();
    env.clock.advance(49 * 3_600_000);
    await w.drain();
    close();
    expect(sink.messages.map((m) => m.envelopeTo)).toEqual([['jane@customer.example']]);
    expect((await rows())[0]).toMatchObject({ status: 'failed', attempts: 2 });
    expect((await events('email.failed'))[0]!.reason).toMatch(/^confirmation to boss@customer\.example \(the others have it\): gave up after 48 h: .*452/);
  });
});

describe('outbox worker: a relay that cuts the connection after one email\'s final "." (before its answer)', () => {
  it('that email waits out a backoff like any temporary failure (it may have been taken: each resend can be a duplicate); the others go on', async () => {
    await env.ingest(eml({ from: 'ann@customer.example', subject: 'POISON', messageId: 'p1@customer.example' }));
    for (let i = 0; i < 3; i++) await env.ingest(eml({ from: `b${i}@customer.example`, subject: `normal ${i}`, messageId: `n${i}@customer.example` }));
    sink.dropAfterData(/POISON/);
    const t = createTransport(env.resolved);
    const w = new OutboxWorker(env.ctx, t);
    await w.start();
    try {
      await sink.waitFor(3);
      // The pause after the cut is probed after 1 s and ends (the relay answers a new connection):
      // before, the same email went straight back to the relay at each resume, about once a second.
      await new Promise((r) => setTimeout(r, 4_000));
    } finally {
      await w.stop();
      t.close();
    }
    const poisonData = sink.dataCommands() - sink.messages.length;
    expect(poisonData).toBe(1);
    const all = await rows();
    expect(all.map((r) => r.status)).toEqual(['queued', 'sent', 'sent', 'sent']);
    expect(all[0]).toMatchObject({ attempts: 1, last_error: expect.stringMatching(/ECONNECTION|closed/) });
    expect(new Date(all[0]!.next_attempt_at).getTime() - env.clock.now().getTime()).toBe(30_000);
  }, 30_000);
});

describe('outbox worker: the owner hears when the relay refuses an email to a customer (no DSN will come)', () => {
  beforeEach(async () => {
    await env.close();
    env = await testEnv({
      queues: { support: { agents: [{ name: 'Sam Agent', address: 'sam@example.com' }] } },
      outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false }, retry: { baseSeconds: 30, maxSeconds: 600, giveUpHours: 48 } },
    });
  });

  /** The new case's email to the agents is out of the way (sent long ago), so only the customer's is sent. */
  async function onlyTheCustomersEmail(): Promise<void> {
    await env.ctx.db.updateTable('outbox').set({ status: 'sent' }).where('kind', '=', 'agent-notification').execute();
  }

  async function byKind() {
    return (await rows()).filter((r) => r.kind !== 'agent-notification');
  }

  it('a 552 (too large) fails the email and queues a bounce-notice to the queue\'s agents; a refused bounce-notice tells nobody again', async () => {
    await env.ingest(eml({}));
    await onlyTheCustomersEmail();
    sink.failNext(552);
    // The notice itself is refused: no notice about the notice.
    sink.refuseRecipient('sam@example.com', 550);
    const { w, close } = worker();
    await w.drain();
    close();
    const all = await byKind();
    expect(all.map((r) => [r.kind, r.to_address, r.status])).toEqual([
      ['confirmation', 'jane@customer.example', 'failed'],
      ['bounce-notice', 'sam@example.com', 'failed'],
    ]);
    expect(all[1]!.subject).toMatch(/Email to jane@customer\.example bounced/);
    expect(all[1]!.text).toMatch(/552/);
    expect(all[1]!.text).toMatch(/This looks temporary/);
    const ev = await env.ctx.db.selectFrom('events').select('reason').where('type', '=', 'bounce.notice-sent').execute();
    expect(ev.map((e) => e.reason)).toEqual(['jane@customer.example was refused by the relay: told sam@example.com']);
  });

  it('a Cc refused for good while the customer got it: a bounce-notice about the Cc', async () => {
    await env.ingest(eml({}));
    await onlyTheCustomersEmail();
    await env.ctx.db.updateTable('outbox').set({ cc_json: JSON.stringify([{ address: 'boss@customer.example', name: 'Boss' }]) }).where('kind', '=', 'confirmation').execute();
    sink.refuseRecipient('boss@customer.example', 550);
    const { w, close } = worker();
    await w.drain();
    close();
    const all = await byKind();
    expect(all.map((r) => [r.kind, r.to_address, r.status])).toEqual([
      ['confirmation', 'jane@customer.example', 'sent'],
      ['bounce-notice', 'sam@example.com', 'sent'],
    ]);
    expect(all[1]!.subject).toMatch(/Email to boss@customer\.example bounced/);
    expect(sink.messages.map((m) => m.envelopeTo)).toEqual([['jane@customer.example'], ['sam@example.com']]);
  });
});

describe('outbox worker: one batch, few statements', () => {
  /** The tables a SELECT reads (FROM and JOINs), e.g. "messages+attachments". */
  function tablesRead(node: RootOperationNode): string | null {
    if (node.kind !== 'SelectQueryNode') return null;
    const names = [...(node.from?.froms ?? []), ...(node.joins ?? []).map((j) => j.table)].map((t) => (t.kind === 'TableNode' ? t.table.identifier.name : t.kind));
    return names.join('+');
  }

  it('reads a claimed batch’s bouncing recipients and stored files in one query each, and writes the answers that arrive together in one transaction', async () => {
    for (let i = 1; i <= 6; i++) await env.ingest(eml({ from: `Customer ${i} <c${i}@customer.example>`, messageId: `batch-${i}@customer.example`, subject: `Batch ${i}` }));
    // c3 started bouncing after its confirmation was queued (mixed case in the address: stored lower case).
    await env.ctx.db.insertInto('address_status').values({ address: 'c3@customer.example', bouncing: 1, bounce_count: 1, last_bounce_at: null, last_reason: '5.1.1', updated_at: '2026-03-02T09:00:00Z' }).execute();
    await env.ctx.db.updateTable('outbox').set({ to_address: 'C3@Customer.Example' }).where('to_address', '=', 'c3@customer.example').execute();
    const reads: string[] = [];
    const counting: KyselyPlugin = {
      transformQuery: ({ node }) => {
        const t = tablesRead(node);
        if (t !== null) reads.push(t);
        return node;
      },
      transformResult: async ({ result }) => result,
    };
    const db = env.ctx.db.withPlugin(counting);
    const transactions = vi.spyOn(db, 'transaction');
    // The relay answers the five sends together (as one read of several connections would).
    const waiting: (() => void)[] = [];
    const accepted: string[] = [];
    const transport: MailTransport = {
      name: 'together',
      send: (m) =>
        new Promise((resolve) => {
          waiting.push(() => {
            accepted.push((m.to as { address: string }).address);
            resolve({ response: '250 ok' });
          });
          if (waiting.length === 5) {
            // Counted from here: the suppression was decided before any send (each send reads
            // its readers first: reader-withdrawal.ts) and may have been written already.
            transactions.mockClear();
            for (const go of waiting) go();
          }
        }),
      close: () => undefined,
    };
    const w = new OutboxWorker({ ...env.ctx, db }, transport);
    expect(await w.drain()).toBe(5);
    expect(accepted.sort()).toEqual(['c1@customer.example', 'c2@customer.example', 'c4@customer.example', 'c5@customer.example', 'c6@customer.example']);
    const out = await rows();
    expect(out.map((r) => r.status)).toEqual(['sent', 'sent', 'suppressed', 'sent', 'sent', 'sent']);
    expect(out.filter((r) => r.status === 'sent').every((r) => r.sent_at !== null && r.claimed_by === null)).toBe(true);
    // Every thread entry of a sent email knows when it went.
    const entries = await env.ctx.db.selectFrom('messages').select(['outbox_id', 'sent_at']).where('outbox_id', 'is not', null).execute();
    expect(entries.filter((e) => e.sent_at !== null).map((e) => e.outbox_id).sort()).toEqual(out.filter((r) => r.status === 'sent').map((r) => r.id).sort());
    // One read of bouncing addresses and one of files for the batch (the second pass claims nothing).
    expect(reads.filter((t) => t === 'address_status')).toHaveLength(1);
    expect(reads.filter((t) => t === 'messages+attachments')).toHaveLength(1);
    // The five answers, all known in the same turn of the event loop: one transaction.
    expect(transactions).toHaveBeenCalledTimes(1);
  });
});

describe('outbox worker: a window of sends, not rounds', () => {
  it('one send that hangs does not hold back the rest of a backlog: the others go out meanwhile, at most 16 in flight', async () => {
    for (let i = 1; i <= 40; i++) await env.ingest(eml({ from: `Customer ${i} <w${i}@customer.example>`, messageId: `window-${i}@customer.example`, subject: `Window ${i}` }));
    let inFlight = 0;
    let most = 0;
    let releaseSlow: () => void = () => undefined;
    const slowHeld = new Promise<void>((r) => (releaseSlow = r));
    const accepted: string[] = [];
    const transport: MailTransport = {
      name: 'window',
      send: async (m) => {
        const to = (m.to as { address: string }).address;
        inFlight += 1;
        most = Math.max(most, inFlight);
        // The first customer's relay never answers until the test lets it; everyone else's does at once.
        if (to === 'w1@customer.example') await slowHeld;
        else await new Promise((r) => setImmediate(r));
        inFlight -= 1;
        accepted.push(to);
        return { response: '250 ok' };
      },
      close: () => undefined,
    };
    const w = new OutboxWorker(env.ctx, transport);
    const drained = w.drain();
    // With rounds of 16, the 15 others of the first round would go and the rest wait for w1.
    await vi.waitFor(() => expect(accepted).toHaveLength(39), { timeout: 10_000 });
    expect(accepted).not.toContain('w1@customer.example');
    releaseSlow();
    expect(await drained).toBe(40);
    expect(most).toBeLessThanOrEqual(16);
    expect((await rows()).every((r) => r.status === 'sent')).toBe(true);
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
      expect(text).toMatch(/^Subject: \[Case #10001\] Re: File me$/m);
      expect(text).toMatch(/^Auto-Submitted: auto-replied$/m);
      expect(text).toMatch(/^To: .*jane@customer\.example/m);
    } finally {
      await fileEnv.close();
    }
  });
});

describe('outbox worker: an attached file that is gone or damaged in the blob store', () => {
  it.each(['smtp', 'file'] as const)('fails that one email with the file named, sends the others, and the daemon lives on (%s transport)', async (transport) => {
    const { workFromCli } = await import('../../src/cases/case-commands.js');
    const { writeFileSync: write, rmSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const e = transport === 'smtp' ? env : await testEnv({ outgoing: { transport: 'file' } });
    try {
      await e.ingest(eml({ messageId: 'a@customer.example', subject: 'Needs a file', from: 'Ann <ann@customer.example>' }));
      await e.ingest(eml({ messageId: 'b@customer.example', subject: 'Needs another file', from: 'Bob <bob@customer.example>' }));
      const dir = mkdtempSync(join(tmpdir(), 'casegate-att-'));
      write(join(dir, 'missing.txt'), 'this file will be gone\n');
      write(join(dir, 'damaged.txt'), 'this file will be damaged\n');
      await workFromCli(e.ctx, 10001, { text: 'Here it is.', files: [join(dir, 'missing.txt')], actor: 'cli:test' });
      await workFromCli(e.ctx, 10002, { text: 'Here it is too.', files: [join(dir, 'damaged.txt')], actor: 'cli:test' });
      rmSync(dir, { recursive: true });
      const files = await e.ctx.db.selectFrom('attachments').select(['sha256', 'filename']).execute();
      const path = (name: string) => e.ctx.blobs.pathFor(files.find((f) => f.filename === name)!.sha256);
      rmSync(path('missing.txt'));
      write(path('damaged.txt'), 'something else entirely\n');
      // A ReadStream that cannot open its file emits an error nobody listens to yet: the daemon's end.
      const errors: unknown[] = [];
      const onError = (err: unknown): void => void errors.push(err);
      const listeners = process.listeners('uncaughtException');
      process.removeAllListeners('uncaughtException');
      process.on('uncaughtException', onError);
      try {
        const t = createTransport(e.resolved);
        await new OutboxWorker(e.ctx, t).drain();
        await new Promise((r) => setTimeout(r, 200));
        t.close();
      } finally {
        process.off('uncaughtException', onError);
        for (const l of listeners) process.on('uncaughtException', l);
      }
      expect(errors).toEqual([]);
      const out = await e.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute();
      const replies = out.filter((r) => r.kind === 'agent-reply');
      expect(replies.map((r) => [r.to_address, r.status])).toEqual([
        ['ann@customer.example', 'failed'],
        ['bob@customer.example', 'failed'],
      ]);
      expect(replies[0]!.last_error).toMatch(/the attached file "missing\.txt" is missing from the blob store/);
      // Never the wrong bytes under the file's name.
      expect(replies[1]!.last_error).toMatch(/the attached file "damaged\.txt" is damaged in the blob store/);
      // The confirmations went out.
      expect(out.filter((r) => r.kind === 'confirmation').map((r) => r.status)).toEqual(['sent', 'sent']);
    } finally {
      if (e !== env) await e.close();
    }
  });
});
