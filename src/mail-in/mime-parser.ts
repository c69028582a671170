/**
 * Where inbound MIME is parsed: on the main thread (one-shot commands, tests run from sources) or,
 * in the daemon, on one parser thread (mime.parseThread, default on) for messages up to 1 MB.
 *
 * Why a thread: parsing (mailparser, its HTML-to-text conversion, charset decoding, attachment
 * hashing) is the largest single piece of the daemon's main-thread work on HTML mail — about a
 * fifth of it on the benchmark's heavy mix — while the machine's other core is partly idle. On
 * its own thread it runs beside the database commits and the outgoing mail of other messages.
 * It costs about 20 MB of memory (the thread's own heap) and a structured copy of each message's
 * bytes and parsed fields across the thread boundary.
 *
 * The thread runs exactly the main thread's code (parseMailFile) on the same blob store
 * (content-addressed, safe for concurrent writers), so the result is the same ParsedMail. Faults
 * never lose a message:
 *  - the thread crashes (say, out of memory on a hostile message): every message it had is parsed
 *    again on the main thread, as before the thread existed; the next message starts a new thread;
 *  - a message takes longer than the pipeline's stage time limit: the thread is stopped (it would
 *    hold up every later message), that message fails with ETIMEDOUT (the pipeline already gave it
 *    `retry`), and the others it had are parsed on the main thread.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { BlobStore, StoredBlob } from '../storage/blob-store.js';
import { parseMailFile, type ParseLimits } from './parse-mail.js';
import type { ParsedMail } from './parsed-mail.js';

export interface MimeParser {
  /** parseMailFile's result for `raw`; `timeoutMs`: the caller's time limit for it. */
  parse(raw: string | StoredBlob, limits: ParseLimits, timeoutMs: number): Promise<ParsedMail>;
  close(): Promise<void>;
}

/** What the main thread sends the parser thread (parse-worker.ts). */
export interface ParseJob {
  readonly id: number;
  readonly raw: { readonly sha256: string; readonly size: number; readonly path: string; readonly data: Uint8Array };
  readonly limits: ParseLimits;
}

/** What the parser thread answers. */
export type ParseReply = { readonly id: number; readonly mail: ParsedMail } | { readonly id: number; readonly error: { readonly name: string; readonly message: string; readonly code?: string } };

export function mainThreadParser(blobs: BlobStore): MimeParser {
  return {
    parse: (raw, limits) => parseMailFile(raw, blobs, limits),
    close: () => Promise.resolve(),
  };
}

/**
 * The compiled parser thread's file beside this module: dist/src/mail-in/parse-worker.js in the
 * tsc build, dist/bin/parse-worker.js in the bundle (whose shared code sits in dist/bin/chunks/).
 * Null when there is none (this module run from its TypeScript source, as the unit tests do).
 */
export function parseWorkerUrl(here: string = import.meta.url): URL | null {
  if (!here.endsWith('.js')) return null;
  const url = new URL(/\/chunks\/[^/]+$/.test(here) ? '../parse-worker.js' : './parse-worker.js', here);
  return existsSync(fileURLToPath(url)) ? url : null;
}

/**
 * The parser thread's heap: a small young generation (it allocates in short bursts); its messages
 * are at most 1 MB (one that runs it out of memory is parsed again on the main thread).
 */
const RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 };
const WATCH_EVERY_MS = 1_000;
/** A thread lost this many times within LOSS_WINDOW_MS is not started again: parsing stays on the main thread. */
const MAX_LOSSES = 3;
const LOSS_WINDOW_MS = 60_000;

interface Job {
  /** Only messages held in memory go to the thread; the raw is kept to parse again here if it is lost. */
  readonly raw: StoredBlob;
  readonly limits: ParseLimits;
  readonly deadline: number;
  readonly resolve: (mail: ParsedMail) => void;
  readonly reject: (err: Error) => void;
}

export class ParserThread implements MimeParser {
  readonly #blobs: BlobStore;
  readonly #url: URL;
  readonly #onLost: (reason: string, messages: number) => void;
  readonly #jobs = new Map<number, Job>();
  #worker: Worker | null = null;
  #seq = 0;
  #watch: NodeJS.Timeout | null = null;
  #closed = false;
  #losses: number[] = [];

  /** `onLost`: the thread crashed or was stopped, `messages` of its messages were in flight. */
  constructor(blobs: BlobStore, url: URL, onLost: (reason: string, messages: number) => void) {
    this.#blobs = blobs;
    this.#url = url;
    this.#onLost = onLost;
  }

