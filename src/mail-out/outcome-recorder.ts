import type { AppContext } from '../context.js';
import type { OutboxRow } from '../db/schema.js';
import type { Logger } from '../log.js';
import { logOutcome, writeOutcome, type Outcome, type Unrecorded } from './outbox-outcome.js';
import { refusedByRelay, tellOwnerOfRefusal } from './refusal-notice.js';

/**
 * Recording an outcome that could not be written (database locked) is retried after 250 ms,
 * doubling up to 10 s — and up to a third of outgoing.takeoverGraceSeconds where that is shorter:
 * another daemon leaves the row alone for the grace after the database is back, and this write
 * must come first (outbox-worker.ts).
 */
const RECORD_RETRY_MIN_MS = 250;
const RECORD_RETRY_MAX_MS = 10_000;

/** The longest wait between two attempts to record held outcomes, under `takeoverGraceSeconds`. */
export function recordRetryMaxMs(takeoverGraceSeconds: number): number {
  return Math.max(RECORD_RETRY_MIN_MS, Math.min(RECORD_RETRY_MAX_MS, Math.floor((takeoverGraceSeconds * 1000) / 3)));
}

/** An outcome waiting for the next group write (#writeGroup), and who waits for it. */
interface QueuedWrite {
  readonly row: OutboxRow;
  readonly outcome: Outcome;
  readonly done: (err: unknown) => void;
}

/**
 * Writes what became of each email the outbox worker tried (outbox-outcome.ts), then logs it (the
 * one line per decision) and tells a case's owner about a refusal (refusal-notice.ts).
 *
 *  - Group commit: outcomes that arrive in the same turn of the event loop (the relay's answers to
 *    several sends of a batch, read together) are written in one transaction, right after that turn.
 *  - When the database refuses (another process holds its lock), the outcome is held in memory and
 *    written again with backoff; the worker keeps the row held meanwhile, so an email the relay
 *    accepted is never offered again. Once it gets through, `recorded(rowId)` lets the row go.
 */
export class OutcomeRecorder {
  readonly #unrecorded = new Map<number, Unrecorded>();
  #timer: NodeJS.Timeout | null = null;
  #delayMs = RECORD_RETRY_MIN_MS;
  #flushing: Promise<void> | null = null;
  /** Outcomes waiting for the next group write; #writeGroup is scheduled while this is non-empty. */
  #queued: QueuedWrite[] = [];
  #stopped = false;

  /**
   * `recorded`: the row's outcome is in the database; `flushed`: held outcomes got through (send
   * on); `dbAnswered`: a write went through (true) or the database refused it (false).
   */
  constructor(
    private readonly ctx: AppContext,
    private readonly log: Logger,
    private readonly recorded: (rowId: number) => void,
    private readonly flushed: () => void,
    private readonly dbAnswered: (ok: boolean) => void,
  ) {}

  /** Outcomes held in memory, waiting for the database. */
  get held(): number {
    return this.#unrecorded.size;
  }

  /** Write an outcome; when the database refuses, keep it and retry with backoff. Never throws. */
  async record(row: OutboxRow, outcome: Outcome, log: Logger): Promise<void> {
    try {
      await this.#groupWrite(row, outcome);
    } catch (err) {
      const error = describe(err);
      this.#unrecorded.set(row.id, { row, outcome, since: this.ctx.clock.now().toISOString(), failures: 1, lastError: error });
      if (outcome.kind === 'sent' || outcome.kind === 'partly-sent') {
        log.error({ kind: row.kind, to: row.to_address, error }, 'email accepted by the relay, but recording it failed; held in memory (never sent again) and recorded as soon as the database lets us');
      } else {
        log.warn({ outcome: outcome.kind, error }, 'could not record the outcome of an email; held in memory and retried');
      }
      this.#scheduleFlush();
      return;
    }
    await this.#afterWrite(row, outcome, log);
  }

