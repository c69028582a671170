import type Mail from 'nodemailer/lib/mailer/index.js';
import type { AppContext } from '../context.js';
import { claimDue, releaseClaims, releaseRow, renewClaims, retryBackedOffNow, unclaimRows, type ClaimOptions } from '../db/repos/outbox.js';
import type { Db } from '../db/database.js';
import type { OutboxRow } from '../db/schema.js';
import type { Logger } from '../log.js';
import { MimeThreadLost } from '../mime/thread-smtp.js';
import type { Attempt } from './copies-attempt.js';
import { attemptRow, batchFacts, type BatchFacts, type RowAttemptDeps } from './row-attempt.js';
import type { Outcome } from './outbox-outcome.js';
import { OutcomeRecorder } from './outcome-recorder.js';
import { newClaimOwner } from './claim-owner.js';
import { sendFailure } from './send-failure.js';
import type { MailTransport, SentMessage } from './transport.js';
import { TransportHealthReporter } from './transport-health.js';
import { SenderHolds } from './sender-holds.js';
import { TransportPause } from './transport-pause.js';
import { RelayRate } from './relay-rate.js';
import { DEFAULT_RELAY, RELAY_KEY_PREFIX, type RelayLane } from './relays.js';
import { settlesWithin, TIMED_OUT, within } from '../time-limit.js';

/** Sends in flight at most (claimed BATCH / 2 or more at a time); the pool's maxConnections limits the sockets. */
const BATCH = 16;
/** A failure streak at least this long ends with every backed-off row made due at once. */
const RECOVERY_RESET_MS = 60_000;
/** stop() with the file transport: how long a write in flight may take. */
const FILE_STOP_WAIT_S = 5;

/**
 * Sends queued rows (DESIGN §1 outbox), without ever offering one twice:
 *
 *  - A pass CLAIMS due rows (claimed_by / claim_expires_at, one UPDATE … RETURNING), so two passes
 *    — or, later on PostgreSQL, two daemons — never hold the same row. Rows this process still
 *    holds in memory are excluded as well.
 *  - Each row is handled on its own: whatever one row does (fails, throws, waits for the database)
 *    never ends the round of the others.
 *  - Once the relay accepted a message, the row stays held in memory until "sent" is written;
 *    that write is retried with backoff (the database may be locked by another process for a
 *    while), and the delay is recorded as an `email.record-delayed` event once it gets through.
 *    Only a crash (or a stop while the database stays locked) in that window resends it — with the
 *    same Message-ID (docs/how-it-works.md: the crash window). Other daemons (PostgreSQL) leave
 *    its lapsed claim alone for outgoing.takeoverGraceSeconds after the database failed them.
 *  - Errors are classified (send-errors.ts): a broken transport (login rejected, TLS, relay
 *    unreachable) PAUSES sending — no email is marked failed for it — and is probed until it
 *    works (transport-pause.ts); a 4xx for one email retries that email with backoff; a 5xx fails that email.
 *  - Health and alerts: transport-health.ts.
 *
 * Woken by commits (OutboxSignal) and by a periodic sweep, so nothing waits and nothing is lost
 * across restarts.
 */
export class OutboxWorker {
  /** Who claims rows: one id per worker (host, process, random). */
  readonly owner = newClaimOwner();
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  #stopped = false;
  /** Rows this process holds: being sent, or an outcome not yet written. Never claimed again meanwhile. */
  readonly #held = new Set<number>();
  /** Writes outcomes (group commit; held in memory and retried while the database is busy). */
  readonly #recorder: OutcomeRecorder;
  /** A broken transport pauses all sending until a probe finds it working (transport-pause.ts). */
  readonly #pause: TransportPause;
  /** Since when (ms) the database has answered this worker without fail; null while it fails. */
  #dbAnswersSince: number | null;
  readonly #log: Logger;
  readonly health: TransportHealthReporter;
  /** Senders the relay refuses at MAIL FROM: their emails wait, the others go (sender-holds.ts). */
  readonly #senders: SenderHolds;
  readonly #onWake = (): void => this.kick();
  /** The relay's maxPerMinute, in recipients, shared by every daemon of the database (relay-rate.ts): a claim counts one per row, further transactions wait their turn. */
  readonly #rate: RelayRate;

