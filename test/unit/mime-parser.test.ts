/**
 * The daemon's MIME parser thread (src/mail-in/mime-parser.ts) against the main thread's parse:
 * the same ParsedMail for real-world messages, attachments in the same blob store, errors with
 * their code, and the faults (a thread that crashes, one that stops answering) that must never lose
 * a message. Runs the compiled thread file (dist/src/mail-in/parse-worker.js: `npm test` builds
 * first) and the bundle's (dist/bin/parse-worker.js).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { mainThreadParser, ParserThread, parseWorkerUrl, type MimeParser } from '../../src/mail-in/mime-parser.js';
import { DEFAULT_PARSE_LIMITS, type ParseLimits } from '../../src/mail-in/parse-mail.js';
import { BlobStore, type StoredBlob } from '../../src/storage/blob-store.js';
import { corpusAvailable, rawCorpusFiles } from '../helpers/corpus.js';
import { tempDir } from '../helpers/temp-dirs.js';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');
const TSC_WORKER = pathToFileURL(join(ROOT, 'dist', 'src', 'mail-in', 'parse-worker.js'));
const BUNDLE_WORKER = pathToFileURL(join(ROOT, 'dist', 'bin', 'parse-worker.js'));
const TIMEOUT = 30_000;

const open: MimeParser[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
});

function thread(blobs: BlobStore, url: URL = TSC_WORKER): { parser: ParserThread; lost: { reason: string; messages: number }[] } {
  const lost: { reason: string; messages: number }[] = [];
  const parser = new ParserThread(blobs, url, (reason, messages) => lost.push({ reason, messages }));
  open.push(parser);
  return { parser, lost };
}

/** A parser thread whose file answers each message with `onMessage` (a crash, silence …). */
function brokenThread(onMessage: string): ReturnType<typeof thread> & { blobs: BlobStore } {
  const dir = tempDir('casegate-mime-');
  const file = join(dir, 'broken-worker.mjs');
  writeFileSync(file, `import { parentPort } from 'node:worker_threads';\nparentPort.on('message', ${onMessage});\n`);
  const blobs = new BlobStore(join(dir, 'blobs'));
  return { blobs, ...thread(blobs, pathToFileURL(file)) };
}

/** A raw message as the pipeline hands it over: stored, with its bytes in memory. */
async function stored(blobs: BlobStore, bytes: Buffer): Promise<StoredBlob> {
  return blobs.putBuffer(bytes);
}

function withAttachment(n: number): Buffer {
  const content = Buffer.alloc(3000 + n, `attachment ${n} `);
  return Buffer.from(
    [
      'From: Jane <jane@example.com>',
      'To: support@example.com',
      `Subject: Invoice ${n}`,
      `Message-ID: <att-${n}@example.com>`,
      'Date: Tue, 01 Dec 2026 10:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/html; charset=utf-8',
      '',
      `<p>Hello, see <b>invoice ${n}</b>.</p><blockquote>old text</blockquote>`,
      '--b1',
      'Content-Type: application/pdf; name="invoice.pdf"',
      'Content-Disposition: attachment; filename="invoice.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      content.toString('base64').replace(/.{76}/g, '$&\r\n'),
      '--b1--',
      '',
    ].join('\r\n'),
  );
}

