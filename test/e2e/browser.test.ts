import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { simpleParser } from 'mailparser';
import nodemailer from 'nodemailer';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setStatus } from '../../src/cases/lifecycle.js';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { messagesOfCase } from '../../src/db/repos/messages.js';
import { surveyOfCase } from '../../src/db/repos/surveys.js';
import { silentLogger } from '../../src/log.js';
import { startDaemon, type Daemon } from '../../src/main.js';
import { writeConfig } from '../helpers/context.js';
import { headline } from '../helpers/headline.js';
import { SLA_CONFIG } from '../helpers/sla-config.js';
import { CHROMIUM, launchChromium, type Browser } from '../helpers/browser.js';

/**
 * A customer follows and rates their case in a real headless Chromium (Debian's package, driven
 * by playwright-core): the daemon receives a mail over SMTP, writes the confirmation as an .eml
 * (file transport), the test opens the signed link from that file, sees the status, sends a reply,
 * and after the case is resolved clicks a rating in the survey .eml, sends it, then changes it and adds a comment. Screenshots
 * at 375 px and 1280 px go to test-output/.
 */

const OUT = resolve(fileURLToPath(new URL('../../test-output', import.meta.url)));

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

let dir: string;
let chromiumBrowser: Browser;
let daemon: Daemon;
let browser: BrowserContext;
let outgoing: string;

async function emlOf(kind: RegExp, timeoutMs = 15_000): Promise<{ text: string; html: string }> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const files = existsSync(outgoing) ? readdirSync(outgoing).filter((f) => f.endsWith('.eml')) : [];
    for (const f of files.sort()) {
      const mail = await simpleParser(readFileSync(join(outgoing, f)));
      if (kind.test(headline(mail))) return { text: mail.text ?? '', html: typeof mail.html === 'string' ? mail.html : '' };
    }
    if (Date.now() > end) throw new Error(`no outgoing mail matching ${kind} in ${outgoing}: ${files.join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function shot(page: Page, name: string, width: number): Promise<string> {
  await page.setViewportSize({ width, height: 900 });
  const file = join(OUT, `${name}-${width}.png`);
  await page.screenshot({ path: file, fullPage: true });
  // Readable at this width: nothing wider than the viewport.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
  return file;
}

/** Landmarks, language, a label for every field, alt-free: what a screen reader needs. */
async function checkAccessible(page: Page): Promise<void> {
  const a11y = await page.evaluate(() => ({
    lang: document.documentElement.lang,
    main: document.querySelectorAll('main').length,
    banner: document.querySelectorAll('header[role="banner"]').length,
    contentinfo: document.querySelectorAll('footer[role="contentinfo"]').length,
    h1: document.querySelectorAll('h1').length,
    unlabelled: [...document.querySelectorAll('textarea, input:not([type="hidden"])')].filter((el) => {
      const id = el.getAttribute('id');
      return !el.getAttribute('aria-label') && !(id !== null && document.querySelector(`label[for="${id}"]`)) && el.closest('label') === null;
    }).length,
    scripts: document.querySelectorAll('script').length,
  }));
  expect(a11y).toEqual({ lang: 'en', main: 1, banner: 1, contentinfo: 1, h1: 1, unlabelled: 0, scripts: 0 });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (.ci/run does)`);
  mkdirSync(OUT, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'casegate-browser-'));
  const port = await freePort();
  const resolved = writeConfig(dir, {
    ...SLA_CONFIG,
    mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
    templates: { watch: false },
    listener: { port: 0 },
    outgoing: { transport: 'file', sweepSeconds: 1 },
    web: { enabled: true, port, baseUrl: `http://127.0.0.1:${port}` },
    jobs: { survey: { afterHours: 0 } },
  });
  outgoing = resolved.paths.outgoingDir;
  daemon = await startDaemon({ resolved, log: silentLogger() });
  chromiumBrowser = await launchChromium({ width: 375 });
  browser = chromiumBrowser.context;
});

