import type { AppContext } from '../context.js';
import { restartGiveUpClock } from '../db/repos/outbox.js';
import { SENDER_KEY_PREFIX, senderHealth } from '../db/repos/transport-health.js';
import type { OutboxRow } from '../db/schema.js';
import type { Logger } from '../log.js';
import type { ClassifiedSendError } from './send-errors.js';
import { TransportHealthReporter } from './transport-health.js';

interface Hold {
  readonly since: string;
  summary: string;
  /** Wait before the next probe (outgoing.probeSeconds, doubling up to outgoing.authProbeSeconds). */
  delayMs: number;
  timer: NodeJS.Timeout | null;
  /** The next email of this sender may go (one at a time): the probe. */
  probeDue: boolean;
  /** The probe's email is being sent. */
  probing: boolean;
}

/**
 * Senders the relay refuses at MAIL FROM (send-errors.ts: class `sender`, "553 sender address
 * rejected: not owned by user") — a configuration fault of that From address (the relay's login
 * may not send as it), not a fault of each email. Failing each email one by one (as before) lost
 * every email of that mailbox, called the transport working, and alerted nobody.
 *
 * Now the sender is HELD: its emails stay queued and are not claimed (outbox.ts claimDue
 * excludeFrom), the other mailboxes' mail keeps going; the admin is alerted at once, once (an
 * outbox-alert, like a rejected login: transport-health.ts, keyed `sender:<address>`, which
 * survives restarts), and `casegate status` and /healthz show it. Every outgoing.probeSeconds
 * (doubling up to outgoing.authProbeSeconds) ONE of its emails is tried — a refused MAIL FROM
 * sends nothing — and once the relay takes one, the hold ends, the rest go at once, and the
 * all-clear (outbox-recovered) follows. A restarted daemon starts with the senders still on record
 * as refused held, with a probe due at once.
 *
 * Held emails are never given up (outgoing.retry.giveUpHours): the fault is the configuration's,
 * the admin was alerted, and failing them would lose every email of that mailbox while the relay
 * is being fixed. They wait until the relay takes the sender or an operator cancels them. A probe
 * that the relay answers with a 4xx is retried without counting its age, and when the hold ends
 * the sender's queued emails count their age from then (restartGiveUpClock), so one temporary
 * refusal after a long hold does not fail them at once.
 */
export class SenderHolds {
  readonly #holds = new Map<string, Hold>();
  readonly #reporters = new Map<string, TransportHealthReporter>();
  #stopped = false;

  /** `wake`: a probe fell due (the worker claims it with its next pass). */
  constructor(
    private readonly ctx: AppContext,
    private readonly transportName: string,
    private readonly log: Logger,
    private readonly wake: () => void,
    /** Whether a sender is this relay's (relays.ts): another relay's held senders are that relay's worker's. */
    private readonly owns: (address: string) => boolean = () => true,
    private readonly relay?: string,
  ) {}

  /** Senders on record as refused (an earlier run held them): held again, a probe due at once. */
  async init(): Promise<void> {
    this.#stopped = false;
    let rows;
    try {
      rows = await senderHealth(this.ctx.db);
    } catch (err) {
      this.log.debug({ err }, 'could not read held senders');
      return;
    }
    for (const r of rows) {
      if (r.state === 'ok' && r.alerted !== 1) continue;
      const address = r.transport.slice(SENDER_KEY_PREFIX.length);
      if (!this.owns(address)) continue;
      await this.#reporter(address).init();
      this.#holds.set(address, { since: r.failing_since ?? this.ctx.clock.now().toISOString(), summary: r.last_error ?? 'refused at MAIL FROM', delayMs: this.#firstDelayMs(), timer: null, probeDue: true, probing: false });
    }
  }

