import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { replaceReloadableParts } from '../../src/context.js';
import { mergeCases } from '../../src/cases/case-merge.js';
import { recordBounce } from '../../src/db/repos/addresses.js';
import { caseById } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { revokeLink } from '../../src/db/repos/links.js';
import type { OutboxRow } from '../../src/db/schema.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { createTransport, type MailTransport } from '../../src/mail-out/transport.js';
import { noticePage } from '../../src/web/link-access.js';
import { checkLinkToken } from '../../src/web/signed-link.js';
import { startWebServer, type WebServer } from '../../src/web/server.js';
import { eml, mxHeaderFields, testEnv, type TestEnv } from '../helpers/context.js';
import { clientReply } from '../helpers/mail-clients.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../helpers/smtp-sink.js';
import { WEB_BASE, WEB_DESK } from '../helpers/web-desk.js';

/**
 * "Email me a fresh link" on the notice page of an expired or revoked case link (web/routes/case-page.ts,
 * cases/fresh-link.ts): a reply-all revoked the requester's link, and the link in her latest email
 * is that very link. The button (a POST with the page's form token) sends the link's owner — never
 * whoever clicked — the status summary with a fresh link; forged links stay "not valid"; a GET sends
 * nothing; at most three an hour per case and reader (web.freshLinksPerHour). One environment, web server and SMTP sink for
 * the file; each test has its own case and people.
 */

const BASE = WEB_BASE;
const CONFIG: ConfigInput = { ...WEB_DESK, web: { ...WEB_DESK.web, linkDays: 7 } };
const TOKEN = /\d{1,12}\.[cs](?:\.p\d{1,12})?\.[0-9a-z]{1,10}\.[0-9a-z]{1,10}\.[0-9a-f]{24}/g;

let sink: SmtpSink;
let env: TestEnv;
let web: WebServer;
let transport: MailTransport;

beforeAll(async () => {
  sink = await startSmtpSink();
  env = await testEnv({ ...CONFIG, outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false }, retry: { baseSeconds: 30, maxSeconds: 600, giveUpHours: 48 } } });
  web = await startWebServer(env.ctx);
  transport = createTransport(env.resolved);
}, 60_000);
afterAll(async () => {
  transport?.close();
  await web?.close().catch(() => undefined);
  await env?.close().catch(() => undefined);
  await sink?.close().catch(() => undefined);
});

const local = (link: string): string => `http://127.0.0.1:${web.port}${link.slice(BASE.length)}`;
const get = (link: string): Promise<Response> => fetch(local(link));
const post = (link: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(local(link), { method: 'POST', body: new URLSearchParams(fields), headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers } });
const csrfOf = (html: string): string => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
const caseLinkIn = (text: string): string => /https:\/\/help\.example\.com\/cg\/c\/[0-9a-z.]+/.exec(text.slice(text.indexOf('Follow your case online')))![0];
const outbox = async (): Promise<OutboxRow[]> => env.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute();
const summaries = async (caseId: number): Promise<OutboxRow[]> => (await outbox()).filter((o) => o.kind === 'status-summary' && o.case_id === caseId);
const later = (hours: number): void => env.clock.set(new Date(env.clock.now().getTime() + hours * 3_600_000).toISOString());
async function send(): Promise<SinkMessage[]> {
  sink.messages.length = 0;
  await new OutboxWorker(env.ctx, transport).drain();
  return [...sink.messages];
}
const to = (ms: readonly SinkMessage[], address: string): SinkMessage => {
  const m = ms.find((x) => x.envelopeTo.includes(address));
  if (m === undefined) throw new Error(`nothing sent to ${address}: ${ms.map((x) => x.envelopeTo.join(',')).join(' | ')}`);
  return m;
};
const tokensIn = (m: SinkMessage): string[] => [...new Set([...[m.parsed.text ?? '', String(m.parsed.html), m.raw.toString('latin1').replace(/=\r\n/g, '')].join('\n').matchAll(TOKEN)].map((x) => x[0]))];
const tokenOf = (link: string): string => link.slice(link.lastIndexOf('/') + 1);