  parse(raw: string | StoredBlob, limits: ParseLimits, timeoutMs: number): Promise<ParsedMail> {
    // A message over 1 MB (not held in memory: mostly attachment bytes, streamed from its file into
    // the blob store) is parsed here: it would hold the thread up, and the thread's heap grew by
    // about 60 MB on a backlog of 25 MB attachments. The thread starts with the first small one.
    const data = typeof raw === 'string' ? undefined : raw.data;
    if (this.#closed || typeof raw === 'string' || data === undefined) return parseMailFile(raw, this.#blobs, limits);
    const worker = this.#worker ?? this.#start();
    const id = ++this.#seq;
    return new Promise<ParsedMail>((resolve, reject) => {
      this.#jobs.set(id, { raw, limits, deadline: performance.now() + timeoutMs, resolve, reject });
      const [sent, transfer] = wire({ ...raw, data });
      worker.postMessage({ id, raw: sent, limits } satisfies ParseJob, transfer);
      this.#watch ??= setInterval(() => this.#checkDeadlines(), WATCH_EVERY_MS).unref();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    if (worker !== null) await worker.terminate();
  }

  #start(): Worker {
    const worker = new Worker(this.#url, { workerData: { blobDir: this.#blobs.dir }, resourceLimits: RESOURCE_LIMITS });
    // Never what keeps the process alive: the daemon's channels and timers are.
    worker.unref();
    worker.on('message', (reply: ParseReply) => {
      const job = this.#jobs.get(reply.id);
      if (job === undefined) return;
      this.#jobs.delete(reply.id);
      if ('mail' in reply) job.resolve(reply.mail);
      else job.reject(errorFrom(reply.error));
      this.#idle();
    });
    worker.on('error', (err) => this.#lost(worker, `the MIME parser thread failed: ${err.message}`));
    worker.on('exit', (code) => this.#lost(worker, `the MIME parser thread exited (code ${code})`));
    this.#worker = worker;
    return worker;
  }

  /** The thread is gone: its messages are parsed here, except those past their time limit. */
  #lost(worker: Worker, reason: string, overdue: ReadonlySet<number> = new Set()): void {
    if (this.#worker !== worker) return;
    this.#worker = null;
    const jobs = [...this.#jobs];
    this.#jobs.clear();
    this.#idle();
    if (this.#closed && jobs.length === 0) return;
    const now = performance.now();
    this.#losses = [...this.#losses.filter((t) => now - t < LOSS_WINDOW_MS), now];
    // A thread that keeps failing (its file unreadable, say) is not restarted for every message.
    if (this.#losses.length >= MAX_LOSSES) this.#closed = true;
    this.#onLost(this.#closed ? `${reason}; ${MAX_LOSSES} times within a minute: every message is parsed on the main thread from now on` : reason, jobs.length);
    for (const [id, job] of jobs) {
      if (overdue.has(id)) job.reject(Object.assign(new Error('the MIME parser thread took longer than the time limit on this message; the thread was restarted'), { code: 'ETIMEDOUT' }));
      else parseMailFile(job.raw, this.#blobs, job.limits).then(job.resolve, job.reject);
    }
  }

  #checkDeadlines(): void {
    const now = performance.now();
    const overdue = new Set<number>();
    for (const [id, job] of this.#jobs) if (job.deadline <= now) overdue.add(id);
    const worker = this.#worker;
    if (overdue.size === 0 || worker === null) return;
    this.#lost(worker, `the MIME parser thread spent longer than the stage time limit on ${overdue.size} message(s); restarted`, overdue);
    void worker.terminate();
  }

  #idle(): void {
    if (this.#jobs.size > 0 || this.#watch === null) return;
    clearInterval(this.#watch);
    this.#watch = null;
  }
}

/** The job's raw message as it crosses to the thread: a copy of exactly its bytes, moved (not copied again). */
function wire(raw: StoredBlob & { readonly data: Buffer }): [ParseJob['raw'], ArrayBuffer[]] {
  const bytes = new Uint8Array(raw.data);
  return [{ sha256: raw.sha256, size: raw.size, path: raw.path, data: bytes }, [bytes.buffer]];
}

/** The thread's error as the caller sees it: name, message and code (EMAXLEN, ENOSPC …) kept. */
function errorFrom(e: { readonly name: string; readonly message: string; readonly code?: string }): Error {
  return Object.assign(new Error(e.message), { name: e.name }, e.code !== undefined ? { code: e.code } : {});
}
