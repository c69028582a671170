/**
 * The daemon's MIME thread (src/mime/mime-thread.ts) against the main thread: the same ParsedMail
 * and visible text for real-world messages, attachments in the same blob store, errors with their
 * code, outgoing email built into the bytes nodemailer builds, and the faults (a thread that
 * crashes, one that stops answering) that must never lose a message. Runs the compiled thread file
 * (dist/src/mime/mime-worker.js: `npm test` builds first) and the bundle's (dist/bin/mime-worker.js).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import type Mail from 'nodemailer/lib/mailer/index.js';
import { afterEach, describe, expect, it } from 'vitest';
import { mainThreadMime, MimeThread, mimeWorkerUrl, type Mime } from '../../src/mime/mime-thread.js';
import { contentDigest } from '../../src/mail-in/content-digest.js';
import { DEFAULT_PARSE_LIMITS, type ParseLimits } from '../../src/mail-in/parse-mail.js';
import { TransientError } from '../../src/pipeline/types.js';
import { BlobStore, type StoredBlob } from '../../src/storage/blob-store.js';
import { corpusAvailable, rawCorpusFiles } from '../helpers/corpus.js';
import { BUNDLE_MIME_WORKER, TSC_MIME_WORKER } from '../helpers/mime-worker.js';
import { tempDir } from '../helpers/temp-dirs.js';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');
const TIMEOUT = 30_000;

const open: Mime[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
});

/** A MIME thread; by default the bundle's file, which the daemon runs (both files: the tests that name them). */
function thread(blobs: BlobStore, url: URL = BUNDLE_MIME_WORKER): { parser: MimeThread; lost: { reason: string; jobs: number }[] } {
  const lost: { reason: string; jobs: number }[] = [];
  const parser = new MimeThread(blobs, url, (reason, jobs) => lost.push({ reason, jobs }));
  open.push(parser);
  return { parser, lost };
}

/** A MIME thread whose file answers each job with `onMessage` (a crash, silence …). */
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

