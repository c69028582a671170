import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { setStatus } from '../../src/cases/lifecycle.js';
import { messagesOfCase } from '../../src/db/repos/messages.js';
import { outboxOfCase } from '../../src/db/repos/outbox.js';
import { surveyOfCase } from '../../src/db/repos/surveys.js';
import { createJobScheduler } from '../../src/jobs/scheduler.js';
import { startWebServer, type WebServer } from '../../src/web/server.js';
import { axeViolations, focusedNode, launchChromium, type Browser } from '../helpers/browser.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { SLA_CONFIG } from '../helpers/sla-config.js';

/**
 * The case page's reply form as a customer uses it, in a real headless Chromium (Debian's
 * package, driven by playwright-core) against the web server on a real database, with the test's
 * clock: what the browser keeps and shows when the server refuses a form.
 */

const CONFIG: ConfigInput = {
  ...SLA_CONFIG,
  instance: { name: 'Example Support', domain: 'support.example.com', secret: 'test-secret-0123456789abcdef-0123456789', adminAddress: 'admin@example.com' },
  web: { enabled: true, port: 0, baseUrl: 'https://help.example.com/cg', repliesPerHour: 1 },
};

let chromium: Browser;
let env: TestEnv;
let web: WebServer;
let base: string;

beforeAll(async () => {
  chromium = await launchChromium({ width: 375 });
});
afterAll(async () => {
  await chromium?.close();
});
beforeEach(async () => {
  env = await testEnv(CONFIG, '2026-03-02T14:00:00Z');
  web = await startWebServer(env.ctx);
  base = `http://127.0.0.1:${web.port}`;
});
afterEach(async () => {
  await web.close();
  await env.close();
});

