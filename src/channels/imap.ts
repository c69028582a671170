import { performance } from 'node:perf_hooks';
import { ImapFlow, type FetchMessageObject, type SearchObject } from 'imapflow';
import type { AppContext } from '../context.js';
import type { ImapConfig, MailboxConfig } from '../config/schema.js';
import { addEvent } from '../db/repos/events.js';
import { mailboxState, resetMailboxState } from '../db/repos/mailbox-state.js';
import type { Logger } from '../log.js';
import { normalizeMessageId } from '../mail-in/parse-mail.js';
import { isTransient, runPipeline } from '../pipeline/run-pipeline.js';
import { SizeLimitError } from '../storage/blob-store.js';
import { acceptsConnections, clientOptions, describeImapError, isAuthFailure, isUnreachable } from './imap-connection.js';
import { MailboxHealthReporter } from './imap-health.js';
import type { MailboxHealthState } from '../db/repos/mailbox-health.js';
import { LeaseLost, WorkLease } from './work-lease.js';

/**
 * The IMAP channel (DESIGN §1): one watcher per mailbox with an `imap` config, each with its own
 * connection and loop, so a failing mailbox never stops the others.
 *
 * A watcher connects, opens the folder and works through every unprocessed message, oldest
 * (lowest UID) first, up to `concurrency` at a time (messages above PREFETCH_MAX_BYTES are
 * downloaded one at a time): the raw source is streamed into the blob store and handed to runPipeline, which commits the outcome together with the checkpoint
 * (UIDVALIDITY + UID) in one transaction. Only after that commit is the message acknowledged on
 * the server: flagged \Seen and moved to processedFolder (`afterProcessing: move`) or flagged \Seen
 * plus the processed keyword (`flag`); quarantined messages go to quarantineFolder in move mode.
 * A `retry` outcome leaves the message untouched for a later attempt. After a crash anywhere in
 * between, the message is simply found again: a committed one comes back as `ignored: duplicate`
 * and is then acknowledged.
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

/** Messages looked at per round (one metadata FETCH); the folder is searched again after each. */
const BATCH = 250;
/**
 * Messages up to this size (RFC822.SIZE) are fetched PREFETCH_COUNT at a time in one FETCH
 * (at most 16 MB in memory); bigger ones are streamed into the blob store one by one.
 */
const PREFETCH_MAX_BYTES = 256 * 1024;
const PREFETCH_COUNT = 64;
/**
 * Bigger messages are downloaded one at a time, in partial FETCHes of this size. Interleaved
 * partial FETCHes of several big messages on one connection make Dovecot re-read each message
 * from its start for every chunk (8 × 25 MB at concurrency 8: 90 s of Dovecot CPU; one at a time
 * 12 s); bigger chunks mean fewer round trips, each chunk is held in memory once.
 */
const LARGE_CHUNK_BYTES = 2 * 1024 * 1024;
/** A message that ended in `retry` is tried again after 1 s, 2 s, 4 s … at most this long. */
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 60_000;
/**
 * While backing off after a network failure (server unreachable), check every this often whether
 * the server accepts TCP connections again, and reconnect at once when it does.
 */
const SERVER_CHECK_MS = 2_000;
/** stop(): how long in-flight messages may take before the connection is cut. */
const STOP_GRACE_MS = 10_000;
/** flag mode: extra keyword for quarantined / oversized messages (when keywords are allowed). */
const QUARANTINE_KEYWORD = '$CasegateQuarantined';

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

type Settle = 'processed' | 'quarantine';

interface Deferred {
  attempts: number;
  notBefore: number;
}

/** What the connection's event handlers report. */
interface ConnectionState {
  closed: boolean;
  lastError: Error | null;
}

