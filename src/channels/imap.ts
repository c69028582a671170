import { performance } from 'node:perf_hooks';
import { ImapFlow } from 'imapflow';
import type { AppContext } from '../context.js';
import type { ImapConfig, MailboxConfig } from '../config/schema.js';
import type { MailboxHealthState } from '../db/repos/mailbox-health.js';
import type { Logger } from '../log.js';
import { acceptsConnections, clientOptions, CommandFailures, describeImapError, isAuthFailure, isServerSideLoginFailure, isUnreachable } from './imap-connection.js';
import { tlsFailureHint } from '../config/tls-mode-hints.js';
import { MailboxHealthReporter } from './imap-health.js';
import { FolderReader } from './imap-reader.js';
import type { ConnectionState, Session } from './imap-session.js';
import { Settler } from './imap-settler.js';
import { LeaseLost, WorkLease } from './work-lease.js';
import { pause } from '../time-limit.js';

/**
 * The IMAP channel (DESIGN §1): one watcher per mailbox with an `imap` config, each with its own
 * connection and loop, so a failing mailbox never stops the others. This file is the connection's
 * life (connect, wait, reconnect with backoff); imap-reader.ts reads the folder over it and
 * imap-settler.ts acknowledges what was committed.
 *
 * A watcher connects, opens the folder and works through every unprocessed message, oldest
 * (lowest UID) first, up to `concurrency` at a time (messages above PREFETCH_MAX_BYTES are
 * downloaded one at a time): the raw source is streamed into the blob store and handed to runPipeline, which commits the outcome together with the checkpoint
 * (UIDVALIDITY + UID) in one transaction. Only after that commit is the message acknowledged on
 * the server: flagged \Seen and moved to processedFolder (`afterProcessing: move`) or flagged \Seen
 * plus the processed keyword (`flag`); quarantined messages go to quarantineFolder in move mode.
 * A `retry` outcome leaves the message untouched for a later attempt. After a crash anywhere in
 * between, the message is simply found again: a committed one comes back as `ignored: duplicate`
 * and is then acknowledged. Within one daemon's life the reader remembers what is committed but
 * not acknowledged, so a failed MOVE (a dropped connection, a folder the server refuses to write)
 * is retried alone on the next session, without a second pipeline run (imap-reader.ts #unacked).
 *
 * Unprocessed means: move mode — every (undeleted) message in the folder; flag mode — every
 * message without the processed keyword, or, when the server allows no keywords, every unseen
 * message plus every message above the checkpoint's UID.
 *
 * Then it waits: IDLE with a 100 ms auto-idle delay (new mail is fetched as soon as the server
 * reports EXISTS), or a poll every pollSeconds when the server lacks IDLE; with IDLE a safety
 * check (SELECT again + search) runs every pollSeconds too. After each batch it searches again,
 * so mail arriving during a batch is never missed.
 *
 * Any connection problem (refused, dropped, timeout, server restart, login rejected, folder gone)
 * ends the session: one log line, health `backing-off` / `auth-failed`, a pause that doubles from
 * reconnectMinSeconds up to reconnectMaxSeconds, and a new connection. See imap-health.ts for the
 * alert email after alertAfterSeconds.
 *
 * Several daemons on one PostgreSQL database: a watcher reads its mailbox only while it holds the
 * mailbox's lease (work-lease.ts); the others stand by and take over within one lease period when
 * the holder dies. Losing the lease ends the session at once (the next holder finds what was not
 * acknowledged yet; what was committed comes back as a duplicate). SQLite: the lease is always held.
 */

/**
 * While backing off after a network failure (server unreachable), check every this often whether
 * the server accepts TCP connections again, and reconnect at once when it does.
 */
const SERVER_CHECK_MS = 2_000;
/**
 * stop(): how long in-flight messages may take before the connection is cut — well inside the
 * CLI's stop deadline (cli/daemon.ts STOP_DEADLINE_MS, 9 s), which still has to close the database
 * after it. It was 10 s: a server that hung under a command of an open session (the periodic
 * SELECT, a SEARCH, a FETCH) held every stop past the deadline (exit 130, "could not stop in
 * time"). What is cut is not lost: a committed message is acknowledged by the next session, an
 * uncommitted one stays in the folder.
 */
