import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { templateDeclaration } from '../../src/mail-out/template-data.js';
import { fullPageScreenshot, launchChromium, type Browser } from '../helpers/browser.js';
import { EMAIL_KINDS, labelOf, sharedSampleCorpus, type SampleMail, type SentSampleCorpus } from '../helpers/outgoing-samples.js';

/**
 * Issue 14 item 4: the HTML part of every email kind (en, de; realistic, hostile and non-Latin
 * data) as a real headless Chromium renders it, at 375 px and 1280 px. Screenshots go to
 * test-output/emails/. Checked: nothing wider than the window, no template syntax or JavaScript
 * leftovers in what the reader sees, no remote resource (every request is blocked and counted),
 * inline CSS only, text with enough contrast on a background the email sets itself (not the
 * client's canvas, which dark mode changes), and the text part carrying the facts of the HTML part.
 */

const OUT = resolve(fileURLToPath(new URL('../../test-output/emails', import.meta.url)));
const WIDTHS = [375, 1280] as const;
const LEFTOVERS = ['{{', '}}', '[object Object]', 'undefined', 'NaN'];

interface Rendered {
  readonly overflow: number;
  readonly text: string;
  readonly strong: string[];
  readonly links: string[];
  readonly colorScheme: string | null;
  readonly scripts: number;
  readonly lowContrast: string[];
  readonly onCanvas: string[];
  /** The whole page (what a full-page screenshot covers). */
  readonly page: { readonly width: number; readonly height: number };
}

