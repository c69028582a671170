import type { Db } from '../db/database.js';
import { giveBackRoom, roomFor, takeRoom } from '../db/repos/relay-rate.js';
import type { Logger } from '../log.js';

/** A database that failed a take: tried again this much later (the rows wait, claimed). */
const RETRY_MS = 1_000;

/**
 * A relay's maxPerMinute (outgoing.smtp / outgoing.relays.<name>): how many recipients casegate
 * may hand the relay in any 60 seconds, each reader of each SMTP transaction counted once. An email
 * to To and Cc sent as one transaction per reader (a relay that offers DSN, verp, case-page copies:
 * row-attempt.ts) counts every transaction; one transaction to three readers counts three. That
 * is what a relay's limit counts, whichever it counts: a message limit (Postfix
 * smtpd_client_message_rate_limit, Microsoft 365's 30 messages a minute) sees one message per
 * transaction, which has at least one recipient, so never more than this; a recipient limit
 * (Postfix smtpd_client_recipient_rate_limit, Amazon SES and SendGrid, which count each recipient
 * as an email) sees exactly this. Until 2026-12-07 it counted outbox rows, so an email to a reader
 * and two Cc'd ones was one of the minute's emails and three transactions at the relay.
 *
 * The minute is the database's, shared by every daemon sending through the relay (several daemons
 * on one PostgreSQL; until 2026-12-08 each counted its own, and two sent up to twice the limit):
 * relay_rate_seconds (migration 0040) holds, per budget, how many recipients each whole second
 * of the minute took, and taking room is one short transaction under the budget's lock
 * (repos/relay-rate.ts), so two daemons taking room at the same instant count each other. The
 * budget is the relay's host:port and login (relays.ts relayBudgetKey), not its name in a
 * configuration: what the relay or provider counts by. A daemon that dies holding room leaves
 * nothing behind: its seconds leave the minute like anyone's. Until 2026-12-08 (0039) it was a row
 * per unit of the limit, made at the first start, keyed by the relay's name.
 *
 * A claim takes one slot per row (`handed`, one statement for the batch); rows the minute had no
 * room for go back to the queue untried (outbox-worker.ts), and claims stop (`room`) until the
 * slot they need leaves the minute; then `wake`. Each transaction beyond a row's first waits for
 * its room (`take`, first come first served) while the row stays claimed. What waits stays queued,
 * never failed for it.
 * Unlimited without a maximum (no statement at all).
 */
export class RelayRate {
  /** Transactions waiting for room, in order: how many recipients each needs, and since when (ms). */
  readonly #waiting: { readonly n: number; readonly since: number; readonly go: (ok: boolean) => void }[] = [];
  /** No room before this (ms): what the database said when a take came back short. */
  #fullUntil = 0;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  #granting: Promise<void> | null = null;
  #again = false;

  constructor(
    private readonly db: Db,
    /** The budget (relays.ts relayBudgetKey). */
    private readonly relay: string,
    private readonly max: number | undefined,
    private readonly nowMs: () => number,
    private readonly wake: () => void,
    private readonly log: Logger,
  ) {}

  /** Sending (again). Never throws. */
  async start(): Promise<void> {
    this.#stopped = false;
  }

  /** How many rows a claim may take now: none while transactions wait or the minute is known full. */
  room(): number {
    if (this.max === undefined) return Number.POSITIVE_INFINITY;
    if (this.#waiting.length > 0 || this.nowMs() < this.#fullUntil) {
      this.#arm();
      return 0;
    }
    return this.max;
  }

  /**
   * `n` rows were claimed for the relay now: one recipient each, taken in one statement. Returns
   * how many got their room (the first ones); the others must go back to the queue untried.
   */
  async handed(n: number): Promise<number> {
    if (this.max === undefined) return n;
    const now = this.nowMs();
    try {
      const got = await takeRoom(this.db, { relay: this.relay, max: this.max, n, nowMs: now, whole: false });
      if (got < n) await this.#full(1);
      return got;
    } catch (err) {
      this.log.warn({ err }, 'could not take room within the relay\'s per-minute limit (database busy?); the claimed emails wait for it');
      this.#fullUntil = now + RETRY_MS;
      return 0;
    }
  }

  /**
   * Room for `n` more recipients (a transaction beyond what its row's claim counted): resolves
   * true once they are taken, false when sending stops first (the transaction must not go). A
   * transaction with more recipients than the maximum goes alone, once the minute is empty.
   */
  take(n: number): Promise<boolean> {
    if (this.max === undefined || n <= 0) return Promise.resolve(true);
    if (this.#stopped) return Promise.resolve(false);
    return new Promise<boolean>((go) => {
      this.#waiting.push({ n, since: this.nowMs(), go });
      void this.#grant();
    });
  }

  /** Waiting transactions get the room the minute has now (a pass starting; the clock moved on). */
  async refresh(): Promise<void> {
    if (this.#waiting.length > 0) await this.#grant();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    for (const w of this.#waiting.splice(0)) w.go(false);
  }

  /** Transactions waiting for room now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Since when (ms) the oldest waiting transaction waits; null: none waits. */
  get waitingSince(): number | null {
    return this.#waiting[0]?.since ?? null;
  }

  /** Waiting transactions get their room, in order, as long as the minute has it (one pass at a time). */
  #grant(): Promise<void> {
    if (this.#granting !== null) {
      this.#again = true;
      return this.#granting;
    }
    this.#granting = this.#grantInOrder().finally(() => {
      this.#granting = null;
      if (this.#again) {
        this.#again = false;
        void this.#grant();
      }
    });
    return this.#granting;
  }

  async #grantInOrder(): Promise<void> {
    while (this.#waiting.length > 0 && !this.#stopped) {
      const w = this.#waiting[0]!;
      const k = Math.min(w.n, this.max!);
      const now = this.nowMs();
      try {
        // All or nothing: a transaction goes with room for every recipient of it.
        if ((await takeRoom(this.db, { relay: this.relay, max: this.max!, n: k, nowMs: now, whole: true })) < k) {
          await this.#full(k);
          return;
        }
      } catch (err) {
        this.log.warn({ err }, 'could not take room within the relay\'s per-minute limit (database busy?); trying again shortly');
        this.#fullUntil = now + RETRY_MS;
        this.#arm();
        return;
      }
      if (this.#waiting[0] !== w) {
        // Stopped meanwhile: what was taken goes back.
        await giveBackRoom(this.db, this.relay, now, k).catch(() => undefined);
        return;
      }
      this.#waiting.shift();
      w.go(true);
    }
  }

  /** The minute had no room for `k`: when it will (the seconds that make room for k leaving it), and a wake-up then. */
  async #full(k: number): Promise<void> {
    const now = this.nowMs();
    try {
      const at = await roomFor(this.db, this.relay, this.max!, now, k);
      this.#fullUntil = Math.max(now + 1, at === now ? now + 50 : at);
    } catch {
      this.#fullUntil = now + RETRY_MS;
    }
    this.#arm();
  }

  /** Once the minute has room again: the waiting transactions first, then a new pass. */
  #arm(): void {
    if (this.#timer !== null || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#stopped) return;
      if (this.#waiting.length > 0) void this.#grant().then(() => (this.#waiting.length === 0 ? this.wake() : undefined));
      else this.wake();
    }, Math.max(50, this.#fullUntil - this.nowMs()));
    this.#timer.unref();
  }
}