const STOP_GRACE_MS = 6_000;
/** A wake-up call that is not lost when it comes before the wait (EXISTS during a batch). */
class Wake {
  #pending = false;
  #resolve: (() => void) | null = null;

  signal(): void {
    this.#pending = true;
    const r = this.#resolve;
    this.#resolve = null;
    r?.();
  }

  clear(): void {
    this.#pending = false;
  }

  /** Resolves true when signalled (now or before), false when `ms` passed. */
  async wait(ms: number): Promise<boolean> {
    if (!this.#pending) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#resolve = null;
          resolve();
        }, Math.max(0, ms));
        this.#resolve = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const signalled = this.#pending;
    this.#pending = false;
    return signalled;
  }
}

/** Watches one mailbox: connect → catch up → wait for mail → …, reconnecting with backoff. */
export class MailboxWatcher {
  readonly name: string;
  readonly #cfg: ImapConfig;
  readonly #log: Logger;
  readonly #health: MailboxHealthReporter;
  readonly #wake = new Wake();
  #stopped = false;
  /** Aborted by stop(): ends a tokenCommand still running (imap-connection.ts accessToken), a back-off wait, a lease wait. */
  readonly #stopAbort = new AbortController();
  #loop: Promise<void> | null = null;
  #client: ImapFlow | null = null;
  /**
   * While a session is being set up (connect, greeting, login, folders, SELECT) no message is in
   * flight: stop() closes that connection at once instead of granting it STOP_GRACE_MS. A server
   * that accepted the TCP connection and never greets (hung) would otherwise hold the stop for
   * imapflow's greeting timeout (16 s), past the CLI's stop deadline.
   */
  #settingUp = false;
  /** The last ALERT text of the current session's server: a failure's detail (status, the alert email) carries it. */
  #alert: string | null = null;
  readonly #lease: WorkLease;
  readonly #reader: FolderReader;
  #firstPassDone: () => void = () => undefined;
  /**
   * Resolves once the first look at the folder is done: the backlog that waited while the daemon
   * was down is processed — or the attempt failed, another daemon reads the mailbox, or the
   * watcher stopped (nothing to wait for).
   * The jobs' catch-up waits for it (scheduler.ts): a customer's reply that waited in the folder
   * reopens its case before a reminder, an automatic close or a survey is decided.
   */
  readonly firstPass: Promise<void>;

  constructor(ctx: AppContext, mailbox: MailboxConfig, cfg: ImapConfig) {
    this.name = mailbox.name;
    this.#cfg = cfg;
    this.#log = ctx.log.child({ component: 'imap', mailbox: mailbox.name });
    this.#health = new MailboxHealthReporter(ctx, mailbox, cfg, this.#log);
    this.#lease = new WorkLease(ctx, `imap:${mailbox.name}`, this.#log);
    this.#lease.onLost(() => this.#wake.signal());
    this.#reader = new FolderReader({ ctx, mailbox, cfg, log: this.#log, health: this.#health, lease: this.#lease, isStopped: () => this.#stopped });
    this.firstPass = new Promise<void>((resolve) => {
      this.#firstPassDone = resolve;
    });
  }

  /** The `imap` block this watcher connects with. */
  get imapConfig(): ImapConfig {
    return this.#cfg;
  }

  /** Connection state (mailbox_health states), null before the first report. */
  get state(): MailboxHealthState | null {
    return this.#health.state;
  }

  /** How many UIDs the folder's reader keeps in memory (imap-reader.ts; tests check it stays bounded). */
  get remembered(): FolderReader['remembered'] {
    return this.#reader.remembered;
  }

  /** Unprocessed messages seen at the last check. */
  get backlog(): number {
    return this.#health.backlog;
  }