/** Runs in the page: what a reader sees and the colours they see it in. */
async function inspect(page: Page): Promise<Rendered> {
  return page.evaluate(async () => {
    await document.fonts.ready;
    const rgba = (c: string): [number, number, number, number] => {
      const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/.exec(c);
      return m ? [Number(m[1]), Number(m[2]), Number(m[3]), m[4] !== undefined ? Number(m[4]) : 1] : [0, 0, 0, 0];
    };
    const lum = ([r, g, b]: [number, number, number, number]): number => {
      const f = (v: number): number => {
        const s = v / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const lowContrast: string[] = [];
    const onCanvas: string[] = [];
    for (const el of Array.from(document.body.querySelectorAll('*'))) {
      const own = Array.from(el.childNodes).some((n) => n.nodeType === Node.TEXT_NODE && (n.textContent ?? '').trim() !== '');
      if (!own) continue;
      const style = getComputedStyle(el);
      if (style.visibility === 'hidden' || style.display === 'none') continue;
      // The background behind the text: the nearest element that paints one. html and body do not
      // count: webmail drops their styles and dark mode repaints the canvas.
      let bg: Element | null = el;
      while (bg !== null && bg !== document.body && rgba(getComputedStyle(bg).backgroundColor)[3] === 0) bg = bg.parentElement;
      const sample = `${el.tagName.toLowerCase()} "${(el.textContent ?? '').trim().slice(0, 40)}"`;
      if (bg === null || bg === document.body || bg === document.documentElement) {
        onCanvas.push(sample);
        continue;
      }
      const a = lum(rgba(style.color));
      const b = lum(rgba(getComputedStyle(bg).backgroundColor));
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (ratio < 4.5) lowContrast.push(`${sample} ${style.color} on ${getComputedStyle(bg).backgroundColor} = ${ratio.toFixed(2)}`);
    }
    return {
      overflow: document.documentElement.scrollWidth,
      text: document.body.innerText,
      strong: Array.from(document.querySelectorAll('strong, b')).map((e) => (e.textContent ?? '').replace(/\s+/g, ' ').trim()).filter((t) => t !== ''),
      links: Array.from(document.querySelectorAll('a[href]')).map((a) => a.getAttribute('href') ?? ''),
      colorScheme: document.querySelector('meta[name="color-scheme"]')?.getAttribute('content') ?? null,
      scripts: document.querySelectorAll('script').length,
      lowContrast,
      onCanvas,
      // The document's extent as Playwright's full-page screenshot measures it.
      page: {
        width: Math.max(document.body.scrollWidth, document.documentElement.scrollWidth, document.body.offsetWidth, document.documentElement.offsetWidth, document.body.clientWidth, document.documentElement.clientWidth),
        height: Math.max(document.body.scrollHeight, document.documentElement.scrollHeight, document.body.offsetHeight, document.documentElement.offsetHeight, document.body.clientHeight, document.documentElement.clientHeight),
      },
    };
  });
}

/** The source HTML: inline CSS only, nothing fetched from elsewhere. */
function staticProblems(html: string): string[] {
  const p: string[] = [];
  if (/<link\b/i.test(html)) p.push('<link>');
  if (/<style\b/i.test(html)) p.push('<style> element (inline CSS only)');
  if (/<script\b/i.test(html)) p.push('<script>');
  if (/url\s*\(/i.test(html)) p.push('url() in CSS');
  if (/@import/i.test(html)) p.push('@import');
  for (const m of html.matchAll(/<(?:img|iframe|video|audio|source|object|embed)\b[^>]*>/gi)) {
    if (!/\bsrc\s*=\s*"(?:cid:|data:)/i.test(m[0])) p.push(`external ${m[0].slice(0, 60)}`);
  }
  return p;
}

const norm = (s: string): string => s.replace(/\s+/g, ' ').trim();

let corpus: SentSampleCorpus;
let browser: Browser;
beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  [corpus, browser] = await Promise.all([sharedSampleCorpus(), launchChromium()]);
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await corpus?.close();
});

/**
 * Pages rendering at once: the page work waits on Chromium's renderer, compositor and encoder in
 * turn, so a few pages keep both cores busy. Each page (and its renderer process) serves one kind
 * after another: a page of its own for each kind started a renderer process per kind (26).
 */
const PAGES = 3;
interface Slot {
  readonly page: Page;
  /** Where the page's blocked requests are counted: the kind it is showing. */
  requests: string[];
}
const free: Slot[] = [];
const waiting: ((slot: Slot) => void)[] = [];
let opened = 0;
async function withPage<T>(f: (slot: Slot) => Promise<T>): Promise<T> {
  let slot = free.pop();
  if (slot === undefined && opened < PAGES) {
    opened += 1;
    const page = await browser.context.newPage();
    const s: Slot = { page, requests: [] };
    // Every request is blocked (nothing may be fetched) and counted for the kind on the page.
    await page.route('**/*', (route) => {
      s.requests.push(route.request().url());
      return route.abort();
    });
    slot = s;
  }
  slot ??= await new Promise<Slot>((r) => waiting.push(r));
  try {
    return await f(slot);
  } finally {
    const next = waiting.shift();
    if (next !== undefined) next(slot);
    else free.push(slot);
  }
}

describe('every email kind in a real Chromium at 375 px and 1280 px', () => {
  it.concurrent.for(EMAIL_KINDS)('%s', async (kind, { expect }) => {
    const mails = corpus.mails.filter((m) => m.kind === kind);
    expect(mails.length).toBe(6);
    const problems: string[] = [];
    const requests = await withPage(async (slot) => {
      slot.requests = [];
      for (const m of mails) await checkMail(slot.page, m, problems);
      return slot.requests;
    });
    expect(problems).toEqual([]);
    expect(requests).toEqual([]);
  });
});

/** One email: its source, then the page at each width (overflow checked and a screenshot written at each), then the facts. */
async function checkMail(page: Page, m: SampleMail, problems: string[]): Promise<void> {
  const html = typeof m.parsed.html === 'string' ? m.parsed.html : '';
  const textPart = m.parsed.text ?? '';
  const at = labelOf(m);
  for (const s of staticProblems(html)) problems.push(`${at}: ${s}`);
  for (const t of LEFTOVERS) {
    if ((m.parsed.subject ?? '').includes(t)) problems.push(`${at}: "${t}" in the subject`);
    if (textPart.includes(t)) problems.push(`${at}: "${t}" in the text part`);
  }
  await page.setContent(html, { waitUntil: 'load' });
  let seen: Rendered | null = null;
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    const r = await inspect(page);
    seen ??= r;
    if (r.overflow > width) problems.push(`${at}: ${r.overflow} px wide at ${width} px (horizontal scrolling)`);
    writeFileSync(join(OUT, `${m.kind}-${m.language}-${m.variant}-${width}.png`), await fullPageScreenshot(page, r.page));
  }
  const r = seen!;
  for (const t of LEFTOVERS) if (r.text.includes(t)) problems.push(`${at}: "${t}" shown in the HTML part`);
  if (r.scripts > 0) problems.push(`${at}: ${r.scripts} <script> element(s)`);
  if (r.colorScheme === null) problems.push(`${at}: no color-scheme meta`);
  for (const x of r.onCanvas) problems.push(`${at}: text on the client's canvas (no background of its own): ${x}`);
  for (const x of r.lowContrast) problems.push(`${at}: contrast below 4.5:1: ${x}`);
  // The text part carries the facts of the HTML part: what it emphasises, and every link.
  const text = norm(textPart);
  for (const s of r.strong) if (!text.toLowerCase().includes(norm(s).toLowerCase())) problems.push(`${at}: "${s}" (emphasised in HTML) missing from the text part`);
  for (const l of r.links) {
    const target = l.startsWith('mailto:') ? l.slice(7) : l;
    if (!text.includes(target)) problems.push(`${at}: link ${l} missing from the text part`);
  }
  if (m.caseNumber !== null) {
    for (const [part, body] of [['text', text], ['html', norm(r.text)]] as const) {
      if (!body.includes(String(m.caseNumber))) problems.push(`${at}: case number missing from the ${part} part`);
    }
  }
  // Links count as shown in the HTML part: the reader clicks them.
  factsOfKind(m, text, norm(`${r.text} ${r.links.join(' ')}`), problems);
}

/** Facts a kind must state in both parts (from the data it was rendered with): status, links, promise. */
function factsOfKind(m: SampleMail, text: string, html: string, problems: string[]): void {
  const both = (label: string, value: unknown): void => {
    if (typeof value !== 'string' || value === '') return;
    for (const [part, body] of [['text', text], ['html', html]] as const) if (!body.includes(norm(value))) problems.push(`${labelOf(m)}: ${label} "${value}" missing from the ${part} part`);
  };
  const d = (m.data ?? {}) as Record<string, Record<string, unknown> | undefined>;
  if (templateDeclaration(m.kind).audience === 'customer') {
    both('status', m.facts.statusLabel);
    both('case link', (m.data as { caseLink?: unknown } | null)?.caseLink);
  }
  both('survey link', d['survey']?.['url']);
  if (m.kind === 'status-changed') both('new status', d['status']?.['label']);
  if (m.kind === 'confirmation') both('promised reply time', m.facts.promiseDue);
}

describe('the screenshots', () => {
  it('exist for every kind, language, variant and width', async () => {
    const { readdirSync } = await import('node:fs');
    const files = new Set(readdirSync(OUT));
    const missing = corpus.mails.flatMap((m) => WIDTHS.map((w) => `${m.kind}-${m.language}-${m.variant}-${w}.png`)).filter((f) => !files.has(f));
    expect(missing).toEqual([]);
  });
});