async function openCase(): Promise<{ id: number; page: Page; url: string }> {
  const out = await env.ingest(eml({ body: 'My printer is on fire.' }));
  if (out.kind !== 'stored') throw new Error(out.reason);
  const conf = (await outboxOfCase(env.ctx.db, out.caseId)).find((r) => r.kind === 'confirmation')!;
  const url = base + /https:\/\/help\.example\.com\/cg(\/c\/[^\s"<>]+)/.exec(conf.text)![1]!;
  const page = await chromium.context.newPage();
  expect((await page.goto(url))?.status()).toBe(200);
  return { id: out.caseId, page, url };
}

const inbound = async (id: number) => (await messagesOfCase(env.ctx.db, id)).filter((m) => m.direction === 'in').map((m) => m.visible_text);

/** A reply a customer spent a while on: several lines, markup-like characters. */
const TYPED = 'Steps to reproduce:\n1. open the tray <b>A4</b> & "Letter"\n2. press start\n\nThe error is E-42.';

describe('the case page in a browser', () => {
  it('names the files a customer’s email carried — a hostile file name or subject is text, nothing runs — and leaves inline images out', async () => {
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64').toString('base64');
    const hostile = '"><img src=x onerror=alert(1)>.png';
    const raw = [
      'From: "Jane <script>alert(2)</script>" <jane@customer.example>',
      'To: support@example.com',
      'Subject: <svg onload=alert(3)> printer',
      `Message-ID: <att-${Date.now()}@customer.example>`,
      'Date: Mon, 02 Mar 2026 08:59:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="m1"',
      '',
      '--m1',
      'Content-Type: multipart/related; boundary="r1"',
      '',
      '--r1',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>See the screenshot and the log.</p><img src="cid:logo1">',
      '--r1',
      'Content-Type: image/png',
      'Content-Disposition: inline; filename="image001.png"',
      'Content-ID: <logo1>',
      'Content-Transfer-Encoding: base64',
      '',
      png,
      '--r1--',
      '--m1',
      `Content-Type: image/png; name="${hostile.replace(/"/g, '\\"')}"`,
      `Content-Disposition: attachment; filename="${hostile.replace(/"/g, '\\"')}"`,
      'Content-Transfer-Encoding: base64',
      '',
      png,
      '--m1',
      'Content-Type: text/plain; name="printer-log.txt"',
      'Content-Disposition: attachment; filename="printer-log.txt"',
      '',
      'E-42 at 08:58',
      '--m1--',
      '',
    ].join('\r\n');
    const out = await env.ingest(raw);
    if (out.kind !== 'stored') throw new Error(out.reason);
    const conf = (await outboxOfCase(env.ctx.db, out.caseId)).find((r) => r.kind === 'confirmation')!;
    const page = await chromium.context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const served: string[] = [];
    web.server.on('request', (req: { url?: string }) => served.push((req.url ?? '').replace(/\/c\/[^/]+$/, '/c/…')));
    await page.goto(base + /https:\/\/help\.example\.com\/cg(\/c\/[^\s"<>]+)/.exec(conf.text)![1]!);
    await page.waitForLoadState('networkidle');
    await new Promise((r) => setTimeout(r, 500));
    // The page alone: no /favicon.ico (a 404 notice page and a log line on every view).
    expect(served).toEqual(['/c/…']);
    const first = page.locator('.thread li').first();
    expect(await first.locator('p.muted').textContent()).toBe(`Attachments: ${hostile}, printer-log.txt`);
    expect(await page.locator('h1').textContent()).toBe('<svg onload=alert(3)> printer');
    expect(await page.locator('main img, main svg, main script').count()).toBe(0);
    expect(await page.locator('main').textContent()).not.toContain('image001.png');
    expect(dialogs).toEqual([]);
    await page.close();
  });
});

describe('the reply form in a browser', () => {
  it('a form left open past its token’s life is refused, and the message typed stays in the box to send again', async () => {
    const { id, page, url } = await openCase();
    // A refused form (here: only spaces) — what a screen reader user gets without looking: the
    // title says "Error", focus is in the box, the error is the box's description, the box is invalid.
    await page.getByLabel('Your message').fill('   ');
    const [empty] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Send reply' }).click()]);
    expect(empty.status()).toBe(400);
    expect(await page.title()).toBe('Error: Case 10001: Printer on fire – Example Support');
    expect(await focusedNode(page)).toMatchObject({ role: 'textbox', name: 'Your message', description: 'Please write a message first. Your reply (up to 20000 characters) is added to the case and our team is notified. Attachments: reply to any of our emails instead.', invalid: true });
    await page.getByLabel('Your message').fill(TYPED);
    env.clock.advance(25 * 3_600_000); // the form token lives 24 hours
    const [refused] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Send reply' }).click()]);
    expect(refused.status()).toBe(403);
    expect(await focusedNode(page)).toMatchObject({ role: 'textbox', name: 'Your message', description: 'The form had expired. Your message is still in the box below: please send it again. Your reply (up to 20000 characters) is added to the case and our team is notified. Attachments: reply to any of our emails instead.', invalid: false });
    expect(await page.getByLabel('Your message').inputValue()).toBe(TYPED);
    expect(await inbound(id)).toEqual(['My printer is on fire.']);
    // The refused page carries a fresh token: sending again adds it, once. The page it lands on
    // says so in its title and moves focus to the notice (read out; a live region already on a
    // freshly loaded page is not).
    await Promise.all([page.waitForURL(`${url}?sent=1`), page.getByRole('button', { name: 'Send reply' }).click()]);
    expect(await page.title()).toBe('Sent: Case 10001: Printer on fire – Example Support');
    expect(await focusedNode(page)).toMatchObject({ role: 'status', text: 'Thank you, your reply was added to the case.' });
    expect(await page.getByLabel('Your message').inputValue()).toBe('');
    expect(await inbound(id)).toEqual(['My printer is on fire.', TYPED]);
    await page.close();
  });

  it('a long reply in Japanese, well inside the form’s 20000 characters, is taken (url-encoded it is ~9 bytes a character)', async () => {
    const { id, page, url } = await openCase();
    const japanese = 'プリンターが燃えています。'.repeat(1_500); // 19500 characters, about 176 KB url-encoded
    expect(japanese.length).toBeLessThanOrEqual(20_000);
    await page.getByLabel('Your message').fill(japanese);
    await Promise.all([page.waitForURL(`${url}?sent=1`), page.getByRole('button', { name: 'Send reply' }).click()]);
    await expect(page.locator('[role="status"]').textContent()).resolves.toBe('Thank you, your reply was added to the case.');
    expect(await inbound(id)).toEqual(['My printer is on fire.', japanese]);
    await page.close();
  });

  it('over web.repliesPerHour the page asks to wait and keeps the text; an hour later it goes through', async () => {
    const { id, page, url } = await openCase();
    await page.getByLabel('Your message').fill('First addition.');
    await Promise.all([page.waitForURL(`${url}?sent=1`), page.getByRole('button', { name: 'Send reply' }).click()]);
    await page.getByLabel('Your message').fill(TYPED);
    const [refused] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Send reply' }).click()]);
    expect(refused.status()).toBe(429);
    expect((await focusedNode(page)).description).toContain('Please wait a while before adding more');
    expect(await page.getByLabel('Your message').inputValue()).toBe(TYPED);
    env.clock.advance(3_600_001);
    await Promise.all([page.waitForURL(`${url}?sent=1`), page.getByRole('button', { name: 'Send reply' }).click()]);
    expect(await inbound(id)).toEqual(['My printer is on fire.', 'First addition.', TYPED]);
    await page.close();
  });
});

describe('the survey form in a browser', () => {
  it('a survey page left open past its token’s life is refused with the rating and comment kept, and Save then records them', async () => {
    const out = await env.ingest(eml({ body: 'My printer is on fire.' }));
    if (out.kind !== 'stored') throw new Error(out.reason);
    await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, out.caseId, 'resolved', { actor: 'agent:erika@example.com', reason: 'fixed' }));
    env.clock.set('2026-03-03T15:00:00Z');
    await createJobScheduler(env.ctx).run('survey', 'manual');
    const survey = (await outboxOfCase(env.ctx.db, out.caseId)).find((r) => r.kind === 'survey')!;
    const three = base + /https:\/\/help\.example\.com\/cg(\/s\/[^\s"<>]+\/3)/.exec(survey.text)![1]!;
    const page = await chromium.context.newPage();
    await page.goto(three);
    expect(await page.getByLabel('3 of 5').isChecked()).toBe(true);
    const comment = 'Quick help, but the first answer missed my question.\nThe second one was great.';
    await page.getByLabel('Anything you would like to tell us? (optional)').fill(comment);
    env.clock.advance(25 * 3_600_000);
    const [refused] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Save' }).click()]);
    expect(refused.status()).toBe(403);
    // Focus on the error (read out), the rating group described by it, the title says "Error".
    expect(await page.title()).toBe('Error: How did we do? Case 10001 – Example Support');
    expect(await focusedNode(page)).toMatchObject({ text: 'The form had expired, so nothing was saved. Your rating and comment are still below: please press “Save” again.' });
    await expect(page.getByRole('group').getAttribute('aria-describedby')).resolves.toBe('survey-error');
    expect(await page.getByLabel('3 of 5').isChecked()).toBe(true);
    expect(await page.getByLabel('Anything you would like to tell us? (optional)').inputValue()).toBe(comment);
    // The box cuts what is typed past its limit without a word: the limit is stated (WCAG 3.3.2).
    await page.getByLabel('Anything you would like to tell us? (optional)').focus();
    expect(await focusedNode(page)).toMatchObject({ role: 'textbox', description: 'Up to 5000 characters.' });
    expect(await surveyOfCase(env.ctx.db, out.caseId)).toBeUndefined();
    await Promise.all([page.waitForURL(/\?saved=1$/), page.getByRole('button', { name: 'Save' }).click()]);
    expect(await page.title()).toBe('Saved: How did we do? Case 10001 – Example Support');
    expect(await focusedNode(page)).toMatchObject({ role: 'status', text: 'Thank you! We recorded your rating: 3 of 5.' });
    expect(await surveyOfCase(env.ctx.db, out.caseId)).toMatchObject({ rating: 3, comment });
    await page.close();
  });
});

/** WCAG 1.4.12's text spacing, as a user's style sheet would set it. */
const TEXT_SPACING = '*{line-height:1.5!important;letter-spacing:.12em!important;word-spacing:.16em!important}p{margin-bottom:2em!important}';

/** Nothing wider than the viewport (WCAG 1.4.10: 320 CSS px, i.e. 1280 px at 400 %), also with text spacing (the style stays until the next load). */
async function reflows(page: Page): Promise<{ plain: number; spaced: number; width: number }> {
  const width = () => page.evaluate(() => document.documentElement.scrollWidth);
  const plain = await width();
  await page.addStyleTag({ content: TEXT_SPACING });
  return { plain, spaced: await width(), width: page.viewportSize()!.width };
}

describe('accessibility (WCAG 2.2 AA)', () => {
  it('every customer page and email passes axe-core and reflows at 320 px, with WCAG text spacing too — a long word in the subject included; in forced colours the chosen rating and the button show', async () => {
    const subject = `Printer ${'Druckerwarteschlangenfehlermeldung'.repeat(3)}`;
    const out = await env.ingest(eml({ subject, body: 'My printer is on fire.' }));
    if (out.kind !== 'stored') throw new Error(out.reason);
    const conf = (await outboxOfCase(env.ctx.db, out.caseId)).find((r) => r.kind === 'confirmation')!;
    await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, out.caseId, 'resolved', { actor: 'agent:erika@example.com', reason: 'fixed' }));
    env.clock.set('2026-03-03T15:00:00Z');
    await createJobScheduler(env.ctx).run('survey', 'manual');
    const survey = (await outboxOfCase(env.ctx.db, out.caseId)).find((r) => r.kind === 'survey')!;
    const casePage = base + /https:\/\/help\.example\.com\/cg(\/c\/[^\s"<>]+)/.exec(conf.text)![1]!;
    const four = base + /https:\/\/help\.example\.com\/cg(\/s\/[^\s"<>]+\/4)/.exec(survey.text)![1]!;
    const page = await chromium.context.newPage();
    await page.setViewportSize({ width: 320, height: 640 });
    const found: Record<string, { axe: string[]; reflow: { plain: number; spaced: number; width: number } }> = {};
    const check = async (name: string) => {
      found[name] = { axe: await axeViolations(page), reflow: await reflows(page) };
    };
    await page.goto(casePage);
    // Each message starts with a heading (who, when): a screen reader user jumps from message to message.
    expect(await page.getByRole('heading', { level: 3 }).allTextContents()).toEqual(['You Mar 2, 2026, 8:00 AM CST']);
    await check('case page');
    await page.getByLabel('Your message').fill('   ');
    await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Send reply' }).click()]);
    await page.waitForLoadState();
    await check('case page, refused reply');
    await page.goto(four);
    await check('survey page');
    for (const [name, url] of [['unsubscribe page', four.replace(/\/4$/, '/unsubscribe')], ['not-valid page', `${base}/c/garbage`], ['404 page', `${base}/nothing`]] as const) {
      await page.goto(url);
      await check(name);
    }
    for (const mail of [conf, survey]) {
      await page.setContent(mail.html);
      await check(`${mail.kind} email`);
    }
    const clean = { axe: [], reflow: { plain: 320, spaced: 320, width: 320 } };
    expect(found).toEqual(Object.fromEntries(Object.keys(found).map((k) => [k, clean])));
    expect(Object.keys(found)).toHaveLength(8);
    // The survey email's rating links ("1" … "5") in a client that drops aria-label: their
    // paragraph (their context, WCAG 2.4.4) says what the numbers mean.
    await page.setContent(survey.html.replace(/ aria-label="[^"]*"/g, ''));
    const ratings = page.getByRole('link', { name: /^[1-5]$/ });
    expect(await ratings.evaluateAll((links) => links.map((a) => a.closest('p')?.textContent?.includes('from 1 (not satisfied) to 5 (very satisfied)')))).toEqual([true, true, true, true, true]);

    // In forced colours (Windows contrast themes) the browser replaces our colours: the chosen
    // rating must still look chosen.
    await page.emulateMedia({ forcedColors: 'active' });
    await page.goto(four);
    const look = (n: string) => page.locator(`label.rating:has(input[value="${n}"]) span`).evaluate((e) => `${getComputedStyle(e).color} on ${getComputedStyle(e).backgroundColor}`);
    expect(await look('4')).not.toBe(await look('3'));
    // And the Save button keeps an outline of its own (there its background is the page's).
    const edge = await page.getByRole('button', { name: 'Save' }).evaluate((b) => [getComputedStyle(b).borderTopStyle, getComputedStyle(b).borderTopWidth, getComputedStyle(b).borderTopColor !== getComputedStyle(b).backgroundColor]);
    expect(edge).toEqual(['solid', '2px', true]);
    await page.emulateMedia({ forcedColors: 'none' });
    await page.close();
  });
});

describe('behind a reverse proxy that serves casegate under a path (web.baseUrl https://…/cg)', () => {
  /** A reverse proxy as in docs/business-time.md: /cg/… goes to casegate without the prefix, anything else is not ours (404). */
  async function prefixProxy(prefix: string): Promise<{ server: Server; port: number; target: { port: number } }> {
    const target = { port: 0 };
    const server = createServer((req, res) => {
      const path = req.url ?? '/';
      if (!path.startsWith(`${prefix}/`)) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found at the proxy\n');
        return;
      }
      const upstream = request({ host: '127.0.0.1', port: target.port, method: req.method, path: path.slice(prefix.length), headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return { server, port: (server.address() as AddressInfo).port, target };
  }

  it('the reply form and the survey form post to the page they are on, and their redirects stay under the prefix', async () => {
    const proxy = await prefixProxy('/cg');
    const proxied = await testEnv({ ...CONFIG, web: { enabled: true, port: 0, baseUrl: `http://127.0.0.1:${proxy.port}/cg` } }, '2026-03-02T14:00:00Z');
    const server = await startWebServer(proxied.ctx);
    proxy.target.port = server.port;
    const page = await chromium.context.newPage();
    try {
      const out = await proxied.ingest(eml({ body: 'My printer is on fire.' }));
      if (out.kind !== 'stored') throw new Error(out.reason);
      const link = /(http:\/\/127\.0\.0\.1:\d+\/cg\/c\/\S+)/.exec((await outboxOfCase(proxied.ctx.db, out.caseId)).find((r) => r.kind === 'confirmation')!.text)![1]!;
      expect((await page.goto(link))?.status()).toBe(200);
      await page.getByLabel('Your message').fill('Through the proxy.');
      await Promise.all([page.waitForURL(`${link}?sent=1`, { timeout: 10_000 }), page.getByRole('button', { name: 'Send reply' }).click()]);
      await expect(page.locator('[role="status"]').textContent()).resolves.toBe('Thank you, your reply was added to the case.');
      expect((await messagesOfCase(proxied.ctx.db, out.caseId)).filter((m) => m.direction === 'in').map((m) => m.visible_text)).toEqual(['My printer is on fire.', 'Through the proxy.']);

      await proxied.ctx.db.transaction().execute((trx) => setStatus(trx, proxied.ctx, out.caseId, 'resolved', { actor: 'agent:erika@example.com', reason: 'fixed' }));
      proxied.clock.set('2026-03-03T15:00:00Z');
      await createJobScheduler(proxied.ctx).run('survey', 'manual');
      const four = /^\s+4: (\S+)$/m.exec((await outboxOfCase(proxied.ctx.db, out.caseId)).find((r) => r.kind === 'survey')!.text)![1]!;
      expect(four).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${proxy.port}/cg/s/`));
      await page.goto(four);
      await Promise.all([page.waitForURL(`${four.replace(/\/4$/, '')}?saved=1`, { timeout: 10_000 }), page.getByRole('button', { name: 'Save' }).click()]);
      await expect(page.locator('[role="status"]').textContent()).resolves.toBe('Thank you! We recorded your rating: 4 of 5.');
      expect(await surveyOfCase(proxied.ctx.db, out.caseId)).toMatchObject({ rating: 4 });
    } finally {
      await page.close();
      await server.close();
      await proxied.close();
      await new Promise<void>((r) => {
        proxy.server.close(() => r());
        proxy.server.closeAllConnections();
      });
    }
  });
});
