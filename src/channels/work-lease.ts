import type { AppContext } from '../context.js';
import { leaseOf, releaseLease, takeLease } from '../db/repos/leases.js';
import type { Logger } from '../log.js';
import { pause } from '../time-limit.js';

/**
 * Work only one daemon may do at a time — reading an IMAP mailbox — when several daemons share a
 * PostgreSQL database (issue 15). The daemon that takes the lease holds it for
 * database.leaseSeconds and renews it every third of that; the others try every third of it
 * too. A daemon that dies (kill -9, lost host) stops renewing, so another takes the work over
 * within one lease period of the death: its lease runs out at most leaseSeconds after its last
 * renewal, and a standby that sees the lease end sooner than its next attempt tries right when it
 * ends (hosts' clocks must agree — NTP — since the lease times are written by the daemons' clocks).
 *
 * A holder that cannot renew (the database is unreachable) keeps working until its own lease runs
 * out, then gives the work up; one that finds another holder (it was paused too long) gives it up
 * at once. Correctness does not rest on this: a message two daemons happen to process is stored
 * once (the dedupe key is unique). The lease only keeps them from working twice.
 *
 * SQLite: one daemon per database (the instance lock), so the lease is always held and never written.
 */
export class WorkLease {
  readonly name: string;
  readonly #ctx: AppContext;
  readonly #log: Logger;
  readonly #shared: boolean;
  #held = false;
  #expiresAt = 0;
  #timer: NodeJS.Timeout | null = null;
  #waitingFor: string | null = null;
  readonly #onLost: (() => void)[] = [];
  /** release() was called: nothing takes or renews the lease any more. */
  #released = false;
  readonly #releasedSignal = new AbortController();

  constructor(ctx: AppContext, name: string, log: Logger) {
    this.name = name;
    this.#ctx = ctx;
    this.#log = log;
    this.#shared = ctx.config.database.driver === 'postgres';
  }

  /**
   * Hold the lease for as long as this daemon runs (its presence, which `casegate status` lists):
   * resolves once it is taken, and takes it again whenever it was lost — a database away for
   * longer than the lease, after which nobody else holds it — until release().
   */
  async keep(): Promise<void> {
    this.onLost(() => void this.acquire(this.#releasedSignal.signal));
    await this.acquire(this.#releasedSignal.signal);
  }

  get held(): boolean {
    return this.#held;
  }

  get #periodMs(): number {
    return this.#ctx.config.database.leaseSeconds * 1000;
  }

  onLost(cb: () => void): void {
    this.#onLost.push(cb);
  }

  /** Wait until this daemon holds the lease (true), or `stopped` aborts first (false). */
  async acquire(stopped: AbortSignal, onHeldElsewhere?: () => void): Promise<boolean> {
    if (!this.#shared) {
      this.#held = true;
      return true;
    }
    while (!stopped.aborted) {
      const result = await this.#attempt();
      if (result === true) return true;
      // Another daemon holds it (told once: nobody waits for this one's work meanwhile).
      onHeldElsewhere?.();
      onHeldElsewhere = undefined;
      // Next attempt in a third of the period, or just after the holder's lease ends if that is sooner.
      const endsIn = result === null ? Infinity : result - this.#ctx.clock.now().getTime() + 20;
      // Not Promise.race with a pending promise: a standby tries for months (time-limit.ts pause).
      await pause(Math.max(10, Math.min(this.#periodMs / 3, endsIn)), stopped);
    }
    return false;
  }

  /** true: taken; else when the current holder's lease ends (ms), or null when unknown. */
  async #attempt(): Promise<true | number | null> {
    if (this.#released) return null;
    const now = this.#ctx.clock.now();
    const until = new Date(now.getTime() + this.#periodMs);
    try {
      if (await takeLease(this.#ctx.db, this.name, this.#ctx.nodeId, now.toISOString(), until.toISOString())) {
        if (this.#released) {
          // release() came while this attempt was under way: give it up again.
          await releaseLease(this.#ctx.db, this.name, this.#ctx.nodeId);
          return null;
        }
        this.#held = true;
        this.#expiresAt = until.getTime();
        this.#waitingFor = null;
        this.#log.info({ lease: this.name, holder: this.#ctx.nodeId, until: until.toISOString() }, `lease ${this.name} taken: this daemon does this work now`);
        this.#scheduleRenewal();
        return true;
      }
      const other = await leaseOf(this.#ctx.db, this.name);
      if (other === undefined) return null;
      if (other.holder !== this.#waitingFor) {
        this.#waitingFor = other.holder;
        this.#log.info({ lease: this.name, holder: other.holder, until: other.expires_at }, `lease ${this.name} is held by ${other.holder}; standing by`);
      }
      return Date.parse(other.expires_at);
    } catch (err) {
      this.#log.warn({ lease: this.name, err: (err as Error).message }, `could not try lease ${this.name}; trying again`);
      return null;
    }
  }

  #scheduleRenewal(): void {
    this.#timer = setTimeout(() => void this.#renew(), this.#periodMs / 3);
    this.#timer.unref();
  }

  async #renew(): Promise<void> {
    this.#timer = null;
    if (!this.#held) return;
    const now = this.#ctx.clock.now();
    const until = new Date(now.getTime() + this.#periodMs);
    try {
      if (await takeLease(this.#ctx.db, this.name, this.#ctx.nodeId, now.toISOString(), until.toISOString())) {
        this.#expiresAt = until.getTime();
        if (this.#held) this.#scheduleRenewal();
        return;
      }
      this.#lose('another daemon holds it now (this one could not renew in time)');
    } catch (err) {
      if (now.getTime() >= this.#expiresAt) {
        this.#lose(`it could not be renewed before it ran out (${(err as Error).message})`);
        return;
      }
      this.#log.warn({ lease: this.name, err: (err as Error).message }, `could not renew lease ${this.name}; trying again until it runs out`);
      if (this.#held) this.#scheduleRenewal();
    }
  }

  #lose(why: string): void {
    if (!this.#held) return;
    this.#held = false;
    this.#log.warn({ lease: this.name }, `lease ${this.name} lost: ${why}; stopping this work`);
    for (const cb of this.#onLost) cb();
  }

  /** Stop renewing and give the lease up (a daemon stopping): another daemon takes it at its next attempt. */
  async release(): Promise<void> {
    this.#released = true;
    this.#releasedSignal.abort();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const was = this.#held;
    this.#held = false;
    if (!this.#shared || !was) return;
    try {
      await releaseLease(this.#ctx.db, this.name, this.#ctx.nodeId);
      this.#log.info({ lease: this.name }, `lease ${this.name} released`);
    } catch (err) {
      this.#log.warn({ lease: this.name, err: (err as Error).message }, `could not release lease ${this.name}; it runs out on its own`);
    }
  }
}

export class LeaseLost extends Error {
  override readonly name = 'LeaseLost';
}
