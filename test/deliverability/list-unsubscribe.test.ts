import { request } from 'node:http';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { setStatus } from '../../src/cases/lifecycle.js';
import { surveysRefused } from '../../src/db/repos/addresses.js';
import { surveyOfCase } from '../../src/db/repos/surveys.js';
import { isUnsubscribeReply } from '../../src/cases/survey.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { outboxOfCase } from '../../src/db/repos/outbox.js';
import { createJobScheduler } from '../../src/jobs/scheduler.js';
import { generateDkimKey } from '../../src/mail-out/dkim.js';
import { startWebServer, type WebServer } from '../../src/web/server.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { dnsStub } from '../helpers/outgoing-samples.js';
import { sendAndCollect } from '../helpers/sent-mail.js';

/**
 * The satisfaction survey is the one email a customer did not ask for: it carries a one-click
 * List-Unsubscribe (RFC 8058, what Gmail's and Yahoo's 2024 sender rules ask of such mail), so
 * the customer who wants no surveys presses "Unsubscribe" instead of "Report spam" — a complaint
 * would weigh on every email of the support domain. The receiver's POST stops surveys to that
 * address; mail about their cases goes on. Every other email is about the recipient's own case:
 * no List-* headers.
 */

const BASE = 'https://help.example.com/cg';
const JANE = 'jane@customer.example';
const CONFIG: ConfigInput = {
  instance: { name: 'Example Support', domain: 'support.example.com', secret: 'test-secret-0123456789abcdef-0123456789', adminAddress: 'admin@example.com' },
  jobs: { survey: { afterHours: 24 } },
  web: { enabled: true, baseUrl: BASE, port: 0 },
  outgoing: { transport: 'file' },
  autoReply: { minIntervalSeconds: 0 },
};

let env: TestEnv;
let web: WebServer;
beforeEach(async () => {
  env = await testEnv(CONFIG, '2026-03-02T14:00:00Z');
  web = await startWebServer(env.ctx);
});
afterEach(async () => {
  await web.close();
  await env.close();
});

async function resolvedCase(n: number): Promise<number> {
  const out = await env.ingest(eml({ from: `Jane Customer <${JANE}>`, subject: `Printer ${n}`, messageId: `jane-${n}@customer.example` }));
  if (out.kind !== 'stored') throw new Error(out.reason);
  await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, out.caseId, 'resolved', { actor: 'agent:erika@example.com', reason: 'test' }));
  return out.caseId;
}

function http(method: 'GET' | 'POST', path: string, body?: { type: string; data: string }): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: web.port, method, path, headers: body !== undefined ? { 'Content-Type': body.type, 'Content-Length': Buffer.byteLength(body.data) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body?.data);
  });
}

