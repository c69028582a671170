import { existsSync, mkdtempSync, rmSync } from 'node:fs';
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
  const { data } = await (await session).send('Page.captureScreenshot', { format: 'png', clip: { x: 0, y: 0, width: size.width, height: size.height, scale: 1 }, captureBeyondViewport: !fits });
  return Buffer.from(data, 'base64');
}
