/**
 * Where MIME work happens: on the main thread (one-shot commands, tests run from sources) or, in
 * the daemon, on one MIME thread (mime.parseThread, default on). The thread does three things:
 *  - parses inbound messages up to 1 MB and reads what their writer added (the visible text);
 *  - builds outgoing emails into their bytes before the transport signs and sends them;
 *  - or, for the SMTP transport, builds, signs and sends them itself through its own pool
 *    (thread-smtp.ts: the relay's replies then never wait for the main thread's commits).
 *
 * Why a thread: parsing (mailparser, its HTML-to-text conversion, charset decoding, attachment
 * hashing), the visible-text scan and nodemailer's MIME build are the largest self-contained
 * pieces of the daemon's main-thread work, while the machine's other core is partly idle. On
 * their own thread they run beside the database commits of other messages. It costs about 20 MB
 * of memory (the thread's own heap) and a structured copy of each message across the boundary.
 *
 * The thread runs exactly the main thread's code (parseMailFile and visibleTextOf on the same
 * content-addressed blob store, safe for concurrent writers; nodemailer's composer), so the results
 * are the same. Faults never lose a message:
 *  - the thread crashes (say, out of memory on a hostile message): every message it had is parsed
 *    again on the main thread, and every email it was building is handed to the transport to
 *    build, as before the thread existed; every email it was sending fails with MimeThreadLost,
 *    and the outbox sends it from the main thread (one already at the relay goes out twice, with
 *    the same Message-ID: the crash window); the next job starts a new thread;
 *  - a job takes longer than its time limit: the thread is stopped (it would hold up every later
 *    job); an overdue message fails with ETIMEDOUT (the pipeline already gave it `retry`), an
 *    overdue email is built by the transport, and the other jobs are done on the main thread.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type Mail from 'nodemailer/lib/mailer/index.js';
import { wordCounts } from '../cases/language.js';
import { contentDigest } from '../mail-in/content-digest.js';
import { parseMailFile, type ParseLimits } from '../mail-in/parse-mail.js';
import type { ParsedMail } from '../mail-in/parsed-mail.js';
import { visibleTextOf, type VisibleText } from '../mail-in/visible-text.js';
import type { BuiltMessage } from '../mail-out/mime-build.js';
import { storeHeld, unstoredError, type TextFacts } from '../pipeline/types.js';
import type { BlobStore, StoredBlob } from '../storage/blob-store.js';
import { MimeThreadLost, sendDeadlineMs, sendErrorFrom, type ThreadSent, type ThreadSmtp, type WireSendError } from './thread-smtp.js';
import type { PoolClose } from '../mail-out/smtp-reply-wait.js';

/** An inbound message as the pipeline reads it: its fields, what its writer added, and what the pipeline's checks need of its text. */
export interface ParsedMessage {
  readonly mail: ParsedMail;
  readonly visible: VisibleText;
  /** The content digest (dedupe) and the language's word counts (classify), made where it was parsed. */
  readonly facts: TextFacts;
}

export interface Mime {
  /** parseMailFile's result for `raw` and its visible text; `timeoutMs`: the caller's time limit for it. */
  parse(raw: string | StoredBlob, limits: ParseLimits, timeoutMs: number): Promise<ParsedMessage>;
  /**
   * The outgoing email as the transport should get it: built into its bytes on the thread, or
   * `options` unchanged (the transport builds it: on the main thread, with stream content, or
   * after any fault of the thread). Never rejects.
   */
  prepare(options: Mail.Options, timeoutMs: number): Promise<Mail.Options>;
  /**
   * Build, sign and send an email over SMTP on the thread, through its pool for `smtp`: resolves
   * with the relay's reply, rejects with the send error (the fields send-errors.ts reads) or with
   * MimeThreadLost (the thread went away before it answered: whether the relay took the email is
   * unknown, as in a crash). Null when it cannot be sent there (no thread, options that are not
   * plain data): the caller builds it with prepare() and sends it itself.
   */
  sendSmtp(options: Mail.Options, smtp: ThreadSmtp): Promise<ThreadSent> | null;
  /** The transport with these settings was replaced or stopped: the thread closes its pool (smtp-reply-wait.ts closePool). */
  closeSmtp(key: string, how?: PoolClose): void;
  close(): Promise<void>;
}