describe('the survey’s one-click List-Unsubscribe (RFC 8058)', () => {
  it('the survey carries List-Unsubscribe (https, signed link) and List-Unsubscribe-Post, both DKIM-signed; the confirmation carries neither', async () => {
    const key = generateDkimKey(env.resolved.paths.dataDir, 'example.com', 's2026');
    await resolvedCase(1);
    env.clock.set('2026-03-03T14:01:00Z');
    expect((await createJobScheduler(env.ctx).run('survey', 'manual'))!.sent).toBe(1);
    const mails = await sendAndCollect(env, JANE);
    const headOf = (raw: Buffer): string => raw.toString('latin1').split('\r\n\r\n')[0]!.replace(/\r\n[ \t]+/g, ' ');
    const survey = mails.find((m) => /^List-Unsubscribe:/im.test(headOf(m.raw)));
    expect(survey, 'a survey with List-Unsubscribe').toBeDefined();
    const head = headOf(survey!.raw);
    expect(head).toMatch(new RegExp(`^List-Unsubscribe: <${BASE.replace(/[./]/g, '\\$&')}/s/10001\\.s\\.[0-9a-z.]+/unsubscribe>$`, 'm'));
    expect(head).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/m);
    const v = await dkimVerify(survey!.raw, { resolver: dnsStub(new Map([['s2026._domainkey.example.com', key.record]])) as never });
    expect(v.results.map((r) => r.status.result)).toEqual(['pass']);
    const signed = /^DKIM-Signature:.*\bh=([^;]+);/m.exec(head)![1]!.split(':').map((h) => h.trim().toLowerCase());
    expect(signed).toEqual(expect.arrayContaining(['list-unsubscribe', 'list-unsubscribe-post']));
    // Mail about the case itself: nothing to unsubscribe from.
    const others = mails.filter((m) => m !== survey);
    expect(others.length).toBeGreaterThan(0);
    for (const m of others) expect(headOf(m.raw)).not.toMatch(/^List-/im);
  });

  it('the receiver’s one-click POST stops surveys to the address (a GET changes nothing); mail about new cases goes on', async () => {
    const first = await resolvedCase(1);
    env.clock.set('2026-03-03T14:01:00Z');
    await createJobScheduler(env.ctx).run('survey', 'manual');
    const survey = (await outboxOfCase(env.ctx.db, first)).find((r) => r.kind === 'survey')!;
    const url = /<([^>]+)>/.exec((JSON.parse(survey.headers_json) as Record<string, string>)['List-Unsubscribe']!)![1]!;
    const path = url.slice(BASE.length);
    // The email itself says so too, in both parts (clients that show no "Unsubscribe" of their own).
    expect(survey.text).toContain(`No more of these questions? Stop survey emails: ${url}`);
    expect(survey.html).toContain(`<a href="${url}"`);

    // A link scanner or a person opening it: a page with a button, nothing recorded.
    const page = await http('GET', path);
    expect(page.status).toBe(200);
    expect(page.text).toContain('<form method="post"');
    // Its title (what a screen reader says first, the tab's name) says what the page is, not "This link is not valid".
    expect(page.text).toContain('<title>No more survey emails? – Example Support</title>');
    expect(await surveysRefused(env.ctx.db, JANE)).toBe(false);

    // What Gmail and Yahoo send (RFC 8058 §3.2): a POST with List-Unsubscribe=One-Click, multipart or url-encoded.
    const boundary = 'b0undary';
    const res = await http('POST', path, { type: `multipart/form-data; boundary=${boundary}`, data: `--${boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--${boundary}--\r\n` });
    expect(res.status).toBe(200);
    expect(res.text).toContain('<title>No more survey emails – Example Support</title>');
    expect(await surveysRefused(env.ctx.db, JANE)).toBe(true);
    expect((await http('POST', path, { type: 'application/x-www-form-urlencoded', data: 'List-Unsubscribe=One-Click' })).status).toBe(200);
    expect((await eventsOfCase(env.ctx.db, first)).filter((e) => e.type === 'survey.unsubscribed')).toHaveLength(1);

    // Months later (past web.linkDays) the survey's unsubscribe still works (RFC 8058: the URI keeps working).
    env.clock.set('2026-09-01T12:00:00Z');
    expect((await http('GET', path)).status).toBe(200);
    expect((await http('POST', path, { type: 'application/x-www-form-urlencoded', data: 'List-Unsubscribe=One-Click' })).status).toBe(200);
    env.clock.set('2026-03-03T14:02:00Z');

    // A forged or changed link does nothing.
    expect((await http('POST', path.replace(/[0-9a-f](\/unsubscribe)$/, (m, tail: string) => `${m[0] === '0' ? '1' : '0'}${tail}`), { type: 'application/x-www-form-urlencoded', data: 'List-Unsubscribe=One-Click' })).status).not.toBe(200);

    // Her next case: confirmed and answered as ever, but no survey.
    env.clock.set('2026-03-04T14:00:00Z');
    const second = await resolvedCase(2);
    expect((await outboxOfCase(env.ctx.db, second)).map((r) => r.kind)).toContain('confirmation');
    env.clock.set('2026-03-05T14:01:00Z');
    expect((await createJobScheduler(env.ctx).run('survey', 'manual'))!.sent).toBe(0);
    expect((await outboxOfCase(env.ctx.db, second)).map((r) => r.kind)).not.toContain('survey');
    const skipped = (await eventsOfCase(env.ctx.db, second)).filter((e) => e.type === 'survey.skipped');
    expect(skipped.map((e) => e.reason)).toEqual([expect.stringContaining('asked for no more surveys')]);
  });

  it('a reply to the survey that only says "unsubscribe" / "stop" (or "abmelden") stops surveys too; a sentence with "stop" is a comment', async () => {
    for (const t of ['Unsubscribe', 'unsubscribe me please', 'STOP', 'Stop.', 'No more surveys, thanks', 'Abmelden', 'Bitte keine Umfragen mehr!', '\n\n  unsubscribe\n\n> quoted survey']) expect(isUnsubscribeReply(t), t).toBe(true);
    for (const t of ['Stop sending me broken printers', '5', 'Unsubscribe me from the newsletter too, and the product is fine', 'Please stop the reminders but 4 of 5']) expect(isUnsubscribeReply(t), t).toBe(false);

    const first = await resolvedCase(1);
    env.clock.set('2026-03-03T14:01:00Z');
    await createJobScheduler(env.ctx).run('survey', 'manual');
    const survey = (await outboxOfCase(env.ctx.db, first)).find((r) => r.kind === 'survey')!;
    const out = await env.ingest(eml({ from: `Jane Customer <${JANE}>`, subject: 'Re: How did we do?', messageId: 'jane-stop@customer.example', inReplyTo: survey.message_id, body: 'Unsubscribe\n\n> How satisfied are you with our help?' }));
    expect(out.kind).toBe('stored');
    expect(await surveysRefused(env.ctx.db, JANE)).toBe(true);
    expect((await eventsOfCase(env.ctx.db, first)).filter((e) => e.type === 'survey.unsubscribed').map((e) => e.actor)).toEqual([`customer:${JANE}`]);
    // Not a comment, no thanks.
    expect(await surveyOfCase(env.ctx.db, first)).toBeUndefined();
    expect((await outboxOfCase(env.ctx.db, first)).map((r) => r.kind)).not.toContain('survey-thanks');

    env.clock.set('2026-03-04T14:00:00Z');
    const second = await resolvedCase(2);
    env.clock.set('2026-03-05T14:01:00Z');
    expect((await createJobScheduler(env.ctx).run('survey', 'manual'))!.sent).toBe(0);
    expect((await outboxOfCase(env.ctx.db, second)).map((r) => r.kind)).not.toContain('survey');
  });
});
