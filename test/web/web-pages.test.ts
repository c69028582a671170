import { pino } from 'pino';
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setStatus } from '../../src/cases/lifecycle.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { isBouncing, recordBounce } from '../../src/db/repos/addresses.js';
import { caseById, caseByNumber, participants } from '../../src/db/repos/cases.js';
import { revokeAllLinks, revokeLink } from '../../src/db/repos/links.js';
import { messagesOfCase } from '../../src/db/repos/messages.js';
import { cancelRow, outboxOfCase } from '../../src/db/repos/outbox.js';
import { workCase } from '../../src/cases/agent-work.js';
import { mergeCases } from '../../src/cases/case-merge.js';
import { surveyOfCase } from '../../src/db/repos/surveys.js';
import { createJobScheduler } from '../../src/jobs/scheduler.js';
import { replaceReloadableParts } from '../../src/context.js';
import { startWebServer, type WebServer } from '../../src/web/server.js';
import { startOpsServer } from '../../src/ops/ops-server.js';
import { parseExposition } from '../helpers/prom-text.js';
import { Metrics } from '../../src/ops/metrics.js';
import { caseLinkFor } from '../../src/web/links.js';
import { checkLinkToken } from '../../src/web/signed-link.js';
import { caseDetail } from '../../src/views.js';
import { formatCaseDetail } from '../../src/cli/case-views.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { SLA_CONFIG } from '../helpers/sla-config.js';

/**
 * The web server over real HTTP on a real SQLite file: signed links (expiry, revocation,
 * tampering, purpose), the case page (what it shows and never shows), the reply form (CSRF, the
 * pipeline, duplicates, limits, stopping), the survey (a rating link only chooses, the form
 * records: link scanners record nothing), /healthz, escaping and headers.
 */

const CONFIG: ConfigInput = {
  ...SLA_CONFIG,
  instance: { name: 'Example Support', domain: 'support.example.com', secret: 'test-secret-0123456789abcdef-0123456789', adminAddress: 'admin@example.com' },
  web: { enabled: true, port: 0, baseUrl: 'https://help.example.com/cg' },
};

let env: TestEnv;
let web: WebServer;
let base: string;

beforeEach(async () => {
  env = await testEnv(CONFIG, '2026-03-02T14:00:00Z'); // Mon 08:00 CST
  web = await startWebServer(env.ctx);
  base = `http://127.0.0.1:${web.port}`;
});
afterEach(async () => {
  await web.close();
  await env.close();
});

async function newCase(body = 'My printer is on fire.\nPlease help.', from = 'Jane Customer <jane@customer.example>') {
  const out = await env.ingest(eml({ body, from }));
  if (out.kind !== 'stored') throw new Error(out.reason);
  return out.caseId;
}

