/**
 * Issue 9, items 1–3: only what we signed carries trust (participants), a DSN marks only the
 * recipients of the email it is about, and a different message reusing a stored Message-ID is a
 * new message. Whole pipeline on a fresh SQLite per test.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { caseByNumber, participants } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { workCase } from '../../src/cases/agent-work.js';
import { messagesOfCase } from '../../src/db/repos/messages.js';
import { caseThreadRoot } from '../../src/db/repos/case-thread.js';
import { replyReferences } from '../../src/mail-out/thread-headers.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { CORPUS, corpusAvailable } from '../helpers/corpus.js';
import { dsn as dsnMessage } from '../helpers/dsn.js';
import { envelopeId } from '../../src/cases/thread-token.js';

let env: TestEnv;
afterEach(async () => {
  await env?.close();
});

async function start(config: ConfigInput = {}) {
  env = await testEnv(config);
}

async function stored(raw: string) {
  const out = await env.ingest(raw);
  if (out.kind !== 'stored') throw new Error(`expected stored, got ${out.kind}: ${out.reason}`);
  return out;
}

async function people(n: number) {
  const c = (await caseByNumber(env.ctx.db, n))!;
  return (await participants(env.ctx.db, c.id)).map((p) => p.address);
}

/** The envelope id a relay offering DSN was given with our confirmation of case `n`, and writes back into its report. */
async function confirmationEnvelopeId(n: number) {
  const c = (await caseByNumber(env.ctx.db, n))!;
  const row = await env.ctx.db.selectFrom('outbox').select(['id', 'to_address']).where('case_id', '=', c.id).where('kind', '=', 'confirmation').executeTakeFirstOrThrow();
  return envelopeId(row.id, row.to_address, env.ctx.secret);
}

async function confirmationId(n: number) {
  const c = (await caseByNumber(env.ctx.db, n))!;
  const row = await env.ctx.db.selectFrom('outbox').select('message_id').where('case_id', '=', c.id).where('kind', '=', 'confirmation').executeTakeFirstOrThrow();
  return row.message_id;
}

const FIRST_ID = 'first-0001@customer.example';