  /** The relay this worker sends through and the rows it claims (relays.ts); default: every row. */
  #lane: RelayLane;
  /** What a claimed row's attempt needs from this worker (row-attempt.ts). */
  readonly #rowDeps: RowAttemptDeps;

  get lane(): RelayLane {
    return this.#lane;
  }

  /**
   * A reload changed which mailboxes (From addresses) send through this relay, not the relay
   * itself: the next claims follow the new lane; sends in flight, a pause, the rate and health go on.
   */
  setLane(lane: RelayLane): void {
    if (lane.relay !== this.#lane.relay) throw new Error(`lane of relay ${lane.relay} given to the sender of ${this.#lane.relay}`);
    this.#lane = lane;
    this.kick();
  }

  constructor(
    private readonly ctx: AppContext,
    private readonly transport: MailTransport,
    lane: RelayLane = { relay: DEFAULT_RELAY },
  ) {
    this.#lane = lane;
    const named = lane.relay !== DEFAULT_RELAY;
    this.#log = ctx.log.child(named ? { component: 'outbox', relay: lane.relay } : { component: 'outbox' });
    // A named relay's row is keyed by its name (two relays may share host and port: Microsoft 365).
    this.health = new TransportHealthReporter(ctx, transport.name, this.#log, named ? `${RELAY_KEY_PREFIX}${lane.relay}` : transport.name, lane.relay);
    this.#rate = new RelayRate(ctx.db, transport.relay?.budget ?? lane.relay, transport.relay?.maxPerMinute, () => ctx.clock.now().getTime(), () => this.kick(), this.#log);
    this.#senders = new SenderHolds(ctx, transport.name, this.#log, () => this.kick(), (address) => this.#inLane(address), lane.relay);
    this.#pause = new TransportPause(ctx, transport, this.#log, this.health, async () => {
      await this.#succeeded();
      this.kick();
    });
    this.#recorder = new OutcomeRecorder(
      ctx,
      this.#log,
      (rowId) => this.#held.delete(rowId),
      () => this.kick(),
      (ok) => this.#noteDb(ok),
    );
    // A daemon just started may follow an outage it did not see: other daemons get their grace too.
    this.#dbAnswersSince = ctx.clock.now().getTime();
    this.#rowDeps = {
      ctx,
      db: ctx.db,
      log: this.#log,
      owner: this.owner,
      stopping: () => this.#pause.active || this.#stopped,
      senderHeld: (sender) => this.#senders.isHeld(sender),
      send: (options) => this.#send(options),
      // No relay (the file transport): false; a relay not asked yet: null.
      relayOffersDsn: () => (this.transport.offersDsn !== undefined ? this.transport.offersDsn() : false),
      rate: (n) => this.#rate.take(n),
      failure: (err, row, attempts, sender, probe) => this.#failure(err, row, attempts, sender, probe),
    };
  }

  /**
   * How long a pass waits for its claim: a lock wait ends after database.busyTimeoutMs (lock_timeout),
   * so an answer later than this is a connection that went silent.
   */
  get #claimDeadlineMs(): number {
    return 10_000 + 3 * this.ctx.config.database.busyTimeoutMs;
  }

  /**
   * Rows whose claim by another sender lapsed may be taken (PostgreSQL; on SQLite this daemon is the
   * only sender) once the database has answered us for outgoing.takeoverGraceSeconds: after the
   * database failed us (an outage, a restart, a lock held for long) — or before we started — another
   * daemon may be alive and hold an email the relay accepted, whose "sent" it could not record while
   * the database was away (outcome-recorder.ts retries within a third of the grace). Taking the row
   * over at once sent the email a second time. A dead daemon's rows go out this much later.
   */
  #mayTakeOver(nowMs: number): boolean {
    if (this.ctx.config.database.driver !== 'postgres') return true;
    return this.#dbAnswersSince !== null && nowMs - this.#dbAnswersSince >= this.ctx.config.outgoing.takeoverGraceSeconds * 1000;
  }

  /** The database answered (true) or failed (false) a claim or an outcome write. */
  #noteDb(ok: boolean): void {
    if (!ok) this.#dbAnswersSince = null;
    else this.#dbAnswersSince ??= this.ctx.clock.now().getTime();
  }

  get db(): Db {
    return this.ctx.db;
  }

  /** SMTP transactions of claimed emails waiting for room within the relay's maxPerMinute (relay-rate.ts). */
  get waitingForRate(): number {
    return this.#rate.waiting;
  }

  /** Since when (ms) the oldest of them waits; null: none waits. */
  get waitingForRateSince(): number | null {
    return this.#rate.waitingSince;
  }

  /** True while sending is paused because the transport is broken. */
  get paused(): boolean {
    return this.#pause.active;
  }

  /**
   * Start sending. SQLite: only the daemon calls this, holding the instance lock, so claims left by
   * an earlier process (killed mid-send) are released: its rows go out now, not when the claim
   * lapses. PostgreSQL: other daemons may be sending right now; their claims are left alone and a
   * dead daemon's rows are taken over only once its claims lapse (outgoing.claimSeconds).
   */
  async start(opts: { readonly releaseOldClaims?: boolean } = {}): Promise<void> {
    this.#stopped = false;
    this.#pause.start();
    await this.#rate.start();
    this.#recorder.resume();
    // (With several relays only the first sender does this: a later one released the rows the first had just claimed and was sending.)
    if (this.ctx.config.database.driver === 'sqlite' && opts.releaseOldClaims !== false) {
      try {
        const released = await releaseClaims(this.db, null);
        if (released > 0) this.#log.warn({ rows: released }, 'released outbox rows claimed by a previous run (it stopped mid-send; they are sent again with the same Message-ID)');
      } catch (err) {
        this.#log.warn({ err }, 'could not release old outbox claims; they lapse on their own');
      }
    }
    await this.health.init();
    await this.#senders.init();
    this.ctx.outboxSignal.on('wake', this.#onWake);
    const sweep = (): void => {
      this.kick();
      this.#timer = setTimeout(sweep, this.ctx.config.outgoing.sweepSeconds * 1000);
      this.#timer.unref();
    };
    sweep();
  }

  /**
   * Resolves once no pass runs in the background (a kick: the start, the sweep, a wake-up) and
   * none is set to follow it. For tests that drive passes with drain() on a clock they move: a
   * background pass that read the clock before a move runs on beside theirs.
   */
  async idle(): Promise<void> {
    while (this.#running !== null) await this.#running;
  }

  /** Run a pass now (coalesces concurrent requests). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running !== null) {
      this.#again = true;
      return;
    }
    this.#running = this.drain()
      .then(() => undefined)
      .catch((err: unknown) => this.#log.error({ err }, 'outbox pass failed'))
      .finally(() => {
        this.#running = null;
        if (this.#again) {
          this.#again = false;
          this.kick();
        }
      });
  }

  /**
   * Send everything due now; resolves when no due row is left (or sending paused) and every send
   * it started has its outcome. Returns how many were sent.
   *
   * A window, not rounds: up to BATCH sends are in flight, and once half of them finished the
   * next rows are claimed, so one slow send never holds the others' successors back (rounds of
   * BATCH waited for the slowest of each; at the end of a backlog the relay connections sat idle
   * between rounds). It stops claiming once nothing is due, and after BATCH outcomes in a row
   * that were not "sent" (every row then is failed, retried later or suppressed: nothing to gain
   * from claiming on at once; the next pass or wake-up goes on).
   */
  async drain(): Promise<number> {
    // A row waiting its turn behind a slow relay (BATCH claimed, maxConnections sockets) would
    // outlive its claim, and another daemon would send it too: claims are renewed while held.
    const renewal = setInterval(() => void this.#renewClaims(), (this.ctx.config.outgoing.claimSeconds * 1000) / 3);
    renewal.unref();
    try {
      return await this.#drainWindow();
    } finally {
      clearInterval(renewal);
    }
  }

  /** Extend the claims of the rows this worker holds (outgoing.claimSeconds from now). Never throws. */
  async #renewClaims(): Promise<void> {
    if (this.#held.size === 0) return;
    const until = new Date(this.ctx.clock.now().getTime() + this.ctx.config.outgoing.claimSeconds * 1000).toISOString();
    try {
      const n = await renewClaims(this.db, this.owner, [...this.#held], until);
      this.#log.debug({ rows: n, until }, 'outbox claims renewed');
    } catch (err) {
      this.#log.warn({ err }, 'could not renew outbox claims (database busy?); trying again shortly');
    }
  }

  async #drainWindow(): Promise<number> {
    let sent = 0;
    let notSent = 0;
    let exhausted = false;
    const inFlight = new Set<Promise<void>>();
    // Transactions of an earlier pass waiting for the relay's minute: the room it has now goes to them first.
    await this.#rate.refresh();
    for (;;) {
      const room = Math.min(BATCH - inFlight.size, this.#rate.room());
      const claimNow = !exhausted && !this.#stopped && !this.#pause.active && notSent < BATCH && inFlight.size <= BATCH / 2 && room > 0;
      if (claimNow) {
        const batch = await this.#claim(room);
        if (batch === null) exhausted = true;
        else {
          // One slot of the relay's minute (shared by every daemon: relay-rate.ts) per row; rows it
          // has no room for go back to the queue untried, and claims stop until it has room again.
          const counted = await this.#rate.handed(batch.rows.length);
          const rows = batch.rows.slice(0, counted);
          await this.#unclaim(batch.rows.slice(counted), batch.probes);
          for (const r of rows) this.#held.add(r.id);
          for (const r of rows) {
            const p: Promise<void> = this.#deliver(r, batch.facts, batch.probes.has(r.id)).then((kind) => {
              inFlight.delete(p);
              if (kind === 'sent') {
                sent += 1;
                notSent = 0;
              } else notSent += 1;
            });
            inFlight.add(p);
          }
        }
      }
      if (inFlight.size === 0) return sent;
      await Promise.race(inFlight);
    }
  }

  /**
   * Claim up to `limit` due rows with what sending them needs; null when none is due (or the
   * database refused). Rows of held senders are left (sender-holds.ts), but for one email of each
   * whose probe is due (`probes`).
   */
  async #claim(limit: number): Promise<{ rows: OutboxRow[]; facts: BatchFacts; probes: ReadonlySet<number> } | null> {
    const now = this.ctx.clock.now();
    const base = {
      owner: this.owner,
      now: now.toISOString(),
      // The claim lapses then (outgoing.claimSeconds), so rows of a sender that died are sent by another.
      until: new Date(now.getTime() + this.ctx.config.outgoing.claimSeconds * 1000).toISOString(),
      exclude: [...this.#held],
      takeOverLapsed: this.#mayTakeOver(now.getTime()),
      ...(this.lane.onlyFrom !== undefined ? { fromIn: this.lane.onlyFrom } : {}),
    };
    const attempt = this.#claimRows(base, limit);
    let claimed: { rows: OutboxRow[]; probes: ReadonlySet<number> } | typeof TIMED_OUT;
    try {
      claimed = await within(attempt, this.#claimDeadlineMs);
    } catch (err) {
      this.#noteDb(false);
      this.#log.warn({ err }, 'could not claim outbox rows (database busy?); trying with the next pass');
      return null;
    }
    if (claimed === TIMED_OUT) {
      // The claim's connection went silent (a server that stopped answering behind a peer that
      // still keeps the socket: a frozen server, a proxy whose backend is gone): the pass ends
      // here instead of waiting for it, and the next one claims on another connection. Rows the
      // abandoned claim takes if it ever finishes are given back at once.
      this.#noteDb(false);
      this.#log.warn({ seconds: this.#claimDeadlineMs / 1000 }, 'the database did not answer the outbox claim in time (a connection gone silent?); trying again on another connection');
      void attempt.then(
        (late) => this.#giveBack(late),
        () => undefined,
      );
      return null;
    }
    this.#noteDb(true);
    const { rows, probes } = claimed;
    if (rows.length === 0) return null;
    try {
      return { rows, facts: await batchFacts(this.db, rows), probes };
    } catch (err) {
      // Nothing was sent: the claims lapse and a later pass sends these rows (and probes again).
      for (const r of rows) if (probes.has(r.id)) this.#senders.noProbeEmail(r.from_address.toLowerCase());
      this.#log.warn({ err, rows: rows.length }, 'could not read the claimed rows\' recipients and files (database busy?); sent when their claims lapse');
      return null;
    }
  }

  /** The claiming statements of a pass: the probes of held senders, then the due rows. */
  async #claimRows(base: Omit<ClaimOptions, 'limit'>, limit: number): Promise<{ rows: OutboxRow[]; probes: ReadonlySet<number> }> {
    const probeRows = await this.#senders.claimProbes(async (sender) => (await claimDue(this.db, { ...base, limit: 1, onlyFrom: sender }))[0]);
    // (a held sender is one of this relay's: SenderHolds keeps only those)
    const probes = new Set(probeRows.map((r) => r.id));
    const rows = [...probeRows, ...(await claimDue(this.db, { ...base, exclude: [...base.exclude, ...probes], limit, excludeFrom: [...this.#senders.excluded(), ...(this.lane.excludeFrom ?? [])] }))];
    return { rows, probes };
  }

  /** Rows an abandoned claim took after all: unclaimed again (still ours and queued), for the next pass. */
  async #giveBack(late: { rows: OutboxRow[]; probes: ReadonlySet<number> }): Promise<void> {
    if (late.rows.length === 0) return;
    for (const r of late.rows) {
      if (late.probes.has(r.id)) this.#senders.noProbeEmail(r.from_address.toLowerCase());
      await releaseRow(this.db, r.id, this.owner, r.attempts, null).catch(() => false);
    }
    this.#log.info({ rows: late.rows.length }, 'a late outbox claim answered after all: its rows are given back and sent by the next pass');
    this.kick();
  }

  /** Claimed rows the relay's minute had no room for: back to the queue untried (they lapse if this fails). */
  async #unclaim(rows: readonly OutboxRow[], probes: ReadonlySet<number>): Promise<void> {
    if (rows.length === 0) return;
    for (const r of rows) if (probes.has(r.id)) this.#senders.noProbeEmail(r.from_address.toLowerCase());
    try {
      await unclaimRows(this.db, this.owner, rows.map((r) => r.id));
    } catch (err) {
      this.#log.warn({ err, rows: rows.length }, 'could not give back rows the relay\'s minute had no room for (database busy?); sent when their claims lapse');
    }
  }

  /** Send one claimed row (`probe`: the one email that tries a held sender) and record what happened. Never throws. */
  async #deliver(row: OutboxRow, facts: BatchFacts, probe: boolean): Promise<Outcome['kind']> {
    const log = this.#log.child({ outboxId: row.id, caseId: row.case_id, messageId: row.message_id });
    let attempt: Attempt;
    try {
      attempt = await attemptRow(row, facts, probe, this.#rowDeps);
    } catch (err) {
      // Before anything was sent: the claim lapses and a later pass sends it.
      this.#held.delete(row.id);
      if (probe) this.#senders.noProbeEmail(row.from_address.toLowerCase());
      log.error({ err }, 'outbox row could not be handled; tried again when its claim lapses');
      return 'retry';
    }
    await this.#recorder.record(row, attempt.outcome, log);
    // The sender's hold (sender-holds.ts): begins, goes on, or ends; a probe that decided nothing lets the next email try.
    const kind = attempt.outcome.kind;
    if (attempt.senderRefused !== undefined) await this.#senders.refused(row.from_address, attempt.senderRefused);
    else if (kind === 'sent' || kind === 'partly-sent') await this.#senders.accepted(row.from_address);
    else if (probe) this.#senders.noProbeEmail(row.from_address.toLowerCase());
    if (attempt.outcome.kind === 'sent') {
      // Commit that queued it → accepted by the relay (metrics).
      const queuedAt = new Date(row.queued_at ?? row.created_at).getTime();
      this.ctx.telemetry.emailSent({ kind: row.kind, seconds: (new Date(attempt.outcome.at).getTime() - queuedAt) / 1000 });
    }
    // Health after the outcome is safe (it may alert, and never throws). Only an email the relay
    // took ends a failure streak: a refusal of this one email (5xx for its recipient, its sender
    // refused) says nothing of the others — while the relay answers 4xx to everything it is no
    // "works again" (no false all-clear to the admin, no burst of the backed-off emails).
    if (attempt.transport === 'works') {
      if (kind === 'sent' || kind === 'partly-sent') await this.#succeeded();
    }
    else if (attempt.transport !== null) await this.health.failure(attempt.transport, this.#pause.active);
    return attempt.outcome.kind;
  }

  /** What a send that threw means for the row (send-failure.ts); a pause it calls for begins here. */
  #failure(err: unknown, row: OutboxRow, attempts: number, sender: string, probe: boolean): Attempt {
    const d = sendFailure(err, this.ctx.config.outgoing, this.ctx.clock.now(), { row, attempts, sender, probe, stopping: this.#stopped }, this.transport.relay);
    if (d.counted !== null) this.ctx.telemetry.sendFailure(d.counted, this.lane.relay);
    if (d.pause !== null) this.#pause.begin(d.pause);
    return d.attempt;
  }

  /**
   * On the daemon's MIME thread when the transport can send there (SMTP: built, signed and sent
   * there); otherwise, or when the thread went away before it answered (whether the relay took the
   * email is then unknown, as in a crash: it is sent again, with the same Message-ID), built on
   * the thread when there is one (never rejects) and sent here.
   */
  async #send(options: Mail.Options): Promise<SentMessage> {
    const onThread = this.transport.sendOn?.(this.ctx.mime, options) ?? null;
    if (onThread !== null) {
      try {
        return await onThread;
      } catch (err) {
        if (!(err instanceof MimeThreadLost)) throw err;
      }
    }
    return this.transport.send(await this.ctx.mime.prepare(options, this.ctx.config.pipeline.stageTimeoutSeconds * 1000));
  }

  /**
   * The transport works. After an outage of at least RECOVERY_RESET_MS, rows waiting out their
   * backoff (up to outgoing.retry.maxSeconds) go now instead of minutes later.
   */
  async #succeeded(): Promise<void> {
    const failedForMs = await this.health.success();
    if (failedForMs === null || failedForMs < RECOVERY_RESET_MS) return;
    try {
      const rows = await retryBackedOffNow(this.db, this.ctx.clock.now().toISOString(), { ...(this.lane.onlyFrom !== undefined ? { fromIn: this.lane.onlyFrom } : {}), ...(this.lane.excludeFrom !== undefined ? { fromNotIn: this.lane.excludeFrom } : {}) });
      if (rows > 0) this.#log.info({ rows, failedForMs }, 'sending works again: emails waiting for a retry are due now');
      this.kick();
    } catch (err) {
      this.#log.debug({ err }, 'could not make backed-off emails due now; they go at their retry time');
    }
  }

  /** Whether emails From this address (lower case) are this relay's. */
  #inLane(address: string): boolean {
    const a = address.toLowerCase();
    if (this.lane.onlyFrom !== undefined) return this.lane.onlyFrom.includes(a);
    return !(this.lane.excludeFrom ?? []).includes(a);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.ctx.outboxSignal.off('wake', this.#onWake);
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#rate.stop();
    this.#pause.stop();
    this.#senders.stop();
    this.#recorder.pause();
    const running = this.#running;
    if (running !== null) {
      // Nothing more goes out: emails waiting for a connection go back to the queue, and so do those
      // whose session has not reached its final "." (the relay cannot have taken them). An email
      // past it waits for the relay's answer up to stopWaitSeconds: closing under it would send it
      // again at the next start, a duplicate if the relay took it (RFC 5321 4.5.3.2.6).
      this.transport.close('answers');
      // The file transport (no relay): a write in flight gets a few seconds to finish.
      const waitS = this.transport.relay !== undefined ? this.transport.relay.stopWaitSeconds : this.ctx.config.outgoing.transport === 'smtp' ? (this.ctx.config.outgoing.smtp?.stopWaitSeconds ?? 0) : FILE_STOP_WAIT_S;
      if (!(await settlesWithin(running, waitS * 1000))) {
        this.#log.warn({ inFlight: this.#held.size - this.#recorder.held, waitedSeconds: waitS }, 'sends still waiting for the relay\'s answer at stop; closing the transport under them (recorded; sent again at the next start, same Message-ID)');
        this.transport.close('now');
        await settlesWithin(running, 1_000);
      }
    }
    const unrecorded = await this.#recorder.finish();
    if (unrecorded.length > 0) {
      const sent = unrecorded.filter((u) => u.outcome.kind === 'sent' || u.outcome.kind === 'partly-sent').map((u) => u.row.message_id);
      this.#log.error({ unrecorded: unrecorded.length, acceptedButNotRecorded: sent }, 'stopping with outcomes the database did not take; accepted emails among them will be sent again (same Message-ID) by the next start');
    }
    // Several daemons (PostgreSQL): what this one still holds goes to the others now, not when the
    // claims lapse (SQLite: the next start releases them).
    if (this.ctx.config.database.driver === 'postgres') {
      try {
        const released = await releaseClaims(this.db, this.owner);
        if (released > 0) this.#log.warn({ rows: released }, 'released the outbox rows this daemon still held (they are sent again, same Message-ID, by the next sender)');
      } catch (err) {
        this.#log.warn({ err }, 'could not release this daemon’s outbox claims; they lapse on their own');
      }
    }
  }
}
