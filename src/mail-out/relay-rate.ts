import type { Db } from '../db/database.js';
import { ensureRateSlots, giveBackRateSlots, nthUsedRateSlot, takeRateSlots, usedRateSlots } from '../db/repos/relay-rate.js';
import type { Logger } from '../log.js';

/** A database that failed a take: tried again this much later (the rows wait, claimed). */
const RETRY_MS = 1_000;
const MINUTE_MS = 60_000;

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
 * relay_rate_slots (migration 0039) holds one slot per recipient of the minute, and taking room is
 * one UPDATE of free slots (repos/relay-rate.ts), so two daemons taking room at the same instant
 * never share a slot. A daemon that dies holding room leaves nothing behind: a slot is free a
 * minute after it was taken, whoever took it.
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
    private readonly relay: string,
    private readonly max: number | undefined,
    private readonly nowMs: () => number,
    private readonly wake: () => void,
    private readonly log: Logger,
  ) {}

  /** The relay's slots exist (a daemon starting; a larger maxPerMinute than the last daemon's). Never throws. */
  async start(): Promise<void> {
    this.#stopped = false;
    if (this.max === undefined) return;
    try {
      await ensureRateSlots(this.db, this.relay, this.max);
    } catch (err) {
      this.log.warn({ err }, 'could not prepare the relay\'s per-minute slots (database busy?); emails wait until it answers');
    }
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
      const got = await takeRateSlots(this.db, { relay: this.relay, max: this.max, n, now: iso(now), cut: iso(now - MINUTE_MS) });
      if (got.length < n) await this.#full(1);
      return got.length;
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
      let got: number[];
      try {
        got = await takeRateSlots(this.db, { relay: this.relay, max: this.max!, n: k, now: iso(now), cut: iso(now - MINUTE_MS) });
        if (got.length < k) {
          // All or nothing: a transaction goes with room for every recipient of it.
          await giveBackRateSlots(this.db, this.relay, got, iso(now));
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
        await giveBackRateSlots(this.db, this.relay, got, iso(now)).catch(() => undefined);
        return;
      }
      this.#waiting.shift();
      w.go(true);
    }
  }

  /** The minute had no room for `k`: when it will (the slot that makes room for k leaving it), and a wake-up then. */
  async #full(k: number): Promise<void> {
    const now = this.nowMs();
    const cut = iso(now - MINUTE_MS);
    try {
      const used = await usedRateSlots(this.db, this.relay, this.max!, cut);
      const free = this.max! - used;
      const nth = k <= free ? null : await nthUsedRateSlot(this.db, this.relay, this.max!, cut, k - free);
      const at = nth === null ? now + 50 : Date.parse(nth) + MINUTE_MS;
      this.#fullUntil = Math.max(now + 1, at);
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

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