/** The signed link path in the newest email of `kind` on the case. */
async function linkIn(caseId: number, kind: string, re = /https:\/\/help\.example\.com\/cg(\/[cs]\/[^\s"<>]+)/): Promise<string> {
  const row = (await outboxOfCase(env.ctx.db, caseId)).filter((r) => r.kind === kind).at(-1);
  const m = row === undefined ? null : re.exec(row.text);
  if (m === null) throw new Error(`no link in ${kind}`);
  return m[1]!;
}

const get = (path: string, headers: Record<string, string> = {}) => fetch(base + path, { headers, redirect: 'manual' });
const post = (path: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(base + path, { method: 'POST', body: new URLSearchParams(form), headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers }, redirect: 'manual' });
const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

describe('the case page', () => {
  it('shows status, priority, owner, what is due and the public thread — escaped, private headers', async () => {
    const id = await newCase('Hello <script>alert(1)</script> & "quotes"\nSecond line.');
    const path = await linkIn(id, 'confirmation');
    expect(path).toMatch(/^\/c\/10001\.c\./);
    const res = await get(path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('same-origin');
    // Not indexed wherever a link ends up: the page, its text/plain answer and a notice page alike
    // (a customised layout may drop the robots meta).
    expect(res.headers.get('x-robots-tag')).toBe('noindex, nofollow, noarchive');
    for (const other of [await get(path, { Accept: 'text/plain' }), await get(path.replace(/.$/, (c) => (c === '0' ? '1' : '0')))]) {
      expect(other.headers.get('x-robots-tag')).toBe('noindex, nofollow, noarchive');
      expect(other.headers.get('cache-control')).toBe('no-store');
    }
    const html = await res.text();
    expect(html).toContain('<dt>Status</dt><dd>received, waiting for an agent</dd>'); // the status in words (issue 10)
    expect(html).toContain('<dt>Priority</dt><dd>normal</dd>');
    expect(html).toContain('<dt>Handled by</dt><dd>Erika</dd>');
    expect(html).toContain('We aim to reply by Monday 12:00 CST.');
    expect(html).toContain('Hello &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;<br>');
    expect(html).not.toContain('<script>');
    expect(html).toMatch(/<label for="reply-text">Your message<\/label>\s*<textarea id="reply-text" dir="auto" name="text"/);
    expect(html).toContain('<main id="main"');
    // The confirmation itself is an automatic notice, not part of the conversation.
    expect(html).not.toContain('We have received your request');
    // On Wednesday, unanswered: no "We aim to reply by Monday 12:00 CST" (read as next Monday).
    env.clock.set('2026-03-04T15:00:00Z');
    const later = await (await get(path)).text();
    expect(later).toContain('<dt>Status</dt>');
    expect(later).not.toContain('We aim to');
  });

  it('marks a message written in another language than the page with its lang (and dir), so a screen reader reads it in that language (WCAG 3.1.2)', async () => {
    const page = async (body: string, from: string) => (await get(await linkIn(await newCase(body, from), 'confirmation'))).text();
    // French is not a template language here: the page is English, the customer's text French.
    const french = await page("Bonjour,\nmon imprimante ne fonctionne pas et je ne sais pas pourquoi. Merci pour votre aide.", 'Jean <jean@client.example>');
    expect(french).toMatch(/<html lang="en" dir="ltr">/);
    expect(french).toMatch(/<div lang="fr" dir="ltr"><p[^>]*>Bonjour,<br>/);
    const arabic = await page('مرحبا، الطابعة لا تعمل منذ الصباح. شكرا لكم', 'Layla <layla@client.example>');
    expect(arabic).toMatch(/<div lang="ar" dir="rtl"><p[^>]*>مرحبا/);
    // The page's own language, or too little to tell: the text inherits the page's lang.
    for (const body of ['Hello, my printer is not working and I have no idea why. Thanks for your help.', 'E-42 ok?']) {
      const html = await page(body, `Kim <kim-${body.length}@client.example>`);
      expect(html.match(/ lang="/g)).toHaveLength(1);
    }
  });

  it('lists the files the customer attached: Apple Mail’s "inline" PDF too, not an embedded logo or a signature part', async () => {
    const raw = eml({ subject: 'Offer', body: '' }).replace(
      'Content-Type: text/plain; charset=utf-8\r\n\r\n',
      [
        'Content-Type: multipart/mixed; boundary=m',
        '',
        '--m',
        'Content-Type: text/html; charset=utf-8',
        '',
        '<p>The offer is attached.</p><img src="cid:logo1">',
        '--m',
        'Content-Type: image/png; name="image001.png"',
        'Content-ID: <logo1>',
        'Content-Disposition: inline; filename="image001.png"',
        'Content-Transfer-Encoding: base64',
        '',
        'iVBORw0KGgo=',
        '--m',
        'Content-Type: application/pdf; name="offer.pdf"',
        'Content-Disposition: inline; filename="offer.pdf"',
        'Content-Transfer-Encoding: base64',
        '',
        'JVBERi0=',
        '--m',
        'Content-Type: application/pkcs7-signature; name="smime.p7s"',
        'Content-Disposition: attachment; filename="smime.p7s"',
        'Content-Transfer-Encoding: base64',
        '',
        'MIAGCSqGSIb3DQEHAqCAMIACAQEx',
        '--m--',
        '',
      ].join('\r\n'),
    );
    const out = await env.ingest(raw);
    if (out.kind !== 'stored') throw new Error(out.reason);
    const html = await (await get(await linkIn(out.caseId, 'confirmation'))).text();
    expect(html).toContain('<p class="muted">Attachments: offer.pdf</p>');
    expect(html).not.toContain('image001.png');
    expect(html).not.toContain('smime.p7s');
  });

  it('never shows internal mail, staff messages or another case', async () => {
    const id = await newCase('Mine: order 111.');
    const other = await newCase('Someone else: order 999 secret.', 'Bob <bob@other.example>');
    // An escalation alert to the leads and an agent's internal note (with a command) are internal.
    const conf = (await outboxOfCase(env.ctx.db, id)).find((r) => r.kind === 'confirmation')!;
    await env.ingest(eml({ from: 'Erika Musterfrau <erika@example.com>', subject: 'Re: Printer on fire', inReplyTo: conf.message_id, body: '#note\n#priority high\nInternal: customer is difficult.' }));
    const html = await (await get(await linkIn(id, 'confirmation'))).text();
    expect(html).toContain('Mine: order 111.');
    expect(html).not.toContain('order 999');
    expect(html).not.toContain('Internal: customer is difficult');
    expect(html).toContain('<dt>Priority</dt><dd>high</dd>');
    // The other case's link shows only the other case.
    const otherHtml = await (await get(await linkIn(other, 'confirmation'))).text();
    expect(otherHtml).toContain('order 999');
    expect(otherHtml).not.toContain('order 111');
  });

  it('an agent who has left is still staff for what they wrote: their notes and command mail stay off the page', async () => {
    const id = await newCase('Mine: order 111.');
    const conf = (await outboxOfCase(env.ctx.db, id)).find((r) => r.kind === 'confirmation')!;
    await env.ingest(eml({ from: 'Erika Musterfrau <erika@example.com>', subject: 'Re: Printer on fire', inReplyTo: conf.message_id, body: '#note\nInternal: card 4111 flagged by fraud.' }));
    expect((await messagesOfCase(env.ctx.db, id)).filter((m) => m.direction === 'in' && m.from_address === 'erika@example.com').map((m) => m.internal)).toEqual([1]);
    // Erika leaves the team (a reload with another agent in her place).
    const queues = Object.fromEntries(Object.entries(env.ctx.config.queues).map(([k, q]) => [k, { ...q, agents: q.agents.map((a) => (a.address === 'erika@example.com' ? { ...a, name: 'Nina New', address: 'nina@example.com' } : a)) }]));
    replaceReloadableParts(env.ctx, { config: { ...env.ctx.config, queues }, paths: env.ctx.paths, secret: env.ctx.secret, templates: env.ctx.templates, mailboxes: env.ctx.mailboxes, loopId: env.ctx.loopId });
    const html = await (await get(await linkIn(id, 'confirmation'))).text();
    expect(html).toContain('Mine: order 111.');
    expect(html).not.toContain('card 4111');
    expect(html).not.toContain('#note');
  });

  it('a link with another case number, a changed signature, a survey link or garbage is "not valid"', async () => {
    const id = await newCase();
    await newCase('second', 'Bob <bob@other.example>');
    const path = await linkIn(id, 'confirmation');
    for (const bad of [path.replace('/c/10001.', '/c/10002.'), path.replace(/.$/, (c) => (c === '0' ? '1' : '0')), '/c/nonsense', '/c/10001']) {
      const res = await get(bad);
      expect(res.status, bad).toBe(404);
      const html = await res.text();
      expect(html).toContain('This link is not valid');
      expect(html).not.toContain('Printer on fire');
    }
    expect((await get('/nowhere')).status).toBe(404);
    expect((await fetch(base + path, { method: 'PUT' })).status).toBe(405);
  });

  it('a link signed before its case existed (an earlier case under that number, lost in a restore) opens nothing', async () => {
    const id = await newCase();
    const path = await linkIn(id, 'confirmation');
    expect((await get(path)).status).toBe(200);
    // The case under this number was opened a day after the link was signed: not the link's case.
    await env.ctx.db.updateTable('cases').set({ created_at: new Date(env.clock.now().getTime() + 86_400_000).toISOString() }).where('id', '=', id).execute();
    const res = await get(path);
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain('My printer is on fire');
  });

  it('links expire; a revoked link is refused; fresh links keep working', async () => {
    const id = await newCase();
    const path = await linkIn(id, 'confirmation');
    env.clock.set('2026-04-02T14:00:00Z'); // 31 days later (web.linkDays 30)
    const expired = await get(path);
    expect(expired.status).toBe(410);
    expect(await expired.text()).toContain('This link has expired');
    env.clock.set('2026-03-03T14:00:00Z');
    expect((await get(path)).status).toBe(200);
    const token = path.slice(3);
    const link = checkLinkToken(env.ctx.secret, token, env.clock.now());
    if (!link.ok) throw new Error('link');
    await revokeLink(env.ctx.db, id, link.link.sig, 'leaked', 'cli:test', env.clock.now().toISOString());
    const revoked = await get(path);
    expect(revoked.status).toBe(410);
    expect(await revoked.text()).toContain('This link is no longer valid');
    // A new email carries a fresh link, which works; revoking all links of the case stops it too.
    env.clock.set('2026-03-03T15:00:00Z');
    await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, id, 'pending', { actor: 'agent:erika@example.com', reason: 'x' }));
    await createJobScheduler(env.ctx).run('pending-reminder', 'manual');
    env.clock.set('2026-03-06T16:00:00Z');
    await createJobScheduler(env.ctx).run('pending-reminder', 'manual');
    const fresh = await linkIn(id, 'reminder');
    expect(fresh).not.toBe(path);
    expect((await get(fresh)).status).toBe(200);
    // `links revoke` revokes up to the next whole second (links carry whole seconds).
    await revokeAllLinks(env.ctx.db, id, new Date(env.clock.now().getTime() + 1000).toISOString(), 'all', 'cli:test', env.clock.now().toISOString());
    expect((await get(fresh)).status).toBe(410);
  });

  it('the link of a merged case opens the case it continues as, for its reader there; revoking that case\'s links closes it too', async () => {
    const work = await newCase('From work: printer on fire.');
    const home = await newCase('From home: the printer still burns.', 'Jane at home <jane.private@home.example>');
    const homeLink = await linkIn(home, 'confirmation');
    await env.ctx.db.transaction().execute((trx) => mergeCases(trx, env.ctx, home, work, { actor: 'cli:test', reason: '' }));
    const res = await get(homeLink);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('From work: printer on fire.');
    expect(html).toContain('From home: the printer still burns.');
    // The reader is the home address (a participant of 10001 now), not the requester of 10001.
    expect(html).toMatch(/<title>[^<]*10001/);
    await revokeAllLinks(env.ctx.db, work, new Date(env.clock.now().getTime() + 1000).toISOString(), 'all', 'cli:test', env.clock.now().toISOString());
    expect((await get(homeLink)).status).toBe(410);
  });

  it('a withdrawn reply is not shown; another writer is shown with their address; a closed case says closed', async () => {
    const id = await newCase('Mine: order 111.');
    const work = (text: string) => env.ctx.db.transaction().execute((trx) => workCase(trx, env.ctx, id, { actor: 'cli:test', by: 'test', address: 'erika@example.com', replyName: 'Erika' }, { commands: [], text, note: false, attachments: [], messageRowId: null }));
    await work('Kept reply.');
    await work('Wrong case, sorry: your refund of 900 EUR.');
    const wrong = (await outboxOfCase(env.ctx.db, id)).filter((r) => r.kind === 'agent-reply').at(-1)!;
    await cancelRow(env.ctx.db, wrong.id, 'withdrawn by test');
    // Someone holding our reference, whose display name says they are us.
    const conf = (await outboxOfCase(env.ctx.db, id)).find((r) => r.kind === 'confirmation')!;
    await env.ingest(eml({ from: 'Example Support <helpdesk@evil.example>', inReplyTo: conf.message_id, body: 'Please verify your card at http://evil.example/' }));
    const html = await (await get(await linkIn(id, 'confirmation'))).text();
    expect(html).toContain('Kept reply.');
    expect(html).not.toContain('900 EUR');
    expect(html).toContain('<strong><span dir="auto">Example Support &lt;helpdesk@evil.example&gt;</span></strong>');
    await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, id, 'closed', { actor: 'cli:test', reason: 'done' }));
    const closed = await (await get(await linkIn(id, 'confirmation'))).text();
    expect(closed).toContain('<p>This case is closed. If you still need help');
  });

  it('shows all an agent wrote, links and a sign-off with a web address included, and none of our footer', async () => {
    const id = await newCase();
    const text = 'Please install the fixed driver:\n\nhttps://vendor.example/driver-5.2.exe\n\nBest regards,\nBen Agent\nExample Corp | https://www.example.com';
    await env.ctx.db.transaction().execute((trx) => workCase(trx, env.ctx, id, { actor: 'cli:test', by: 'test', address: 'erika@example.com', replyName: 'Erika' }, { commands: [], text, note: false, attachments: [], messageRowId: null }));
    const reply = (await outboxOfCase(env.ctx.db, id)).find((r) => r.kind === 'agent-reply')!;
    expect(reply.text).toContain('Follow your case online');
    const html = await (await get(await linkIn(id, 'confirmation'))).text();
    const team = /<li class="msg msg-team">([\s\S]*?)<\/li>/.exec(html)?.[1] ?? '';
    expect(team).toContain('Please install the fixed driver:');
    expect(team).toContain('https://vendor.example/driver-5.2.exe');
    expect(team).toContain('Example Corp | https://www.example.com');
    expect(team).not.toContain('Follow your case online');
    expect(team).not.toContain('[Case #10001]');
    expect(team).not.toContain('/c/10001.');
  });

  it('shows no signed link: the requester’s link pasted into her message (or an agent’s reply) is not handed to a Cc’d colleague, who would then write as her', async () => {
    const out = await env.ingest(eml({ cc: 'Ann Colleague <ann@customer.example>', body: 'Our VPN certificate expired.' }));
    if (out.kind !== 'stored') throw new Error(out.reason);
    const id = out.caseId;
    const janeLink = await linkIn(id, 'confirmation');
    const janeUrl = `https://help.example.com/cg${janeLink}`;
    const conf = (await outboxOfCase(env.ctx.db, id)).find((r) => r.kind === 'confirmation')!;
    await env.ingest(eml({ inReplyTo: conf.message_id, body: `Any news? I keep checking ${janeUrl} and my survey ${janeUrl.replace('/c/', '/s/').replace('.c.', '.s.')}/5 but nothing changed.` }));
    await env.ctx.db.transaction().execute((trx) => workCase(trx, env.ctx, id, { actor: 'cli:test', by: 'test', address: 'erika@example.com', replyName: 'Erika' }, { commands: [], text: `Working on it. You can follow it at ${janeUrl}\n\nRegards, Erika`, note: false, attachments: [], messageRowId: null }));
    const ann = (await participants(env.ctx.db, id)).find((p) => p.address === 'ann@customer.example')!;
    const annLink = caseLinkFor(env.ctx, (await caseById(env.ctx.db, id))!.number, ann.id).replace('https://help.example.com/cg', '');
    const sig = janeLink.slice(-24);
    for (const path of [annLink, janeLink]) {
      const res = await get(path);
      expect(res.status).toBe(200);
      const html = await res.text();
      expect(html).toContain('Any news? I keep checking https://help.example.com/cg/c/… and my survey https://help.example.com/cg/s/…/5 but nothing changed.');
      expect(html).toContain('Working on it. You can follow it at https://help.example.com/cg/c/…');
      // The form posts to the reader's own link; the thread holds none.
      const thread = /<ol class="thread">[\s\S]*?<\/ol>/.exec(html)?.[0] ?? '';
      expect(thread).toContain('Working on it.');
      expect(thread).not.toMatch(/\d+\.[cs]\.(p\d+\.)?[0-9a-z]+\.[0-9a-z]+\.[0-9a-f]{24}/);
      if (path === annLink) expect(html).not.toContain(sig);
    }
    // Jane's link itself still opens her page, as Jane.
    expect(await (await get(janeLink)).text()).toContain('<strong>You</strong>');
  });

  it('a message whose From failed the sender check is marked — on the page (never "You"), in the agents’ notification and in `cases show`', async () => {
    const id = await newCase();
    const conf = (await outboxOfCase(env.ctx.db, id)).find((r) => r.kind === 'confirmation')!;
    // Our signed reference threads it whatever the sender check says; DMARC failed for jane's domain.
    const out = await env.ingest(eml({ from: 'Jane Customer <jane@customer.example>', auth: 'fail', subject: 'Re: Printer on fire', inReplyTo: conf.message_id, references: `<${conf.message_id}>`, body: 'Please send all invoices to iban DE00 1234 from now on.' }));
    expect(out).toMatchObject({ kind: 'stored', caseId: id });
    const html = await (await get(await linkIn(id, 'confirmation'))).text();
    expect(html).toMatch(/<strong>You<\/strong> <time[^>]*>[^<]*<\/time><\/h3>\s*<p[^>]*>My printer is on fire\./);
    expect(html).toMatch(/<strong><span dir="auto">Jane Customer &lt;jane@customer\.example&gt;<\/span><\/strong> <time[^>]*>[^<]*<\/time> <em class="forged">\(sender check failed: this message may not be from this address\)<\/em><\/h3>\s*<p[^>]*>Please send all invoices/);
    const notices = (await outboxOfCase(env.ctx.db, id)).filter((r) => r.kind === 'agent-notification' || r.kind === 'assignment');
    const warned = notices.filter((r) => r.text.includes('WARNING: this message failed the sender check. It says it is from Jane Customer <jane@customer.example>'));
    expect(warned.map((r) => r.kind)).toEqual(['agent-notification']);
    expect(warned[0]!.html).toContain('<strong>Warning:</strong> this message failed the sender check.');
    expect(notices.filter((r) => !warned.includes(r)).length).toBeGreaterThan(0); // the first message's notice has no warning
    const detail = (await caseDetail(env.ctx.db, 10001))!;
    const shown = formatCaseDetail(detail, () => '');
    expect(shown).toMatch(/← \d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)? \S+ jane@customer\.example \[signed-reference, SENDER CHECK FAILED: the From may be forged\]/);
    expect(shown.match(/SENDER CHECK FAILED/g)).toHaveLength(1);
  });

  it('Accept: text/plain gets the page as text', async () => {
    const id = await newCase();
    const res = await get(await linkIn(id, 'confirmation'), { Accept: 'text/plain' });
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const text = await res.text();
    expect(text.startsWith('Example Support\n')).toBe(true);
    expect(text).toContain('Status: received, waiting for an agent');
    expect(text).not.toContain('##-');
  });
});