describe('participants: only signed tokens carry trust by themselves (item 1)', () => {
  it('a stranger quoting the customer’s own Message-ID opens a new linked case; his Cc is not enrolled in the customer’s case', async () => {
    await start();
    await stored(eml({ messageId: FIRST_ID }));
    const out = await stored(eml({ from: 'Mallory <mallory@evil.example>', cc: 'eve@evil.example', references: `<${FIRST_ID}>`, inReplyTo: FIRST_ID, subject: 'Re: Printer on fire' }));
    expect(out).toMatchObject({ created: true, caseNumber: 10002, reason: 'new case (new-stranger-reference)' });
    const c1 = (await caseByNumber(env.ctx.db, 10001))!;
    expect((await caseByNumber(env.ctx.db, 10002))!.linked_case_id).toBe(c1.id);
    expect(await people(10001)).toEqual(['jane@customer.example']);
    expect((await messagesOfCase(env.ctx.db, c1.id)).filter((m) => m.direction === 'in')).toHaveLength(1);
    const linked = (await eventsOfCase(env.ctx.db, c1.id)).find((e) => e.type === 'case.linked');
    expect(linked?.reason).toMatch(/^new-stranger-reference: new case 10002/);
    // The accomplice's later subject tag is a stranger's tag too.
    const tag = await stored(eml({ from: 'eve@evil.example', subject: 'Re: [Case #10001] Printer on fire' }));
    expect(tag).toMatchObject({ created: true, reason: 'new case (new-stranger-tag)' });
  });

  it('the authenticated requester quoting her own Message-ID is appended, and her Cc enrolled', async () => {
    await start();
    await stored(eml({ messageId: FIRST_ID }));
    const out = await stored(eml({ cc: 'Bob <bob@customer.example>', inReplyTo: FIRST_ID, subject: 'Re: Printer on fire' }));
    expect(out).toMatchObject({ created: false, caseNumber: 10001, reason: 'appended (known-reference)' });
    expect(await people(10001)).toEqual(['jane@customer.example', 'bob@customer.example']);
  });

  it('a participant whose sender authentication did not pass (dmarc=none) cannot use the tag or known references', async () => {
    await start();
    await stored(eml({ messageId: FIRST_ID }));
    const ref = await stored(eml({ inReplyTo: FIRST_ID, auth: 'none', cc: 'eve@evil.example' }));
    expect(ref).toMatchObject({ created: true, reason: 'new case (new-stranger-reference)' });
    const tag = await stored(eml({ subject: 'Re: [Case #10001]', auth: null }));
    expect(tag).toMatchObject({ created: true, reason: 'new case (new-stranger-tag)' });
    expect(await people(10001)).toEqual(['jane@customer.example']);
  });

  it('staff of the case’s queue may use the tag; an agent of another queue may not', async () => {
    await start({
      queues: {
        support: { agents: [{ name: 'Sam Agent', address: 'sam@example.com' }] },
        billing: { agents: [{ name: 'Bill Agent', address: 'bill@example.com' }] },
      },
    });
    await stored(eml({}));
    const ours = await stored(eml({ from: 'Sam Agent <sam@example.com>', subject: 'Re: [Case #10001] Printer on fire', cc: 'tech@customer.example' }));
    // Staff of the queue with an authenticated From: their mail works the case as agent mail (issue 10).
    expect(ours).toMatchObject({ created: false, caseNumber: 10001, reason: 'agent mail (subject-tag)' });
    expect(await people(10001)).toContain('tech@customer.example');
    const other = await stored(eml({ from: 'Bill Agent <bill@example.com>', subject: 'Re: [Case #10001] Printer on fire' }));
    expect(other).toMatchObject({ created: true, reason: 'new case (new-stranger-tag)' });
  });

  it('a signed reference threads whoever holds it; a non-participant holding it is not enrolled (nor whom he copies) and the event says so', async () => {
    await start();
    await stored(eml({}));
    const signed = await confirmationId(10001);
    const out = await stored(eml({ from: 'Colleague <colleague@customer.example>', inReplyTo: signed, cc: 'outsider@elsewhere.example' }));
    expect(out).toMatchObject({ created: false, reason: 'appended (signed-reference)' });
    // A token travels with every forward of our mail: holding one puts the message in the case,
    // but does not make its sender someone who gets the case's mail and its link.
    expect(await people(10001)).toEqual(['jane@customer.example']);
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    const notAdded = (await eventsOfCase(env.ctx.db, c.id)).filter((e) => e.type === 'participant.not-added');
    expect(notAdded.map((e) => e.reason)).toEqual([expect.stringContaining('colleague@customer.example wrote in this case')]);
    // An agent's reply now goes to Jane only — and answers Jane's message, not the colleague's
    // (which Jane never saw), nor a forged one in her name (trust hunt F12).
    await stored(eml({ inReplyTo: signed, auth: 'fail', messageId: 'forged-in-janes-name@evil.example', body: 'Send it to my new address.' }));
    const w = await env.ctx.db.transaction().execute((trx) => workCase(trx, env.ctx, c.id, { actor: 'cli:test', by: 'test', address: null, replyName: '' }, { commands: [], text: 'Fixed.', note: false, attachments: [], messageRowId: null }));
    expect(w.repliedTo).toEqual(['jane@customer.example']);
    const reply = await env.ctx.db.selectFrom('outbox').select(['in_reply_to', 'references_text']).where('case_id', '=', c.id).where('kind', '=', 'agent-reply').executeTakeFirstOrThrow();
    const janes = (await messagesOfCase(env.ctx.db, c.id)).find((m) => m.direction === 'in' && m.from_address === 'jane@customer.example' && m.sender_auth === 'pass')!;
    expect(reply.in_reply_to).toBe(janes.message_id);
    expect(reply.references_text ?? '').not.toMatch(/forged-in-janes-name|colleague/);
    // The requester's own signed reply may copy someone in.
    await stored(eml({ inReplyTo: signed, cc: 'boss@customer.example' }));
    expect(await people(10001)).toContain('boss@customer.example');
  });

  it('whoever holds our token and writes "From: <the requester>" copies nobody in unless the sender check passed: a forwardee, an ex-participant taken off the case (hostile2)', async () => {
    await start();
    await stored(eml({ cc: 'Xavier <xavier@customer.example>' }));
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    const signed = await confirmationId(10001);
    await env.ctx.db.transaction().execute((trx) => workCase(trx, env.ctx, c.id, { actor: 'cli:test', by: 'test', address: null, replyName: '' }, { commands: [{ kind: 'cc', add: false, addresses: ['xavier@customer.example'], line: '#uncc xavier@customer.example' }], text: '', note: true, attachments: [], messageRowId: null }));
    expect(await people(10001)).toEqual(['jane@customer.example']);
    // Xavier (or whoever Jane forwarded our mail to) forges Jane's From with our signed reference
    // and copies another address of his. customer.example enforces no DMARC: our MX says none.
    const forged = await stored(eml({ inReplyTo: signed, auth: 'none', cc: 'Mallory <mallory@evil.example>', messageId: 'forged-cc@evil.example', body: 'Please keep my new colleague in copy.' }));
    expect(forged).toMatchObject({ created: false, caseNumber: 10001, reason: 'appended (signed-reference)' });
    expect(await people(10001)).toEqual(['jane@customer.example']);
    const notAdded = (await eventsOfCase(env.ctx.db, c.id)).filter((e) => e.type === 'participant.not-added').map((e) => e.reason);
    expect(notAdded).toEqual([expect.stringMatching(/^mallory@evil\.example was copied by jane@customer\.example's mail, but nothing proves it came from jane@customer\.example \(security\.senderAuth\.mode trusted-header: the sender check found nothing\)/)]);
    // The next answer goes to Jane alone.
    const w = await env.ctx.db.transaction().execute((trx) => workCase(trx, env.ctx, c.id, { actor: 'cli:test', by: 'test', address: null, replyName: '' }, { commands: [], text: 'The fuser is on its way.', note: false, attachments: [], messageRowId: null }));
    expect(w.repliedTo).toEqual(['jane@customer.example']);
    // Jane's own mail, proven by our MX (DMARC pass), copies her colleague in as before.
    await stored(eml({ inReplyTo: signed, cc: 'Bob <bob@customer.example>', body: 'Bob takes over from here.' }));
    expect(await people(10001)).toEqual(['jane@customer.example', 'bob@customer.example']);
  });

  it('a customer\'s mail makes at most 50 people take part in a case: a stranger Cc\'ing 500 addresses does not get our answers sent to each (hostile2)', async () => {
    await start();
    const cc = Array.from({ length: 60 }, (_, i) => `v${i}@victims.example`).join(', ');
    const out = await stored(eml({ from: 'Spammer <spam@evil.example>', cc, subject: 'Question about pricing', body: 'What does gold cost? http://evil.example/win' }));
    expect(out).toMatchObject({ created: true, caseNumber: 10001 });
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    expect(await people(10001)).toHaveLength(50);
    expect(await people(10001)).not.toContain('v49@victims.example');
    const over = (await eventsOfCase(env.ctx.db, c.id)).filter((e) => e.type === 'participant.not-added');
    expect(over.map((e) => e.reason)).toEqual([expect.stringMatching(/^11 address\(es\) copied by spam@evil\.example's mail not copied on the case's mail: a customer's mail makes at most 50 people take part in a case \(an agent adds them with #cc\): v49@victims\.example, v50@victims\.example, /)]);
    // A later mail of the (proven) requester copies nobody more in; an agent's #cc still does.
    await stored(eml({ from: 'Spammer <spam@evil.example>', inReplyTo: await confirmationId(10001), cc: 'more@victims.example' }));
    expect(await people(10001)).not.toContain('more@victims.example');
    await env.ctx.db.transaction().execute((trx) => workCase(trx, env.ctx, c.id, { actor: 'cli:test', by: 'test', address: null, replyName: '' }, { commands: [{ kind: 'cc', add: true, addresses: ['boss@customer.example'], line: '#cc boss@customer.example' }], text: '', note: true, attachments: [], messageRowId: null }));
    expect(await people(10001)).toContain('boss@customer.example');
  });

  describe('with security.senderAuth.mode none (the default of a fresh install)', () => {
    it('nobody is authenticated: the requester’s tag opens a linked case, her reply to our mail threads but copies nobody in', async () => {
      await start({ security: { senderAuth: { mode: 'none' } }, queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } } });
      await stored(eml({ auth: null }));
      env.clock.advance(180_000); // past autoReply.minIntervalSeconds
      const tag = await stored(eml({ subject: 'Re: [Case #10001] Printer on fire', auth: null }));
      expect(tag).toMatchObject({ created: true, reason: 'new case (new-stranger-tag)' });
      const reply = await stored(eml({ inReplyTo: await confirmationId(10001), cc: 'bob@customer.example', auth: null }));
      expect(reply).toMatchObject({ created: false, caseNumber: 10001, reason: 'appended (signed-reference)' });
      // Her From and our token are in every forward of our mail: nothing shows she wrote it, so
      // whom it copies is not enrolled (hostile2: a forwardee wrote "From: jane" and copied
      // himself in, for every later reply and a link to the whole case). An agent copies Bob in.
      expect(await people(10001)).toEqual(['jane@customer.example']);
      const c1 = (await caseByNumber(env.ctx.db, 10001))!;
      expect((await eventsOfCase(env.ctx.db, c1.id)).filter((e) => e.type === 'participant.not-added').map((e) => e.reason)).toEqual([
        "bob@customer.example was copied by jane@customer.example's mail, but nothing proves it came from jane@customer.example (security.senderAuth.mode none: the sender check found nothing): not copied on the case's mail (an agent adds them with #cc bob@customer.example)",
      ]);
      // The agents are told whom the case's mail leaves out, and how to copy them in.
      const told = await env.ctx.db.selectFrom('outbox').select(['text', 'html']).where('case_id', '=', c1.id).where('kind', '=', 'agent-notification').execute();
      const aboutReply = told.filter((o) => o.text.includes('The customer replied'));
      expect(aboutReply.length).toBeGreaterThan(0);
      for (const o of aboutReply) {
        expect(o.text).toContain("Copied on this message, but not on the case's mail (nothing proves who sent it, an agent took them off the case, or too many were copied): bob@customer.example. To copy one in, answer with #cc and the address.");
        expect(o.html).toContain('bob@customer.example');
      }
      // The new case's notification copied nobody in: no such line.
      expect(told.filter((o) => !o.text.includes('The customer replied')).every((o) => !o.text.includes('not on the case'))).toBe(true);
      // Not treated as forged: confirmations still go out.
      const c2 = (await caseByNumber(env.ctx.db, 10002))!;
      expect(await env.ctx.db.selectFrom('outbox').select('id').where('case_id', '=', c2.id).where('kind', '=', 'confirmation').execute()).toHaveLength(1);
    });
  });
});

function dsn(opts: { refersTo: string; recipients: string[]; messageId: string; envelopeId?: string }): string {
  return dsnMessage({ ...opts, autoSubmitted: true, originalSubject: '[Case #10001] We have received your request' });
}

async function bouncing() {
  return (await env.ctx.db.selectFrom('address_status').select('address').where('bouncing', '=', 1).orderBy('address').execute()).map((r) => r.address);
}

describe('bounces mark only the recipients of the bounced email (item 2)', () => {
  it('a DSN quoting our signed Message-ID may not silence other addresses: they are ignored, with an event', async () => {
    await start();
    await stored(eml({}));
    const ours = await confirmationId(10001);
    // Even with our envelope id (its MTA carried the email to Jane): it speaks for Jane alone.
    const out = await stored(dsn({ refersTo: ours, recipients: ['ceo@bigcustomer.example', 'jane@customer.example', 'billing@bigcustomer.example'], messageId: 'dsn-1@mx.customer.example', envelopeId: await confirmationEnvelopeId(10001) }));
    expect(out).toMatchObject({ caseNumber: 10001, reason: 'appended (bounce-reference)' });
    expect(await bouncing()).toEqual(['jane@customer.example']);
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    const ignored = (await eventsOfCase(env.ctx.db, c.id)).find((e) => e.type === 'bounce.recipients-ignored');
    expect(ignored?.reason).toContain('ceo@bigcustomer.example, billing@bigcustomer.example');
  });

  it('a "hard bounce" about mail handed over more than 7 days ago marks nobody: no MTA still held it (trust hunt F14)', async () => {
    await start();
    await stored(eml({}));
    const ours = await confirmationId(10001);
    env.clock.advance(8 * 86_400_000);
    const out = await stored(dsn({ refersTo: ours, recipients: ['jane@customer.example'], messageId: 'dsn-late@mx.customer.example', envelopeId: await confirmationEnvelopeId(10001) }));
    expect(out).toMatchObject({ caseNumber: 10001, reason: 'appended (bounce-reference)' });
    expect(await bouncing()).toEqual([]);
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    const events = await eventsOfCase(env.ctx.db, c.id);
    expect(events.find((e) => e.type === 'address.stale-bounce')?.reason).toMatch(/^jane@customer\.example: 5\.1\.1 .*more than 7 days ago .*not marked as bouncing$/);
    expect(events.map((e) => e.type)).not.toContain('address.bouncing');
    // Within the queue lifetime the same report marks the address.
    await stored(eml({ from: 'Lena <lena@other.example>', subject: 'Export fails' }));
    const second = await confirmationId(10002);
    env.clock.advance(4 * 86_400_000);
    await stored(dsn({ refersTo: second, recipients: ['lena@other.example'], messageId: 'dsn-4d@mx.customer.example', envelopeId: await confirmationEnvelopeId(10002) }));
    expect(await bouncing()).toEqual(['lena@other.example']);
  });

  it('a DSN about a customer’s own (inbound) message marks nobody, nor is it put on her case: we never sent it', async () => {
    await start();
    await stored(eml({ messageId: FIRST_ID }));
    // Whoever was copied on Jane's first mail knows its Message-ID.
    const out = await env.ingest(dsn({ refersTo: FIRST_ID, recipients: ['jane@customer.example'], messageId: 'dsn-2@mx.customer.example' }));
    expect(out).toMatchObject({ kind: 'ignored', reason: expect.stringContaining('not about mail we sent') });
    expect(await bouncing()).toEqual([]);
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    expect((await messagesOfCase(env.ctx.db, c.id)).filter((m) => m.direction === 'in')).toHaveLength(1);
  });
});

describe('Message-ID collisions (item 3)', () => {
  const ID = 'reused-id@mail.example';

  it('a different message reusing a stored Message-ID is stored as a new message, with a collision event; the first keeps the id', async () => {
    await start();
    await stored(eml({ messageId: ID }));
    const out = await stored(eml({ messageId: ID, from: 'Lena <lena@other.example>', subject: 'Export fails', body: 'Error 17 on every export.' }));
    expect(out).toMatchObject({ created: true, caseNumber: 10002 });
    const c2 = (await caseByNumber(env.ctx.db, 10002))!;
    const ev = (await eventsOfCase(env.ctx.db, c2.id)).find((e) => e.type === 'message.id-collision');
    expect(ev?.reason).toMatch(/^message-id collision: <reused-id@mail\.example> was already used by another message \(receipt 1\)/);
    const msgs = await env.ctx.db.selectFrom('messages').select(['case_id', 'message_id']).where('direction', '=', 'in').orderBy('id').execute();
    expect(msgs.map((m) => m.message_id)).toEqual([ID, null]);
    // A reply referring to the id still belongs to the first message's case (for its participants).
    expect(await stored(eml({ inReplyTo: ID, subject: 'Re: Printer on fire' }))).toMatchObject({ caseNumber: 10001, created: false });
  });

  it('a new case’s confirmation answers the customer’s mail with the References the looked-up thread root gives; after a collision too', async () => {
    await start();
    const confirmation = async (number: number) => {
      const c = (await caseByNumber(env.ctx.db, number))!;
      const row = await env.ctx.db.selectFrom('outbox').select(['in_reply_to', 'references_text']).where('case_id', '=', c.id).where('kind', '=', 'confirmation').executeTakeFirstOrThrow();
      return { ...row, lookedUp: await caseThreadRoot(env.ctx.db, c.id) };
    };
    // A forwarded conversation we never saw: a new case; the root is the customer's mail (stored with the case, not asked for).
    await stored(eml({ messageId: ID, inReplyTo: 'old-2@elsewhere.example', references: '<old-1@elsewhere.example> <old-2@elsewhere.example>' }));
    const first = await confirmation(10001);
    expect(first.lookedUp).toBe(ID);
    expect(first.in_reply_to).toBe(ID);
    const expected = replyReferences(['old-1@elsewhere.example', 'old-2@elsewhere.example'], ID, first.lookedUp);
    expect(first.references_text).toBe(expected.map((r) => `<${r}>`).join(' '));
    expect(expected).toEqual(['old-1@elsewhere.example', 'old-2@elsewhere.example', ID]);
    // Another mail reusing the id keeps no Message-ID of its own: its case had no root to name
    // (its only other message is this confirmation), the References are the answered id alone.
    await stored(eml({ messageId: ID, from: 'Lena <lena@other.example>', subject: 'Export fails', body: 'Error 17 on every export.' }));
    const second = await confirmation(10002);
    expect(second).toMatchObject({ in_reply_to: ID, references_text: `<${ID}>` });
  });

  it('the same sender reusing one Message-ID for different mail (a broken client) loses nothing', async () => {
    await start();
    await stored(eml({ messageId: ID, subject: 'Printer on fire' }));
    await stored(eml({ messageId: ID, subject: 'Scanner broken too', body: 'And the scanner.' }));
    expect(await env.ctx.db.selectFrom('messages').select('id').where('direction', '=', 'in').execute()).toHaveLength(2);
  });

  it.each([
    ['LF line endings', (raw: string) => raw.replace(/\r\n/g, '\n')],
    ['re-wrapped lines and trailing blanks', (raw: string) => raw.replace('on fire.\r\nPlease help.', 'on fire.   \r\n\r\nPlease\r\nhelp.')],
    ['another relay hop and a DKIM signature on top', (raw: string) => `Received: from relay2.example.net by mx2.example.com; Mon, 02 Mar 2026 09:01:00 +0000\r\nDKIM-Signature: v=1; a=rsa-sha256; d=example.net; s=x; b=abc\r\n${raw}`],
    ['a re-encoded body (quoted-printable)', (raw: string) => raw.replace('Content-Type: text/plain; charset=utf-8', 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable').replace('on fire.', 'on =\r\nfire.')],
  ])('a copy with %s is the same message: ignored as a duplicate', async (_name, change) => {
    await start();
    const raw = eml({ messageId: ID });
    await stored(raw);
    const again = await env.ingest(change(raw));
    expect(again).toMatchObject({ kind: 'ignored', reason: 'duplicate of receipt 1 (stored)' });
    // A third arrival of the collision (if any) is a duplicate of it, not of the first.
    const other = eml({ messageId: ID, from: 'x@other.example', body: 'different' });
    expect(await env.ingest(other)).toMatchObject({ kind: 'stored' });
    expect(await env.ingest(other)).toMatchObject({ kind: 'ignored', reason: 'duplicate of receipt 3 (stored)' });
  });

  describe.runIf(corpusAvailable())('the sisimai corpus', () => {
    it('CRLF (maildir/dos) and CR-only (maildir/mac) copies of its messages are duplicates of the LF original', async () => {
      await start({ autoReply: { perSenderPerHour: 1000 } });
      const dir = join(CORPUS, 'sisimai-set-of-emails', 'maildir');
      let pairs = 0;
      const notDuplicate: string[] = [];
      for (const f of readdirSync(join(dir, 'dos'))) {
        if (!existsSync(join(dir, 'bsd', f))) continue;
        const first = await env.ingest(readFileSync(join(dir, 'bsd', f)));
        expect(first.kind).not.toBe('retry');
        for (const variant of ['dos', 'mac']) {
          if (!existsSync(join(dir, variant, f))) continue;
          const copy = await env.ingest(readFileSync(join(dir, variant, f)));
          pairs++;
          if (!copy.reason.startsWith('duplicate of receipt')) notDuplicate.push(`${variant}/${f}: ${copy.kind} (${copy.reason})`);
        }
      }
      expect(pairs).toBeGreaterThan(100);
      // The 7 messages without a Message-ID are keyed by their raw bytes, which differ per line ending.
      expect(notDuplicate.length).toBeLessThanOrEqual(14);
      for (const line of notDuplicate) expect(line).not.toMatch(/^.*: stored/);
    }, 120_000);
  });

  it('two different messages with one Message-ID arriving at the same time are both stored', async () => {
    await start();
    const [a, b] = await Promise.all([env.ingest(eml({ messageId: ID, body: 'first text' })), env.ingest(eml({ messageId: ID, from: 'x@other.example', body: 'second text' }))]);
    expect([a.kind, b.kind]).toEqual(['stored', 'stored']);
  });

  it('a receipt from before content digests is compared by sender and subject', async () => {
    await start();
    await stored(eml({ messageId: ID }));
    await env.ctx.db.updateTable('receipts').set({ content_digest: null }).execute();
    expect(await env.ingest(eml({ messageId: ID }))).toMatchObject({ kind: 'ignored' });
    expect(await env.ingest(eml({ messageId: ID, from: 'x@other.example' }))).toMatchObject({ kind: 'stored', created: true });
  });
});