  /** Retry held outcomes on a timer again (the worker starts). */
  resume(): void {
    this.#stopped = false;
    if (this.#unrecorded.size > 0) this.#scheduleFlush();
  }

  /** Stop retrying on a timer (stopping); finish() writes what it can once more. */
  pause(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** One last write of what is held; returns what the database still did not take. */
  async finish(): Promise<Unrecorded[]> {
    this.pause();
    await this.#flushing;
    await this.#flush();
    return [...this.#unrecorded.values()];
  }

  async #afterWrite(row: OutboxRow, outcome: Outcome, log: Logger): Promise<void> {
    this.recorded(row.id);
    logOutcome(log, row, outcome);
    await tellOwnerOfRefusal(this.ctx, row, refusedByRelay(row, outcome), log);
  }

  /**
   * Each caller learns whether its outcome was written; when the transaction fails, all of its
   * outcomes are held and retried (#flush), as one write would be.
   */
  #groupWrite(row: OutboxRow, outcome: Outcome): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#queued.length === 0) setImmediate(() => void this.#writeGroup());
      this.#queued.push({ row, outcome, done: (err) => (err === null ? resolve() : reject(err)) });
    });
  }

  async #writeGroup(): Promise<void> {
    const group = this.#queued;
    this.#queued = [];
    const at = this.ctx.clock.now().toISOString();
    let error: unknown = null;
    try {
      await this.ctx.db.transaction().execute(async (trx) => {
        for (const w of group) if (!(await writeOutcome(trx, w.row, w.outcome, null, at))) this.#takenOver(w.row, w.outcome);
      });
    } catch (err) {
      error = err ?? new Error('transaction failed');
    }
    this.dbAnswered(error === null);
    for (const w of group) w.done(error);
  }

  /** An outcome not written: the row's claim lapsed and another sender has it now. */
  #takenOver(row: OutboxRow, outcome: Outcome): void {
    this.log.warn({ outboxId: row.id, caseId: row.case_id, messageId: row.message_id, outcome: outcome.kind }, 'outcome of an email not recorded: its claim lapsed and another sender has taken the row over');
  }

  #scheduleFlush(): void {
    if (this.#timer !== null || this.#flushing !== null || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#flushing = this.#flush().finally(() => {
        this.#flushing = null;
        if (this.#unrecorded.size > 0) this.#scheduleFlush();
      });
    }, this.#delayMs);
    this.#timer.unref();
  }

  /** Write every held outcome in one transaction (sent ones record the delay as an event). */
  async #flush(): Promise<void> {
    const pending = [...this.#unrecorded.values()];
    if (pending.length === 0) return;
    const at = this.ctx.clock.now().toISOString();
    try {
      await this.ctx.db.transaction().execute(async (trx) => {
        for (const u of pending) if (!(await writeOutcome(trx, u.row, u.outcome, u, at))) this.#takenOver(u.row, u.outcome);
      });
    } catch (err) {
      this.dbAnswered(false);
      for (const u of pending) {
        u.failures += 1;
        u.lastError = describe(err);
      }
      this.#delayMs = Math.min(this.#delayMs * 2, recordRetryMaxMs(this.ctx.config.outgoing.takeoverGraceSeconds));
      this.log.warn({ rows: pending.length, attempt: pending[0]!.failures, error: describe(err) }, 'still cannot record outbox outcomes; retrying');
      return;
    }
    this.dbAnswered(true);
    this.#delayMs = RECORD_RETRY_MIN_MS;
    for (const u of pending) {
      this.#unrecorded.delete(u.row.id);
      const log = this.log.child({ outboxId: u.row.id, caseId: u.row.case_id, messageId: u.row.message_id });
      await this.#afterWrite(u.row, u.outcome, log);
      log.info({ outcome: u.outcome.kind, since: u.since, failedWrites: u.failures }, 'outcome recorded after the database was busy');
    }
    this.flushed();
  }
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  return `${typeof e?.code === 'string' ? `${e.code}: ` : ''}${msg}`.split('\n')[0]!.slice(0, 300);
}
