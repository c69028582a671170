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
  readonly workers: ReadonlyMap<string, OutboxWorker>;
  readonly transports: ReadonlyMap<string, MailTransport>;

  /** `transports`: one per relay of relayLanes(config); a single transport (tests) takes every row. */
  constructor(ctx: AppContext, transports: ReadonlyMap<string, MailTransport> | MailTransport) {
    const byRelay = transports instanceof Map ? (transports as ReadonlyMap<string, MailTransport>) : new Map([[DEFAULT_RELAY, transports as MailTransport]]);
    const lanes: RelayLane[] = byRelay.size > 1 ? relayLanes(ctx.config).filter((l) => byRelay.has(l.relay)) : [{ relay: DEFAULT_RELAY }];
    this.transports = byRelay;
    this.workers = new Map(lanes.map((l) => [l.relay, new OutboxWorker(ctx, byRelay.get(l.relay)!, l)]));
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
