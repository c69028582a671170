import type { AppContext } from '../context.js';
import { OutboxWorker } from './outbox-worker.js';
import { DEFAULT_RELAY, relayLanes, type RelayLane } from './relays.js';
import type { MailTransport } from './transport.js';

/**
 * The outbox's senders, one per relay in use (relays.ts): each claims only the rows of its relay's
 * mailboxes and has its own transport, pause, probes, sender holds, health row and alerts, so a
 * relay that fails (a rejected login, down) stops nothing but its own mailboxes' mail. With one
 * relay (the default, or a transport a test injects) it is one OutboxWorker as before.
 */
export class RelayOutbox {
  readonly #ctx: AppContext;
  readonly #workers: Map<string, OutboxWorker>;
  readonly #transports: Map<string, MailTransport>;

  /** `transports`: one per relay of relayLanes(config); a single transport (tests) takes every row. */
  constructor(ctx: AppContext, transports: ReadonlyMap<string, MailTransport> | MailTransport) {
    const byRelay = transports instanceof Map ? new Map(transports as ReadonlyMap<string, MailTransport>) : new Map([[DEFAULT_RELAY, transports as MailTransport]]);
    this.#ctx = ctx;
    this.#transports = byRelay;
    this.#workers = new Map(lanesFor(ctx, byRelay).map((l) => [l.relay, new OutboxWorker(ctx, byRelay.get(l.relay)!, l)]));
  }

  get workers(): ReadonlyMap<string, OutboxWorker> {
    return this.#workers;
  }

  get transports(): ReadonlyMap<string, MailTransport> {
    return this.#transports;
  }

  /**
   * A reload (the new configuration is in force): `next` has a fresh transport per relay in use.
   * The senders of relays in `changed` (their settings changed) and of relays no mailbox uses any
   * more are stopped (each waits for its answers in flight) and closed; relays new or changed get
   * a new sender on the new transport. Every other relay keeps its sender — its sends in flight,
   * pause and probes, sender holds, rate and health — and only takes the new lane (which
   * mailboxes send through it); its fresh transport in `next` is closed unused.
   * Returns the relays rebuilt and kept.
   */
  async reconfigure(next: ReadonlyMap<string, MailTransport>, changed: ReadonlySet<string>): Promise<{ rebuilt: string[]; kept: string[] }> {
    const lanes = new Map(lanesFor(this.#ctx, next).map((l) => [l.relay, l]));
    const kept: string[] = [];
    const going: [string, OutboxWorker][] = [];
    for (const [relay, worker] of this.#workers) {
      const lane = lanes.get(relay);
      if (lane !== undefined && !changed.has(relay)) {
        worker.setLane(lane);
        kept.push(relay);
        next.get(relay)?.close();
      } else going.push([relay, worker]);
    }
    await Promise.all(going.map(([, w]) => w.stop()));
    for (const [relay] of going) {
      this.#workers.delete(relay);
      this.#transports.get(relay)?.close();
      this.#transports.delete(relay);
    }
    const rebuilt: string[] = [];
    for (const [relay, lane] of lanes) {
      if (this.#workers.has(relay)) continue;
      const worker = new OutboxWorker(this.#ctx, next.get(relay)!, lane);
      this.#workers.set(relay, worker);
      this.#transports.set(relay, next.get(relay)!);
      await worker.start({ releaseOldClaims: false });
      rebuilt.push(relay);
    }
    return { rebuilt, kept };
  }

  /** The default relay's sender. */
  get main(): OutboxWorker {
    return this.workers.get(DEFAULT_RELAY)!;
  }

  /** True while any relay's sending is paused (that relay is broken). */
  get paused(): boolean {
    return [...this.workers.values()].some((w) => w.paused);
  }

  /** Each relay in use and whether its sending is paused (metrics). */
  pausedByRelay(): Map<string, boolean> {
    return new Map([...this.workers].map(([r, w]) => [r, w.paused]));
  }

  /** Start every relay's sender; only the first releases an earlier run's claims (SQLite), before any of them claims. */
  async start(): Promise<void> {
    let first = true;
    for (const w of this.workers.values()) {
      await w.start({ releaseOldClaims: first });
      first = false;
    }
  }

  kick(): void {
    for (const w of this.workers.values()) w.kick();
  }

  /** Send everything due now through every relay; how many were sent. */
  async drain(): Promise<number> {
    const sent = await Promise.all([...this.workers.values()].map((w) => w.drain()));
    return sent.reduce((a, b) => a + b, 0);
  }

  /** Stop every relay's sender (each waits for its own answers in flight), then close the transports. */
  async stop(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.stop()));
  }

  close(): void {
    for (const t of this.transports.values()) t.close();
  }
}

/** The lanes of these transports' relays: relayLanes(config), or every row for a single transport. */
function lanesFor(ctx: AppContext, transports: ReadonlyMap<string, MailTransport>): RelayLane[] {
  return transports.size > 1 ? relayLanes(ctx.config).filter((l) => transports.has(l.relay)) : [{ relay: DEFAULT_RELAY }];
}