/** What the main thread sends the MIME thread (mime-worker.ts). */
export type MimeJob =
  | {
      readonly id: number;
      readonly kind: 'parse';
      readonly raw: { readonly sha256: string; readonly size: number; readonly path: string; readonly data: Uint8Array };
      /** The message is held (BlobStore.hold): the thread writes its file before parsing it. */
      readonly store: boolean;
      readonly limits: ParseLimits;
    }
  | { readonly id: number; readonly kind: 'build'; readonly options: Mail.Options }
  | { readonly id: number; readonly kind: 'send'; readonly options: Mail.Options; readonly smtp: ThreadSmtp }
  /** Not a job (no answer): close the pool of these settings. */
  | { readonly id: 0; readonly kind: 'close-smtp'; readonly key: string; readonly how: PoolClose };

/** A message built on the thread as it crosses back: its bytes as a plain Uint8Array. */
export type WireBuilt = Omit<BuiltMessage, 'raw'> & { readonly raw: Uint8Array };

/**
 * What the MIME thread answers. Any answer to a parse job with `store` means the file was written,
 * except an error with `unstored` (the write failed; nothing was parsed).
 */
export type MimeReply =
  | { readonly id: number; readonly parsed: ParsedMessage }
  | { readonly id: number; readonly built: WireBuilt }
  | { readonly id: number; readonly sent: ThreadSent }
  | { readonly id: number; readonly sendError: WireSendError }
  | { readonly id: number; readonly error: { readonly name: string; readonly message: string; readonly code?: string }; readonly unstored?: true };

/**
 * The parse on this thread: the fields, the visible text, and what dedupe and classify read of the
 * text. Those two are counted here because on the MIME thread they leave the main thread: about
 * 0.05 ms of CPU a plain message (0.14 ms in a CPU profile of the daemon's main thread) and 60 KB
 * of garbage there (the digest's whitespace pass, the word scan).
 */
export async function parseHere(raw: string | StoredBlob, blobs: BlobStore, limits: ParseLimits): Promise<ParsedMessage> {
  const mail = await parseMailFile(raw, blobs, limits);
  const visible = visibleTextOf(mail);
  return { mail, visible, facts: { digest: contentDigest(mail), words: wordCounts(`${mail.subject}\n${visible.text}`) } };
}

/**
 * The parse on the main thread: a held message (BlobStore.hold) is written first. A failed write
 * is the disk's fault, not the message's: TransientError, so the channel offers it again later.
 */
export async function parseOnMain(raw: string | StoredBlob, blobs: BlobStore, limits: ParseLimits): Promise<ParsedMessage> {
  if (typeof raw !== 'string') await storeHeld(blobs, raw);
  return parseHere(raw, blobs, limits);
}

export function mainThreadMime(blobs: BlobStore): Mime {
  return {
    parse: (raw, limits) => parseOnMain(raw, blobs, limits),
    prepare: (options) => Promise.resolve(options),
    sendSmtp: () => null,
    closeSmtp: () => undefined,
    close: () => Promise.resolve(),
  };
}

/**
 * The compiled MIME thread's file beside this module: dist/src/mime/mime-worker.js in the tsc
 * build, dist/bin/mime-worker.js in the bundle (whose shared code sits in dist/bin/chunks/).
 * Null when there is none (this module run from its TypeScript source, as the unit tests do).
 */
export function mimeWorkerUrl(here: string = import.meta.url): URL | null {
  if (!here.endsWith('.js')) return null;
  const url = new URL(/\/chunks\/[^/]+$/.test(here) ? '../mime-worker.js' : './mime-worker.js', here);
  return existsSync(fileURLToPath(url)) ? url : null;
}

/**
 * The thread's heap. Its messages are at most 1 MB (one that runs it out of memory is parsed again
 * on the main thread). Young generation 16 MB: parsing, HTML-to-text and the MIME build allocate
 * short-lived strings fast; with 4 MB its garbage collection took 2.1 s of a 2,000-message heavy
 * backlog, with 16 MB 1.8 s, and the daemon's peak RSS did not change (182–185 MB either way).
 * Node's `--max-semi-space-size` (the bin and `npm start` give 2 MB) overrides the young
 * generation's limit here.
 */
const RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 16, maxOldGenerationSizeMb: 64 };
/**
 * No full collection of the thread's heap below this size. Its live heap is about 10 MB and it
 * promotes 55–65 KB a message, so V8's own limit (the live size plus at least 8 MB) made it collect
 * every 150 messages or so: 20 full collections in a 2,000-message plain backlog, each one dropping
 * the optimised code of the parser's per-message closures, which V8 then compiled again. With 48 MB
 * it collects 4 times (10 on the heavy mix), for about 25 MB more peak RSS. Worker options have no
 * initial heap size, so it is V8's flag, set before the thread starts: see docs/performance.md.
 */
const INITIAL_OLD_GENERATION_MB = 48;
const WATCH_EVERY_MS = 1_000;
/** A thread lost this many times within LOSS_WINDOW_MS is not started again: all MIME work stays on the main thread. */
const MAX_LOSSES = 3;
const LOSS_WINDOW_MS = 60_000;

interface Job {
  readonly deadline: number;
  /** The thread answered. */
  answer(reply: MimeReply): void;
  /** The thread is gone before answering: do the work here, or fail it when it was `overdue`. */
  fallBack(overdue: boolean): void;
}

export class MimeThread implements Mime {
  readonly #blobs: BlobStore;
  readonly #url: URL;
  readonly #onLost: (reason: string, jobs: number) => void;
  readonly #jobs = new Map<number, Job>();
  #worker: Worker | null = null;
  #seq = 0;
  #watch: NodeJS.Timeout | null = null;
  #closed = false;
  #losses: number[] = [];
  readonly #sendDeadlineMs: number | null;
  /** Per pool (ThreadSmtp.key): sends on the thread now, and the ones waiting for one of its connections. */
  readonly #sendSlots = new Map<string, { busy: number; waiting: ((go: boolean) => void)[] }>();

  /**
   * `onLost`: the thread crashed or was stopped, `jobs` of its jobs were in flight.
   * `sendDeadlineMs`: a send's time limit on the thread (tests shorten it); by default it is derived
   * from the pool's own limits (thread-smtp.ts sendDeadlineMs), so a slow relay ends in nodemailer's
   * error, not in the thread being stopped under every send it carries.
   */
  constructor(blobs: BlobStore, url: URL, onLost: (reason: string, jobs: number) => void, opts: { readonly sendDeadlineMs?: number } = {}) {
    this.#blobs = blobs;
    this.#url = url;
    this.#onLost = onLost;
    this.#sendDeadlineMs = opts.sendDeadlineMs ?? null;
  }

  parse(raw: string | StoredBlob, limits: ParseLimits, timeoutMs: number): Promise<ParsedMessage> {
    // A message over 1 MB (not held in memory: mostly attachment bytes, streamed from its file into
    // the blob store) is parsed here: it would hold the thread up, and the thread's heap grew by
    // about 60 MB on a backlog of 25 MB attachments.
    const data = typeof raw === 'string' ? undefined : raw.data;
    if (this.#closed || typeof raw === 'string' || data === undefined) return parseOnMain(raw, this.#blobs, limits);
    // A held message is written by the thread, just before it parses it (one job for both).
    const held = raw.held !== undefined && !raw.held.written ? raw.held : null;
    return new Promise<ParsedMessage>((resolve, reject) => {
      const fallBack = (overdue: boolean): void => {
        if (overdue) reject(Object.assign(new Error('the MIME thread took longer than the time limit on this message; the thread was restarted'), { code: 'ETIMEDOUT' }));
        else parseOnMain(raw, this.#blobs, limits).then(resolve, reject);
      };
      const bytes = new Uint8Array(data);
      this.#post(
        (id) => ({ id, kind: 'parse', raw: { sha256: raw.sha256, size: raw.size, path: raw.path, data: bytes }, store: held !== null, limits }),
        // A copy of exactly the message's bytes, moved (not copied again).
        [bytes.buffer],
        {
          deadline: performance.now() + timeoutMs,
          answer: (reply) => {
            if ('error' in reply && reply.unstored === true) {
              reject(unstoredError(errorFrom(reply.error)));
              return;
            }
            if (held !== null) held.written = true;
            if ('parsed' in reply) resolve(reply.parsed);
            else if ('error' in reply) reject(errorFrom(reply.error));
            else fallBack(false);
          },
          fallBack,
        },
      );
    });
  }

  prepare(options: Mail.Options, timeoutMs: number): Promise<Mail.Options> {
    if (this.#closed || !buildable(options)) return Promise.resolve(options);
    return new Promise<Mail.Options>((resolve) => {
      this.#post((id) => ({ id, kind: 'build', options }), [], {
        deadline: performance.now() + timeoutMs,
        // An error (nodemailer refusing the options) is the transport's to meet and report.
        answer: (reply) => resolve('built' in reply ? withBuilt(options, reply.built) : options),
        fallBack: () => resolve(options),
      });
    });
  }

