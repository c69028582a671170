import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type CDPSession, type Page } from 'playwright-core';

/** Debian's Chromium (browser downloads fail here); .ci/run installs the package. */
export const CHROMIUM = '/usr/bin/chromium';

export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/**
 * A real headless Chromium driven by playwright-core, with a throw-away profile and no
 * background networking. Under CI=true a missing Chromium is an error.
 */
export async function launchChromium(opts: { width?: number; javaScript?: boolean } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (.ci/run does)`);
  const profile = mkdtempSync(join(tmpdir(), 'casegate-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: opts.width ?? 375, height: 900 },
    ...(opts.javaScript === false ? { javaScriptEnabled: false } : {}),
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

const sessions = new WeakMap<Page, Promise<CDPSession>>();

/**
 * A full-page PNG of what the page shows, the picture page.screenshot({ fullPage: true }) takes
 * (the same clip, scale and beyond-viewport capture), in one DevTools call: the caller has measured
 * the document already (as Playwright measures it: the largest of the scroll, offset and client
 * sizes of <html> and <body>) and waited for its fonts, which Playwright does in several more round
 * trips per screenshot.
 */
export async function fullPageScreenshot(page: Page, size: { readonly width: number; readonly height: number }): Promise<Buffer> {
  let session = sessions.get(page);
  if (session === undefined) {
    session = page.context().newCDPSession(page);
    sessions.set(page, session);
  }
  const viewport = page.viewportSize();
  const fits = viewport !== null && size.width <= viewport.width && size.height <= viewport.height;
  // optimizeForSpeed: the same pixels (PNG), compressed less; encoding was the largest part of a screenshot's CPU.
  const { data } = await (await session).send('Page.captureScreenshot', { format: 'png', clip: { x: 0, y: 0, width: size.width, height: size.height, scale: 1 }, captureBeyondViewport: !fits, optimizeForSpeed: true });
  return Buffer.from(data, 'base64');
}

/** What assistive technology gets for the element that has focus, from Chromium's accessibility tree. */
export interface FocusedNode {
  readonly role: string;
  readonly name: string;
  readonly description: string;
  readonly invalid: boolean;
  /** Its text (what a screen reader reads out for a focused live region or notice). */
  readonly text: string;
}

/**
 * The focused element as Chromium's accessibility tree has it (DevTools Accessibility domain):
 * role, accessible name and description as computed by the browser, aria-invalid. The page's
 * title: page.title().
 */
export async function focusedNode(page: Page): Promise<FocusedNode> {
  // After a form post the new document may still be loading (autofocus runs once it is parsed).
  await page.waitForFunction(() => document.readyState === 'complete' && document.activeElement !== null);
  const session = await page.context().newCDPSession(page);
  try {
    const { result } = await session.send('Runtime.evaluate', { expression: 'document.activeElement' });
    if (result.objectId === undefined) throw new Error('no active element');
    const { node } = await session.send('DOM.describeNode', { objectId: result.objectId });
    const { nodes } = await session.send('Accessibility.getPartialAXTree', { backendNodeId: node.backendNodeId, fetchRelatives: false });
    const ax = nodes[0];
    const text = await page.evaluate(() => document.activeElement?.textContent ?? '');
    const value = (v: { value?: unknown } | undefined): string => (typeof v?.value === 'string' ? v.value : '');
    const invalid = ax?.properties?.find((p) => p.name === 'invalid');
    return {
      role: value(ax?.role),
      name: value(ax?.name),
      description: value(ax?.description),
      invalid: invalid !== undefined && invalid.value.value !== 'false',
      text: text.replace(/\s+/g, ' ').trim(),
    };
  } finally {
    await session.detach();
  }
}

let axeSource: string | undefined;

/** The WCAG levels the customer pages and emails are held to (axe-core's rule tags): 2.2 AA. */
const WCAG_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

/**
 * What axe-core (Deque's WCAG checker) finds on the page as it is now, under WCAG 2.2 A/AA rules:
 * one line per rule and element ("color-contrast: main > p"), [] when it passes. Evaluated over
 * DevTools, so the pages' Content-Security-Policy (no scripts) does not stop it.
 */
export async function axeViolations(page: Page): Promise<string[]> {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(axeSource);
  return page.evaluate(async (tags) => {
    const axe = (window as unknown as { axe: typeof import('axe-core') }).axe;
    const result = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return result.violations.flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(' ')}`));
  }, WCAG_AA);
}