describe('MIME thread: parsing', () => {
  it('finds the compiled thread beside its module, in the tsc build and in the bundle', () => {
    expect(existsSync(fileURLToPath(TSC_MIME_WORKER))).toBe(true);
    expect(existsSync(fileURLToPath(BUNDLE_MIME_WORKER))).toBe(true);
    expect(mimeWorkerUrl(pathToFileURL(join(ROOT, 'dist', 'src', 'mime', 'mime-thread.js')).href)?.href).toBe(TSC_MIME_WORKER.href);
    // The bundle keeps shared code in dist/bin/chunks/: the thread's file is one folder up.
    expect(mimeWorkerUrl(pathToFileURL(join(ROOT, 'dist', 'bin', 'chunks', 'mime-thread-XYZ.js')).href)?.href).toBe(BUNDLE_MIME_WORKER.href);
    expect(mimeWorkerUrl(pathToFileURL(join(ROOT, 'dist', 'bin', 'casegate.js')).href)?.href).toBe(BUNDLE_MIME_WORKER.href);
    // Run from its TypeScript source (as here): no compiled thread, parsing stays on the main thread.
    expect(mimeWorkerUrl(pathToFileURL(join(ROOT, 'src', 'mime', 'mime-thread.ts')).href)).toBeNull();
  });

  it(
    'gives the main thread’s ParsedMail and visible text for real-world messages (every 8th corpus file)',
    async () => {
      if (!corpusAvailable()) return;
      const blobs = new BlobStore(join(tempDir('casegate-mime-'), 'blobs'));
      const main = mainThreadMime(blobs);
      const files = rawCorpusFiles().filter((_, i) => i % 8 === 0);
      expect(files.length).toBeGreaterThan(150);
      const limits: ParseLimits = { ...DEFAULT_PARSE_LIMITS, maxMimeParts: 1000 };
      // The bundle's thread converts HTML with html-to-text's converters compiled once (build/bundle.ts): the same text.
      // Each file is parsed once on the main thread and compared with both thread files' results.
      const threads = [TSC_MIME_WORKER, BUNDLE_MIME_WORKER].map((url) => ({ url, ...thread(blobs, url), withAttachments: 0, fromHtml: 0, withQuote: 0 }));
      for (const f of files) {
        const raw = await stored(blobs, readFileSync(f.file));
        const [here, ...there] = await Promise.all([main.parse(raw, limits, TIMEOUT).catch((e: Error) => e.message), ...threads.map((t) => t.parser.parse(raw, limits, TIMEOUT).catch((e: Error) => e.message))]);
        threads.forEach((t, i) => {
          const got = there[i]!;
          expect(got, `${f.rel} (${t.url.pathname})`).toEqual(here);
          if (typeof got !== 'string') {
            if (got.mail.attachments.length > 0) t.withAttachments++;
            if (got.mail.textFromHtml) t.fromHtml++;
            if (got.visible.hadQuote) t.withQuote++;
          }
        });
      }
      for (const t of threads) {
        expect(t.withAttachments).toBeGreaterThan(10);
        expect(t.fromHtml).toBeGreaterThan(3);
        expect(t.withQuote).toBeGreaterThan(10);
        expect(t.lost).toEqual([]);
      }
    },
    120_000,
  );

  it('stores attachments in the blob store from the thread, many messages in flight, through the bundle’s thread too', async () => {
    for (const url of [TSC_MIME_WORKER, BUNDLE_MIME_WORKER]) {
      const blobs = new BlobStore(join(tempDir('casegate-mime-'), 'blobs'));
      const { parser } = thread(blobs, url);
      const raws = await Promise.all(Array.from({ length: 24 }, (_, n) => stored(blobs, withAttachment(n))));
      const parsed = await Promise.all(raws.map((raw) => parser.parse(raw, DEFAULT_PARSE_LIMITS, TIMEOUT)));
      parsed.forEach(({ mail, visible, facts }, n) => {
        // The HTML's blockquote is the quoted history.
        expect(visible).toEqual({ text: `Hello, see invoice ${n}.`, hadQuote: true, hadSignature: false });
        // What dedupe and classify read, counted on the thread: the subject and the visible text's words.
        expect(facts.digest).toBe(contentDigest(mail));
        expect(facts.words).toMatchObject({ words: 4, hits: { en: 1, de: 0, fr: 0 }, scripts: { latin: 22 } });
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
    const mainErr = (await mainThreadMime(blobs).parse(raw, limits, TIMEOUT).catch((e: unknown) => e)) as { code?: unknown; message?: unknown };
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
      expect(parsed.map((m) => m.mail.subject)).toEqual([1, 2, 3].map((n) => `Invoice ${round * 10 + n}`));
    }
    // Three crashes (each with the messages it had), then the main thread parses everything.
    expect(lost).toHaveLength(3);
    expect(lost[0]).toEqual({ reason: 'the MIME thread exited (code 3)', jobs: expect.any(Number) as number });
    expect(lost.reduce((sum, l) => sum + l.jobs, 0)).toBeGreaterThanOrEqual(3);
    expect(lost[2]?.reason).toMatch(/3 times within a minute: all MIME work is done on the main thread from now on/);
  });

  it('a thread that stops answering is stopped after the time limit: that message fails with ETIMEDOUT (retried), the others are parsed', async () => {
    const { blobs, parser, lost } = brokenThread('() => {}');
    const [a, b] = await Promise.all([stored(blobs, withAttachment(1)), stored(blobs, withAttachment(2))]);
    const first = parser.parse(a, DEFAULT_PARSE_LIMITS, 300).catch((e: unknown) => e);
    const second = parser.parse(b, DEFAULT_PARSE_LIMITS, TIMEOUT);
    const err = (await first) as { code?: unknown };
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('ETIMEDOUT');
    expect((await second).mail.subject).toBe('Invoice 2');
    expect(lost).toEqual([{ reason: 'the MIME thread spent longer than the time limit on 1 job(s); restarted', jobs: 2 }]);
  });

  it('parses a message not held in memory (over 1 MB, streamed from its file) on the main thread, and starts no thread for it', async () => {
    const { blobs, parser, lost } = brokenThread('() => process.exit(3)');
    const blob = await stored(blobs, withAttachment(5));
    const { mail } = await parser.parse({ sha256: blob.sha256, size: blob.size, path: blob.path }, DEFAULT_PARSE_LIMITS, TIMEOUT);
    expect(mail.subject).toBe('Invoice 5');
    expect(mail.attachments).toHaveLength(1);
    // The crashing thread never saw it: nothing was lost.
    expect(lost).toEqual([]);
  });

  it('writes a held message’s file (BlobStore.hold) before parsing it, on the thread and on the main thread', async () => {
    for (const where of ['thread', 'main'] as const) {
      const blobs = new BlobStore(join(tempDir('casegate-mime-'), 'blobs'));
      const { parser, lost } = where === 'thread' ? thread(blobs) : { parser: mainThreadMime(blobs), lost: [] };
      const bytes = withAttachment(3);
      const held = await blobs.hold(bytes);
      expect(existsSync(held.path)).toBe(false);
      const { mail } = await parser.parse(held, DEFAULT_PARSE_LIMITS, TIMEOUT);
      expect(mail.subject, where).toBe('Invoice 3');
      expect(held.held, where).toEqual({ written: true });
      expect(readFileSync(held.path).equals(bytes), where).toBe(true);
      expect(existsSync(blobs.pathFor(mail.attachments[0]!.sha256)), where).toBe(true);
      expect(lost).toEqual([]);
    }
  });

  it('does not parse a held message whose file cannot be written: a TransientError (offered again later), on the thread and on the main thread', async () => {
    for (const where of ['thread', 'main'] as const) {
      const dir = tempDir('casegate-mime-');
      // A file where the store's directory should be: every write fails (ENOTDIR), even as root.
      writeFileSync(join(dir, 'blobs'), 'not a directory');
      const blobs = new BlobStore(join(dir, 'blobs'));
      const { parser, lost } = where === 'thread' ? thread(blobs) : { parser: mainThreadMime(blobs), lost: [] };
      const held = await blobs.hold(withAttachment(4));
      const err = (await parser.parse(held, DEFAULT_PARSE_LIMITS, TIMEOUT).catch((e: unknown) => e)) as { code?: unknown; message?: unknown };
      expect(err, where).toBeInstanceOf(TransientError);
      expect(err.message, where).toMatch(/^could not store the message: ENOTDIR/);
      expect(err.code, where).toBe('ENOTDIR');
      expect(held.held, where).toEqual({ written: false });
      expect(lost).toEqual([]);
    }
  });

  it('after close, parses on the main thread', async () => {
    const blobs = new BlobStore(join(tempDir('casegate-mime-'), 'blobs'));
    const { parser, lost } = thread(blobs);
    await parser.close();
    const { mail } = await parser.parse(await stored(blobs, withAttachment(7)), DEFAULT_PARSE_LIMITS, TIMEOUT);
    expect(mail.subject).toBe('Invoice 7');
    expect(lost).toEqual([]);
  });
});

/** An outgoing email as the outbox hands it over (toMailOptions): plain data, non-ASCII, threading headers. */
function outgoing(n: number): Mail.Options {
  return {
    from: { name: 'Example Support', address: 'support@example.com' },
    to: { name: 'Jürgen "J" Müller', address: `customer${n}@example.org` },
    cc: [{ name: 'Ann', address: 'ann@example.org' }],
    replyTo: 'support+c10001@example.com',
    subject: `Re: Ärger mit der Rechnung ${n} – [#${10000 + n}]`,
    text: `##- Please type your reply above this line -##\n\nHallo Jürgen,\n\n${'Wir haben Ihre Anfrage erhalten. '.repeat(20)}\n`,
    html: `<p>##- Please type your reply above this line -##</p><p>Hallo J&uuml;rgen, ${'<b>Rechnung</b> '.repeat(40)}</p>`,
    messageId: `<case-${n}.abc@support.example.com>`,
    inReplyTo: `<orig-${n}@example.org>`,
    references: `<orig-${n}@example.org>`,
    date: new Date('2026-12-01T10:00:00Z'),
    headers: { 'Auto-Submitted': 'auto-replied', 'X-Loop': 'casegate@support.example.com' },
    xMailer: false,
    disableFileAccess: true,
    disableUrlAccess: true,
    // The same boundaries on both threads, so the bytes compare.
    baseBoundary: 'fixed',
  };
}

/** What nodemailer hands the relay for `options`: the message bytes (CRLF), envelope and Message-ID. */
async function asSent(options: Mail.Options): Promise<{ message: Buffer; envelope: unknown; messageId: string }> {
  const t = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  const info = (await t.sendMail(options)) as unknown as { message: Buffer; envelope: unknown; messageId: string };
  return { message: info.message, envelope: info.envelope, messageId: info.messageId };
}

describe('MIME thread: building outgoing email', () => {
  it('the transport sends exactly the bytes, envelope and Message-ID it would have built itself (both thread files)', async () => {
    for (const url of [TSC_MIME_WORKER, BUNDLE_MIME_WORKER]) {
      const blobs = new BlobStore(join(tempDir('casegate-mime-'), 'blobs'));
      const { parser, lost } = thread(blobs, url);
      const prepared = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => parser.prepare(outgoing(n), TIMEOUT)));
      for (const [i, p] of prepared.entries()) {
        expect(Buffer.isBuffer(p.raw)).toBe(true);
        expect(p.text).toBeUndefined();
        const [built, direct] = await Promise.all([asSent(p), asSent(outgoing(i + 1))]);
        expect(built.message.toString('latin1')).toBe(direct.message.toString('latin1'));
        expect(built.envelope).toEqual({ from: 'support@example.com', to: [`customer${i + 1}@example.org`, 'ann@example.org'] });
        expect(built.envelope).toEqual(direct.envelope);
        expect(built.messageId).toBe(direct.messageId);
      }
      expect(lost).toEqual([]);
    }
  });

  it('leaves stream content (an agent’s attachments from the blob store) and the main thread’s work to the transport', async () => {
    const blobs = new BlobStore(join(tempDir('casegate-mime-'), 'blobs'));
    const { parser } = thread(blobs);
    const withFile: Mail.Options = { ...outgoing(1), attachments: [{ filename: 'a.txt', content: Readable.from([Buffer.from('file')]) }] };
    expect(await parser.prepare(withFile, TIMEOUT)).toBe(withFile);
    const plain = outgoing(2);
    expect(await mainThreadMime(blobs).prepare(plain, TIMEOUT)).toBe(plain);
    await parser.close();
    expect(await parser.prepare(plain, TIMEOUT)).toBe(plain);
  });

  it('a thread that crashes or stops answering loses no email: the transport builds what it had', async () => {
    const crashing = brokenThread('() => process.exit(3)');
    const options = [outgoing(1), outgoing(2)];
    const prepared = await Promise.all(options.map((o) => crashing.parser.prepare(o, TIMEOUT)));
    prepared.forEach((p, i) => expect(p).toBe(options[i]));
    expect(crashing.lost).toEqual([{ reason: 'the MIME thread exited (code 3)', jobs: 2 }]);

    const silent = brokenThread('() => {}');
    const late = outgoing(3);
    expect(await silent.parser.prepare(late, 300)).toBe(late);
    expect(silent.lost).toEqual([{ reason: 'the MIME thread spent longer than the time limit on 1 job(s); restarted', jobs: 1 }]);
    // And the email as the transport then builds it is the whole message.
    expect((await asSent(late)).message.toString('latin1')).toMatch(/^Message-ID: <case-3\.abc@support\.example\.com>\r$/m);
  });

  it('options that cannot cross to the thread (a function among them) go to the transport; the thread serves the next email', async () => {
    const blobs = new BlobStore(join(tempDir('casegate-mime-'), 'blobs'));
    const { parser, lost } = thread(blobs);
    const odd = { ...outgoing(1), headers: { 'X-Computed': (() => 'x') as unknown as string } };
    expect(await parser.prepare(odd, TIMEOUT)).toBe(odd);
    expect(Buffer.isBuffer((await parser.prepare(outgoing(2), TIMEOUT)).raw)).toBe(true);
    // Nothing was left waiting for an answer (a job left behind would stop the thread at its deadline).
    await new Promise((r) => setTimeout(r, 1_200));
    expect(lost).toEqual([]);
  });

  it('a message the thread cannot build is handed to the transport as it was (its error is the transport’s to report)', async () => {
    const blobs = new BlobStore(join(tempDir('casegate-mime-'), 'blobs'));
    const { parser, lost } = thread(blobs);
    // An invalid OTP-Token makes nodemailer's composer throw.
    const bad: Mail.Options = { ...outgoing(1), otp: 'not a token' } as Mail.Options;
    expect(await parser.prepare(bad, TIMEOUT)).toBe(bad);
    expect(lost).toEqual([]);
  });
});
