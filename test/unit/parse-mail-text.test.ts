import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_PARSE_LIMITS, parseMailFile } from '../../src/mail-in/parse-mail.js';
import { parseWatchdog, ParserStalledError } from '../../src/mail-in/parse-watchdog.js';
import { extractVisibleText } from '../../src/mail-in/visible-text.js';
import { BlobStore } from '../../src/storage/blob-store.js';
import { tempDir } from '../helpers/temp-dirs.js';
import { parseForTest } from '../helpers/parse-for-test.js';

/** A paragraph repeated to make a part of about 100 KB (large parts are read in several chunks). */
const BIG = `${'<p>Line of an HTML newsletter that makes this part large enough to be read in chunks.</p>\n'.repeat(1200)}`;

const multipart = (eol: string, htmlBody = '<p>The export stops at 80 %.</p>'): string =>
  [
    'From: Ana <ana@example.org>',
    'To: support@example.com',
    'Subject: CR test',
    'Message-ID: <cr-1@example.org>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/alternative; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain; charset=UTF-8',
    '',
    'The export stops at 80 %.',
    '--b1',
    'Content-Type: text/html; charset=UTF-8',
    '',
    htmlBody,
    '--b1--',
    '',
  ].join(eol);

describe('parseMailFile: text parts', () => {
  // The parser watches mailparser's MIME nodes (for format=flowed and text/plain); stream
  // internals call read(0) on the splitter, which must not consume a node.
  it.each([
    ['CRLF', '\r\n'],
    ['LF', '\n'],
    ['CR only (old Mac)', '\r'],
  ])('a multipart/alternative message keeps its text and HTML (%s)', async (_name, eol) => {
    const parsed = await parseForTest(multipart(eol));
    expect(parsed.text?.trim()).toBe('The export stops at 80 %.');
    expect(parsed.html).toContain('<p>The export stops at 80 %.</p>');
    expect(parsed.textFromHtml).toBe(false);
  });

  it.each([
    ['CRLF', '\r\n'],
    ['CR only (old Mac)', '\r'],
  ])('a large multipart message keeps its parts (%s)', async (_name, eol) => {
    const parsed = await parseForTest(multipart(eol, `<p>The export stops at 80 %.</p>${eol}${BIG.replaceAll('\n', eol)}`));
    expect(parsed.text?.trim()).toBe('The export stops at 80 %.');
    expect(parsed.html).toContain('<p>The export stops at 80 %.</p>');
  });

  it('marks text converted from an HTML-only message', async () => {
    const raw = 'From: a@example.org\r\nTo: support@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<div>Hello <b>there</b></div><blockquote>old</blockquote>\r\n';
    const parsed = await parseForTest(raw);
    expect(parsed.textFromHtml).toBe(true);
    expect(parsed.text).toContain('Hello');
  });

  it('a plain-text message is not marked as converted', async () => {
    const parsed = await parseForTest('From: a@example.org\r\nTo: support@example.com\r\nSubject: x\r\n\r\nHello\r\n');
    expect(parsed.textFromHtml).toBe(false);
  });
});

describe('extractVisibleText with preferHtml', () => {
  it('reads the HTML when the text was only converted from it', () => {
    const html = '<div>Works now.</div><div class="gmail_quote"><div class="gmail_attr">On Mon, 8 Jan 2024 Support wrote:</div><blockquote class="gmail_quote">Please retry.</blockquote></div>';
    const text = 'Works now.\n\nOn Mon, 8 Jan 2024 Support wrote:\n\nPlease retry.';
    expect(extractVisibleText(text, html, { preferHtml: true })).toEqual({ text: 'Works now.', hadQuote: true, hadSignature: false });
  });

  it('falls back to the text when the HTML renders to nothing and had no quote', () => {
    const html = '<title>Everything the sender wrote is inside an unclosed title element';
    const text = 'Everything the sender wrote is inside an unclosed title element';
    expect(extractVisibleText(text, html, { preferHtml: true }).text).toBe(text);
  });

  it('an HTML reply that is nothing but a quote stays empty', () => {
    const html = '<blockquote type="cite">Please retry.</blockquote>';
    expect(extractVisibleText('> Please retry.', html, { preferHtml: true })).toEqual({ text: '', hadQuote: true, hadSignature: false });
  });
});

describe('parseMailFile: input mailparser stalls on (src/mail-in/parse-watchdog.ts)', () => {
  // mailparser never ends when the input stops inside the header block of an inline
  // message/rfc822 part. The watchdog notices the stall and the message is read once more with
  // that header block closed.
  const CRLF = (lines: string[]): string => lines.join('\r\n');
  const cutForward = CRLF(['From: Ann <ann@customer.example>', 'Subject: Fwd: invoice', 'Content-Type: multipart/mixed; boundary="b1"', '', '--b1', 'Content-Disposition: inline', 'Content-Type: message/rfc822', 'Content-Descr']);
  const cutTop = CRLF(['Content-Disposition: inline', 'Content-Transfer-Encoding: binary', 'Content-Type: message/rfc822', 'MIME-V']);
  const limits = { ...DEFAULT_PARSE_LIMITS, stallMs: 300 };
  const dir = (): string => tempDir('casegate-stall-');

  it.each([
    ['a forward cut off in its inline part’s headers', cutForward, 'Fwd: invoice'],
    ['a message cut off in its own headers, an inline message/rfc822', cutTop, ''],
  ])('%s: parsed (from a file and from memory)', async (_what, raw, subject) => {
    const d = dir();
    const blobs = new BlobStore(join(d, 'blobs'));
    const bytes = Buffer.from(raw);
    writeFileSync(join(d, 'm.eml'), bytes);
    const fromFile = await parseMailFile(join(d, 'm.eml'), blobs, limits);
    const stored = await blobs.putBuffer(bytes);
    const fromMemory = await parseMailFile(stored, blobs, limits);
    for (const parsed of [fromFile, fromMemory]) {
      expect(parsed.subject).toBe(subject);
      expect(parsed.from?.address ?? null).toBe(subject !== '' ? 'ann@customer.example' : null);
      expect(parsed.contentType).toBe(subject !== '' ? 'multipart/mixed' : 'message/rfc822');
    }
    // The stored message is the one that came, without the blank line the parser was given.
    expect(readFileSync(stored.path)).toEqual(bytes);
  });

  it('the watchdog: no stall while something moves, a stall once nothing does after the end of the input', async () => {
    // The test's clock: a loaded machine's late timers must not decide it.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'performance'] });
    try {
      const w = parseWatchdog(200);
      let settled: string | null = null;
      const never = new Promise<void>(() => undefined);
      const guarded = w.guard(never).then(
        () => (settled = 'resolved'),
        (err: unknown) => (settled = err instanceof ParserStalledError ? 'stalled' : String(err)),
      );
      // Before the end of the input no stall is declared, however long it takes.
      await vi.advanceTimersByTimeAsync(5_000);
      expect(settled).toBeNull();
      w.inputEnded();
      // Progress keeps it alive.
      for (let i = 0; i < 6; i++) {
        await vi.advanceTimersByTimeAsync(150);
        w.progress();
      }
      expect(settled).toBeNull();
      await vi.advanceTimersByTimeAsync(1_000);
      await guarded;
      expect(settled).toBe('stalled');
    } finally {
      vi.useRealTimers();
    }
    // Work that finishes is passed through.
    expect(await parseWatchdog(200).guard(Promise.resolve(42))).toBe(42);
  });
});