/** State of one connection. */
interface Session {
  readonly client: ImapFlow;
  readonly conn: ConnectionState;
  uidValidity: string;
  readonly keywords: boolean;
  readonly idle: boolean;
  readonly processedPath: string | null;
  readonly quarantinePath: string | null;
  /** Messages that ended in `retry`, by UID: when to try again. */
  readonly deferred: Map<number, Deferred>;
  readonly settler: Settler;
  /** performance.now() of the last SELECT. */
  selectedAt: number;
  /** Settles when the current large message is done (they are downloaded and processed one at a time). */
  largeLane: Promise<void>;
}

class ConnectionLost extends Error {
  override readonly name = 'ConnectionLost';
}

/** Watches one mailbox: connect → catch up → wait for mail → …, reconnecting with backoff. */
export class MailboxWatcher {
  readonly name: string;
  readonly #ctx: AppContext;
  #mailbox: MailboxConfig;
  readonly #cfg: ImapConfig;
  readonly #log: Logger;
  readonly #health: MailboxHealthReporter;
  readonly #wake = new Wake();
  #stopped = false;
  #stopSignal: () => void = () => undefined;
  readonly #stopPromise: Promise<void>;
  #loop: Promise<void> | null = null;
  #client: ImapFlow | null = null;
  readonly #lease: WorkLease;