describe('the reply form', () => {
  it('adds the reply through the pipeline (signed thread), once, and redirects to the page', async () => {
    const id = await newCase();
    await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, id, 'pending', { actor: 'agent:erika@example.com', reason: 'asked' }));
    const path = await linkIn(id, 'confirmation');
    const csrf = csrfOf(await (await get(path)).text());
    const text = 'Here is the error text: E-42 <b>bold</b>';
    const res = await post(path, { csrf, text }, { Origin: base });
    expect(res.status).toBe(303);
    // Relative (a reverse proxy may serve us under a path of its own), to this page.
    expect(res.headers.get('location')).toBe(`${path.slice('/c/'.length)}?sent=1`);
    const msgs = (await messagesOfCase(env.ctx.db, id)).filter((m) => m.direction === 'in');
    expect(msgs).toHaveLength(2);
    expect(msgs[1]).toMatchObject({ from_address: 'jane@customer.example', thread_rule: 'signed-reference', visible_text: text });
    // pending → open: the customer answered.
    expect((await caseById(env.ctx.db, id))!.status).toBe('open');
    // The same form sent twice is one message — also when the second comes seconds later (a
    // second click while the first was slow, the browser sending it again): one agent notification.
    expect((await post(path, { csrf, text }, { Origin: base })).status).toBe(303);
    env.clock.advance(5_000);
    const again = await post(path, { csrf, text }, { Origin: base });
    expect(again.status).toBe(303);
    expect(again.headers.get('location')).toBe(`${path.slice('/c/'.length)}?sent=1`);
    expect((await messagesOfCase(env.ctx.db, id)).filter((m) => m.direction === 'in')).toHaveLength(2);
    expect((await outboxOfCase(env.ctx.db, id)).filter((r) => r.kind === 'agent-notification')).toHaveLength(1);
    const page = await (await get(`${path}?sent=1`)).text();
    expect(page).toContain('Thank you, your reply was added to the case.');
    expect(page).toContain('E-42 &lt;b&gt;bold&lt;/b&gt;');
  });

  it('keeps every line the customer typed: no quote, signature or forwarded-message cutting (it is no email reply)', async () => {
    const id = await newCase();
    const path = await linkIn(id, 'confirmation');
    const typed = [
      'The installer still fails. Console output:',
      '> npm install printer-driver',
      '> gyp ERR! build error',
      '',
      'On Monday you wrote:',
      '> restart the spooler',
      'I did.',
      '',
      '-----Original Message-----',
      'From: IT <it@customer.example>',
      'the ticket from our own helpdesk, for reference',
      '',
      '-- ',
      'Jane, 3rd floor',
    ].join('\n');
    const res = await post(path, { csrf: csrfOf(await (await get(path)).text()), text: typed }, { Origin: base });
    expect(res.status).toBe(303);
    expect((await messagesOfCase(env.ctx.db, id)).filter((m) => m.direction === 'in').map((m) => m.visible_text)).toEqual(['My printer is on fire.\nPlease help.', typed]);
    // The agents are told all of it.
    const notice = (await outboxOfCase(env.ctx.db, id)).filter((r) => r.kind === 'agent-notification').at(-1)!;
    for (const line of ['> gyp ERR! build error', 'the ticket from our own helpdesk, for reference', 'Jane, 3rd floor']) expect(notice.text).toContain(line);
  });

  it('a reply from the page does not clear a bouncing requester address (it proves nothing about the mailbox)', async () => {
    const id = await newCase();
    const path = await linkIn(id, 'confirmation');
    await recordBounce(env.ctx.db, 'jane@customer.example', true, '5.1.1 user unknown', env.clock.now().toISOString());
    expect(await isBouncing(env.ctx.db, 'jane@customer.example')).toBe(true);
    expect((await post(path, { csrf: csrfOf(await (await get(path)).text()), text: 'Still broken.' }, { Origin: base })).status).toBe(303);
    expect(await isBouncing(env.ctx.db, 'jane@customer.example')).toBe(true);
    // An email from the address still does.
    const conf = (await outboxOfCase(env.ctx.db, id)).find((r) => r.kind === 'confirmation')!;
    await env.ingest(eml({ subject: 'Re: Printer on fire', inReplyTo: conf.message_id, body: 'Mailbox fixed.' }));
    expect(await isBouncing(env.ctx.db, 'jane@customer.example')).toBe(false);
  });

  it('takes at most web.repliesPerHour replies per case (each notifies agents): then 429 and a page that asks to wait', async () => {
    const id = await newCase();
    const path = await linkIn(id, 'confirmation');
    const csrf = csrfOf(await (await get(path)).text());
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await post(path, { csrf, text: `Flood ${i}` }, { Origin: base })).status);
    expect(statuses).toEqual([...Array(10).fill(303), 429]);
    const refused = await post(path, { csrf, text: 'One more' }, { Origin: base });
    expect(refused.status).toBe(429);
    expect(await refused.text()).toContain('You have sent us several messages in a short time, and we have them all.');
    const texts = (await messagesOfCase(env.ctx.db, id)).map((m) => m.visible_text);
    expect(texts.filter((t) => t.startsWith('Flood'))).toHaveLength(10);
    expect(texts).not.toContain('One more');
    // An hour later the form takes replies again.
    env.clock.advance(3_600_001);
    expect((await post(path, { csrf: csrfOf(await (await get(path)).text()), text: 'Later' }, { Origin: base })).status).toBe(303);
  });

  it('past cases.reopenWindowDays the page says a reply starts a new case, and after it does not claim it was added here', async () => {
    const id = await newCase();
    await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, id, 'closed', { actor: 'cli:test', reason: 'done' }));
    env.clock.set('2026-03-20T14:00:00Z');
    const within = await (await get(caseLinkFor(env.ctx, 10001).replace('https://help.example.com/cg', ''))).text();
    expect(within).toContain('write to us here: your reply reopens it.');
    env.clock.set('2026-04-10T14:00:00Z'); // 39 days after closing (cases.reopenWindowDays 30), with a link from a newer email
    const path = caseLinkFor(env.ctx, 10001).replace('https://help.example.com/cg', '');
    const page = await (await get(path)).text();
    expect(page).toContain('write to us here: it was closed too long ago to reopen, so your message starts a new case.');
    const res = await post(path, { csrf: csrfOf(page), text: 'It is on fire again.' }, { Origin: base });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`${path.slice('/c/'.length)}?sent=new`);
    const after = await (await get(`${path}?sent=new`)).text();
    expect(after).toContain('Thank you, we have your message. This case was closed too long ago to reopen, so it became a new case; we will answer it by email.');
    expect(after).not.toContain('your reply was added');
    const fresh = (await caseByNumber(env.ctx.db, 10002))!;
    expect(fresh).toMatchObject({ linked_case_id: id });
    expect((await messagesOfCase(env.ctx.db, fresh.id)).filter((m) => m.direction === 'in').map((m) => m.visible_text)).toEqual(['It is on fire again.']);
    expect((await caseById(env.ctx.db, id))!.status).toBe('closed');
  });

  it('a reply in flight when the server stops is finished and answered before close() returns (the daemon closes the database after it); an idle connection is ended at once', async () => {
    const id = await newCase();
    const path = await linkIn(id, 'confirmation');
    const csrf = csrfOf(await (await get(path)).text());
    // Hold the reply inside the handler (storing its bytes) until the server has been told to stop.
    const blobs = env.ctx.blobs;
    const put = blobs.put.bind(blobs);
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    blobs.put = async (...args: Parameters<typeof put>) => {
      entered();
      await gate;
      return put(...args);
    };
    const sending = post(path, { csrf, text: 'Sent just as the daemon restarts.' }, { Origin: base });
    await inHandler;
    // A connection a browser opened ahead of need (Chromium preconnects) and sent nothing on: it
    // is ended at once, not after the grace that cuts every connection (the held reply's too).
    const accepted = once(web.server, 'connection');
    const idle = connect(web.port, '127.0.0.1').on('error', () => undefined);
    const idleClosed = once(idle, 'close');
    await accepted;
    let closed = false;
    const closing = web.close().then(() => (closed = true));
    await idleClosed;
    await new Promise((r) => setTimeout(r, 200));
    expect(closed).toBe(false);
    release();
    const res = await sending;
    expect(res.status).toBe(303);
    await closing;
    expect((await messagesOfCase(env.ctx.db, id)).filter((m) => m.direction === 'in').map((m) => m.visible_text)).toEqual(['My printer is on fire.\nPlease help.', 'Sent just as the daemon restarts.']);
    // Stopped: no new connections.
    await expect(get(path)).rejects.toThrow();
  });

  it('replies sent all at once still stop at web.repliesPerHour', async () => {
    const id = await newCase();
    const path = await linkIn(id, 'confirmation');
    const csrf = csrfOf(await (await get(path)).text());
    const statuses = (await Promise.all(Array.from({ length: 16 }, (_, i) => post(path, { csrf, text: `Burst ${i}` }, { Origin: base })))).map((r) => r.status);
    expect(statuses.filter((s) => s === 303)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(6);
    expect((await messagesOfCase(env.ctx.db, id)).filter((m) => m.visible_text.startsWith('Burst'))).toHaveLength(10);
  });

  it('refuses forged, cross-site, empty and oversized forms', async () => {
    const id = await newCase();
    const path = await linkIn(id, 'confirmation');
    const csrf = csrfOf(await (await get(path)).text());
    const noToken = await post(path, { text: 'hi' });
    expect(noToken.status).toBe(403);
    expect(await noToken.text()).toContain('The form had expired');
    expect((await post(path, { csrf, text: 'hi' }, { Origin: 'https://evil.example' })).status).toBe(403);
    expect((await post(path, { csrf, text: 'hi' }, { 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
    const empty = await post(path, { csrf, text: '   ' });
    expect(empty.status).toBe(400);
    expect(await empty.text()).toContain('Please write a message first.');
    const tooLong = await post(path, { csrf, text: 'x'.repeat(20_001) });
    expect(tooLong.status).toBe(400);
    expect(await tooLong.text()).toContain('Your message is too long; please shorten it or reply by email.');
    // Over web.maxBodyBytes: the case page says so too, not a bare "form too large".
    const tooLarge = await post(path, { csrf, text: 'x'.repeat(300_000) });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await tooLarge.text()).toContain('Your message is too long; please shorten it or reply by email.');
    // A token for another case's link is useless here.
    const other = await newCase('other', 'Bob <bob@other.example>');
    const otherCsrf = csrfOf(await (await get(await linkIn(other, 'confirmation'))).text());
    expect((await post(path, { csrf: otherCsrf, text: 'hi' })).status).toBe(403);
    expect((await messagesOfCase(env.ctx.db, id)).filter((m) => m.direction === 'in')).toHaveLength(1);
  });
});

describe('the survey', () => {
  async function surveyed() {
    const id = await newCase();
    await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, id, 'resolved', { actor: 'agent:erika@example.com', reason: 'fixed' }));
    env.clock.set('2026-03-03T15:00:00Z');
    await createJobScheduler(env.ctx).run('survey', 'manual');
    return id;
  }

  it('a rating link only chooses the rating: nothing is recorded until the person sends the form (scanners fetch all five)', async () => {
    const id = await surveyed();
    const four = await linkIn(id, 'survey', /https:\/\/help\.example\.com\/cg(\/s\/[^\s"<>]+\/4)/);
    const formPath = four.replace(/\/4$/, '');
    // A mail security gateway (Safe Links, Mimecast) fetches every link of the email, with GET and HEAD.
    for (const n of [1, 2, 3, 4, 5]) {
      expect((await get(`${formPath}/${n}`, { 'User-Agent': 'Mozilla/5.0 (link scanner)' })).status).toBe(200);
      expect((await fetch(`${base}${formPath}/${n}`, { method: 'HEAD' })).status).toBe(200);
    }
    expect(await surveyOfCase(env.ctx.db, id)).toBeUndefined();
    expect((await outboxOfCase(env.ctx.db, id)).filter((r) => r.kind === 'survey-thanks')).toHaveLength(0);
    const events = await env.ctx.db.selectFrom('events').select('type').where('case_id', '=', id).where('type', 'like', 'survey.%').execute();
    expect(events.map((e) => e.type)).toEqual(['survey.sent']);
    // The person clicks "4": the page has 4 chosen and asks to send it.
    const res = await get(four);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('You chose 4 of 5. Press “Save” to send us your rating; a comment is welcome too.');
    expect(html).not.toContain('We recorded your rating');
    expect(html).toMatch(/<input type="radio" name="rating" value="4" checked aria-label="4 of 5">/);
    expect(await surveyOfCase(env.ctx.db, id)).toBeUndefined();
    const send = await post(formPath, { csrf: csrfOf(html), rating: '4', comment: '' }, { Origin: base });
    expect(send.status).toBe(303);
    expect(await surveyOfCase(env.ctx.db, id)).toMatchObject({ rating: 4, source: 'web' });
    expect(await (await get(`${formPath}?saved=1`)).text()).toContain('Thank you! We recorded your rating: 4 of 5.');
    // The form changes it and adds a comment; the first rating alone is thanked.
    const save = await post(formPath, { csrf: csrfOf(html), rating: '5', comment: 'Fast & friendly <3' }, { Origin: base });
    expect(save.status).toBe(303);
    expect(await surveyOfCase(env.ctx.db, id)).toMatchObject({ rating: 5, comment: 'Fast & friendly <3' });
    const after = await (await get(`${formPath}?saved=1`)).text();
    expect(after).toContain('Fast &amp; friendly &lt;3');
    expect((await outboxOfCase(env.ctx.db, id)).filter((r) => r.kind === 'survey-thanks')).toHaveLength(1);
    // Save with no rating and no comment records nothing and thanks for nothing.
    const before = await surveyOfCase(env.ctx.db, id);
    const empty = await post(formPath, { csrf: csrfOf(html), comment: '  ' }, { Origin: base });
    expect(empty.status).toBe(400);
    const emptyHtml = await empty.text();
    expect(emptyHtml).toContain('Please choose a rating or write a comment first.');
    expect(emptyHtml).not.toContain('Thank you');
    expect(await surveyOfCase(env.ctx.db, id)).toEqual(before);
    // A later click on another rating shows that one chosen, and still records nothing by itself.
    const two = await (await get(`${formPath}/2`)).text();
    expect(two).toMatch(/<input type="radio" name="rating" value="2" checked aria-label="2 of 5">/);
    expect(await surveyOfCase(env.ctx.db, id)).toMatchObject({ rating: 5 });
    expect((await caseByNumber(env.ctx.db, 10001))!.status).toBe('resolved');
  });

  it('the form sent twice (a double click on Save, at once or a moment later) keeps its comment once, with one event; two different comments sent at once are both kept', async () => {
    const id = await surveyed();
    const formPath = (await linkIn(id, 'survey', /https:\/\/help\.example\.com\/cg(\/s\/[^\s"<>]+)\/4/)).replace(/\/4$/, '');
    const csrf = csrfOf(await (await get(formPath)).text());
    const form = { csrf, rating: '4', comment: 'Quick and friendly, thanks' };
    const twice = await Promise.all([post(formPath, form, { Origin: base }), post(formPath, form, { Origin: base })]);
    expect(twice.map((r) => r.status)).toEqual([303, 303]);
    expect((await post(formPath, form, { Origin: base })).status).toBe(303);
    expect(await surveyOfCase(env.ctx.db, id)).toMatchObject({ rating: 4, comment: 'Quick and friendly, thanks' });
    const events = async () => (await env.ctx.db.selectFrom('events').select('type').where('case_id', '=', id).where('type', 'like', 'survey.%').orderBy('id').execute()).map((e) => e.type);
    expect(await events()).toEqual(['survey.sent', 'survey.rated']);
    const page = await (await get(`${formPath}?saved=1`)).text();
    expect(page.match(/Quick and friendly, thanks/g)).toHaveLength(1);
    // Two different comments at once: one after the other, neither lost.
    await Promise.all([post(formPath, { csrf, comment: 'The agent was great.' }, { Origin: base }), post(formPath, { csrf, comment: 'The wait was long.' }, { Origin: base })]);
    const kept = (await surveyOfCase(env.ctx.db, id))!.comment;
    expect(kept).toContain('The agent was great.');
    expect(kept).toContain('The wait was long.');
    expect(await events()).toEqual(['survey.sent', 'survey.rated', 'survey.comment', 'survey.comment']);
  });

  it('takes at most web.repliesPerHour answers per case an hour (each comment is kept), sent one by one or all at once: then 429, the text kept; an hour later again', async () => {
    const id = await surveyed();
    const formPath = (await linkIn(id, 'survey', /https:\/\/help\.example\.com\/cg(\/s\/[^\s"<>]+)\/4/)).replace(/\/4$/, '');
    const csrf = csrfOf(await (await get(formPath)).text());
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await post(formPath, { csrf, comment: `Comment ${i}` }, { Origin: base })).status);
    const burst = await Promise.all(Array.from({ length: 6 }, (_, i) => post(formPath, { csrf, comment: `Burst ${i}` }, { Origin: base })));
    statuses.push(...burst.map((r) => r.status));
    expect(statuses.filter((s) => s === 303)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(2);
    const refused = await post(formPath, { csrf, rating: '2', comment: 'One more' }, { Origin: base });
    expect(refused.status).toBe(429);
    const html = await refused.text();
    expect(html).toContain('You have sent us several answers in a short time, and we have them all.');
    expect(html).toContain('>One more</textarea>');
    expect(html).toMatch(/<input type="radio" name="rating" value="2" checked/);
    const kept = (await surveyOfCase(env.ctx.db, id))!.comment;
    expect(kept.split('\n\n')).toHaveLength(10);
    expect(kept).not.toContain('One more');
    env.clock.advance(3_600_001);
    expect((await post(formPath, { csrf: csrfOf(await (await get(formPath)).text()), comment: 'Later' }, { Origin: base })).status).toBe(303);
  });

  it('the survey page in German: the clicked rating chosen, sent with „Speichern“', async () => {
    const out = await env.ingest(eml({ from: 'Max Kunde <max@kunde.example>', subject: 'Drucker brennt', body: 'Hallo, mein Drucker brennt seit heute Morgen. Bitte helfen Sie mir schnell.\nViele Grüße', headers: { 'Content-Language': 'de' } }));
    if (out.kind !== 'stored') throw new Error(out.reason);
    expect((await caseById(env.ctx.db, out.caseId))!.language).toBe('de');
    await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, out.caseId, 'resolved', { actor: 'agent:erika@example.com', reason: 'fixed' }));
    env.clock.set('2026-03-03T15:00:00Z');
    await createJobScheduler(env.ctx).run('survey', 'manual');
    const three = await linkIn(out.caseId, 'survey', /https:\/\/help\.example\.com\/cg(\/s\/[^\s"<>]+\/3)/);
    const html = await (await get(three)).text();
    expect(html).toContain('<html lang="de" dir="ltr">');
    expect(html).toContain('Sie haben 3 von 5 gewählt. Klicken Sie auf „Speichern“, um uns Ihre Bewertung zu senden');
    expect(await surveyOfCase(env.ctx.db, out.caseId)).toBeUndefined();
  });

  it('a survey link is not a case link; ratings outside 1–5 do not exist', async () => {
    const id = await surveyed();
    const one = await linkIn(id, 'survey', /https:\/\/help\.example\.com\/cg(\/s\/[^\s"<>]+)\/1/);
    expect((await get(one.replace('/s/', '/c/'))).status).toBe(404);
    expect((await get(`${one}/9`)).status).toBe(404);
    expect((await get(`${one}/0`)).status).toBe(404);
    expect(await surveyOfCase(env.ctx.db, id)).toBeUndefined();
  });
});

describe('the log', () => {
  it('never holds a signed link, whatever the path looks like', async () => {
    const id = await newCase();
    const path = await linkIn(id, 'confirmation');
    const token = path.slice('/c/'.length);
    const lines: string[] = [];
    const capture = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
    const logged = await startWebServer({ ...env.ctx, log: capture });
    try {
      const at = `http://127.0.0.1:${logged.port}`;
      for (const p of [path, `/${path}`, `${path}/`, `/x${path}`, `${path}/extra`, `/s/${token}/4`]) await fetch(at + p, { redirect: 'manual' });
      const web = lines.filter((l) => l.includes('"web request"'));
      expect(web).toHaveLength(6);
      for (const l of lines) expect(l).not.toContain(token.split('.').at(-1));
    } finally {
      await logged.close();
    }
  });
});

describe('the log of an idle daemon', () => {
  it('has no line per health probe or metrics scrape that went well (a load balancer and Prometheus poll every few seconds); a failing probe and every page request are still logged', async () => {
    const id = await newCase();
    const path = await linkIn(id, 'confirmation');
    const lines: Record<string, unknown>[] = [];
    const capture = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    const metrics = new Metrics('test');
    const web = await startWebServer({ ...env.ctx, log: capture });
    const ops = await startOpsServer({ ...env.ctx, log: capture }, metrics, { outboxPaused: () => false });
    try {
      for (let i = 0; i < 5; i++) {
        expect((await fetch(`http://127.0.0.1:${web.port}/healthz`)).status).toBe(200);
        expect((await fetch(`http://127.0.0.1:${ops.port}/healthz`)).status).toBe(200);
        expect((await fetch(`http://127.0.0.1:${ops.port}/metrics`)).status).toBe(200);
      }
      expect(lines.filter((l) => l['msg'] === 'web request')).toEqual([]);
      expect((await fetch(`http://127.0.0.1:${web.port}${path}`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${ops.port}/nothing`)).status).toBe(404);
      // An unhealthy answer is worth a line: the database is gone.
      await env.ctx.db.destroy();
      expect((await fetch(`http://127.0.0.1:${ops.port}/healthz`)).status).toBe(503);
      expect(lines.filter((l) => l['msg'] === 'web request').map((l) => [l['route'], l['status']])).toEqual([
        ['case-page', 200],
        ['none', 404],
        ['healthz', 503],
      ]);
    } finally {
      await web.close();
      await ops.close();
    }
  });
});

describe('web requests in /metrics', () => {
  it('counted by server, route and status (a case page failing for every customer is a rate of 500s to alert on, not only log lines)', async () => {
    const id = await newCase();
    const path = await linkIn(id, 'confirmation');
    const metrics = new Metrics('test');
    const ctx = { ...env.ctx, telemetry: metrics };
    const web = await startWebServer(ctx);
    const ops = await startOpsServer(ctx, metrics, { outboxPaused: () => false });
    try {
      expect((await fetch(`http://127.0.0.1:${web.port}${path}`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${web.port}${path}`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${web.port}/nothing`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${ops.port}/healthz`)).status).toBe(200);
      const m = parseExposition(await (await fetch(`http://127.0.0.1:${ops.port}/metrics`)).text());
      expect(m.types.get('casegate_http_requests_total')).toBe('counter');
      expect(m.value('casegate_http_requests_total', { server: 'web', route: 'case-page', status: '200' })).toBe(2);
      expect(m.value('casegate_http_requests_total', { server: 'web', route: 'none', status: '404' })).toBe(1);
      expect(m.value('casegate_http_requests_total', { server: 'ops', route: 'healthz', status: '200' })).toBe(1);
      // No path, token or address as a label: the route's name only.
      for (const s of m.all('casegate_http_requests_total')) expect(Object.keys(s.labels).sort()).toEqual(['route', 'server', 'status']);
    } finally {
      await web.close();
      await ops.close();
    }
  });
});

describe('/healthz', () => {
  it('answers 200 {"status":"ok"} and keeps the details private (they are on the ops listener)', async () => {
    const res = await get('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });
});