/** A customer opens a case with a colleague on Cc; Ben answers: both copies sent, each with its reader's link. */
async function caseWithReply(who: string, cc: string): Promise<{ caseId: number; requesterLink: string; ccLink: string; reply: OutboxRow; requesterCopy: SinkMessage }> {
  const out = await env.ingest(eml({ from: who, cc, subject: 'VPN broken', messageId: `${Math.random().toString(36).slice(2)}@customer.example`, body: 'The VPN says certificate expired.' }));
  if (out.kind !== 'stored') throw new Error(out.reason);
  await send();
  const note = (await outbox()).filter((o) => o.kind === 'agent-notification' && o.case_id === out.caseId).at(-1)!;
  const answer = clientReply(
    { messageId: note.message_id, subject: note.subject, text: note.text, fromName: note.from_name, fromAddress: note.from_address, references: [] },
    { style: 'outlook', from: 'Ben Agent <ben@example.com>', to: 'support@example.com', body: 'Hi,\n\nPlease restart the client.\n\nBest,\nBen', messageId: `ben-${Math.random().toString(36).slice(2)}@example.com`, headers: mxHeaderFields('example.com', 'pass') },
  );
  const r = await env.ingest(answer);
  if (r.kind !== 'stored') throw new Error(r.reason);
  const sent = await send();
  const reply = (await outbox()).filter((o) => o.kind === 'agent-reply' && o.case_id === out.caseId).at(-1)!;
  const address = (s: string): string => /<([^>]+)>/.exec(s)![1]!;
  const requesterCopy = to(sent, address(who));
  return { caseId: out.caseId, requesterLink: caseLinkIn(requesterCopy.parsed.text ?? ''), ccLink: caseLinkIn(to(sent, address(cc)).parsed.text ?? ''), reply, requesterCopy };
}

/** The notice page of a stale link: its button, and its form token. */
async function button(link: string): Promise<string> {
  const page = await get(link);
  expect(page.status).toBe(410);
  const html = await page.text();
  expect(html).toContain('Email me a fresh link');
  const csrf = csrfOf(html);
  expect(csrf).toMatch(/^v1\./);
  return csrf;
}