afterAll(async () => {
  await chromiumBrowser?.close();
  await daemon?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('a customer in a real browser', () => {
  it('opens the link from the confirmation, sees the status, replies, rates and comments', async () => {
    const client = nodemailer.createTransport({ host: '127.0.0.1', port: daemon.smtp!.port, secure: false, ignoreTLS: true });
    await client.sendMail({ from: 'Jane Customer <jane@customer.example>', to: 'support@example.com', subject: 'Printer on fire', text: 'My printer is on fire.\nPlease help.' });
    client.close();

    const confirmation = await emlOf(/We have received your request and opened case/);
    const link = /Follow your case online \(status, replies\): (\S+)/.exec(confirmation.text)?.[1];
    expect(link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/c\/10001\.c\./);
    expect(confirmation.html).toContain(`href="${link}"`);

    const page = await browser.newPage();
    const res = await page.goto(link!);
    expect(res?.status()).toBe(200);
    await expect(page.title()).resolves.toBe('Case 10001: Printer on fire – Example Support');
    expect(await page.locator('dt:has-text("Status") + dd').textContent()).toBe('received, waiting for an agent'); // in words (issue 10)
    expect(await page.locator('dt:has-text("Handled by") + dd').textContent()).toBe('Erika');
    expect(await page.locator('.thread li').count()).toBe(1);
    await checkAccessible(page);
    const caseShots = [await shot(page, 'case-page', 375), await shot(page, 'case-page', 1280)];

    await page.getByLabel('Your message').fill('The error text is E-42.\nIt started this morning.');
    await Promise.all([page.waitForURL(/\?sent=1$/), page.getByRole('button', { name: 'Send reply' }).click()]);
    await expect(page.locator('[role="status"]').textContent()).resolves.toBe('Thank you, your reply was added to the case.');
    expect(await page.locator('.thread li').count()).toBe(2);
    expect(await page.locator('.thread li').nth(1).textContent()).toContain('It started this morning.');
    const c = (await caseByNumber(daemon.ctx.db, 10001))!;
    const inbound = (await messagesOfCase(daemon.ctx.db, c.id)).filter((m) => m.direction === 'in');
    expect(inbound.map((m) => m.thread_rule)).toEqual(['new', 'signed-reference']);

    // Resolved; the survey job sends the survey; the customer clicks "4" in it.
    await daemon.ctx.db.transaction().execute((trx) => setStatus(trx, daemon.ctx, c.id, 'resolved', { actor: 'agent:erika@example.com', reason: 'fixed' }));
    await daemon.jobs!.caughtUp;
    const run = await daemon.jobs!.run('survey', 'manual');
    expect(run?.sent).toBe(1);
    const survey = await emlOf(/How satisfied are you with our help\?/);
    const four = /^\s+4: (\S+)$/m.exec(survey.text)?.[1];
    expect(four).toMatch(/\/s\/10001\.s\.[^/]+\/4$/);
    await page.setViewportSize({ width: 375, height: 900 });
    await page.goto(four!);
    // The click chooses 4; nothing is recorded until the customer sends the form (mail scanners fetch every link).
    await expect(page.locator('[role="status"]').textContent()).resolves.toBe('You chose 4 of 5. Press “Save” to send us your rating; a comment is welcome too.');
    expect(await page.getByLabel('4 of 5').isChecked()).toBe(true);
    expect(await surveyOfCase(daemon.ctx.db, c.id)).toBeUndefined();
    await checkAccessible(page);
    const surveyShots = [await shot(page, 'survey-page', 375), await shot(page, 'survey-page', 1280)];
    await Promise.all([page.waitForURL(/\?saved=1$/), page.getByRole('button', { name: 'Save' }).click()]);
    await expect(page.locator('[role="status"]').textContent()).resolves.toBe('Thank you! We recorded your rating: 4 of 5.');
    expect(await surveyOfCase(daemon.ctx.db, c.id)).toMatchObject({ rating: 4 });
    await page.locator('label.rating', { hasText: '5' }).click();
    await page.getByLabel('Anything you would like to tell us? (optional)').fill('Quick and friendly, thank you!');
    await Promise.all([page.waitForURL(/\?saved=1$/), page.getByRole('button', { name: 'Save' }).click()]);
    expect(await page.getByLabel('5 of 5').isChecked()).toBe(true);
    expect(await page.locator('main').textContent()).toContain('Quick and friendly, thank you!');
    expect(await surveyOfCase(daemon.ctx.db, c.id)).toMatchObject({ rating: 5, comment: 'Quick and friendly, thank you!' });
    await emlOf(/Thank you for rating our help with case 10001/);

    for (const [file, width] of [...caseShots, ...surveyShots].map((f) => [f, Number(/-(\d+)\.png$/.exec(f)![1])] as const)) {
      expect(statSync(file).size).toBeGreaterThan(5_000);
      // PNG header: the width is the big-endian integer at byte 16 (device scale factor 1).
      expect(readFileSync(file).readUInt32BE(16)).toBe(width);
    }
  });
});
