import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type SQLite from 'better-sqlite3';

/**
 * WAL checkpoints off the event loop (SQLite, the daemon only).
 *
 * With SQLite's default (wal_autocheckpoint = 1000 pages) the COMMIT that crosses the threshold
 * copies the whole WAL back into the database file and fsyncs it, on the daemon's one thread:
 * 1 % of the commits took 10–20 ms and all checkpoints together were half the time spent in
 * COMMIT (npm run bench, in-process phase: 2.3 s of COMMIT for 2,000 messages, 1.05 s without
 * checkpoints). So the daemon's connection does not checkpoint by itself; a worker thread with
 * its own connection runs `PRAGMA wal_checkpoint(PASSIVE)` — it never waits for and never blocks
 * the writer or readers — at most every CHECKPOINT_EVERY_MS after something was committed.
 *
 * If the worker cannot start or dies, the connection checkpoints by itself again (SQLite's
 * default) and `onFailure` is told once: the WAL never grows without bound. At close the worker
 * stops first; closing the last connection checkpoints the rest (SQLite's own behaviour).
 * One-shot commands keep SQLite's default (a worker would cost more than it saves them).
 */

/** At most one background checkpoint per this many ms (while commits happen; none when idle). */
export const CHECKPOINT_EVERY_MS = 250;
/** SQLite's default threshold, restored when the worker fails. */
const DEFAULT_AUTOCHECKPOINT = 1000;

/** The worker's code (CommonJS, evaluated): its own connection, one PASSIVE checkpoint per request. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true, timeout: 1000 });
parentPort.on('message', (m) => {
  if (m === 'close') { db.close(); parentPort.close(); return; }
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    parentPort.postMessage({ ok: true, busy: r.busy, log: r.log, checkpointed: r.checkpointed });
  } catch (err) {
    parentPort.postMessage({ ok: false, error: String(err && err.message || err) });
  }
});
parentPort.postMessage({ ready: true });
`;

export interface CheckpointStats {
  /** Checkpoints the worker completed. */
  readonly runs: number;
  /** WAL frames and frames copied into the database file at the last one. */
  readonly lastLogFrames: number;
  readonly lastCheckpointedFrames: number;
  /** False once the worker failed and the connection checkpoints by itself again. */
  readonly inBackground: boolean;
}

type Reply = { ready: true } | { ok: true; busy: number; log: number; checkpointed: number } | { ok: false; error: string };

export class BackgroundCheckpointer {
  readonly #db: SQLite.Database;
  readonly #onFailure: (reason: string) => void;
  readonly #worker: Worker;
  #ready = false;
  #running = false;
  #dirty = false;
  #failed = false;
  #closed = false;
  #timer: NodeJS.Timeout | null = null;
  #stats = { runs: 0, lastLogFrames: 0, lastCheckpointedFrames: 0 };

  constructor(db: SQLite.Database, path: string, onFailure: (reason: string) => void) {
    this.#db = db;
    this.#onFailure = onFailure;
    db.pragma('wal_autocheckpoint = 0');
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path } });
    this.#worker.unref();
    this.#worker.on('message', (m: Reply) => this.#reply(m));
    this.#worker.on('error', (err) => this.#fail(`checkpoint worker failed: ${err.message}`));
    this.#worker.on('exit', (code) => {
      if (!this.#closed) this.#fail(`checkpoint worker exited (code ${code})`);
    });
  }

  /** Something was committed: a checkpoint is due within CHECKPOINT_EVERY_MS. */
  committed(): void {
    if (this.#failed || this.#closed) return;
    this.#dirty = true;
    if (this.#timer === null && !this.#running) {
      this.#timer = setTimeout(() => this.#run(), CHECKPOINT_EVERY_MS);
      this.#timer.unref();
    }
  }

  stats(): CheckpointStats {
    return { ...this.#stats, inBackground: !this.#failed };
  }

  /** Stop the worker (before the connection closes; SQLite checkpoints the rest at the close). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#failed) return;
    // Referenced again while it closes: an unreferenced worker would let the process end mid-close.
    this.#worker.ref();
    const exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.postMessage('close');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)))]);
    clearTimeout(timer);
    await this.#worker.terminate();
  }

  #run(): void {
    this.#timer = null;
    if (!this.#dirty || this.#running || this.#failed || this.#closed) return;
    if (!this.#ready) {
      // Still starting: try again later.
      this.committed();
      return;
    }
    this.#dirty = false;
    this.#running = true;
    this.#worker.postMessage('checkpoint');
  }

  #reply(m: Reply): void {
    if ('ready' in m) {
      this.#ready = true;
      return;
    }
    this.#running = false;
    if (!m.ok) {
      this.#fail(`checkpoint failed: ${m.error}`);
      return;
    }
    this.#stats = { runs: this.#stats.runs + 1, lastLogFrames: m.log, lastCheckpointedFrames: m.checkpointed };
    if (this.#dirty) this.committed();
  }

  #fail(reason: string): void {
    if (this.#failed || this.#closed) return;
    this.#failed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    try {
      if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT}`);
    } catch {
      // the connection is going away anyway
    }
    void this.#worker.terminate();
    this.#onFailure(`${reason}; the database connection checkpoints by itself again`);
  }
}
