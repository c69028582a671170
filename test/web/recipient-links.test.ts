import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { participants, removeParticipant } from '../../src/db/repos/cases.js';
import { revokeAllLinks } from '../../src/db/repos/links.js';
import { eraseAddress, nothingRemoved } from '../../src/db/repos/purge.js';
import { claimDue, dropSentBodies, releaseClaims } from '../../src/db/repos/outbox.js';
import { messagesOfCase } from '../../src/db/repos/messages.js';
import { caseById } from '../../src/db/repos/cases.js';
import { sendStatusUpdate } from '../../src/cases/customer-mail.js';
import type { OutboxRow } from '../../src/db/schema.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { readersNow, withdrawReader, withoutErased } from '../../src/mail-out/reader-withdrawal.js';
import { purge } from '../../src/ops/purge.js';
import { createTransport, type MailTransport } from '../../src/mail-out/transport.js';
import { startWebServer, type WebServer } from '../../src/web/server.js';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { generateDkimKey } from '../../src/mail-out/dkim.js';
import { dnsStub } from '../helpers/outgoing-samples.js';
import { MimeThread } from '../../src/mime/mime-thread.js';
import { compiledMimeWorker } from '../helpers/mime-worker.js';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { eml, mxHeaderFields, testEnv, type TestEnv } from '../helpers/context.js';
import { clientReply } from '../helpers/mail-clients.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../helpers/smtp-sink.js';
import { WEB_BASE, WEB_DESK } from '../helpers/web-desk.js';

/**
 * Per-recipient case links: an email written to the requester (To) and a Cc'd colleague goes as
 * one copy per reader — the same headers and Message-ID, each to one envelope recipient, each
 * with a case-page link that names its reader. On the page (a real Chromium against the web
 * server) the colleague's link shows the colleague's own messages as "You" and a reply written
 * there is the colleague's; removing the colleague from the case ends their link. Sent through a
 * real SMTP server (the sink) by the outbox worker.
 */

const BASE = WEB_BASE;
const CONFIG: ConfigInput = WEB_DESK;
const JANE = 'Jane Customer <jane@customer.example>';
const ANN = 'Ann Colleague <ann@customer.example>';

let chromium: Browser;
let sink: SmtpSink;
let env: TestEnv;
let web: WebServer;
let transport: MailTransport;

beforeAll(async () => {
  chromium = await launchChromium({ width: 800 });
  // A relay that offers DSN (as Postfix does): each reader's copy goes with our envelope id for that reader.
  sink = await startSmtpSink({ dsn: true });
});
afterAll(async () => {
  await chromium?.close();
  await sink?.close();
});
beforeEach(async () => {
  sink.messages.length = 0;
  env = await testEnv({ ...CONFIG, outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false }, retry: { baseSeconds: 30, maxSeconds: 600, giveUpHours: 48 } } });
  web = await startWebServer(env.ctx);
  transport = createTransport(env.resolved);
});
afterEach(async () => {
  transport.close();
  await web.close();
  await env.close();
});