  /**
   * At most the pool's maxConnections sends are on the thread at a time; the others wait here.
   * A send's time limit starts when it goes to the thread: one that waited in the pool's queue
   * behind others to a slow relay (its time limit running meanwhile) made the thread be stopped
   * under the sends at the relay — the relay had taken them, and they went out again.
   */
  sendSmtp(options: Mail.Options, smtp: ThreadSmtp): Promise<ThreadSent> | null {
    if (this.#closed || !buildable(options)) return null;
    const slots = this.#sendSlots.get(smtp.key) ?? { busy: 0, waiting: [] };
    this.#sendSlots.set(smtp.key, slots);
    const limit = Math.max(1, smtp.options.maxConnections ?? 5);
    const free = (): void => {
      slots.busy -= 1;
      slots.waiting.shift()?.(true);
      if (slots.busy === 0 && slots.waiting.length === 0) this.#sendSlots.delete(smtp.key);
    };
    let turn: Promise<boolean>;
    if (slots.busy < limit) {
      slots.busy += 1;
      turn = Promise.resolve(true);
    } else {
      turn = new Promise<boolean>((resolve) =>
        slots.waiting.push((go) => {
          if (go) slots.busy += 1;
          resolve(go);
        }),
      );
    }
    return turn.then((go) => {
      // Its transport was closed (a stop, a reload) while it waited: not sent, as if its pool had failed it.
      if (!go) return Promise.reject(Object.assign(new Error('the outgoing transport was closed before this email was sent'), { code: 'ECONNECTION' }));
      // A send that waited for its turn: the thread may be gone for good meanwhile (the caller sends it).
      const sending = this.#closed ? Promise.reject(new MimeThreadLost('the MIME thread stopped before this email’s turn')) : this.#sendOnThread(options, smtp);
      return sending.finally(free);
    });
  }

  #sendOnThread(options: Mail.Options, smtp: ThreadSmtp): Promise<ThreadSent> {
    const deadlineMs = this.#sendDeadlineMs ?? sendDeadlineMs(smtp.options);
    return new Promise<ThreadSent>((resolve, reject) => {
      this.#post((id) => ({ id, kind: 'send', options, smtp }), [], {
        deadline: performance.now() + deadlineMs,
        answer: (reply) => {
          if ('sent' in reply) resolve(reply.sent);
          else if ('sendError' in reply) reject(sendErrorFrom(reply.sendError));
          else if ('error' in reply) reject(errorFrom(reply.error));
          else reject(new MimeThreadLost('the MIME thread gave no answer to a send'));
        },
        fallBack: (overdue) =>
          reject(
            overdue
              ? Object.assign(new Error(`no answer from the relay within ${deadlineMs / 1000} s (on the MIME thread, which was restarted)`), { code: 'ETIMEDOUT' })
              : new MimeThreadLost('the MIME thread went away while it was sending an email'),
          ),
      });
    });
  }

  closeSmtp(key: string, how: PoolClose = 'finish'): void {
    // Sends still waiting for their turn go nowhere: the pool they were for is closed.
    const slots = this.#sendSlots.get(key);
    if (slots !== undefined) for (const go of slots.waiting.splice(0)) go(false);
    try {
      this.#worker?.postMessage({ id: 0, kind: 'close-smtp', key, how } satisfies MimeJob);
    } catch {
      // The thread is gone, and its pools with it.
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    if (worker !== null) await worker.terminate();
  }

  #post(job: (id: number) => MimeJob, transfer: ArrayBuffer[], pending: Job): void {
    const id = ++this.#seq;
    try {
      const worker = this.#worker ?? this.#start();
      worker.postMessage(job(id), transfer);
    } catch {
      // Nothing reached the thread (a value it cannot be sent, say — a function among an email's
      // options): the work is done here, and the thread, unaffected, serves the next job.
      pending.fallBack(false);
      return;
    }
    this.#jobs.set(id, pending);
    this.#watch ??= setInterval(() => this.#checkDeadlines(), WATCH_EVERY_MS).unref();
  }

  #start(): Worker {
    // V8 reads this flag when it makes an isolate's heap: from here on it holds for the threads
    // started after it (this one, a restarted one), never for the main thread's heap, made at start.
    setFlagsFromString(`--initial-old-space-size=${INITIAL_OLD_GENERATION_MB}`);
    const worker = new Worker(this.#url, { workerData: { blobDir: this.#blobs.dir }, resourceLimits: RESOURCE_LIMITS });
    // Never what keeps the process alive: the daemon's channels and timers are.
    worker.unref();
    worker.on('message', (reply: MimeReply) => {
      const job = this.#jobs.get(reply.id);
      if (job === undefined) return;
      this.#jobs.delete(reply.id);
      job.answer(reply);
      this.#idle();
    });
    worker.on('error', (err) => this.#lost(worker, `the MIME thread failed: ${err.message}`));
    worker.on('exit', (code) => this.#lost(worker, `the MIME thread exited (code ${code})`));
    this.#worker = worker;
    return worker;
  }

  /** The thread is gone: its jobs are done here, except those past their time limit. */
  #lost(worker: Worker, reason: string, overdue: ReadonlySet<number> = new Set()): void {
    if (this.#worker !== worker) return;
    this.#worker = null;
    const jobs = [...this.#jobs];
    this.#jobs.clear();
    this.#idle();
    if (this.#closed && jobs.length === 0) return;
    const now = performance.now();
    this.#losses = [...this.#losses.filter((t) => now - t < LOSS_WINDOW_MS), now];
    // A thread that keeps failing (its file unreadable, say) is not restarted for every job.
    if (this.#losses.length >= MAX_LOSSES) this.#closed = true;
    this.#onLost(this.#closed ? `${reason}; ${MAX_LOSSES} times within a minute: all MIME work is done on the main thread from now on` : reason, jobs.length);
    for (const [id, job] of jobs) job.fallBack(overdue.has(id));
  }

  #checkDeadlines(): void {
    const now = performance.now();
    const overdue = new Set<number>();
    for (const [id, job] of this.#jobs) if (job.deadline <= now) overdue.add(id);
    const worker = this.#worker;
    if (overdue.size === 0 || worker === null) return;
    this.#lost(worker, `the MIME thread spent longer than the time limit on ${overdue.size} job(s); restarted`, overdue);
    void worker.terminate();
  }

  #idle(): void {
    if (this.#jobs.size > 0 || this.#watch === null) return;
    clearInterval(this.#watch);
    this.#watch = null;
  }
}

/** Options the thread can build: plain data only (no streams, no raw message already). */
function buildable(options: Mail.Options): boolean {
  const plain = (v: unknown): boolean => v === undefined || typeof v === 'string';
  return options.raw === undefined && (options.attachments === undefined || options.attachments.length === 0) && plain(options.text) && plain(options.html);
}

/** What the transport gets for an email built on the thread: its bytes, envelope and Message-ID, and the From that chooses the DKIM key. */
function withBuilt(options: Mail.Options, built: WireBuilt): Mail.Options {
  return {
    raw: bufferOf(built.raw),
    envelope: { from: built.envelope.from, to: [...built.envelope.to] },
    messageId: built.messageId,
    ...(options.from !== undefined ? { from: options.from } : {}),
    xMailer: false,
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}

/** Bytes that crossed the thread boundary (they arrive as a plain Uint8Array) seen as a Buffer again, without a copy. */
export function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The thread's error as the caller sees it: name, message and code (EMAXLEN, ENOSPC …) kept. */
function errorFrom(e: { readonly name: string; readonly message: string; readonly code?: string }): Error {
  return Object.assign(new Error(e.message), { name: e.name }, e.code !== undefined ? { code: e.code } : {});
}
