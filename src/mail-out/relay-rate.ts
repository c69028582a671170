/**
 * A relay's maxPerMinute (outgoing.smtp / outgoing.relays.<name>): how many more emails its sender
 * may claim now, counted over the last 60 seconds. At none left, `wake` is called once the oldest
 * leaves the minute; the rest waits in the outbox, queued, never failed for it. Unlimited without
 * a maximum.
 */
export class RelayRate {
  readonly #handed: number[] = [];
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(
    private readonly max: number | undefined,
    private readonly nowMs: () => number,
    private readonly wake: () => void,
  ) {}

  /** How many emails may be handed to the relay now. */
  room(): number {
    if (this.max === undefined) return Number.POSITIVE_INFINITY;
    const now = this.nowMs();
    while (this.#handed.length > 0 && this.#handed[0]! <= now - 60_000) this.#handed.shift();
    const room = this.max - this.#handed.length;
    if (room <= 0 && this.#timer === null && !this.#stopped) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.wake();
      }, Math.max(50, this.#handed[0]! + 60_000 - now));
      this.#timer.unref();
    }
    return Math.max(0, room);
  }

  /** `n` emails were claimed for the relay now. */
  handed(n: number): void {
    if (this.max === undefined) return;
    const now = this.nowMs();
    for (let i = 0; i < n; i++) this.#handed.push(now);
  }

  start(): void {
    this.#stopped = false;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
