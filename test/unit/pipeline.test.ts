import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { caseByNumber, participants, updateCase } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { messagesOfCase } from '../../src/db/repos/messages.js';
import { outboxOfCase } from '../../src/db/repos/outbox.js';
import { envelopeId, mintMessageId, plusAddress } from '../../src/cases/thread-token.js';
import { classifyStage } from '../../src/pipeline/stages/classify.js';
import { isPostgres } from '../../src/db/dialect.js';
import { sql } from 'kysely';
import { existsSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { ParseLimits } from '../../src/mail-in/parse-mail.js';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import type { StoredBlob } from '../../src/storage/blob-store.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { workCase } from '../../src/cases/agent-work.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { createTransport } from '../../src/mail-out/transport.js';

let env: TestEnv;
beforeEach(async () => {
  env = await testEnv();
});
afterEach(async () => {
  await env.close();
});

async function outboxAll() {
  return env.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute();
}

async function receipts() {
  return env.ctx.db.selectFrom('receipts').selectAll().orderBy('id').execute();
}

/**
 * Ingest these messages with every one past the decide stages (the dedupe look-up included)
 * before any commits: the race of two arrivals of one Message-ID, made certain.
 */
async function ingestTogether(raws: readonly string[]) {
  const run = classifyStage.run.bind(classifyStage);
  let arrived = 0;
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const spy = vi.spyOn(classifyStage, 'run').mockImplementation(async (msg, ctx) => {
    const verdict = await run(msg, ctx);
    if (++arrived === raws.length) release();
    await gate;
    return verdict;
  });
  try {
    return await Promise.all(raws.map((raw) => env.ingest(raw)));
  } finally {
    spy.mockRestore();
  }
}

async function newCase(opts: Parameters<typeof eml>[0] = {}) {
  const out = await env.ingest(eml(opts));
  if (out.kind !== 'stored') throw new Error(`expected stored, got ${out.kind}: ${out.reason}`);
  const c = await caseByNumber(env.ctx.db, out.caseNumber);
  if (c === undefined) throw new Error('case missing');
  return c;
}

describe('a new email', () => {
  it('becomes a case with a number, a message, events and a queued confirmation', async () => {
    const out = await env.ingest(eml({ subject: 'Re: Printer on fire', cc: 'Bob <bob@customer.example>, support@example.com' }));
    expect(out).toMatchObject({ kind: 'stored', caseNumber: 10001, created: true });
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    expect(c).toMatchObject({ subject: 'Printer on fire', status: 'new', requester_address: 'jane@customer.example', requester_name: 'Jane Customer', queue: 'support', priority: 'normal' });
    const people = await participants(env.ctx.db, c.id);
    expect(people.map((p) => [p.address, p.role])).toEqual([
      ['jane@customer.example', 'requester'],
      ['bob@customer.example', 'cc'],
    ]);
    const msgs = await messagesOfCase(env.ctx.db, c.id);
    expect(msgs.map((m) => m.direction)).toEqual(['in', 'out']);
    expect(msgs[0]!.visible_text).toContain('my printer is on fire');
    const box = await outboxAll();
    expect(box).toHaveLength(1);
    expect(box[0]).toMatchObject({ kind: 'confirmation', to_address: 'jane@customer.example', status: 'queued', auto_reply: 1 });
    expect(box[0]!.subject).toContain('[Case #10001]');
    expect(box[0]!.text).toContain('10001');
    const headers = JSON.parse(box[0]!.headers_json) as Record<string, string>;
    expect(headers['Auto-Submitted']).toBe('auto-replied');
    expect(headers['X-Loop']).toBe('casegate@support.example.com');
    expect(box[0]!.in_reply_to).toBe(msgs[0]!.message_id);
    const events = await eventsOfCase(env.ctx.db, c.id);
    expect(events.map((e) => e.type)).toEqual(['case.created', 'sla.started', 'email.queued']);
    const rec = await receipts();
    expect(rec).toHaveLength(1);
    expect(rec[0]).toMatchObject({ outcome: 'stored', case_id: c.id, is_primary: 1 });
  });

  it('writes a held raw message (BlobStore.hold: the IMAP reader) before any row names it, even when the parse did not', async () => {
    // A parse that leaves the file unwritten (the daemon's MIME thread writes it with its parse;
    // this one does not): the commit, and the receipt of a message that ends ignored, still write it first.
    const { parseHere } = await import('../../src/mime/mime-thread.js');
    Object.assign(env.ctx, { mime: { ...env.ctx.mime, parse: (raw: StoredBlob, limits: ParseLimits) => parseHere(raw, env.ctx.blobs, limits) } });
    const arrive = async (raw: string): Promise<{ blob: StoredBlob; kind: string }> => {
      const blob = await env.ctx.blobs.hold(Buffer.from(raw));
      expect(existsSync(blob.path)).toBe(false);
      const outcome = await runPipeline(env.ctx, { channel: 'imap', mailbox: env.ctx.mailboxes.default, envelopeFrom: null, envelopeTo: [], receivedAt: env.clock.now(), raw: blob });
      return { blob, kind: outcome.kind };
    };
    const stored = await arrive(eml({ subject: 'Printer broken', messageId: '<held-1@example.com>' }));
    expect(stored.kind).toBe('stored');
    expect(stored.blob.held).toEqual({ written: true });
    expect(readFileSync(stored.blob.path, 'utf8')).toContain('Subject: Printer broken');
    const ignored = await arrive(eml({ subject: 'Out of office', messageId: '<held-2@example.com>', headers: { 'Auto-Submitted': 'auto-replied' } }));
    expect(ignored.kind).toBe('ignored');
    expect(ignored.blob.held).toEqual({ written: true });
    expect(existsSync(ignored.blob.path)).toBe(true);
  });

  it('numbers cases consecutively', async () => {
    const a = await newCase();
    const b = await newCase();
    expect([a.number, b.number]).toEqual([10001, 10002]);
  });
});

describe('dedupe', () => {
  it('stores a message seen twice (same Message-ID) once, across mailboxes', async () => {
    const raw = eml({ messageId: 'same@customer.example', to: 'support@example.com, billing@example.com' });
    const first = await env.ingest(raw, { mailbox: 'support' });
    const second = await env.ingest(raw, { mailbox: 'billing' });
    expect(first.kind).toBe('stored');
    expect(second.kind).toBe('ignored');
    expect(second.reason).toMatch(/duplicate/);
    expect(await env.ctx.db.selectFrom('cases').selectAll().execute()).toHaveLength(1);
    expect(await outboxAll()).toHaveLength(1);
    const rec = await receipts();
    expect(rec.map((r) => [r.outcome, r.is_primary, r.duplicate_of])).toEqual([
      ['stored', 1, null],
      ['ignored', 0, rec[0]!.id],
    ]);
  });

  it('stores a message with an unreadable Date header once when it comes twice (the parser’s stand-in date is not the message’s)', async () => {
    // mailparser puts the time of parsing where the Date header cannot be read, so two arrivals of
    // one message looked like two messages reusing a Message-ID (their content digests differed).
    const raw = eml({ messageId: 'garbled-date@customer.example', date: 'Mon, 32 Foo 2026 99:99 +0000' });
    const first = await env.ingest(raw);
    await new Promise((r) => setTimeout(r, 5));
    const second = await env.ingest(raw);
    expect([first.kind, second.kind]).toEqual(['stored', 'ignored']);
    expect(second.reason).toMatch(/duplicate/);
    expect(await env.ctx.db.selectFrom('cases').selectAll().execute()).toHaveLength(1);
    const [message] = await env.ctx.db.selectFrom('messages').select(['sent_at']).where('direction', '=', 'in').execute();
    expect(message?.sent_at).toBeNull();
  });

  it('falls back to a hash of the raw bytes without a Message-ID', async () => {
    const raw = eml({ messageId: null });
    expect((await env.ingest(raw)).kind).toBe('stored');
    expect((await env.ingest(raw)).kind).toBe('ignored');
    const other = eml({ messageId: null, body: 'a different message' });
    expect((await env.ingest(other)).kind).toBe('stored');
    // With a Date: the copy key (sender, recipients, subject, date, body bytes), which copies
    // delivered to several mailboxes share; without one the raw bytes alone.
    expect((await receipts())[0]!.dedupe_key).toMatch(/^copy:[0-9a-f]{64}$/);
    const undated = eml({ messageId: null, body: 'no date' }).replace(/^Date: .*\r\n/m, '');
    expect((await env.ingest(undated)).kind).toBe('stored');
    expect((await receipts()).at(-1)!.dedupe_key).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('takes a message processed concurrently exactly once', async () => {
    const raw = eml({ messageId: 'race@customer.example' });
    const outs = await ingestTogether([raw, raw, raw]);
    expect(outs.filter((o) => o.kind === 'stored')).toHaveLength(1);
    expect(outs.filter((o) => o.kind === 'ignored')).toHaveLength(2);
    expect(await outboxAll()).toHaveLength(1);
  });

  it('two different messages reusing one Message-ID at the same moment: both stored, the later one under its collision key', async () => {
    // Both pass the dedupe stage as new; the unique index refuses the second receipt, whose second
    // attempt looks again inside its transaction and stores it as a collision.
    const a = eml({ messageId: 'reused@customer.example', subject: 'First question', body: 'one' });
    const b = eml({ messageId: 'reused@customer.example', subject: 'Another question', body: 'two' });
    const outs = await ingestTogether([a, b]);
    expect(outs.map((o) => o.kind)).toEqual(['stored', 'stored']);
    const keys = (await receipts()).map((r) => r.dedupe_key).sort();
    expect(keys).toHaveLength(2);
    expect(keys[0]).toBe('mid:reused@customer.example');
    expect(keys[1]).toMatch(/^mid:reused@customer\.example#.+/);
  });
});

describe('loop guard', () => {
  it('ignores mail carrying our X-Loop, our signed Message-ID, or From our own address (unauthenticated, or To its own mailbox)', async () => {
    const ours = mintMessageId(10001, env.ctx.secret, 'support.example.com');
    const cases = [
      eml({ headers: { 'X-Loop': 'casegate@support.example.com' } }),
      eml({ messageId: ours }),
      eml({ from: 'Support <billing@example.com>', auth: 'none' }),
      eml({ from: 'Support <support@example.com>' }),
    ];
    for (const raw of cases) {
      const out = await env.ingest(raw);
      expect(out.kind).toBe('ignored');
      expect(out.reason).toMatch(/^loop/);
    }
    expect(await outboxAll()).toHaveLength(0);
  });
});

describe('threading', () => {
  it('threads a reply to our confirmation by its signed Message-ID, whoever sends it', async () => {
    const c = await newCase();
    const conf = (await outboxAll())[0]!;
    const out = await env.ingest(eml({ from: 'colleague@customer.example', subject: 'Re: whatever', inReplyTo: conf.message_id }));
    expect(out).toMatchObject({ kind: 'stored', caseNumber: c.number, created: false });
    const msgs = await messagesOfCase(env.ctx.db, c.id);
    expect(msgs.at(-1)!.thread_rule).toBe('signed-reference');
    // Threaded, not enrolled: a token travels with every forward (test/unit/trust.test.ts).
    expect((await participants(env.ctx.db, c.id)).map((p) => p.address)).not.toContain('colleague@customer.example');
    expect(await outboxAll()).toHaveLength(1); // no second confirmation
  });

  it('rejects a forged signature and falls through to the other rules', async () => {
    await newCase();
    const forged = 'c10001.aaaaaaaaaaaa.bbbbbbbbbbbb@support.example.com';
    const out = await env.ingest(eml({ from: 'mallory@evil.example', inReplyTo: forged }));
    expect(out).toMatchObject({ kind: 'stored', created: true, caseNumber: 10002 });
  });

  it('threads by a signed plus-address recipient', async () => {
    const c = await newCase();
    const to = plusAddress('support@example.com', c.number, env.ctx.secret);
    const out = await env.ingest(eml({ to, subject: 'no tag here', messageId: 'p1@customer.example' }));
    expect(out).toMatchObject({ kind: 'stored', caseNumber: c.number });
    expect((await messagesOfCase(env.ctx.db, c.id)).at(-1)!.thread_rule).toBe('plus-token');
  });

  it('threads by a known Message-ID in References (Apple Mail, no subject tag)', async () => {
    const c = await newCase({ messageId: 'orig@customer.example' });
    const out = await env.ingest(eml({ subject: 'Also this', references: '<unknown@x> <orig@customer.example>' }));
    expect(out).toMatchObject({ kind: 'stored', caseNumber: c.number });
    expect((await messagesOfCase(env.ctx.db, c.id)).at(-1)!.thread_rule).toBe('known-reference');
  });

  it.each(['Re: [Case #10001] Printer on fire', 'AW: [case #10001] Printer', 'SV: RE[2]: [CASE # 10001] x', 'Fwd: WG: [Case #10001]'])(
    'accepts the subject tag from a participant: %s',
    async (subject) => {
      const c = await newCase();
      const out = await env.ingest(eml({ subject }));
      expect(out).toMatchObject({ kind: 'stored', caseNumber: c.number, created: false });
      expect((await messagesOfCase(env.ctx.db, c.id)).at(-1)!.thread_rule).toBe('subject-tag');
    },
  );

  it("opens a new linked case for a stranger's tagged mail instead of writing into the case", async () => {
    const c = await newCase();
    const out = await env.ingest(eml({ from: 'mallory@evil.example', subject: 'Re: [Case #10001] give me the data' }));
    expect(out).toMatchObject({ kind: 'stored', created: true, caseNumber: 10002 });
    const n = (await caseByNumber(env.ctx.db, 10002))!;
    expect(n.linked_case_id).toBe(c.id);
    expect((await messagesOfCase(env.ctx.db, c.id)).filter((m) => m.direction === 'in')).toHaveLength(1);
    expect((await eventsOfCase(env.ctx.db, c.id)).map((e) => e.type)).toContain('case.linked');
  });

  it('does not grant participant rights to a sender whose DMARC failed at our trusted server', async () => {
    await newCase();
    const out = await env.ingest(eml({ subject: 'Re: [Case #10001]', auth: 'fail' }));
    expect(out).toMatchObject({ kind: 'stored', created: true, caseNumber: 10002 });
    expect(await outboxAll()).toHaveLength(1); // no confirmation to an unverified sender
  });
});

describe('reopen', () => {
  async function resolvedCase(daysAgo: number) {
    const c = await newCase();
    const at = new Date(env.clock.now().getTime() - daysAgo * 86_400_000).toISOString();
    await updateCase(env.ctx.db, c.id, { status: 'resolved', resolved_at: at });
    return c;
  }

  it('reopens a resolved case on a reply within the window and sends the reopened notice', async () => {
    const c = await resolvedCase(3);
    const out = await env.ingest(eml({ subject: 'Re: [Case #10001] Printer on fire', body: 'It is burning again!' }));
    expect(out).toMatchObject({ kind: 'stored', caseNumber: c.number });
    expect((await caseByNumber(env.ctx.db, c.number))!.status).toBe('open');
    const types = (await eventsOfCase(env.ctx.db, c.id)).map((e) => e.type);
    expect(types).toContain('case.reopened');
    const box = await outboxAll();
    expect(box.map((b) => b.kind)).toEqual(['confirmation', 'reopened']);
    expect(box[1]!.text).toContain('It is burning again!');
  });

  it('opens a new linked case after the window', async () => {
    const c = await resolvedCase(31);
    const out = await env.ingest(eml({ subject: 'Re: [Case #10001] Printer on fire' }));
    expect(out).toMatchObject({ kind: 'stored', created: true, caseNumber: 10002 });
    expect((await caseByNumber(env.ctx.db, 10002))!.linked_case_id).toBe(c.id);
    expect((await caseByNumber(env.ctx.db, c.number))!.status).toBe('resolved');
  });

  /** h3e F1: the thanks customers write most did not count; each reopened the case with a "reopened" mail. */
  const THANKS = [
    'Thank you so much!',
    'Thanks for your help!',
    'Thank you for the quick help, it works now.',
    'Great, thank you very much for your support.\n\nBest regards,\nJane',
    'Thanks, that fixed it.',
    'Much appreciated!',
    'Vielen Dank für Ihre Hilfe!',
    'Herzlichen Dank!\n\nMit freundlichen Grüßen\nJane Doe',
    'Danke, hat funktioniert',
    'Perfekt, danke!',
    'Merci pour votre aide !',
    'Thanks, the issue is resolved. You can close the ticket.',
    'Danke, das Problem ist gelöst. Sie können das Ticket schließen.',
  ];
  it.each(THANKS)('%j within the window: recorded, not reopened, nothing sent', async (body) => {
    const c = await resolvedCase(1);
    const out = await env.ingest(eml({ subject: 'Re: [Case #10001] Printer on fire', body }));
    expect(out).toMatchObject({ kind: 'stored', caseNumber: c.number, created: false });
    expect((await caseByNumber(env.ctx.db, c.number))!.status).toBe('resolved');
    expect((await outboxAll()).map((b) => b.kind)).toEqual(['confirmation']);
  });
  it.each(THANKS)('%j after the window: recorded on the old case, no new case', async (body) => {
    const c = await resolvedCase(31);
    const out = await env.ingest(eml({ subject: 'Re: [Case #10001] Printer on fire', body }));
    expect(out).toMatchObject({ kind: 'stored', caseNumber: c.number, created: false });
    expect((await outboxAll()).map((b) => b.kind)).toEqual(['confirmation']);
  });
  it.each(['Thank you so much, but the printer is on fire again.', 'Thanks for your help! Is the toner covered too?', 'Again!', 'Fixed?', 'Danke, aber es brennt wieder.', 'Please do not close the ticket, the issue is not resolved.', 'The issue is resolved? It still burns.'])(
    '%j reopens',
    async (body) => {
      const c = await resolvedCase(1);
      await env.ingest(eml({ subject: 'Re: [Case #10001] Printer on fire', body }));
      expect((await caseByNumber(env.ctx.db, c.number))!.status).toBe('open');
      expect((await outboxAll()).map((b) => b.kind)).toEqual(['confirmation', 'reopened']);
    },
  );

  it('records a bare thank-you without reopening', async () => {
    const c = await resolvedCase(1);
    const out = await env.ingest(eml({ subject: 'Re: [Case #10001] Printer on fire', body: 'Thanks a lot!\n\nJane' }));
    expect(out).toMatchObject({ kind: 'stored', caseNumber: c.number });
    expect((await caseByNumber(env.ctx.db, c.number))!.status).toBe('resolved');
    expect((await eventsOfCase(env.ctx.db, c.id)).map((e) => e.type)).toContain('case.not-reopened');
    expect((await outboxAll()).map((b) => b.kind)).toEqual(['confirmation']);
  });
});

describe('automatic replies', () => {
  it('rate-limits confirmations per sender', async () => {
    await env.close();
    env = await testEnv({ autoReply: { perSenderPerHour: 3 } });
    for (let i = 0; i < 5; i++) {
      await newCase({ subject: `flood ${i}`, body: `Request ${i}` });
      env.clock.advance(180_000); // past autoReply.minIntervalSeconds
    }
    expect(await env.ctx.db.selectFrom('cases').selectAll().execute()).toHaveLength(5);
    expect(await outboxAll()).toHaveLength(3);
    env.clock.advance(3_600_001);
    await newCase({ subject: 'an hour later' });
    expect(await outboxAll()).toHaveLength(4);
  });

  it('no automatic reply to mail that arrived long ago (autoReply.maxAgeHours: old mail of a newly attached mailbox)', async () => {
    const raw = eml({ from: 'Old <old@customer.example>', subject: 'Last year' });
    const blob = await env.ctx.blobs.put(Readable.from([Buffer.from(raw)]));
    const at = (hoursAgo: number) => new Date(env.clock.now().getTime() - hoursAgo * 3_600_000);
    const old = await runPipeline(env.ctx, { channel: 'imap', mailbox: env.ctx.mailboxes.default, envelopeFrom: null, envelopeTo: [], receivedAt: at(400 * 24), raw: blob });
    expect(old).toMatchObject({ kind: 'stored', created: true });
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    expect(await outboxOfCase(env.ctx.db, c.id)).toEqual([]);
    expect((await eventsOfCase(env.ctx.db, c.id)).find((e) => e.type === 'auto-reply.suppressed')?.reason).toBe('confirmation not sent: the message arrived 400 days ago (autoReply.maxAgeHours 72): no automatic reply to old mail');
    // A weekend's outage is still answered.
    const blob2 = await env.ctx.blobs.put(Readable.from([Buffer.from(eml({ from: 'Weekend <we@customer.example>', subject: 'Friday evening' }))]));
    await runPipeline(env.ctx, { channel: 'imap', mailbox: env.ctx.mailboxes.default, envelopeFrom: null, envelopeTo: [], receivedAt: at(63), raw: blob2 });
    expect((await outboxAll()).map((o) => o.kind)).toEqual(['confirmation']);
  });

  it('old mail notifies no agent either (no notification, no escalation alert, no assignment email): a mailbox attached with its history does not send every agent one email per old message', async () => {
    await env.close();
    env = await testEnv({ queues: { support: { agents: [{ name: 'Ann Agent', address: 'ann@example.com' }, { name: 'Bob Agent', address: 'bob@example.com' }] } } });
    const at = (hoursAgo: number) => new Date(env.clock.now().getTime() - hoursAgo * 3_600_000);
    const take = async (from: string, hoursAgo: number) =>
      runPipeline(env.ctx, { channel: 'imap', mailbox: env.ctx.mailboxes.default, envelopeFrom: null, envelopeTo: [], receivedAt: at(hoursAgo), raw: await env.ctx.blobs.put(Readable.from([Buffer.from(eml({ from, subject: `From ${from}` }))])) });
    for (let i = 1; i <= 3; i++) expect(await take(`old${i}@customer.example`, 400 * 24 + i)).toMatchObject({ kind: 'stored', created: true });
    // An urgent subject among them: escalated, nobody alerted.
    const urgent = await runPipeline(env.ctx, { channel: 'imap', mailbox: env.ctx.mailboxes.default, envelopeFrom: null, envelopeTo: [], receivedAt: at(400 * 24), raw: await env.ctx.blobs.put(Readable.from([Buffer.from(eml({ from: 'urgent@customer.example', subject: 'URGENT: server down' }))])) });
    expect(urgent).toMatchObject({ kind: 'stored', created: true });
    const u = (await caseByNumber(env.ctx.db, 10004))!;
    expect(u.escalation_level).toBe(1);
    expect((await eventsOfCase(env.ctx.db, u.id)).find((e) => e.type === 'escalation.unalerted')?.reason).toBe('no alert: the message arrived 400 days ago (autoReply.maxAgeHours 72)');
    expect(await outboxAll()).toEqual([]);
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    expect((await eventsOfCase(env.ctx.db, c.id)).find((e) => e.type === 'agents.notify-suppressed')?.reason).toBe('agents not notified: the message arrived 400 days ago (autoReply.maxAgeHours 72); old mail is in the queue, not announced message by message');
    // Mail of a weekend's outage is announced as usual.
    await take('weekend@customer.example', 63);
    expect((await outboxAll()).map((o) => `${o.kind} ${o.to_address}`).sort()).toEqual(['agent-notification ann@example.com', 'agent-notification bob@example.com', 'confirmation weekend@customer.example']);

    // A queue that assigns owners: old mail gets its owner without an assignment email.
    await env.close();
    env = await testEnv({ queues: { support: { assignment: 'round-robin', agents: [{ name: 'Ann Agent', address: 'ann@example.com' }] } } });
    await take('old@customer.example', 400 * 24);
    const o = (await caseByNumber(env.ctx.db, 10001))!;
    expect(o.owner).toBe('ann@example.com');
    expect(await outboxAll()).toEqual([]);
    expect((await eventsOfCase(env.ctx.db, o.id)).find((e) => e.type === 'case.assigned')?.reason).toBe('owner Ann Agent (round-robin in queue support; not emailed: the message arrived 400 days ago (autoReply.maxAgeHours 72))');
    await take('weekend@customer.example', 63);
    expect((await outboxAll()).map((r) => `${r.kind} ${r.to_address}`).sort()).toEqual(['assignment ann@example.com', 'confirmation weekend@customer.example']);
  });

  describe('auto-responders that ignore RFC 3834 (no Auto-Submitted, a new message each time) end on our side', () => {
    async function suppressed(n: number): Promise<string[]> {
      const c = (await caseByNumber(env.ctx.db, n))!;
      return (await eventsOfCase(env.ctx.db, c.id)).filter((e) => e.type === 'auto-reply.suppressed').map((e) => e.reason);
    }

    it('an answer within seconds of our confirmation gets none: one round, no loop; a person writing again later does', async () => {
      await newCase({ from: 'Dana <dana@customer.example>', subject: 'Printer broken' });
      env.clock.advance(3_000);
      await newCase({ from: 'Dana <dana@customer.example>', subject: 'I am away', body: 'I am on vacation until January 10.' });
      expect((await outboxAll()).map((o) => o.kind)).toEqual(['confirmation']);
      // Its words say what it is now (mail-in/auto-reply-wording.ts); without them the interval would hold it (below: +tag).
      expect(await suppressed(10002)).toEqual([expect.stringMatching(/reads like an automatic out-of-office reply/)]);
      env.clock.advance(600_000);
      await newCase({ from: 'Dana <dana@customer.example>', subject: 'Second problem', body: 'Also the scanner.' });
      expect(await outboxAll()).toHaveLength(2);
    });

    it('a slower one repeating the same message gets none (same subject and text as one answered within the hour)', async () => {
      await newCase({ from: 'bot@vendor.example', subject: 'Ticket received', body: 'We have received your message and will answer soon.' });
      env.clock.advance(300_000);
      await newCase({ from: 'bot@vendor.example', subject: 'Ticket  RECEIVED', body: 'We have received your message and will answer soon.\n' });
      expect(await outboxAll()).toHaveLength(1);
      expect(await suppressed(10002)).toEqual([expect.stringContaining('same subject and text')]);
    });

    it('answering from a new +tag address each time is one sender', async () => {
      await newCase({ from: 'desk+t1@vendor.example', subject: '[Ticket #1] Received' });
      env.clock.advance(5_000);
      await newCase({ from: 'desk+t2@vendor.example', subject: '[Ticket #2] Received' });
      expect(await outboxAll()).toHaveLength(1);
      expect(await suppressed(10002)).toEqual([expect.stringContaining('less than 120 s ago')]);
    });
  });

  it('never auto-replies to automated mail or no-reply senders', async () => {
    const cases = [
      eml({ headers: { 'Auto-Submitted': 'auto-generated' }, subject: 'Disk full on host1' }),
      eml({ headers: { Precedence: 'bulk' }, subject: 'Newsletter' }),
      eml({ from: 'noreply@vendor.example', subject: 'Your invoice' }),
    ];
    for (const raw of cases) expect((await env.ingest(raw)).kind).toBe('stored');
    expect(await outboxAll()).toHaveLength(0);
    const events = await env.ctx.db.selectFrom('events').select('type').where('type', '=', 'auto-reply.suppressed').execute();
    expect(events).toHaveLength(3);
  });

  it('ignores an out-of-office reply that belongs to no case, and appends one that does without reopening', async () => {
    const ooo = { 'Auto-Submitted': 'auto-replied', 'X-Autoreply': 'yes' };
    const lone = await env.ingest(eml({ subject: 'Out of Office: hello', headers: ooo }));
    expect(lone.kind).toBe('ignored');
    const c = await newCase();
    const conf = (await outboxAll())[0]!;
    const out = await env.ingest(eml({ subject: 'Automatic reply: [Case #10001] Printer on fire', inReplyTo: conf.message_id, headers: ooo }));
    expect(out).toMatchObject({ kind: 'stored', caseNumber: c.number });
    expect(await outboxAll()).toHaveLength(1);
    expect((await messagesOfCase(env.ctx.db, c.id)).at(-1)!.automated).toBe('auto-reply');
  });

  it('a new mail whose subject alone says "Out of office:" (no automation header) is a case nobody answers automatically, never dropped', async () => {
    for (const subject of ['Out of office: not sent to external senders since the update', 'Abwesenheitsnotiz: funktioniert nicht']) {
      const out = await env.ingest(eml({ from: `Kim <kim-${subject.length}@customer.example>`, subject, body: 'Since yesterday my out-of-office message is not sent. Can you help?' }));
      expect(out, subject).toMatchObject({ kind: 'stored', created: true });
      const c = (await caseByNumber(env.ctx.db, out.kind === 'stored' ? out.caseNumber : 0))!;
      expect((await messagesOfCase(env.ctx.db, c.id))[0]!.automated).toBe('auto-reply');
      expect(await outboxOfCase(env.ctx.db, c.id)).toEqual([]);
    }
  });
});

describe('bounces', () => {
  /**
   * A DSN from the relay, which (offering DSN) was given our signed envelope id of the email with
   * MAIL FROM and writes it back: what lets it mark (pipeline/bounce-standing.ts).
   */
  function dsn(original: { readonly id: number; readonly message_id: string }, rcpt: string, diagnostic = 'smtp; 550 5.1.1 user unknown'): string {
    const originalId = original.message_id;
    return [
      'From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>',
      'To: support@example.com',
      'Subject: Undelivered Mail Returned to Sender',
      'Message-ID: <bounce1@mx.customer.example>',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="R"',
      '',
      '--R',
      'Content-Type: text/plain',
      '',
      'Your message could not be delivered.',
      '--R',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.customer.example',
      `Original-Envelope-Id: ${envelopeId(original.id, rcpt, env.ctx.secret)}`,
      '',
      `Final-Recipient: rfc822; ${rcpt}`,
      'Action: failed',
      'Status: 5.1.1',
      `Diagnostic-Code: ${diagnostic}`,
      '',
      '--R',
      'Content-Type: text/rfc822-headers',
      '',
      `Message-ID: <${originalId}>`,
      'Subject: [Case #10001] Printer on fire',
      '',
      '--R--',
      '',
    ].join('\r\n');
  }

  it('attaches a DSN about our confirmation to its case and marks the address bouncing', async () => {
    const c = await newCase();
    const conf = (await outboxAll())[0]!;
    const out = await env.ingest(dsn(conf, 'jane@customer.example'), { envelopeFrom: '' });
    expect(out).toMatchObject({ kind: 'stored', caseNumber: c.number, created: false });
    const status = await env.ctx.db.selectFrom('address_status').selectAll().execute();
    expect(status).toMatchObject([{ address: 'jane@customer.example', bouncing: 1 }]);
    expect((await eventsOfCase(env.ctx.db, c.id)).map((e) => e.type)).toContain('address.bouncing');
    // A message *from* the address shows it is reachable again: the flag is cleared.
    await env.ingest(eml({ from: 'jane@customer.example', subject: 'new problem' }));
    expect((await env.ctx.db.selectFrom('address_status').selectAll().execute())[0]!.bouncing).toBe(0);
  });

  it('a DSN with NUL bytes in its report (and its text) is attached all the same, the reason kept without them', async () => {
    const c = await newCase();
    const conf = (await outboxAll())[0]!;
    const out = await env.ingest(dsn(conf, 'jane@customer.example', 'smtp; 550 5.1.1 user\u0000 unknown\u0000\u0000').replace('could not be', 'could\u0000not be'), { envelopeFrom: '' });
    expect(out, JSON.stringify(out)).toMatchObject({ kind: 'stored', caseNumber: c.number, created: false });
    const status = await env.ctx.db.selectFrom('address_status').selectAll().execute();
    expect(status).toMatchObject([{ address: 'jane@customer.example', bouncing: 1 }]);
    expect(status[0]!.last_reason).toContain('user unknown');
    expect(status[0]!.last_reason).not.toContain('\u0000');
  });

  it('a bouncing address gets no automatic mail, but an agent’s reply all the same (a bounce proves nothing; the agent is told)', async () => {
    const c = await newCase();
    const conf = (await outboxAll())[0]!;
    await env.ingest(dsn(conf, 'jane@customer.example'), { envelopeFrom: '' });
    const agent = { actor: 'cli:test', by: 'test', address: null, replyName: '' };
    const w = await env.ctx.db.transaction().execute((trx) => workCase(trx, env.ctx, c.id, agent, { commands: [], text: 'Here is the fix.', note: false, attachments: [], messageRowId: null }));
    expect(w.repliedTo).toEqual(['jane@customer.example']);
    expect(w.done[0]).toMatch(/^reply sent to jane@customer\.example \(marked as bouncing, sent all the same: jane@customer\.example/);
    // The outbox worker sends it (automatic mail to the address it suppresses).
    const transport = createTransport(env.resolved);
    try {
      await new OutboxWorker(env.ctx, transport).drain();
    } finally {
      transport.close();
    }
    const rows = await outboxAll();
    expect(rows.find((r) => r.kind === 'agent-reply')?.status).toBe('sent');
    // A status email (generated, not written by the agent) is not sent to it.
    const s = await env.ctx.db.transaction().execute((trx) => workCase(trx, env.ctx, c.id, agent, { commands: [{ kind: 'status', command: 'resolve', to: 'resolved', text: '', line: '#resolve' }], text: '', note: false, attachments: [], messageRowId: null }));
    expect(s.statusEmail).toBe(false);
  });

  it('a staff address that bounces is never marked (its alerts keep going) and the administrator is told, not the agent', async () => {
    await env.close();
    env = await testEnv({
      instance: { name: 'Example Support', domain: 'support.example.com', secret: 'test-secret-0123456789abcdef-0123456789', adminAddress: 'admin@example.com' },
      queues: { support: { agents: [{ name: 'Ann Agent', address: 'ann@example.com' }] } },
    });
    const c = await newCase();
    const note = (await outboxAll()).find((o) => o.kind === 'agent-notification' && o.to_address === 'ann@example.com')!;
    const out = await env.ingest(dsn(note, 'ann@example.com'), { envelopeFrom: '' });
    expect(out.kind).toBe('stored');
    const events = await eventsOfCase(env.ctx.db, c.id);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['address.staff-bounce', 'bounce.notice-sent']));
    expect(events.map((e) => e.type)).not.toContain('address.bouncing');
    expect(events.find((e) => e.type === 'bounce.notice-sent')!.reason).toBe('ann@example.com bounced hard: told admin@example.com');
    const notices = (await outboxAll()).filter((o) => o.kind === 'bounce-notice');
    expect(notices.map((o) => o.to_address)).toEqual(['admin@example.com']);
    expect(await env.ctx.db.selectFrom('address_status').select('bouncing').where('address', '=', 'ann@example.com').executeTakeFirst()).toEqual({ bouncing: 0 });
  });

  it('ignores a bounce about mail we never sent, with no reply', async () => {
    const out = await env.ingest(dsn('someone-else@elsewhere.example', 'x@y.example'));
    expect(out.kind).toBe('ignored');
    expect(out.reason).toMatch(/bounce/);
    expect(await outboxAll()).toHaveLength(0);
  });
});

describe('bad input', () => {
  it('a Message-ID longer than 900 bytes of UTF-8 counts as none (900 CJK characters are 2,700 bytes: too big for a database index), and the message is stored', async () => {
    const cjk = Array.from({ length: 449 }, (_, i) => String.fromCodePoint(0x4e00 + ((i * 7919) % 0x5000))).join('');
    const raw = Buffer.from(eml({ subject: 'Long id', messageId: `${cjk}@${cjk}` }), 'utf8');
    const out = await env.ingest(raw);
    expect(out, JSON.stringify(out)).toMatchObject({ kind: 'stored', created: true });
    expect((await receipts())[0]!.message_id).toBeNull();
    // A normal one of the same length in ASCII is an id.
    const ascii = await env.ingest(eml({ subject: 'Long ASCII id', messageId: `${'a'.repeat(880)}@customer.example` }));
    expect(ascii).toMatchObject({ kind: 'stored', created: true });
    expect((await receipts())[1]!.message_id).toBe(`${'a'.repeat(880)}@customer.example`);
  });

  it('a value taken from the message that the database refuses (every time) quarantines the message from its raw bytes alone, instead of offering it again for ever', async () => {
    // The database refuses any receipt or message whose subject says POISON, as it would any value
    // it cannot store: not busy, not gone — the same refusal on every attempt.
    if (isPostgres(env.ctx.db)) {
      await sql`create function refuse_poison() returns trigger language plpgsql as $$ begin if new.subject like '%POISON%' then raise exception 'refused by the test'; end if; return new; end $$`.execute(env.ctx.db);
      for (const table of ['receipts', 'messages']) await sql`create trigger ${sql.raw(`refuse_poison_${table}`)} before insert on ${sql.table(table)} for each row execute function refuse_poison()`.execute(env.ctx.db);
    } else {
      for (const table of ['receipts', 'messages']) await sql`create trigger ${sql.raw(`refuse_poison_${table}`)} before insert on ${sql.table(table)} when new.subject like '%POISON%' begin select raise(abort, 'refused by the test'); end`.execute(env.ctx.db);
    }
    const out = await env.ingest(eml({ subject: 'POISON in the subject', messageId: 'poison-1@customer.example' }));
    expect(out.kind, JSON.stringify(out)).toBe('quarantined');
    expect(out.reason).toMatch(/^persist failed: .*refused by the test.*recorded from the raw message only/);
    const r = (await receipts())[0]!;
    expect(r).toMatchObject({ outcome: 'quarantined', stage: 'persist', subject: '', message_id: null, is_primary: 1 });
    expect(r.dedupe_key).toBe(`sha256:${r.raw_sha256}`);
    expect(env.ctx.blobs.pathFor(r.raw_sha256)).toBeTruthy();
    // Offered again (a channel retrying, or the same bytes once more): a duplicate of that receipt, not a loop.
    const again = await env.ingest(eml({ subject: 'POISON in the subject', messageId: 'poison-1@customer.example' }));
    expect(['quarantined', 'ignored']).toContain(again.kind);
    // Mail the database takes goes on as ever.
    expect((await env.ingest(eml({ subject: 'Printer on fire', messageId: 'fine-1@customer.example' }))).kind).toBe('stored');
  });

  it('a forward cut off inside the headers of its inline message/rfc822 part (mailparser waits for ever on it): stored as a case, once, not retried', { timeout: 60_000 }, async () => {
    // Found by test/corpus/corpus-mutations.test.ts with FUZZ_SEED=6: before, the parse stage hit
    // the pipeline's time limit (30 s) and the message ended in `retry` — on every attempt.
    const raw = [
      'From: Ann <ann@customer.example>',
      'To: support@example.com',
      'Subject: Fwd: the invoice',
      'Message-ID: <cut-forward@customer.example>',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Disposition: inline',
      'Content-Type: message/rfc822',
      'Content-Description: Your invo',
    ].join('\r\n');
    expect(await env.ingest(raw)).toMatchObject({ kind: 'stored', created: true });
    const stored = await env.ctx.db.selectFrom('messages').select(['subject', 'from_address']).where('direction', '=', 'in').execute();
    expect(stored).toEqual([{ subject: 'Fwd: the invoice', from_address: 'ann@customer.example' }]);
    expect(await env.ingest(raw)).toMatchObject({ kind: 'ignored' });
    expect((await receipts()).map((r) => r.outcome)).toEqual(['stored', 'ignored']);
  });

  it('NUL bytes anywhere in a message (header values, Message-ID, References, text, HTML, an attachment’s headers, the Content-Type): stored all the same on both backends, nothing stored with a NUL', async () => {
    const N = '\u0000';
    // Each its own Date, an hour apart: several differ only in a header and would otherwise be one message re-sent (stages/resend.ts).
    let second = 0;
    const mail = (o: { from?: string; subject?: string; id?: string; refs?: string; type?: string; body?: string; extra?: string }) =>
      [
        `From: ${o.from ?? 'Ann <ann@customer.example>'}`,
        'To: support@example.com',
        `Subject: ${o.subject ?? 'Printer'}`,
        `Message-ID: ${o.id ?? `<${Math.random().toString(36).slice(2)}@customer.example>`}`,
        ...(o.refs !== undefined ? [`In-Reply-To: ${o.refs}`, `References: ${o.refs}`] : []),
        ...(o.extra !== undefined ? [o.extra] : []),
        `Date: Mon, 02 Mar 2026 ${String(second++).padStart(2, '0')}:00:00 +0000`,
        `Content-Type: ${o.type ?? 'text/plain; charset=utf-8'}`,
        '',
        o.body ?? 'The printer is on fire.',
        '',
      ].join('\r\n');
    const placements: Record<string, string> = {
      subject: mail({ subject: `Prin${N}ter` }),
      'sender name and address': mail({ from: `An${N}n <an${N}n@customer.example>` }),
      'Message-ID': mail({ id: `<nul${N}id@customer.example>` }),
      References: mail({ refs: `<ref${N}x@support.example.com>` }),
      text: mail({ subject: 'NULs in the text', body: `The printer${N} is on fire.${N}` }),
      HTML: mail({ type: 'text/html; charset=utf-8', body: `<p>The printer${N} is on fire.</p>` }),
      'attachment headers': mail({
        type: 'multipart/mixed; boundary="b"',
        body: ['--b', 'Content-Type: text/plain', '', 'See attached.', '--b', `Content-Type: application/pd${N}f; name="scan${N}.pdf"`, `Content-ID: <c${N}id@x>`, `Content-Disposition: attach${N}ment`, '', 'PDF', '--b--'].join('\r\n'),
      }),
      'Content-Type': mail({ type: `text/pl${N}ain` }),
      'other headers': mail({ extra: `Cc: Bob${N} <bob@customer.example>\r\nReply-To: ann${N}@customer.example\r\nX-Mailer: Mail${N}er\r\nContent-Language: d${N}e` }),
    };
    for (const [where, raw] of Object.entries(placements)) {
      const out = await env.ingest(Buffer.from(raw, 'latin1'));
      expect(out, `${where}: ${JSON.stringify(out)}`).toMatchObject({ kind: 'stored', created: true });
    }
    const stored = await env.ctx.db.selectFrom('messages').selectAll().execute();
    expect(stored.filter((m) => m.direction === 'in')).toHaveLength(Object.keys(placements).length);
    for (const m of stored) for (const [column, value] of Object.entries(m)) expect(typeof value === 'string' && value.includes(N), `messages.${column}`).toBe(false);
    const files = await env.ctx.db.selectFrom('attachments').selectAll().execute();
    for (const f of files) for (const [column, value] of Object.entries(f)) expect(typeof value === 'string' && value.includes(N), `attachments.${column}`).toBe(false);
    // An id with a control character is no id at all (RFC 5322 allows none): not kept with the NUL cut out.
    expect(stored.map((m) => m.message_id)).not.toContain('nulid@customer.example');
    expect(stored.find((m) => m.subject === 'NULs in the text')?.visible_text).toBe('The printer is on fire.');
  });

  it('quarantines a message with neither From nor an envelope sender, keeping it raw', async () => {
    const out = await env.ingest(eml({ from: null }));
    expect(out.kind).toBe('quarantined');
    const rec = (await receipts())[0]!;
    expect(rec).toMatchObject({ outcome: 'quarantined', stage: 'sender' });
    expect(env.ctx.blobs.pathFor(rec.raw_sha256)).toBeTruthy();
  });

  it('uses the envelope sender when From is missing', async () => {
    const out = await env.ingest(eml({ from: null }), { envelopeFrom: 'jane@customer.example' });
    expect(out).toMatchObject({ kind: 'stored', created: true });
  });

  it('an envelope sender or Return-Path that is no usable address (too long, control characters) is no sender either: quarantined, on both backends alike', async () => {
    const long = `${'a'.repeat(5000)}@customer.example`;
    expect(await env.ingest(eml({ from: null }), { envelopeFrom: long })).toMatchObject({ kind: 'quarantined', reason: expect.stringMatching(/^no sender address/) });
    expect(await env.ingest(`Return-Path: <${long}>\r\n${eml({ from: null, subject: 'via Return-Path' })}`)).toMatchObject({ kind: 'quarantined', reason: expect.stringMatching(/^no sender address/) });
    expect(await env.ingest(eml({ from: null, subject: 'control' }), { envelopeFrom: 'ja\u0001ne@customer.example' })).toMatchObject({ kind: 'quarantined', reason: expect.stringMatching(/^no sender address/) });
  });

  it('stores an empty message', async () => {
    const out = await env.ingest('From: a@b.example\r\nTo: support@example.com\r\n\r\n');
    expect(out).toMatchObject({ kind: 'stored', created: true });
    expect((await caseByNumber(env.ctx.db, 10001))!.subject).toBe('(no subject)');
  });

  it('survives a zero-byte message with an outcome', async () => {
    const out = await env.ingest('');
    expect(out.kind).toBe('quarantined');
  });

  it('never puts CR/LF into a header we send, and escapes HTML from names and subjects', async () => {
    const raw = [
      'From: =?utf-8?B?' + Buffer.from('Eve <b>Bold</b>\r\nBcc: victim@x.example').toString('base64') + '?= <eve@evil.example>',
      'To: support@example.com',
      'Subject: =?utf-8?B?' + Buffer.from('Hi\r\nBcc: victim@x.example <script>alert(1)</script>').toString('base64') + '?=',
      'Message-ID: <inj@evil.example>',
      '',
      'body',
      '',
    ].join('\r\n');
    expect((await env.ingest(raw)).kind).toBe('stored');
    const row = (await outboxAll())[0]!;
    expect(row.subject).not.toMatch(/[\r\n]/);
    expect(row.to_name).not.toMatch(/[\r\n]/);
    expect(row.html).not.toContain('<script>');
    expect(row.html).toContain('&lt;script&gt;');
    expect(row.html).not.toContain('<b>Bold</b>');
  });

  it('quarantines a message whose stage throws, and a retry later stores it', async () => {
    // Simulate a bug: the templates throw while rendering.
    const render = env.ctx.templates.render.bind(env.ctx.templates);
    (env.ctx.templates as { render: typeof render }).render = () => {
      throw new Error('boom');
    };
    const raw = eml({ messageId: 'q1@customer.example' });
    const out = await env.ingest(raw);
    expect(out.kind).toBe('quarantined');
    expect(out.reason).toMatch(/react failed: boom/);
    expect(await env.ctx.db.selectFrom('cases').selectAll().execute()).toHaveLength(0); // rolled back
    (env.ctx.templates as { render: typeof render }).render = render;
    // Re-delivery of the same message is a duplicate of the quarantined one…
    expect((await env.ingest(raw)).kind).toBe('ignored');
  });
});
