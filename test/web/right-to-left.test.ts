import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/config/load.js';
import { outboxOfCase } from '../../src/db/repos/outbox.js';
import { startWebServer } from '../../src/web/server.js';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';

/**
 * Arabic and Hebrew in a real Chromium: a customer's right-to-left subject, name and words run
 * right to left wherever casegate shows them (the case page, customer and staff email), whatever
 * the language of the page; and an admin's Arabic templates make a right-to-left email and page.
 */

const SUBJECT = 'الطابعة لا تعمل!';
const NAME = 'محمد علي';

let chromium: Browser;
let tpl: string;
beforeAll(async () => {
  chromium = await launchChromium({ width: 1024 });
  tpl = mkdtempSync(join(tmpdir(), 'casegate-tpl-'));
  cpSync(join(PACKAGE_ROOT, 'templates'), tpl, { recursive: true });
  mkdirSync(join(tpl, 'ar'));
  writeFileSync(join(tpl, 'ar', 'confirmation.subject.hbs'), '{{case.tag}} رد: {{case.subject}}\n');
  writeFileSync(join(tpl, 'ar', 'confirmation.text.hbs'), 'لقد استلمنا طلبك.\n');
  writeFileSync(join(tpl, 'ar', 'confirmation.html.hbs'), '<p>لقد استلمنا طلبك.</p>\n');
});
afterAll(async () => {
  await chromium?.close();
  rmSync(tpl, { recursive: true, force: true });
});

async function withEnv(languages: string[], run: (env: TestEnv, base: string) => Promise<void>): Promise<void> {
  const env = await testEnv({
    templates: languages.includes('ar') ? { dir: tpl, watch: false, languages } : { watch: false, languages },
    web: { enabled: true, port: 0, baseUrl: 'https://help.example.com' },
    queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } },
  });
  const web = await startWebServer(env.ctx);
  try {
    await run(env, `http://127.0.0.1:${web.port}`);
  } finally {
    await web.close();
    await env.close();
  }
}

const direction = (page: Page, selector: string): Promise<string> => page.locator(selector).first().evaluate((el) => getComputedStyle(el).direction);
/** The direction of the innermost element whose whole text is `text`. */
const directionOfText = (page: Page, text: string): Promise<string> => page.getByText(text, { exact: true }).first().evaluate((el) => getComputedStyle(el).direction);

async function show(html: string): Promise<Page> {
  const page = await chromium.context.newPage();
  await page.setContent(html);
  return page;
}

describe('right-to-left text in a real browser', () => {
  it('an Arabic customer on an English installation: subject, name and words run right to left on the page and in both emails', async () => {
    await withEnv(['en', 'de'], async (env, base) => {
      const out = await env.ingest(eml({ from: `${NAME} <m@customer.example>`, subject: SUBJECT, body: 'مرحبا، الطابعة في المكتب 4 لا تعمل منذ الصباح.' }));
      if (out.kind !== 'stored') throw new Error(out.reason);
      const box = await outboxOfCase(env.ctx.db, out.caseId);
      const conf = box.find((r) => r.kind === 'confirmation')!;
      const note = box.find((r) => r.kind === 'agent-notification')!;

      const page = await chromium.context.newPage();
      const url = base + /https:\/\/help\.example\.com(\/c\/[^\s"<>]+)/.exec(conf.text)![1]!;
      expect((await page.goto(url))?.status()).toBe(200);
      expect(await direction(page, 'h1')).toBe('rtl');
      expect(await page.locator('html').getAttribute('dir')).toBe('ltr');
      expect(await direction(page, '.msg p')).toBe('rtl');
      // What the customer types in Arabic runs right to left as well.
      await page.fill('#reply-text', 'شكرا جزيلا');
      expect(await direction(page, '#reply-text')).toBe('rtl');
      await page.close();

      const mail = await show(conf.html!);
      expect(await directionOfText(mail, SUBJECT)).toBe('rtl');
      await mail.close();
      const staff = await show(note.html!);
      expect(await directionOfText(staff, SUBJECT)).toBe('rtl');
      expect(await directionOfText(staff, NAME)).toBe('rtl');
      await staff.close();
    });
  });

  it('an admin’s Arabic templates: the email and the case page are right to left', async () => {
    await withEnv(['en', 'de', 'ar'], async (env, base) => {
      const out = await env.ingest(eml({ from: `${NAME} <m2@customer.example>`, subject: SUBJECT, body: 'مرحبا، الطابعة في المكتب لا تعمل منذ الصباح. أرجو المساعدة.' }));
      if (out.kind !== 'stored') throw new Error(out.reason);
      const conf = (await outboxOfCase(env.ctx.db, out.caseId)).find((r) => r.kind === 'confirmation')!;
      expect(conf.subject).toBe(`[Case #${out.caseNumber}] رد: ${SUBJECT}`);
      const mail = await show(conf.html!);
      expect(await mail.locator('html').getAttribute('dir')).toBe('rtl');
      const p = mail.locator('p:has-text("لقد استلمنا طلبك")');
      expect(await p.evaluate((el) => [getComputedStyle(el).direction, getComputedStyle(el).textAlign])).toEqual(['rtl', 'right']);
      // Webmail (Gmail, Outlook on the web) shows only what is inside <body>, inside its own
      // left-to-right page: the language and direction must come along with it.
      const body = /<body[^>]*>([\s\S]*)<\/body>/.exec(conf.html!)![1]!;
      await mail.setContent(`<!DOCTYPE html><html lang="en" dir="ltr"><body><div class="webmail">${body}</div></body></html>`);
      expect(await p.evaluate((el) => [getComputedStyle(el).direction, getComputedStyle(el).textAlign, el.closest('[lang]')?.getAttribute('lang')])).toEqual(['rtl', 'right', 'ar']);
      await mail.close();
      const page = await chromium.context.newPage();
      const url = base + /https:\/\/help\.example\.com(\/c\/[^\s"<>]+)/.exec(conf.text)![1]!;
      expect((await page.goto(url))?.status()).toBe(200);
      expect(await page.locator('html').getAttribute('dir')).toBe('rtl');
      expect(await page.locator('.msg').first().evaluate((el) => [getComputedStyle(el).borderRightWidth, getComputedStyle(el).borderLeftWidth])).toEqual(['4px', '1px']);
      await page.close();
    });
  });
});