  /** Senders whose emails are not to be claimed now (all held ones; a probe is claimed apart). */
  excluded(): string[] {
    return [...this.#holds.keys()];
  }

  /** Whether emails of this sender wait (the probe's own email excepted: the caller knows it). */
  isHeld(address: string): boolean {
    return this.#holds.has(address.toLowerCase());
  }

  /**
   * Claim (with `claimOne`) one email of each held sender whose probe is due: its probe, sent like
   * any email; the worker reports how it went (refused / accepted / noProbeEmail). A sender with no
   * email due keeps its probe for its next email. Rejects when a claim does (none is probing then).
   */
  async claimProbes(claimOne: (sender: string) => Promise<OutboxRow | undefined>): Promise<OutboxRow[]> {
    const due = [...this.#holds].filter(([, h]) => h.probeDue && !h.probing).map(([address]) => address);
    const rows: OutboxRow[] = [];
    try {
      for (const address of due) {
        const row = await claimOne(address);
        if (row === undefined) continue;
        this.#holds.get(address)!.probing = true;
        rows.push(row);
      }
    } catch (err) {
      // Not sent: their claims lapse, and the next pass probes again.
      for (const address of due) this.noProbeEmail(address);
      throw err;
    }
    return rows;
  }

  /** A probe found no email to send (none queued): the sender's next email is the probe. */
  noProbeEmail(address: string): void {
    const h = this.#holds.get(address);
    if (h !== undefined) h.probing = false;
  }

  /** The relay refused this sender at MAIL FROM: hold it (alert once), or keep holding it after a failed probe. */
  async refused(address: string, refusal: ClassifiedSendError): Promise<void> {
    const key = address.toLowerCase();
    // With signed bounce addresses the relay judged support+b…@, not the From address: say so,
    // or the admin looks for a fault in a permission that is fine.
    const verp = this.ctx.mailboxes.byAddress(key)?.verp === true;
    const c = verp ? { ...refusal, summary: `${refusal.summary} (mailboxes[].verp is on: MAIL FROM was the signed bounce address, not ${key} — let the relay's login send as it, or turn verp off for this mailbox)` } : refusal;
    const now = this.ctx.clock.now().toISOString();
    const h = this.#holds.get(key);
    const cfg = this.ctx.config.outgoing;
    if (h === undefined) {
      // What the database says about it first: another daemon (PostgreSQL) or an earlier run may have alerted already.
      if (!this.#reporters.has(key)) await this.#reporter(key).init();
      const hold: Hold = { since: now, summary: c.summary, delayMs: this.#firstDelayMs(), timer: null, probeDue: false, probing: false };
      this.#holds.set(key, hold);
      this.log.error({ sender: key, error: c.summary, probeInMs: hold.delayMs }, `the relay refuses the sender ${key} (MAIL FROM): its emails are held, the others go on; fix the relay's permission for it (or the mailbox's address)`);
      this.#schedule(key, hold);
    } else {
      h.summary = c.summary;
      h.probing = false;
      h.probeDue = false;
      h.delayMs = Math.min(h.delayMs * 2, Math.max(cfg.authProbeSeconds, cfg.probeSeconds) * 1000);
      this.log.warn({ sender: key, error: c.summary, probeInMs: h.delayMs }, 'the relay still refuses the sender; its emails stay held');
      this.#schedule(key, h);
    }
    await this.#reporter(key).failure(c, true);
  }

  /** The relay took an email of this sender: a hold (or an alerted refusal of an earlier run) ends; its emails go now. */
  async accepted(address: string): Promise<void> {
    const key = address.toLowerCase();
    const h = this.#holds.get(key);
    const reporter = this.#reporters.get(key);
    if (h === undefined && reporter === undefined) return;
    if (h !== undefined) {
      if (h.timer !== null) clearTimeout(h.timer);
      // Their age restarts while the hold still keeps them from being claimed: a pass claiming them
      // the moment the hold ended would carry the old queued_at, and one 4xx would fail them.
      let restarted = 0;
      try {
        restarted = await restartGiveUpClock(this.ctx.db, key, this.ctx.clock.now().toISOString());
      } catch (err) {
        this.log.warn({ err, sender: key }, 'could not restart the held emails\' giveUpHours clock; they count their age from when they were queued');
      }
      this.#holds.delete(key);
      this.log.info({ sender: key, heldSince: h.since, emails: restarted }, 'the relay takes the sender again: its held emails go now (giveUpHours counted from now)');
      this.wake();
    }
    await reporter?.success();
    this.#reporters.delete(key);
  }

  stop(): void {
    this.#stopped = true;
    for (const h of this.#holds.values()) if (h.timer !== null) clearTimeout(h.timer);
  }

  #firstDelayMs(): number {
    return this.ctx.config.outgoing.probeSeconds * 1000;
  }

  #schedule(key: string, h: Hold): void {
    if (this.#stopped) return;
    if (h.timer !== null) clearTimeout(h.timer);
    h.timer = setTimeout(() => {
      h.timer = null;
      h.probeDue = true;
      this.wake();
    }, h.delayMs);
    h.timer.unref();
  }

  #reporter(key: string): TransportHealthReporter {
    let r = this.#reporters.get(key);
    if (r === undefined) {
      r = new TransportHealthReporter(this.ctx, this.transportName, this.log, `${SENDER_KEY_PREFIX}${key}`, this.relay);
      this.#reporters.set(key, r);
    }
    return r;
  }
}
