/**
 * A relay's maxPerMinute (outgoing.smtp / outgoing.relays.<name>): how many recipients its sender
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
 * A claim takes one per row (every row goes to someone; `handed`); each transaction beyond that
 * waits for its room (`take`, first come first served) while the row stays claimed. At no room
 * left, `wake` is called once the oldest leaves the minute; what waits stays queued, never failed
 * for it. Unlimited without a maximum.
 */
export class RelayRate {
  /** When each recipient of the last 60 s was handed (ms), oldest first. */
  readonly #handed: number[] = [];
  /** Transactions waiting for room, in order: how many recipients each needs. */
  readonly #waiting: { readonly n: number; readonly go: (ok: boolean) => void }[] = [];
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(
    private readonly max: number | undefined,
    private readonly nowMs: () => number,
    private readonly wake: () => void,
  ) {}

  /** How many rows may be claimed now (one recipient each; transactions waiting for room go first). */
  room(): number {
    if (this.max === undefined) return Number.POSITIVE_INFINITY;
    this.#grant();
    const room = this.#waiting.length > 0 ? 0 : this.max - this.#handed.length;
    if (room <= 0) this.#arm();
    return Math.max(0, room);
  }

  /** `n` rows were claimed for the relay now: one recipient each. */
  handed(n: number): void {
    if (this.max === undefined) return;
    const now = this.nowMs();
    for (let i = 0; i < n; i++) this.#handed.push(now);
  }

  /**
   * Room for `n` more recipients (a transaction beyond the one its row's claim counted): resolves
   * true once they are handed, false when sending stops first (the transaction must not go). A
   * transaction with more recipients than the maximum goes alone, once the minute is empty.
   */
  take(n: number): Promise<boolean> {
    if (this.max === undefined || n <= 0) return Promise.resolve(true);
    if (this.#stopped) return Promise.resolve(false);
    return new Promise<boolean>((go) => {
      this.#waiting.push({ n, go });
      this.#grant();
      if (this.#waiting.length > 0) this.#arm();
    });
  }

  start(): void {
    this.#stopped = false;
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

  #expire(now: number): void {
    while (this.#handed.length > 0 && this.#handed[0]! <= now - 60_000) this.#handed.shift();
  }

  /** Waiting transactions that fit now get their room, in order. */
  #grant(): void {
    const now = this.nowMs();
    this.#expire(now);
    while (this.#waiting.length > 0) {
      const w = this.#waiting[0]!;
      if (this.#handed.length + Math.min(w.n, this.max!) > this.max!) break;
      this.#waiting.shift();
      for (let i = 0; i < w.n; i++) this.#handed.push(now);
      w.go(true);
    }
  }

  /** Once the oldest leaves the minute: room for the waiting transactions, then a new pass. */
  #arm(): void {
    if (this.#timer !== null || this.#stopped || this.#handed.length === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#grant();
      if (this.#waiting.length > 0) this.#arm();
      else this.wake();
    }, Math.max(50, this.#handed[0]! + 60_000 - this.nowMs()));
    this.#timer.unref();
  }
}