const local = (link: string): string => `http://127.0.0.1:${web.port}${link.slice(BASE.length)}`;
const linkIn = (text: string): string => {
  const m = /https:\/\/help\.example\.com\/cg\/c\/[^\s"<>]+/.exec(text);
  if (m === null) throw new Error(`no case link in: ${text}`);
  return m[0];
};
const outbox = async (): Promise<OutboxRow[]> => env.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute();
const ofKind = (ms: readonly SinkMessage[], subjectPart: string) => ms.filter((m) => (m.parsed.text ?? '').includes(subjectPart));

/** Jane opens a case with Ann on Cc; Ben answers by email: the reply goes to both. */
async function caseWithReply(files: { filename: string; contentType: string; content: Buffer }[] = []): Promise<{ caseId: number; reply: OutboxRow }> {
  const out = await env.ingest(eml({ from: JANE, cc: ANN, subject: 'VPN broken', messageId: 'jane-1@customer.example', body: 'The VPN says certificate expired.' }));
  if (out.kind !== 'stored') throw new Error(out.reason);
  expect((await participants(env.ctx.db, out.caseId)).map((p) => [p.address, p.role])).toContainEqual(['ann@customer.example', 'cc']);
  const note = (await outbox()).find((o) => o.kind === 'agent-notification')!;
  const answer = clientReply(
    { messageId: note.message_id, subject: note.subject, text: note.text, fromName: note.from_name, fromAddress: note.from_address, references: [] },
    { style: 'thunderbird', from: 'Ben Agent <ben@example.com>', to: 'support@example.com', body: 'Please install the new certificate.', messageId: 'ben-1@example.com', headers: mxHeaderFields('example.com', 'pass'), ...(files.length > 0 ? { attachments: files } : {}) },
  );
  const r = await env.ingest(answer);
  if (r.kind !== 'stored') throw new Error(r.reason);
  const reply = (await outbox()).find((o) => o.kind === 'agent-reply')!;
  expect(reply).toMatchObject({ to_address: 'jane@customer.example' });
  expect(JSON.parse(reply.cc_json)).toEqual([{ address: 'ann@customer.example', name: 'Ann Colleague' }]);
  return { caseId: out.caseId, reply };
}

async function send(): Promise<void> {
  await new OutboxWorker(env.ctx, transport).drain();
}

describe('a customer email to several people: one copy per reader, each with their own link', () => {
  it('same headers and Message-ID, one envelope recipient each, a link naming each reader; the case thread holds one email', async () => {
    const { caseId, reply } = await caseWithReply();
    await send();
    const copies = ofKind(sink.messages, 'Please install the new certificate.');
    expect(copies.map((m) => m.envelopeTo)).toEqual([['jane@customer.example'], ['ann@customer.example']]);
    const [jane, ann] = copies as [SinkMessage, SinkMessage];
    // What each reader sees of who got it: the same.
    for (const m of copies) {
      expect(m.parsed.messageId).toBe(`<${reply.message_id}>`);
      expect(m.parsed.to && !Array.isArray(m.parsed.to) ? m.parsed.to.value.map((a) => a.address) : []).toEqual(['jane@customer.example']);
      expect(m.parsed.cc && !Array.isArray(m.parsed.cc) ? m.parsed.cc.value.map((a) => a.address) : []).toEqual(['ann@customer.example']);
    }
    const janeLink = linkIn(jane.parsed.text ?? '');
    const annLink = linkIn(ann.parsed.text ?? '');
    expect(annLink).not.toBe(janeLink);
    // The HTML part carries the same reader's link.
    expect(String(ann.parsed.html)).toContain(annLink);
    expect(String(ann.parsed.html)).not.toContain(janeLink);
    const annId = (await participants(env.ctx.db, caseId)).find((p) => p.address === 'ann@customer.example')!.id;
    expect(annLink).toMatch(new RegExp(`/c/\\d+\\.c\\.p${annId}\\.`));
    expect(janeLink).toMatch(/\/c\/\d+\.c\.[0-9a-z]+\.[0-9a-z]+\.[0-9a-f]{24}$/);
    // Agents see one sent email, sent to both.
    const out = (await messagesOfCase(env.ctx.db, caseId)).filter((m) => m.direction === 'out' && m.internal === 0 && m.text.includes('Please install'));
    expect(out).toHaveLength(1);
    expect(out[0]!.sent_at).not.toBeNull();
    expect(await env.ctx.db.selectFrom('outbox').select(['status', 'pending_rcpt_json']).where('id', '=', reply.id).executeTakeFirstOrThrow()).toEqual({ status: 'sent', pending_rcpt_json: '[]' });
    // An email to the requester alone is one rendering, one email (the confirmation).
    const conf = (await outbox()).find((o) => o.kind === 'confirmation')!;
    expect(conf.copies_json).toBeNull();
    expect(sink.messages.filter((m) => m.parsed.messageId === `<${conf.message_id}>`).map((m) => m.envelopeTo)).toEqual([['jane@customer.example']]);
  }, 60_000);

  it('each copy carries its own DKIM signature, which an independent verifier (mailauth) passes', async () => {
    const key = generateDkimKey(env.resolved.paths.dataDir, 'example.com', 'links');
    await caseWithReply();
    await send();
    const copies = ofKind(sink.messages, 'Please install the new certificate.');
    expect(copies).toHaveLength(2);
    for (const m of copies) {
      const r = await dkimVerify(m.raw, { resolver: dnsStub(new Map([['links._domainkey.example.com', key.record]])) as never });
      expect(r.results.map((x) => [x.status.result, x.signingDomain])).toEqual([['pass', 'example.com']]);
    }
  }, 60_000);

  it('the agent’s files go with every reader’s copy', async () => {
    const pdf = Buffer.from('%PDF-1.4 certificate guide\n');
    await caseWithReply([{ filename: 'guide.pdf', contentType: 'application/pdf', content: pdf }]);
    await send();
    const copies = ofKind(sink.messages, 'Please install the new certificate.');
    expect(copies).toHaveLength(2);
    for (const m of copies) expect(m.parsed.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([['guide.pdf', pdf.toString()]]);
  }, 60_000);

  it('on the daemon’s MIME thread (built, signed and sent there) each reader gets their own copy too', async () => {
    const mime = new MimeThread(env.ctx.blobs, compiledMimeWorker(), () => undefined);
    try {
      await caseWithReply();
      await new OutboxWorker({ ...env.ctx, mime }, transport).drain();
      const copies = ofKind(sink.messages, 'Please install the new certificate.');
      expect(copies.map((m) => m.envelopeTo)).toEqual([['jane@customer.example'], ['ann@customer.example']]);
      expect(linkIn(copies[1]!.parsed.text ?? '')).toMatch(/\.c\.p\d+\./);
      expect(linkIn(copies[0]!.parsed.text ?? '')).not.toMatch(/\.c\.p\d+\./);
    } finally {
      await mime.close();
    }
  }, 60_000);

  it('a bounce of one reader’s copy (the shared Message-ID, its Final-Recipient) marks that reader alone', async () => {
    const { caseId, reply } = await caseWithReply();
    await send();
    // The MTA that refused Ann's copy reports with the envelope id it was given (for Ann alone).
    const annCopy = sink.messages.find((m) => m.envelopeTo.includes('ann@customer.example') && m.raw.toString('latin1').includes(reply.message_id))!;
    const dsn = [
      'From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>',
      'To: support@example.com',
      'Subject: Undelivered Mail Returned to Sender',
      'Message-ID: <bounce-ann@mx.customer.example>',
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
      `Original-Envelope-Id: ${annCopy.envid!}`,
      '',
      'Final-Recipient: rfc822; ann@customer.example',
      'Action: failed',
      'Status: 5.1.1',
      'Diagnostic-Code: smtp; 550 5.1.1 user unknown',
      '',
      '--R',
      'Content-Type: text/rfc822-headers',
      '',
      `Message-ID: <${reply.message_id}>`,
      `Subject: ${reply.subject}`,
      '',
      '--R--',
      '',
    ].join('\r\n');
    const out = await env.ingest(dsn, { envelopeFrom: '' });
    expect(out).toMatchObject({ kind: 'stored', caseId });
    expect(await env.ctx.db.selectFrom('address_status').select(['address', 'bouncing']).execute()).toEqual([{ address: 'ann@customer.example', bouncing: 1 }]);
  }, 60_000);

  it('on the page, Ann’s link shows Ann’s messages as "You" and Jane by name; Ann’s reply is recorded from Ann; removing Ann ends her link; revoking all still ends Jane’s', async () => {
    const { caseId } = await caseWithReply();
    await send();
    const [jane, ann] = ofKind(sink.messages, 'Please install the new certificate.') as [SinkMessage, SinkMessage];
    const annUrl = local(linkIn(ann.parsed.text ?? ''));
    const janeUrl = local(linkIn(jane.parsed.text ?? ''));

    const page = await chromium.context.newPage();
    expect((await page.goto(annUrl))?.status()).toBe(200);
    const senders = async () => page.locator('.thread li .msg-head strong').allTextContents();
    expect(await senders()).toEqual(['Jane Customer <jane@customer.example>', 'Example Support']);
    await page.getByLabel('Your message').fill('Installed it on my laptop too, works now.');
    await Promise.all([page.waitForURL(`${annUrl}?sent=1`), page.getByRole('button', { name: 'Send reply' }).click()]);
    expect(await senders()).toEqual(['Jane Customer <jane@customer.example>', 'Example Support', 'You']);
    const stored = (await messagesOfCase(env.ctx.db, caseId)).filter((m) => m.direction === 'in').at(-1)!;
    expect(stored).toMatchObject({ from_address: 'ann@customer.example', from_name: 'Ann Colleague', visible_text: 'Installed it on my laptop too, works now.' });
    // Ben hears it as Ann's.
    const note = (await outbox()).filter((o) => o.kind === 'agent-notification').at(-1)!;
    expect(note.text).toContain('ann@customer.example');

    // Jane's page: her own message is "You", Ann's is Ann's.
    expect((await page.goto(janeUrl))?.status()).toBe(200);
    expect(await senders()).toEqual(['You', 'Example Support', 'Ann Colleague <ann@customer.example>']);

    // Ann taken off the case (#cc -ann): her link opens nothing; Jane's still works.
    expect(await removeParticipant(env.ctx.db, caseId, 'ann@customer.example')).toBe(true);
    expect((await page.goto(annUrl))?.status()).toBe(410);
    expect((await page.goto(janeUrl))?.status()).toBe(200);
    // Every link of the case revoked: Jane's ends too.
    const now = env.clock.now();
    await revokeAllLinks(env.ctx.db, caseId, new Date(now.getTime() + 1000).toISOString(), 'test', 'admin', now.toISOString());
    expect((await page.goto(janeUrl))?.status()).toBe(410);
    await page.close();
  }, 60_000);

  it('Ann taken off the case (#uncc) before the emails to her went gets none of them: the reply goes to Jane alone and its Cc no longer names Ann; the summary Ann alone asked for is cancelled', async () => {
    const { caseId, reply } = await caseWithReply();
    const out = await env.ingest(eml({ from: ANN, subject: `Re: ${reply.subject}`, inReplyTo: reply.message_id, references: `<${reply.message_id}>`, body: 'status?' }));
    expect(out.kind).toBe('stored');
    const summary = (await outbox()).find((o) => o.kind === 'status-summary')!;
    expect(summary.to_address).toBe('ann@customer.example');
    // Ben takes Ann off the case by email before anything went out (the relay was down, say).
    const note = (await outbox()).find((o) => o.kind === 'agent-notification')!;
    const uncc = clientReply(
      { messageId: note.message_id, subject: note.subject, text: note.text, fromName: note.from_name, fromAddress: note.from_address, references: [] },
      { style: 'thunderbird', from: 'Ben Agent <ben@example.com>', to: 'support@example.com', body: '#uncc ann@customer.example', messageId: 'ben-uncc@example.com', headers: mxHeaderFields('example.com', 'pass') },
    );
    expect((await env.ingest(uncc)).kind).toBe('stored');
    await send();
    const copies = ofKind(sink.messages, 'Please install the new certificate.');
    expect(copies.map((m) => m.envelopeTo)).toEqual([['jane@customer.example']]);
    expect(copies[0]!.parsed.cc).toBeUndefined();
    expect(sink.messages.filter((m) => m.envelopeTo.includes('ann@customer.example'))).toEqual([]);
    expect(await env.ctx.db.selectFrom('outbox').select(['status', 'cc_json', 'copies_json']).where('id', '=', reply.id).executeTakeFirstOrThrow()).toEqual({ status: 'sent', cc_json: '[]', copies_json: null });
    expect((await env.ctx.db.selectFrom('outbox').select('status').where('id', '=', summary.id).executeTakeFirstOrThrow()).status).toBe('cancelled');
    // The case's thread shows the reply as it went: to Jane alone.
    expect(JSON.parse((await messagesOfCase(env.ctx.db, caseId)).find((m) => m.outbox_id === reply.id)!.cc_json)).toEqual([]);
    const ev = await env.ctx.db.selectFrom('events').select('reason').where('case_id', '=', caseId).where('type', '=', 'participant.removed').executeTakeFirstOrThrow();
    expect(ev.reason).toContain('2 emails not yet sent no longer go to them');
  }, 60_000);

  it('status summary asked by the Cc’d colleague carries the colleague’s link, not the requester’s', async () => {
    const { caseId } = await caseWithReply();
    const ref = (await outbox()).find((o) => o.kind === 'agent-reply')!;
    const out = await env.ingest(eml({ from: ANN, subject: `Re: ${ref.subject}`, inReplyTo: ref.message_id, references: `<${ref.message_id}>`, body: 'status?' }));
    expect(out.kind).toBe('stored');
    const summary = (await outbox()).find((o) => o.kind === 'status-summary');
    expect(summary?.to_address).toBe('ann@customer.example');
    const annId = (await participants(env.ctx.db, caseId)).find((p) => p.address === 'ann@customer.example')!.id;
    expect(linkIn(summary!.text)).toMatch(new RegExp(`\\.c\\.p${annId}\\.`));
  });
});

describe('copies and the outbox: nobody loses theirs, nobody gets theirs twice', () => {
  it('a copy the relay refuses for now waits alone; a restart sends only the copies not taken', async () => {
    const { reply } = await caseWithReply();
    sink.refuseRecipient('ann@customer.example', 450);
    await send();
    let copies = ofKind(sink.messages, 'Please install the new certificate.');
    expect(copies.map((m) => m.envelopeTo)).toEqual([['jane@customer.example']]);
    const row = await env.ctx.db.selectFrom('outbox').selectAll().where('id', '=', reply.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'queued', pending_rcpt_json: '["ann@customer.example"]' });
    // A new worker (a restarted daemon) once the relay takes Ann's mail again: Ann's copy alone, once.
    sink.refuseRecipient('ann@customer.example', null);
    env.clock.advance(60_000);
    transport.close();
    transport = createTransport(env.resolved);
    await send();
    await send();
    copies = ofKind(sink.messages, 'Please install the new certificate.');
    expect(copies.map((m) => m.envelopeTo)).toEqual([['jane@customer.example'], ['ann@customer.example']]);
    expect(linkIn(copies[1]!.parsed.text ?? '')).toMatch(/\.c\.p\d+\./);
    expect((await env.ctx.db.selectFrom('outbox').select('status').where('id', '=', reply.id).executeTakeFirstOrThrow()).status).toBe('sent');
  }, 60_000);

  it('a copy waiting for a relay that refused it for now is withdrawn when its reader is taken off the case: the email is sent (the others have it), never to them', async () => {
    const { caseId, reply } = await caseWithReply();
    sink.refuseRecipient('ann@customer.example', 450);
    await send();
    sink.refuseRecipient('ann@customer.example', null);
    expect(await removeParticipant(env.ctx.db, caseId, 'ann@customer.example')).toBe(true);
    expect(await withdrawReader(env.ctx.db, caseId, 'ann@customer.example', env.clock.now().toISOString())).toBe(1);
    expect(await env.ctx.db.selectFrom('outbox').select(['status', 'pending_rcpt_json']).where('id', '=', reply.id).executeTakeFirstOrThrow()).toEqual({ status: 'sent', pending_rcpt_json: '[]' });
    env.clock.advance(60_000);
    await send();
    expect(ofKind(sink.messages, 'Please install the new certificate.').map((m) => m.envelopeTo)).toEqual([['jane@customer.example']]);
  }, 60_000);

  it('each copy the relay took is recorded at once: while the next one is in flight, only it is left to send (a crash then never sends the first again)', async () => {
    const { reply } = await caseWithReply();
    await env.ctx.db.updateTable('outbox').set({ status: 'cancelled' }).where('id', '!=', reply.id).execute();
    // Ann's copy (her link names her participant row) is answered 250 only after 2 s.
    sink.answerLater(/\.c\.p\d+\./, 2_000);
    try {
      const draining = send();
      const deadline = Date.now() + 20_000;
      while (ofKind(sink.messages, 'Please install the new certificate.').length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      // Ann's copy is at the relay, its answer not yet back: Jane's is recorded as sent.
      const inFlight = await env.ctx.db.selectFrom('outbox').select(['status', 'pending_rcpt_json']).where('id', '=', reply.id).executeTakeFirstOrThrow();
      expect(inFlight).toEqual({ status: 'queued', pending_rcpt_json: '["ann@customer.example"]' });
      await draining;
    } finally {
      sink.answerLater(null);
    }
    expect(ofKind(sink.messages, 'Please install the new certificate.').map((m) => m.envelopeTo)).toEqual([['jane@customer.example'], ['ann@customer.example']]);
    expect(await env.ctx.db.selectFrom('outbox').select(['status', 'pending_rcpt_json']).where('id', '=', reply.id).executeTakeFirstOrThrow()).toEqual({ status: 'sent', pending_rcpt_json: '[]' });
  }, 60_000);

  it.each(['a copy per reader', 'one email to all (as written with the web server off)'])('taken off the case (#uncc) while a sender held the email (claimed, waiting its turn): the sender leaves them out right before it goes; the others get theirs, once — %s', async (shape) => {
    const { caseId, reply } = await caseWithReply();
    await env.ctx.db.updateTable('outbox').set({ status: 'cancelled' }).where('id', '!=', reply.id).execute();
    if (shape !== 'a copy per reader') await env.ctx.db.updateTable('outbox').set({ copies_json: null }).where('id', '=', reply.id).execute();
    // Another pass (or daemon) claimed the reply; then Ben takes Ann off the case by email: the claimed row is left as it is.
    const claimed = await claimDue(env.ctx.db, { owner: 'other-sender', now: env.clock.now().toISOString(), until: new Date(env.clock.now().getTime() + 60_000).toISOString(), exclude: [], limit: 16, takeOverLapsed: true });
    expect(claimed.map((r) => r.id)).toEqual([reply.id]);
    const note = (await outbox()).find((o) => o.kind === 'agent-notification')!;
    const uncc = clientReply(
      { messageId: note.message_id, subject: note.subject, text: note.text, fromName: note.from_name, fromAddress: note.from_address, references: [] },
      { style: 'thunderbird', from: 'Ben Agent <ben@example.com>', to: 'support@example.com', body: '#uncc ann@customer.example', messageId: 'ben-uncc-claimed@example.com', headers: mxHeaderFields('example.com', 'pass') },
    );
    expect((await env.ingest(uncc)).kind).toBe('stored');
    expect((await env.ctx.db.selectFrom('outbox').select('cc_json').where('id', '=', reply.id).executeTakeFirstOrThrow()).cc_json).toContain('ann@customer.example');
    // The row goes out as that sender claimed it (given back here, this worker sends it: the same sending code, the same row).
    expect(await releaseClaims(env.ctx.db, 'other-sender')).toBe(1);
    await send();
    expect(ofKind(sink.messages, 'Please install the new certificate.').map((m) => m.envelopeTo)).toEqual([['jane@customer.example']]);
    // Sent reader by reader either way: the relay offers DSN, so one email to all goes one
    // transaction per reader too (each with its own envelope id, row-attempt.ts).
    expect(await env.ctx.db.selectFrom('outbox').select(['status', 'pending_rcpt_json']).where('id', '=', reply.id).executeTakeFirstOrThrow()).toEqual({ status: 'sent', pending_rcpt_json: '[]' });
    // Nor on a later pass.
    await send();
    expect(sink.messages.filter((m) => m.envelopeTo.includes('ann@customer.example'))).toEqual([]);
    expect((await participants(env.ctx.db, caseId)).map((p) => p.address)).not.toContain('ann@customer.example');
  }, 60_000);

  it('an address erased (casegate purge --requester) before its copy went never gets it; the others do', async () => {
    const { reply } = await caseWithReply();
    await env.ctx.db.transaction().execute((trx) => eraseAddress(trx, 'ann@customer.example', nothingRemoved()));
    await send();
    expect(ofKind(sink.messages, 'Please install the new certificate.').map((m) => m.envelopeTo)).toEqual([['jane@customer.example']]);
    const row = await env.ctx.db.selectFrom('outbox').select(['status', 'copies_json']).where('id', '=', reply.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('sent');
    expect(row.copies_json).not.toContain('ann@customer.example');
  }, 60_000);

  const eraseAnn = async (): Promise<void> => {
    await purge(env.ctx, { requester: 'ann@customer.example', dryRun: false, actor: 'test' }, () => ({ tick: () => undefined, setTotal: () => undefined, stop: () => undefined }));
  };

  it('erased (casegate purge --requester) while the sender sent the email’s copies (Jane’s at the relay, hers next): hers never goes once the erasure committed; Jane has hers, once', async () => {
    const { reply } = await caseWithReply();
    await env.ctx.db.updateTable('outbox').set({ status: 'cancelled' }).where('id', '!=', reply.id).execute();
    // Every copy of the reply is answered 250 only after 1 s: the erasure commits while Jane's is at the relay.
    sink.answerLater(new RegExp(reply.message_id.replaceAll('.', '\\.')), 1_000);
    try {
      const draining = send();
      const deadline = Date.now() + 20_000;
      while (ofKind(sink.messages, 'Please install the new certificate.').length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(ofKind(sink.messages, 'Please install the new certificate.').map((m) => m.envelopeTo)).toEqual([['jane@customer.example']]);
      await eraseAnn();
      await draining;
    } finally {
      sink.answerLater(null);
    }
    await send();
    expect(ofKind(sink.messages, 'Please install the new certificate.').map((m) => m.envelopeTo)).toEqual([['jane@customer.example']]);
    expect(sink.messages.filter((m) => m.envelopeTo.includes('ann@customer.example'))).toEqual([]);
    const row = await env.ctx.db.selectFrom('outbox').selectAll().where('id', '=', reply.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('sent');
    expect(JSON.stringify(row)).not.toContain('ann@customer.example');
  }, 60_000);

  it('erased while a sender held the email as one email to all (web server off): her address leaves its envelope right before it goes; a round of copies cut before her turn does not write her back as waiting', async () => {
    const { reply } = await caseWithReply();
    const held = await claimDue(env.ctx.db, { owner: 'other-sender', now: env.clock.now().toISOString(), until: new Date(env.clock.now().getTime() + 60_000).toISOString(), exclude: [], limit: 16, takeOverLapsed: true });
    const single = { ...held.find((r) => r.id === reply.id)!, copies_json: null };
    expect(single.cc_json).toContain('ann@customer.example');
    await eraseAnn();
    const now = await readersNow(env.ctx.db, single, env.clock.now().toISOString(), env.ctx.log);
    expect('row' in now ? now.row.pending_rcpt_json : now).toBe('["jane@customer.example"]');
    // A copies round of that sender cut before her turn (Jane's went): it does not write her back as still waiting; nobody else waits, so it is sent.
    const cut = { kind: 'partly-sent' as const, attempts: 1, at: env.clock.now().toISOString(), nextAt: env.clock.now().toISOString(), deferred: [{ address: 'ann@customer.example', code: null, response: 'not sent yet' }], refused: [] };
    expect(await withoutErased(env.ctx.db, held.find((r) => r.id === reply.id)!, cut, env.ctx.log)).toMatchObject({ kind: 'sent', attempts: 1 });
  }, 60_000);

  it('the retention job (jobs.sentBodies) empties the readers’ copies with the body', async () => {
    const { reply } = await caseWithReply();
    await send();
    expect(await dropSentBodies(env.ctx.db, [reply.id], env.clock.now().toISOString())).toBe(1);
    expect(await env.ctx.db.selectFrom('outbox').select(['text', 'copies_json']).where('id', '=', reply.id).executeTakeFirstOrThrow()).toEqual({ text: '', copies_json: null });
  }, 60_000);

  it('a restart after every copy went but before the row was marked sent: marked sent, nobody gets theirs again', async () => {
    const { caseId } = await caseWithReply();
    await send();
    const caseRow = (await caseById(env.ctx.db, caseId))!;
    await env.ctx.db.transaction().execute((trx) => sendStatusUpdate(trx, env.ctx, caseRow, { change: null, priority: null, holdExpected: '', bug: null, note: 'The certificate server is back.' }));
    const update = (await outbox()).find((o) => o.kind === 'status-changed')!;
    expect(update.copies_json).not.toBeNull();
    // Both copies were taken and recorded (markCopySent), then the process died before "sent".
    await env.ctx.db.updateTable('outbox').set({ pending_rcpt_json: '[]' }).where('id', '=', update.id).execute();
    const before = sink.messages.length;
    await send();
    expect(sink.messages.length).toBe(before);
    expect((await env.ctx.db.selectFrom('outbox').select('status').where('id', '=', update.id).executeTakeFirstOrThrow()).status).toBe('sent');
  }, 60_000);

  it('a copy refused for good is named on the case; the others still get theirs', async () => {
    const { caseId, reply } = await caseWithReply();
    sink.refuseRecipient('ann@customer.example', 550);
    await send();
    const copies = ofKind(sink.messages, 'Please install the new certificate.');
    expect(copies.map((m) => m.envelopeTo)).toEqual([['jane@customer.example']]);
    expect((await env.ctx.db.selectFrom('outbox').select('status').where('id', '=', reply.id).executeTakeFirstOrThrow()).status).toBe('sent');
    const refused = await env.ctx.db.selectFrom('events').select('reason').where('case_id', '=', caseId).where('type', '=', 'email.recipient-refused').execute();
    expect(refused.map((e) => e.reason)).toEqual([expect.stringMatching(/not delivered to ann@customer\.example/)]);
    sink.refuseRecipient('ann@customer.example', null);
  }, 60_000);
});