describe('the notice page of an expired or revoked case link: "Email me a fresh link"', () => {
  it('a reply-all revoked the requester’s link: its page offers the button (a GET sends nothing); the POST sends her — not the colleague who may be clicking — the status summary with a fresh link that opens her page', async () => {
    const { caseId, requesterLink, reply, requesterCopy } = await caseWithReply('Jane Customer <jane@customer.example>', 'Ann Colleague <ann@customer.example>');
    later(1);
    // Jane answers all: Ann receives Jane's copy quoted, with Jane's link: it is revoked.
    const replyAll = clientReply(
      { messageId: reply.message_id, subject: requesterCopy.parsed.subject ?? '', text: requesterCopy.parsed.text ?? '', fromName: 'Example Support', fromAddress: 'support@example.com' },
      { style: 'outlook', from: 'Jane Customer <jane@customer.example>', to: 'support@example.com', cc: 'Ann Colleague <ann@customer.example>', body: 'Ann, can you check yours?', messageId: 'jane-all@customer.example', headers: mxHeaderFields('customer.example', 'pass') },
    );
    expect(await env.ingest(replyAll)).toMatchObject({ kind: 'stored', caseId });
    await send();
    const before = (await outbox()).length;
    // The link scanner (and Jane, or Ann) opening it: the notice with the button, nothing sent.
    const csrf = await button(requesterLink);
    await button(requesterLink);
    expect((await outbox()).length).toBe(before);
    expect(await summaries(caseId)).toEqual([]);
    // The button.
    const res = await post(requesterLink, { fresh: '1', csrf });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('We have sent a fresh link to the address this link was made for');
    expect(html).not.toContain('jane@');
    expect(html).not.toContain('Email me a fresh link');
    const sent = await send();
    expect(sent.map((m) => m.envelopeTo)).toEqual([['jane@customer.example']]);
    const mail = sent[0]!;
    expect(mail.parsed.text).toContain('here is where case');
    expect(mail.parsed.cc).toBeUndefined();
    // Her own fresh link, naming her (no participant), and nothing else; it opens her page.
    const fresh = caseLinkIn(mail.parsed.text ?? '');
    expect(tokensIn(mail)).toEqual([tokenOf(fresh)]);
    expect(checkLinkToken(env.ctx.secret, tokenOf(fresh), env.ctx.clock.now())).toMatchObject({ ok: true, link: { participantId: null } });
    expect(String(mail.parsed.html)).toContain(fresh);
    expect((await get(fresh)).status).toBe(200);
    // The old one stays switched off; one event names the owner.
    expect((await get(requesterLink)).status).toBe(410);
    const events = (await eventsOfCase(env.ctx.db, caseId)).filter((e) => e.type === 'link.fresh-requested');
    expect(events.map((e) => [e.actor, e.reason])).toEqual([['customer:jane@customer.example', expect.stringContaining('status-summary sent to jane@customer.example')]]);
  }, 90_000);

  it('an expired link of the Cc’d colleague: the fresh link goes to the colleague (the person the link names), not to the requester, and names the colleague', async () => {
    const { caseId, ccLink, requesterLink } = await caseWithReply('Kim Customer <kim@customer.example>', 'Lou Colleague <lou@customer.example>');
    expect((await get(ccLink)).status).toBe(200);
    later(8 * 24);
    expect((await get(requesterLink)).status).toBe(410);
    const page = await get(ccLink);
    expect(page.status).toBe(410);
    const html = await page.text();
    expect(html).toContain('This link has expired');
    const res = await post(ccLink, { fresh: '1', csrf: csrfOf(html) });
    expect(res.status).toBe(200);
    const sent = await send();
    expect(sent.map((m) => m.envelopeTo)).toEqual([['lou@customer.example']]);
    const fresh = caseLinkIn(sent[0]!.parsed.text ?? '');
    expect(tokensIn(sent[0]!)).toEqual([tokenOf(fresh)]);
    expect(checkLinkToken(env.ctx.secret, tokenOf(fresh), env.ctx.clock.now())).toMatchObject({ ok: true, link: { participantId: checkLinkToken(env.ctx.secret, tokenOf(ccLink), new Date(0)).link!.participantId } });
    expect((await get(fresh)).status).toBe(200);
    expect(await summaries(caseId)).toHaveLength(1);
  }, 90_000);

  it('a forged or malformed link shows "not valid" as before: no button, 404, and its POST sends nothing', async () => {
    const { caseId, requesterLink } = await caseWithReply('Max Customer <max@customer.example>', 'Mia Colleague <mia@customer.example>');
    const sig = tokenOf(requesterLink).slice(-24);
    const forged = `${requesterLink.slice(0, -24)}${sig.startsWith('0') ? '1' : '0'}${sig.slice(1)}`;
    const malformed = `${BASE}/c/nonsense`;
    const want = await (await get(malformed)).text();
    for (const link of [forged, malformed]) {
      const page = await get(link);
      expect(page.status).toBe(404);
      const html = await page.text();
      expect(html).toBe(want);
      expect(html).toContain('This link is not valid');
      expect(html).not.toContain('fresh');
      expect((await post(link, { fresh: '1', csrf: 'v1.x.y' })).status).toBe(404);
    }
    expect(await summaries(caseId)).toEqual([]);
  }, 90_000);

  it('three requests an hour per case and reader: the fourth gets 429 and nothing is sent; the form token is required; a cross-site POST is refused; an hour later it works again', async () => {
    const { caseId, requesterLink } = await caseWithReply('Pia Customer <pia@customer.example>', 'Rex Colleague <rex@customer.example>');
    const token = checkLinkToken(env.ctx.secret, tokenOf(requesterLink), env.ctx.clock.now()).link!;
    await revokeLink(env.ctx.db, caseId, token.sig, 'test', 'admin', env.ctx.clock.now().toISOString());
    const csrf = await button(requesterLink);
    // Without the form token, with a wrong one (a token of another link), from another site: refused, nothing sent.
    const missing = await post(requesterLink, { fresh: '1' });
    expect(missing.status).toBe(403);
    expect(await missing.text()).toContain('Email me a fresh link');
    expect((await post(requesterLink, { fresh: '1', csrf: 'v1.tbq1hs.5c0ffee5c0ffee5c0ffee5c0' })).status).toBe(403);
    expect((await post(requesterLink, { fresh: '1', csrf }, { Origin: 'https://evil.example' })).status).toBe(403);
    expect(await summaries(caseId)).toEqual([]);
    for (let i = 0; i < 3; i++) expect((await post(requesterLink, { fresh: '1', csrf })).status).toBe(200);
    const fourth = await post(requesterLink, { fresh: '1', csrf });
    expect(fourth.status).toBe(429);
    expect(await fourth.text()).toContain('Please try again later');
    expect(await summaries(caseId)).toHaveLength(3);
    expect((await send()).map((m) => m.envelopeTo)).toEqual([['pia@customer.example'], ['pia@customer.example'], ['pia@customer.example']]);
    later(1.01);
    const again = await post(requesterLink, { fresh: '1', csrf: await button(requesterLink) });
    expect(again.status).toBe(200);
    expect(await summaries(caseId)).toHaveLength(4);
  }, 90_000);

  it('web.freshLinksPerHour sets the limit (1: the second request in the hour gets 429); 0: the page offers no fresh link and a POST sends nothing; a negative value is refused', async () => {
    const { caseId, requesterLink } = await caseWithReply('Kim Customer <kim@customer.example>', 'Lee Colleague <lee@customer.example>');
    const token = checkLinkToken(env.ctx.secret, tokenOf(requesterLink), env.ctx.clock.now()).link!;
    await revokeLink(env.ctx.db, caseId, token.sig, 'test', 'admin', env.ctx.clock.now().toISOString());
    const config = env.ctx.config;
    const limit = (n: number): void => replaceReloadableParts(env.ctx, { ...env.ctx, config: { ...config, web: { ...config.web, freshLinksPerHour: n } } });
    try {
      limit(1);
      const csrf = await button(requesterLink);
      expect((await post(requesterLink, { fresh: '1', csrf })).status).toBe(200);
      expect((await post(requesterLink, { fresh: '1', csrf })).status).toBe(429);
      expect(await summaries(caseId)).toHaveLength(1);
      later(1.01);
      limit(0);
      const page = await get(requesterLink);
      expect(page.status).toBe(410);
      const html = await page.text();
      expect(html).toContain('This link is no longer valid');
      expect(html).not.toContain('Email me a fresh link');
      expect(html).not.toContain('<form');
      const refused = await post(requesterLink, { fresh: '1', csrf });
      expect(refused.status).toBe(410);
      expect(await refused.text()).not.toContain('We have sent a fresh link');
      expect(await summaries(caseId)).toHaveLength(1);
    } finally {
      replaceReloadableParts(env.ctx, { ...env.ctx, config });
    }
    await send();
    expect(configSchema.safeParse({ web: { freshLinksPerHour: -1 } }).success).toBe(false);
    expect(configSchema.safeParse({ web: { freshLinksPerHour: 1.5 } }).success).toBe(false);
    expect(configSchema.parse({}).web.freshLinksPerHour).toBe(3);
  }, 90_000);

  it('a bouncing owner gets nothing, and the page says "sent" all the same; the page and button read in German for a German case', async () => {
    const { caseId, requesterLink } = await caseWithReply('Sam Customer <sam@customer.example>', 'Tia Colleague <tia@customer.example>');
    const token = checkLinkToken(env.ctx.secret, tokenOf(requesterLink), env.ctx.clock.now()).link!;
    await revokeLink(env.ctx.db, caseId, token.sig, 'test', 'admin', env.ctx.clock.now().toISOString());
    await recordBounce(env.ctx.db, 'sam@customer.example', true, '550 no such user', env.ctx.clock.now().toISOString());
    const res = await post(requesterLink, { fresh: '1', csrf: await button(requesterLink) });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('We have sent a fresh link to the address this link was made for');
    expect(await summaries(caseId)).toEqual([]);
    expect((await send()).map((m) => m.envelopeTo)).toEqual([]);
    const events = (await eventsOfCase(env.ctx.db, caseId)).filter((e) => e.type === 'link.fresh-requested');
    expect(events.map((e) => e.reason)).toEqual([expect.stringContaining('status-summary not sent (address is marked as bouncing)')]);
    const de = String(noticePage(env.ctx, 'revoked', 410, false, 'de', 'v1.tbq1hs.5c0ffee5c0ffee5c0ffee5c0').body);
    expect(de).toContain('Neuen Link per E-Mail schicken');
    expect(de).toContain('name="csrf" value="v1.tbq1hs.5c0ffee5c0ffee5c0ffee5c0"');
    expect(String(noticePage(env.ctx, 'fresh-sent', 200, false, 'de').body)).toContain('Wir haben einen neuen Link an die Adresse geschickt');
    expect(String(noticePage(env.ctx, 'revoked', 410, false, 'de').body)).not.toContain('<form');
  }, 90_000);
  it('a revoked link of a case merged into another: the fresh link is for the case it continues as', async () => {
    const open = async (subject: string): Promise<{ caseId: number; link: string }> => {
      const out = await env.ingest(eml({ from: 'Uma Customer <uma@customer.example>', subject, messageId: `${Math.random().toString(36).slice(2)}@customer.example`, body: `${subject}, please help.` }));
      if (out.kind !== 'stored') throw new Error(out.reason);
      const conf = (await outbox()).filter((o) => o.kind === 'confirmation' && o.case_id === out.caseId).at(-1)!;
      return { caseId: out.caseId, link: caseLinkIn(conf.text) };
    };
    const home = await open('Printer jams');
    const work = await open('Scanner dead');
    await send();
    await env.ctx.db.transaction().execute((trx) => mergeCases(trx, env.ctx, home.caseId, work.caseId, { actor: 'cli:test', reason: '' }));
    const token = checkLinkToken(env.ctx.secret, tokenOf(home.link), env.ctx.clock.now()).link!;
    await revokeLink(env.ctx.db, home.caseId, token.sig, 'test', 'admin', env.ctx.clock.now().toISOString());
    expect((await post(home.link, { fresh: '1', csrf: await button(home.link) })).status).toBe(200);
    const sent = await send();
    expect(sent.map((m) => m.envelopeTo)).toEqual([['uma@customer.example']]);
    const fresh = caseLinkIn(sent[0]!.parsed.text ?? '');
    const workNumber = (await caseById(env.ctx.db, work.caseId))!.number;
    expect(checkLinkToken(env.ctx.secret, tokenOf(fresh), env.ctx.clock.now()).link!.caseNumber).toBe(workNumber);
    expect((await get(fresh)).status).toBe(200);
    expect(await summaries(work.caseId)).toHaveLength(1);
  }, 90_000);
});