  constructor(ctx: AppContext, mailbox: MailboxConfig, cfg: ImapConfig) {
    this.name = mailbox.name;
    this.#ctx = ctx;
    this.#mailbox = mailbox;
    this.#cfg = cfg;
    this.#log = ctx.log.child({ component: 'imap', mailbox: mailbox.name });
    this.#health = new MailboxHealthReporter(ctx, mailbox, cfg, this.#log);
    this.#lease = new WorkLease(ctx, `imap:${mailbox.name}`, this.#log);
    this.#lease.onLost(() => this.#wake.signal());
    this.#stopPromise = new Promise<void>((resolve) => {
      this.#stopSignal = resolve;
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

  /** Unprocessed messages seen at the last check. */
  get backlog(): number {
    return this.#health.backlog;
  }

  /** A reload changed this mailbox's settings but not its `imap` block: keep the session, use the new settings. */
  updateMailbox(mailbox: MailboxConfig): void {
    this.#mailbox = mailbox;
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
      this.#stopSignal();
      this.#wake.signal();
    }
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
        if (!(await this.#lease.acquire(this.#stopPromise))) break;
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
        if (this.#stopped) break;
        if (err instanceof LeaseLost || !this.#lease.held) {
          this.#log.warn({ mailbox: this.name }, `IMAP mailbox ${this.name} handed over: this daemon no longer holds its lease`);
          continue;
        }
        // A session that logged in and completed a fetch starts the backoff over; one that keeps
        // dropping before that keeps doubling it.
        if (worked) failures = 0;
        failures += 1;
        const delayMs = Math.round(Math.min(this.#cfg.reconnectMinSeconds * 2 ** (failures - 1), this.#cfg.reconnectMaxSeconds) * 1000);
        const auth = isAuthFailure(err);
        const detail = this.#describe(err, auth);
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
      await Promise.race([sleep(delayMs), this.#stopPromise]);
      return;
    }
    while (!this.#stopped) {
      const left = until - performance.now();
      if (left <= 0) return;
      await Promise.race([sleep(Math.min(SERVER_CHECK_MS, left)), this.#stopPromise]);
      if (this.#stopped || performance.now() >= until) return;
      if (await acceptsConnections(this.#cfg.host, this.#cfg.port, SERVER_CHECK_MS)) {
        this.#log.info({ host: `${this.#cfg.host}:${this.#cfg.port}`, skippedMs: Math.round(until - performance.now()) }, `IMAP server of mailbox ${this.name} is reachable again; reconnecting now`);
        return;
      }
    }
  }

  #describe(err: unknown, auth: boolean): string {
    const e = err as { mailboxMissing?: unknown } | null;
    if (e?.mailboxMissing === true) return `folder "${this.#cfg.folder}" does not exist (${describeImapError(err)})`;
    return (auth ? 'login rejected: ' : '') + describeImapError(err);
  }

  async #closeClient(): Promise<void> {
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
    const client = new ImapFlow(await clientOptions(cfg, this.#log, `casegate-${this.name}`));
    this.#client = client;
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
      settler: new Settler(client, { processedPath, quarantinePath }, cfg, this.#log),
      selectedAt: performance.now(),
      largeLane: Promise.resolve(),
    };
    session.settler.keywords = session.keywords;
    await this.#syncUidValidity(session.uidValidity);
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

    while (!this.#stopped) {
      this.#wake.clear();
      await this.#catchUp(session);
      // Logged in, folder open, a fetch completed: this server works (the backoff starts over).
      onWorked();
      if (this.#stopped) break;
      this.#assertConnected(session);
      const signalled = await this.#wake.wait(this.#nextCheckIn(session));
      if (!signalled && !this.#stopped && performance.now() - session.selectedAt >= this.#sweepMs) {
        // The periodic check: SELECT again. It notices what no notification reports, e.g. a folder
        // deleted and recreated under an open session (new UIDVALIDITY), and proves the connection works.
        await client.mailboxOpen(folderPath(cfg.folder));
        session.selectedAt = performance.now();
      }
    }
    await session.settler.drain().catch(() => undefined);
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

  /** UIDVALIDITY differs from the checkpoint: the folder was recreated; start over (dedupe makes it safe). */
  async #syncUidValidity(uidValidity: string): Promise<void> {
    const state = await mailboxState(this.#ctx.db, this.name);
    if (state?.uidvalidity === uidValidity) return;
    if (state !== undefined && state.uidvalidity !== null) {
      this.#log.warn(
        { previous: state.uidvalidity, uidvalidity: uidValidity, lastUid: state.last_uid },
        'UIDVALIDITY changed (folder recreated or restored): checkpoint reset, rescanning the whole folder; duplicates are recognised',
      );
    }
    await resetMailboxState(this.#ctx.db, this.name, uidValidity, this.#ctx.clock.now().toISOString());
  }

  #assertConnected(s: Session): void {
    if (!this.#lease.held) throw new LeaseLost(`lease of mailbox ${this.name} lost`);
    if (s.conn.closed || !s.client.usable) {
      const why = s.conn.lastError !== null ? describeImapError(s.conn.lastError) : s.client.byeReason !== undefined ? `server said BYE: ${s.client.byeReason}` : 'closed';
      throw Object.assign(new ConnectionLost(`connection lost (${why})`), { code: (s.conn.lastError as { code?: string } | null)?.code });
    }
    if (s.client.mailbox === false) throw new ConnectionLost(`folder "${this.#cfg.folder}" is no longer selected`);
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

  /** Search, process, settle; again until nothing new is left (mail arriving meanwhile included). */
  async #catchUp(s: Session): Promise<void> {
    for (;;) {
      if (this.#stopped) return;
      this.#assertConnected(s);
      const current = s.client.mailbox === false ? s.uidValidity : String(s.client.mailbox.uidValidity);
      if (current !== s.uidValidity) {
        await this.#syncUidValidity(current);
        s.uidValidity = current;
        s.deferred.clear();
      }
      const uids = await this.#unprocessed(s);
      const present = new Set(uids);
      for (const uid of s.deferred.keys()) if (!present.has(uid)) s.deferred.delete(uid);
      const now = performance.now();
      const due = uids.filter((uid) => (s.deferred.get(uid)?.notBefore ?? 0) <= now);
      await this.#health.success(due.length > 0 ? 'processing' : s.idle ? 'idling' : 'polling', uids.length);
      if (due.length === 0) return;
      await this.#processBatch(s, due.slice(0, BATCH));
    }
  }

  /** UIDs of unprocessed messages, ascending (= oldest first). */
  async #unprocessed(s: Session): Promise<number[]> {
    const cfg = this.#cfg;
    const search = async (q: SearchObject): Promise<number[]> => {
      const res = await s.client.search(q, { uid: true });
      if (!Array.isArray(res)) {
        this.#assertConnected(s);
        throw new Error(`UID SEARCH failed in "${cfg.folder}"`);
      }
      return res;
    };
    let uids: number[];
    if (cfg.afterProcessing === 'move') {
      uids = await search({ deleted: false });
    } else if (s.keywords) {
      uids = await search({ unKeyword: cfg.processedKeyword, deleted: false });
    } else {
      // No keywords allowed: \Seen is the marker; anything above the checkpoint is new even if a
      // person already read it.
      const unseen = await search({ seen: false, deleted: false });
      const state = await mailboxState(this.#ctx.db, this.name);
      const lastUid = state?.uidvalidity === s.uidValidity ? state.last_uid : 0;
      const above = (await search({ uid: `${lastUid + 1}:*`, deleted: false })).filter((u) => u > lastUid);
      uids = [...new Set([...unseen, ...above])];
    }
    return uids.sort((a, b) => a - b);
  }

  async #processBatch(s: Session, uids: number[]): Promise<void> {
    const metas = await s.client.fetchAll(uids, { uid: true, size: true, internalDate: true }, { uid: true });
    metas.sort((a, b) => a.uid - b.uid);
    const run: { failure: { err: unknown } | null } = { failure: null };
    for (let i = 0; i < metas.length && run.failure === null && !this.#stopped; i += PREFETCH_COUNT) {
      const chunk = metas.slice(i, i + PREFETCH_COUNT);
      // Small messages come in one FETCH for the whole chunk; big ones are streamed one by one.
      const small = chunk.filter((m) => m.size !== undefined && m.size <= PREFETCH_MAX_BYTES).map((m) => m.uid);
      const sources = new Map<number, Buffer>();
      if (small.length > 0) {
        for (const m of await s.client.fetchAll(small, { uid: true, source: true }, { uid: true })) {
          if (m.source !== undefined) sources.set(m.uid, m.source);
        }
      }
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < chunk.length && run.failure === null && !this.#stopped && this.#lease.held) {
          const meta = chunk[next++]!;
          const source = sources.get(meta.uid);
          sources.delete(meta.uid);
          try {
            await this.#processOne(s, meta, source);
          } catch (err) {
            run.failure ??= { err };
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.#cfg.concurrency, chunk.length) }, worker));
    }
    // Acknowledge what was committed even when something else failed (if the connection still works).
    const settled = await s.settler.drain().then(
      () => null,
      (err: unknown) => ({ err }),
    );
    if (run.failure !== null) throw run.failure.err;
    if (settled !== null) throw settled.err;
  }

  /** One message: raw bytes into the blob store, through the pipeline, acknowledged after the commit. */
  async #processOne(s: Session, meta: FetchMessageObject, prefetched: Buffer | undefined): Promise<void> {
    const limit = this.#ctx.config.listener.maxMessageBytes;
    if (meta.size !== undefined && meta.size > limit) {
      await this.#oversized(s, meta.uid, meta.size);
      return;
    }
    // A large message is downloaded and processed while no other large one is: its chunks never
    // interleave with another's on the connection, and one big parse at a time bounds memory.
    if (prefetched === undefined) await oneAtATime(s, () => this.#fetchAndRun(s, meta, undefined));
    else await this.#fetchAndRun(s, meta, prefetched);
  }

  async #fetchAndRun(s: Session, meta: FetchMessageObject, prefetched: Buffer | undefined): Promise<void> {
    const ctx = this.#ctx;
    const limit = ctx.config.listener.maxMessageBytes;
    const uid = meta.uid;
    const arrivedMs = performance.now();
    let blob;
    try {
      if (prefetched !== undefined) {
        blob = await ctx.blobs.putBuffer(prefetched, limit);
      } else {
        // Streamed into the blob store chunk by chunk, never whole in memory.
        const dl = await s.client.download(String(uid), undefined, { uid: true, chunkSize: LARGE_CHUNK_BYTES });
        if (dl.content === undefined) return; // expunged meanwhile
        blob = await ctx.blobs.put(dl.content, limit);
      }
    } catch (err) {
      if (err instanceof SizeLimitError) {
        await this.#oversized(s, uid, meta.size ?? limit + 1);
        return;
      }
      if (s.conn.closed || !s.client.usable) throw err;
      this.#defer(s, uid, `download: ${describeImapError(err)}`);
      return;
    }
    const receivedAt = meta.internalDate !== undefined ? new Date(meta.internalDate) : ctx.clock.now();
    let outcome;
    try {
      outcome = await runPipeline(ctx, {
        channel: 'imap',
        mailbox: this.#mailbox,
        envelopeFrom: null,
        envelopeTo: this.#mailbox.addresses,
        receivedAt: Number.isNaN(receivedAt.getTime()) ? ctx.clock.now() : receivedAt,
        raw: blob,
        checkpoint: { mailbox: this.name, uidvalidity: s.uidValidity, uid },
        arrivedMs,
      });
    } catch (err) {
      this.#defer(s, uid, `pipeline: ${describeImapError(err)}`);
      return;
    }
    if (outcome.kind === 'retry') {
      this.#defer(s, uid, outcome.reason);
      return;
    }
    // Committed: only now is the message acknowledged on the server.
    s.deferred.delete(uid);
    s.settler.add(uid, outcome.kind === 'quarantined' ? 'quarantine' : 'processed');
  }

  #defer(s: Session, uid: number, reason: string): void {
    const attempts = (s.deferred.get(uid)?.attempts ?? 0) + 1;
    const delayMs = Math.min(RETRY_MIN_MS * 2 ** (attempts - 1), RETRY_MAX_MS);
    s.deferred.set(uid, { attempts, notBefore: performance.now() + delayMs });
    this.#log.warn({ uid, attempt: attempts, retryInMs: delayMs, reason }, 'message left in the folder; trying again later');
    void this.#health.note(`message uid ${uid}: will retry (${reason})`.slice(0, 500));
  }

  /**
   * A message above listener.maxMessageBytes is never downloaded, so it cannot get a receipt (that
   * needs the raw bytes). It is quarantined in place instead: moved to quarantineFolder (flag mode:
   * flagged), with an error log line, a case-less `imap.oversized` event row (durable, with the
   * envelope so an admin can find it) and the health detail. Recorded before it is moved; if the
   * record cannot be written the message stays for a later attempt.
   */
  async #oversized(s: Session, uid: number, size: number): Promise<void> {
    const ctx = this.#ctx;
    const limit = ctx.config.listener.maxMessageBytes;
    let envelope: FetchMessageObject['envelope'];
    try {
      const msg = await s.client.fetchOne(String(uid), { uid: true, envelope: true }, { uid: true });
      if (msg !== false) envelope = msg.envelope;
    } catch (err) {
      if (s.conn.closed || !s.client.usable) throw err;
    }
    const messageId = normalizeMessageId(envelope?.messageId ?? null);
    const where = s.quarantinePath !== null ? `moved to ${s.quarantinePath}` : 'flagged in place';
    const reason = `message uid ${uid} (${size} bytes) exceeds listener.maxMessageBytes (${limit}); not processed, ${where}`;
    try {
      await addEvent(ctx.db, {
        caseId: null,
        type: 'imap.oversized',
        actor: 'system',
        reason: `mailbox ${this.name}: ${reason}`,
        data: {
          mailbox: this.name,
          folder: this.#cfg.folder,
          uidvalidity: s.uidValidity,
          uid,
          size,
          limit,
          messageId,
          from: envelope?.from?.[0]?.address ?? null,
          subject: envelope?.subject ?? null,
          movedTo: s.quarantinePath,
        },
        at: ctx.clock.now().toISOString(),
      });
    } catch (err) {
      if (!isTransient(err)) throw err;
      this.#defer(s, uid, `recording the oversized message: ${describeImapError(err)}`);
      return;
    }
    this.#log.error({ uid, size, limit, messageId, movedTo: s.quarantinePath }, `oversized message ${where}`);
    await this.#health.note(reason);
    s.deferred.delete(uid);
    s.settler.add(uid, 'quarantine');
  }
}

/**
 * Acknowledges committed messages on the server in batches: while one STORE/MOVE is running, the
 * next completions queue up and go in the following command.
 */
class Settler {
  readonly #client: ImapFlow;
  readonly #folders: { readonly processedPath: string | null; readonly quarantinePath: string | null };
  readonly #cfg: ImapConfig;
  readonly #log: Logger;
  #queue: { uid: number; how: Settle }[] = [];
  #running: Promise<void> | null = null;
  #error: unknown = null;

  /** Keywords allowed (flag mode marks with the processed keyword); set once the folder is open. */
  keywords = false;

  constructor(client: ImapFlow, folders: { processedPath: string | null; quarantinePath: string | null }, cfg: ImapConfig, log: Logger) {
    this.#client = client;
    this.#folders = folders;
    this.#cfg = cfg;
    this.#log = log;
  }

  add(uid: number, how: Settle): void {
    this.#queue.push({ uid, how });
    this.#running ??= this.#flush().finally(() => {
      this.#running = null;
    });
  }

  /** Wait until everything queued is acknowledged; throws the first failure (then clears it). */
  async drain(): Promise<void> {
    while (this.#running !== null) await this.#running;
    const err = this.#error;
    this.#error = null;
    if (err !== null) throw err;
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0);
      if (this.#error !== null) continue; // the connection is broken: these come back as duplicates
      try {
        await this.#apply(batch);
      } catch (err) {
        this.#error = err;
      }
    }
  }

  async #apply(batch: { uid: number; how: Settle }[]): Promise<void> {
    const client = this.#client;
    const processed = batch.filter((b) => b.how === 'processed').map((b) => b.uid);
    const quarantined = batch.filter((b) => b.how === 'quarantine').map((b) => b.uid);
    if (this.#cfg.afterProcessing === 'move') {
      await client.messageFlagsAdd(batch.map((b) => b.uid), ['\\Seen'], { uid: true, silent: true });
      for (const [uids, dest] of [
        [processed, this.#folders.processedPath],
        [quarantined, this.#folders.quarantinePath],
      ] as const) {
        if (uids.length === 0 || dest === null) continue;
        const res = await client.messageMove(uids, dest, { uid: true });
        if (res === false) throw new Error(`MOVE to "${dest}" failed`);
      }
    } else {
      const marker = this.keywords ? ['\\Seen', this.#cfg.processedKeyword] : ['\\Seen'];
      for (const [uids, flags] of [
        [processed, marker],
        [quarantined, this.keywords ? [...marker, QUARANTINE_KEYWORD] : marker],
      ] as const) {
        if (uids.length === 0) continue;
        const ok = await client.messageFlagsAdd(uids, [...flags], { uid: true, silent: true });
        // Without the marker the message would be found (and recognised as duplicate) forever.
        if (!ok) throw new Error(`STORE ${flags.join(' ')} failed`);
      }
    }
    this.#log.debug({ processed: processed.length, quarantined: quarantined.length }, 'acknowledged on the server');
  }
}

/** Run `fn` after every earlier call for this session has finished (the large-message lane). */
async function oneAtATime<T>(s: Session, fn: () => Promise<T>): Promise<T> {
  const before = s.largeLane;
  let done: () => void = () => undefined;
  s.largeLane = new Promise<void>((resolve) => {
    done = resolve;
  });
  try {
    await before;
    return await fn();
  } finally {
    done();
  }
}

/** "casegate/Processed" → ["casegate", "Processed"]: imapflow joins it with the server's delimiter. */
function folderPath(folder: string): string[] {
  return folder.split('/').filter((p) => p !== '');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function formatDelay(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}