describe('MIME parser thread', () => {
  it('finds the compiled thread beside its module, in the tsc build and in the bundle', () => {
    expect(existsSync(fileURLToPath(TSC_WORKER))).toBe(true);
    expect(existsSync(fileURLToPath(BUNDLE_WORKER))).toBe(true);
    expect(parseWorkerUrl(pathToFileURL(join(ROOT, 'dist', 'src', 'mail-in', 'mime-parser.js')).href)?.href).toBe(TSC_WORKER.href);
    // The bundle keeps shared code in dist/bin/chunks/: the thread's file is one folder up.
    expect(parseWorkerUrl(pathToFileURL(join(ROOT, 'dist', 'bin', 'chunks', 'mime-parser-XYZ.js')).href)?.href).toBe(BUNDLE_WORKER.href);
    expect(parseWorkerUrl(pathToFileURL(join(ROOT, 'dist', 'bin', 'casegate.js')).href)?.href).toBe(BUNDLE_WORKER.href);
    // Run from its TypeScript source (as here): no compiled thread, parsing stays on the main thread.
    expect(parseWorkerUrl(pathToFileURL(join(ROOT, 'src', 'mail-in', 'mime-parser.ts')).href)).toBeNull();
  });

  it(
    'gives the main thread’s ParsedMail for real-world messages (every 8th corpus file)',
    async () => {
      if (!corpusAvailable()) return;
      const blobs = new BlobStore(join(tempDir('casegate-mime-'), 'blobs'));
      const main = mainThreadParser(blobs);
      const { parser, lost } = thread(blobs);
      const files = rawCorpusFiles().filter((_, i) => i % 8 === 0);
      expect(files.length).toBeGreaterThan(150);
      const limits: ParseLimits = { ...DEFAULT_PARSE_LIMITS, maxMimeParts: 1000 };
      let withAttachments = 0;
      let fromHtml = 0;
      for (const f of files) {
        const raw = await stored(blobs, readFileSync(f.file));
        const [here, there] = await Promise.all([main.parse(raw, limits, TIMEOUT).catch((e: Error) => e.message), parser.parse(raw, limits, TIMEOUT).catch((e: Error) => e.message)]);
        expect(there, f.rel).toEqual(here);
        if (typeof there !== 'string') {
          if (there.attachments.length > 0) withAttachments++;
          if (there.textFromHtml) fromHtml++;
        }
      }
      expect(withAttachments).toBeGreaterThan(10);
      expect(fromHtml).toBeGreaterThan(3);
      expect(lost).toEqual([]);
    },
    120_000,
  );

  it('stores attachments in the blob store from the thread, many messages in flight, through the bundle’s thread too', async () => {
    for (const url of [TSC_WORKER, BUNDLE_WORKER]) {
      const blobs = new BlobStore(join(tempDir('casegate-mime-'), 'blobs'));
      const { parser } = thread(blobs, url);
      const raws = await Promise.all(Array.from({ length: 24 }, (_, n) => stored(blobs, withAttachment(n))));
      const parsed = await Promise.all(raws.map((raw) => parser.parse(raw, DEFAULT_PARSE_LIMITS, TIMEOUT)));
      parsed.forEach((mail, n) => {
        expect(mail.subject).toBe(`Invoice ${n}`);
        expect(mail.date).toEqual(new Date('2026-12-01T10:00:00Z'));
        expect(mail.headers.get('message-id')).toEqual([`<att-${n}@example.com>`]);
        expect(mail.textFromHtml).toBe(true);
        const [att] = mail.attachments;
        expect(att?.filename).toBe('invoice.pdf');
        expect(readFileSync(blobs.pathFor(att!.sha256))).toEqual(Buffer.alloc(3000 + n, `attachment ${n} `));
      });
    }
  });

  it('passes an error’s code across: too many MIME parts (EMAXLEN) is refused as on the main thread', async () => {
    const blobs = new BlobStore(join(tempDir('casegate-mime-'), 'blobs'));
    const { parser } = thread(blobs);
    const parts = Array.from({ length: 30 }, (_, i) => `--b\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`).join('');
    const raw = await stored(blobs, Buffer.from(`From: a@example.com\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n${parts}--b--\r\n`));
    const limits = { ...DEFAULT_PARSE_LIMITS, maxMimeParts: 10 };
    const err = (await parser.parse(raw, limits, TIMEOUT).catch((e: unknown) => e)) as { code?: unknown; message?: unknown };
    const mainErr = (await mainThreadParser(blobs).parse(raw, limits, TIMEOUT).catch((e: unknown) => e)) as { code?: unknown; message?: unknown };
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('EMAXLEN');
    expect(err.code).toBe(mainErr.code);
    expect(err.message).toBe(mainErr.message);
  });

  it('a thread that crashes loses nothing: its messages are parsed on the main thread; after three crashes it is not restarted', async () => {
    const { blobs, parser, lost } = brokenThread('() => process.exit(3)');
    for (let round = 0; round < 4; round++) {
      const raws = await Promise.all([1, 2, 3].map((n) => stored(blobs, withAttachment(round * 10 + n))));
      const parsed = await Promise.all(raws.map((raw) => parser.parse(raw, DEFAULT_PARSE_LIMITS, TIMEOUT)));
      expect(parsed.map((m) => m.subject)).toEqual([1, 2, 3].map((n) => `Invoice ${round * 10 + n}`));
    }
    // Three crashes (each with the messages it had), then the main thread parses everything.
    expect(lost).toHaveLength(3);
    expect(lost[0]).toEqual({ reason: 'the MIME parser thread exited (code 3)', messages: expect.any(Number) as number });
    expect(lost.reduce((sum, l) => sum + l.messages, 0)).toBeGreaterThanOrEqual(3);
    expect(lost[2]?.reason).toMatch(/3 times within a minute: every message is parsed on the main thread from now on/);
  });

  it('a thread that stops answering is stopped after the time limit: that message fails with ETIMEDOUT (retried), the others are parsed', async () => {
    const { blobs, parser, lost } = brokenThread('() => {}');
    const [a, b] = await Promise.all([stored(blobs, withAttachment(1)), stored(blobs, withAttachment(2))]);
    const first = parser.parse(a, DEFAULT_PARSE_LIMITS, 300).catch((e: unknown) => e);
    const second = parser.parse(b, DEFAULT_PARSE_LIMITS, TIMEOUT);
    const err = (await first) as { code?: unknown };
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('ETIMEDOUT');
    expect((await second).subject).toBe('Invoice 2');
    expect(lost).toEqual([{ reason: 'the MIME parser thread spent longer than the stage time limit on 1 message(s); restarted', messages: 2 }]);
  });

  it('parses a message not held in memory (over 1 MB, streamed from its file) on the main thread, and starts no thread for it', async () => {
    const { blobs, parser, lost } = brokenThread('() => process.exit(3)');
    const blob = await stored(blobs, withAttachment(5));
    const mail = await parser.parse({ sha256: blob.sha256, size: blob.size, path: blob.path }, DEFAULT_PARSE_LIMITS, TIMEOUT);
    expect(mail.subject).toBe('Invoice 5');
    expect(mail.attachments).toHaveLength(1);
    // The crashing thread never saw it: nothing was lost.
    expect(lost).toEqual([]);
  });

  it('after close, parses on the main thread', async () => {
    const blobs = new BlobStore(join(tempDir('casegate-mime-'), 'blobs'));
    const { parser, lost } = thread(blobs);
    await parser.close();
    const mail = await parser.parse(await stored(blobs, withAttachment(7)), DEFAULT_PARSE_LIMITS, TIMEOUT);
    expect(mail.subject).toBe('Invoice 7');
    expect(lost).toEqual([]);
  });
});