  /** A reload changed this mailbox's settings but not its `imap` block: keep the session, use the new settings. */
  updateMailbox(mailbox: MailboxConfig): void {
    this.#reader.updateMailbox(mailbox);
    this.#health.updateMailbox(mailbox);
  }

  start(): void {
    this.#loop ??= this.#run().catch((err: unknown) => {
      // #run contains its errors; this is a bug guard so one mailbox can never take the daemon down.
      this.#log.error({ err }, 'IMAP mailbox loop ended unexpectedly');
    });
  }

  async stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#firstPassDone();
      this.#stopAbort.abort();
      this.#wake.signal();
    }
    if (this.#settingUp) this.#client?.close();
    const timer = setTimeout(() => this.#client?.close(), STOP_GRACE_MS);
    try {
      await this.#loop;
    } finally {
      clearTimeout(timer);
    }
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      if (!this.#lease.held) {
        // Several daemons: wait until this one may read the mailbox (at once on SQLite).
        if (!(await this.#lease.acquire(this.#stopAbort.signal, () => this.#firstPassDone()))) break;
        await this.#health.init();
        failures = 0;
      }
      let worked = false;
      try {
        if (failures === 0) await this.#health.set('connecting');
        await this.#session(() => {
          worked = true;
        });
      } catch (err) {
        this.#firstPassDone();
        if (this.#stopped) break;
        if (err instanceof LeaseLost || !this.#lease.held) {
          this.#log.warn({ mailbox: this.name }, `IMAP mailbox ${this.name} handed over: this daemon no longer holds its lease`);
          continue;
        }
        // A session that logged in and completed a fetch starts the backoff over; one that keeps
        // dropping before that keeps doubling it.
        if (worked) failures = 0;
        failures += 1;
        const delayMs = reconnectDelayMs(this.#cfg, failures);
        const auth = isAuthFailure(err);
        const detail = this.#describe(err, auth) + (this.#alert !== null ? ` (server ALERT: ${this.#alert})` : '');
        // The one line per failed attempt.
        this.#log[auth ? 'error' : 'warn'](
          { error: detail, attempt: failures, retryInMs: delayMs, host: `${this.#cfg.host}:${this.#cfg.port}` },
          `IMAP mailbox ${this.name} failed: ${detail}; next attempt in ${formatDelay(delayMs)}`,
        );
        await this.#health.failure(auth ? 'auth-failed' : 'backing-off', detail);
        await this.#backOff(delayMs, !auth && isUnreachable(err));
      } finally {
        await this.#closeClient();
      }
    }
    if (this.#lease.held) await this.#health.set('stopped');
    await this.#lease.release();
  }

  /**
   * Wait before the next attempt. When the server was unreachable, check every SERVER_CHECK_MS
   * whether it accepts connections again and cut the wait short when it does: a server back after
   * an outage is used within seconds, not after the grown backoff.
   */
  async #backOff(delayMs: number, checkServer: boolean): Promise<void> {
    const until = performance.now() + delayMs;
    if (!checkServer || delayMs <= SERVER_CHECK_MS) {
      await pause(delayMs, this.#stopAbort.signal);
      return;
    }
    while (!this.#stopped) {
      const left = until - performance.now();
      if (left <= 0) return;
      await pause(Math.min(SERVER_CHECK_MS, left), this.#stopAbort.signal);
      if (this.#stopped || performance.now() >= until) return;
      // Without implicit TLS the server speaks first: a server that accepts TCP but sends no
      // greeting (hung, stopped) is not back.
      if (await acceptsConnections(this.#cfg.host, this.#cfg.port, SERVER_CHECK_MS, this.#cfg.tls !== 'implicit')) {
        this.#log.info({ host: `${this.#cfg.host}:${this.#cfg.port}`, skippedMs: Math.round(until - performance.now()) }, `IMAP server of mailbox ${this.name} is reachable again; reconnecting now`);
        return;
      }
    }
  }

  #describe(err: unknown, auth: boolean): string {
    const e = err as { mailboxMissing?: unknown; code?: unknown } | null;
    if (e?.mailboxMissing === true) return `folder "${this.#cfg.folder}" does not exist (${describeImapError(err)})`;
    if (e?.code === 'ETIMEOUT') {
      // imapflow's verdict on a silent connection (clientOptions: socketTimeout).
      return `the IMAP server stopped answering (no reply within ${this.#cfg.stallTimeoutSeconds} s, imap.stallTimeoutSeconds); connection dropped`;
    }
    // Not "login rejected": the credentials may be fine (the state stays backing-off, not auth-failed).
    if (isServerSideLoginFailure(err)) return `login failed on the server's side, not for our credentials: ${describeImapError(err)}`;
    const hint = auth ? null : tlsFailureHint('imap', 'imap', err, this.#cfg.tls === 'implicit', this.#cfg.port);
    if (hint !== null) return `${hint} (${describeImapError(err)})`;
    return (auth ? 'login rejected: ' : '') + describeImapError(err);
  }

  async #closeClient(): Promise<void> {
    this.#settingUp = false;
    const client = this.#client;
    this.#client = null;
    if (client === null) return;
    if (client.usable) {
      await Promise.race([client.logout().catch(() => undefined), sleep(2_000)]);
    }
    client.close();
  }

  /** One connection: returns when stopped, throws when the connection fails. */
  async #session(onWorked: () => void): Promise<void> {
    const cfg = this.#cfg;
    const failures = new CommandFailures();
    this.#alert = null;
    const client = new ImapFlow(await clientOptions(cfg, this.#log, `casegate-${this.name}`, failures, this.#stopAbort.signal));
    this.#client = client;
    // Stopped while the credentials were resolved (a tokenCommand): no connection attempt.
    if (this.#stopped) return;
    // Until the folder is open nothing is in flight: stop() closes this connection at once (#closeClient clears it).
    this.#settingUp = true;
    const conn: ConnectionState = { closed: false, lastError: null };
    client.on('error', (err: Error) => {
      conn.lastError = err;
    });
    client.on('close', () => {
      conn.closed = true;
      this.#wake.signal();
    });
    client.on('exists', (e: { count: number; prevCount: number }) => {
      this.#log.debug({ count: e.count, prevCount: e.prevCount }, 'new mail announced (EXISTS)');
      this.#wake.signal();
    });
    client.on('mailboxOpen', () => this.#wake.signal());
    client.on('alert', (a: { message?: unknown }) => {
      // RFC 9051 §7.1: an ALERT's text must reach a person (mailbox almost full, maintenance ahead,
      // the account about to be disabled). imapflow only logs it at info, which nobody sees.
      const text = String(a.message ?? '').replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 400);
      this.#log.warn({ alert: text }, `IMAP server of mailbox ${this.name} says (ALERT): ${text}`);
      this.#alert = text;
      // While setting up, a failure's detail carries it (a note written now could land after it).
      if (!this.#settingUp) void this.#health.note(`server alert: ${text}`);
    });
    try {
      await client.connect();
      if (this.#stopped) return;

      const processedPath = cfg.afterProcessing === 'move' ? await this.#ensureFolder(client, cfg.processedFolder) : null;
      const quarantinePath = cfg.afterProcessing === 'move' ? await this.#ensureFolder(client, cfg.quarantineFolder) : null;
      const mb = await client.mailboxOpen(folderPath(cfg.folder));
      const perm = mb.permanentFlags;
      const session: Session = {
        client,
        conn,
        uidValidity: String(mb.uidValidity),
        keywords: perm === undefined || perm.has('\\*') || perm.has(cfg.processedKeyword),
        idle: client.capabilities.has('IDLE'),
        processedPath,
        quarantinePath,
        deferred: new Map(),
        settler: new Settler(client, { processedPath, quarantinePath }, cfg, this.#log, { failures, onAcknowledged: (uids) => this.#reader.acknowledged(uids) }),
        selectedAt: performance.now(),
        largeLane: Promise.resolve(),
      };
      session.settler.keywords = session.keywords;
      await this.#reader.syncUidValidity(session.uidValidity);
      this.#log.info(
        {
          folder: mb.path,
          uidvalidity: session.uidValidity,
          exists: mb.exists,
          idle: session.idle,
          mode: cfg.afterProcessing,
          keywords: session.keywords,
        },
        'IMAP mailbox connected',
      );
      this.#settingUp = false;
      if (this.#alert !== null) await this.#health.note(`server alert: ${this.#alert}`);

      while (!this.#stopped) {
        this.#wake.clear();
        await this.#reader.catchUp(session);
        this.#firstPassDone();
        // Logged in, folder open, a fetch completed: this server works (the backoff starts over).
        onWorked();
        if (this.#stopped) break;
        this.#reader.assertConnected(session);
        const signalled = await this.#wake.wait(this.#nextCheckIn(session));
        if (!signalled && !this.#stopped && performance.now() - session.selectedAt >= this.#sweepMs) {
          // The periodic check: SELECT again. It notices what no notification reports, e.g. a folder
          // deleted and recreated under an open session (new UIDVALIDITY), and proves the connection works.
          await client.mailboxOpen(folderPath(cfg.folder));
          session.selectedAt = performance.now();
        }
      }
      await session.settler.drain().catch(() => undefined);
    } catch (err) {
      throw rootCause(err, conn);
    }
  }

  /** Create a processed/quarantine folder when missing; returns the server's path. */
  async #ensureFolder(client: ImapFlow, folder: string): Promise<string> {
    try {
      const res = await client.mailboxCreate(folderPath(folder));
      if (res.created) this.#log.info({ folder: res.path }, 'created IMAP folder');
      return res.path;
    } catch (err) {
      // A server without RFC 5530 response codes may refuse CREATE of an existing folder.
      const list = await client.list();
      const wanted = folderPath(folder);
      const found = list.find((l) => l.path === wanted.join(l.delimiter) || l.path === folder);
      if (found !== undefined) return found.path;
      throw err;
    }
  }

  /** Without IDLE the poll interval; with IDLE a safety check just as often (a missed notification, a recreated folder). */
  get #sweepMs(): number {
    return this.#cfg.pollSeconds * 1000;
  }

  #nextCheckIn(s: Session): number {
    const now = performance.now();
    let ms = s.selectedAt + this.#sweepMs - now;
    for (const d of s.deferred.values()) ms = Math.min(ms, d.notBefore - now);
    return Math.max(0, ms);
  }

}

/**
 * Why a session ended. imapflow fails every command of a connection it has closed with
 * "NoConnection: Connection not available"; why it closed came before as an 'error' event — a NAT
 * that forgot the session while a periodic SELECT waited for its answer is ETIMEOUT (the stall
 * text, and the server check while backing off), not a bare "NoConnection".
 */
function rootCause(err: unknown, conn: ConnectionState): unknown {
  return (err as { code?: unknown } | null)?.code === 'NoConnection' && conn.lastError !== null ? conn.lastError : err;
}

/** "casegate/Processed" → ["casegate", "Processed"]: imapflow joins it with the server's delimiter. */
function folderPath(folder: string): string[] {
  return folder.split('/').filter((p) => p !== '');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Up to this share of each reconnect wait is taken off at random. */
const RECONNECT_JITTER = 0.25;

/**
 * The wait before reconnect attempt `failures` + 1: reconnectMinSeconds doubled per failure in a
 * row, at most reconnectMaxSeconds, less up to a quarter at random — every session a server
 * restart drops at the same moment (all mailboxes on it, several daemons) would otherwise log in
 * again at the same moment, at every step of the backoff.
 */
export function reconnectDelayMs(cfg: Pick<ImapConfig, 'reconnectMinSeconds' | 'reconnectMaxSeconds'>, failures: number, random: () => number = Math.random): number {
  const base = Math.min(cfg.reconnectMinSeconds * 2 ** (failures - 1), cfg.reconnectMaxSeconds) * 1000;
  return Math.round(base * (1 - RECONNECT_JITTER * random()));
}

function formatDelay(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}
