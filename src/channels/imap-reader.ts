import { performance } from 'node:perf_hooks';
import type { FetchMessageObject, SearchObject } from 'imapflow';
import type { AppContext } from '../context.js';
import type { ImapConfig, MailboxConfig } from '../config/schema.js';
import { mailboxState, resetMailboxState, saveCheckpoint } from '../db/repos/mailbox-state.js';
import type { Logger } from '../log.js';
import { quarantinedRaw } from '../db/repos/receipts.js';
import { isDiskFull, reportDiskFullRetry } from '../ops/disk-space.js';
import { runPipeline } from '../pipeline/run-pipeline.js';
import type { MailboxCheckpoint } from '../pipeline/types.js';
import { SizeLimitError } from '../storage/blob-store.js';
import { describeImapError } from './imap-connection.js';
import type { MailboxHealthReporter } from './imap-health.js';
import { quarantineOversized } from './imap-oversized.js';
import { ConnectionLost, oneAtATime, type Session } from './imap-session.js';
import type { Settle } from './imap-settler.js';
import { LeaseLost, type WorkLease } from './work-lease.js';

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
/** #committed is swept at this size, then at twice what a sweep left (at least this). */
export const COMMITTED_SWEEP_MIN = 64;
/** A message that ended in `retry` is tried again after 1 s, 2 s, 4 s … at most this long. */
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 60_000;

/** What a reader works with: its watcher's context, settings, log, health report and lease. */
export interface FolderReaderDeps {
  readonly ctx: AppContext;
  readonly mailbox: MailboxConfig;
  readonly cfg: ImapConfig;
  readonly log: Logger;
  readonly health: MailboxHealthReporter;
  readonly lease: WorkLease;
  /** True once the watcher is stopping: no new message is started. */
  readonly isStopped: () => boolean;
}

/**
 * Reads one mailbox's folder over an open session (imap.ts owns the connection): finds the
 * unprocessed messages, fetches them (small ones PREFETCH_COUNT per FETCH, large ones streamed one
 * at a time), runs each through the pipeline up to `concurrency` at a time and hands what was
 * committed to the session's Settler; a message that failed is deferred with a growing delay, an
 * oversized one is quarantined in place without being downloaded.
 */
/** A checkpoint handed to a commit, with the highest value its transaction read (what it wrote). */
type ReadCheckpoint = MailboxCheckpoint & { read: number };

export class FolderReader {
  readonly name: string;
  readonly #ctx: AppContext;
  readonly #cfg: ImapConfig;
  readonly #log: Logger;
  readonly #health: MailboxHealthReporter;
  readonly #lease: WorkLease;
  readonly #isStopped: () => boolean;
  #mailbox: MailboxConfig;
  /**
   * Messages whose outcome is committed but which are not acknowledged on the server yet (not
   * moved, or in flag mode not flagged), by UID within #unackedValidity, with how to settle them.
   * Kept across sessions: when the acknowledgement fails — the account lost its rights on
   * processedFolder, the folder is over quota, the connection broke between commit and MOVE —
   * the next session finds these UIDs in the folder again and only retries the MOVE (or STORE)
   * for them: no download, no pipeline run, no second receipt, no outcome log line.
   *
   * Why retry the MOVE rather than fall back to flagging them (\Seen + keyword) where they are:
   * the operator chose move mode, and the folder is what people and other tools read as "not
   * handled yet"; a message left there is the visible, exact backlog, and the session fails with
   * the server's reason (health backing-off, the alert after alertAfterSeconds) until the folder
   * is fixed, then everything goes where it belongs with no second pass. A flag fallback would
   * hide the fault behind a working intake, need a keyword the server may refuse (the same rights
   * problem often covers STORE), and leave flagged messages that move mode never looks at again
   * (it takes every message in the folder) or that a later sweep must find and move — two
   * acknowledgement states to reconcile instead of one.
   *
   * In memory only (one small entry per message): after a restart, or when another daemon takes
   * the lease over, each such message runs through the pipeline once more and is recorded as
   * `ignored: duplicate` — one receipt per message per restart, as after a crash — and then
   * joins this map. UIDs that leave the folder (moved or expunged by someone else) are dropped.
   */
  readonly #unacked = new Map<number, Settle>();
  #unackedValidity: string | null = null;
  /**
   * Messages taken up for processing whose outcome is not committed yet (in flight, or deferred
   * after a `retry`), by UID within #unackedValidity, kept across sessions. Flag mode on a server
   * without keywords (Exchange) finds work above the checkpoint (#unprocessed). Were the
   * checkpoint the highest committed UID, it would pass a deferred message as soon as a later one
   * is committed, and that message would be found only while unseen — a person who opens it in
   * Outlook (\Seen) hid it for good: never a case, no receipt, no log line. So the checkpoint
   * never passes one of these (#checkpointFor): it is the highest UID up to which every message
   * in the folder is committed, and a message deferred when the daemon stops is above it after
   * the restart too.
   */
  readonly #uncommitted = new Set<number>();
  /**
   * Committed UIDs above the persisted checkpoint (committed while a lower one was still
   * uncommitted), within #unackedValidity: not taken again. In memory: after a restart each runs
   * once more (`ignored: duplicate`), as an unacknowledged one does.
   * Those at or below the saved checkpoint are dropped (#forgetCommitted): in move mode and flag
   * mode with keywords it kept every UID ever committed, and #reach walked them all per commit.
   */
  readonly #committed = new Set<number>();
  #committedSweepAt = COMMITTED_SWEEP_MIN;
  #sweeping = false;

  constructor(deps: FolderReaderDeps) {
    this.name = deps.mailbox.name;
    this.#ctx = deps.ctx;
    this.#mailbox = deps.mailbox;
    this.#cfg = deps.cfg;
    this.#log = deps.log;
    this.#health = deps.health;
    this.#lease = deps.lease;
    this.#isStopped = deps.isStopped;
  }

  /** A reload changed this mailbox's settings (not its `imap` block): messages from now on use them. */
  updateMailbox(mailbox: MailboxConfig): void {
    this.#mailbox = mailbox;
  }

  get #stopped(): boolean {
    return this.#isStopped();
  }

  /** How many UIDs the reader keeps in memory (tests: bounded, not one per message ever read). */
  get remembered(): { readonly unacked: number; readonly uncommitted: number; readonly committed: number } {
    return { unacked: this.#unacked.size, uncommitted: this.#uncommitted.size, committed: this.#committed.size };
  }

  /** The settler acknowledged these UIDs on the server (SettlerHooks.onAcknowledged). */
  acknowledged(uids: readonly number[]): void {
    for (const uid of uids) this.#unacked.delete(uid);
  }

  /**
   * Committed: hand the message to the session's settler, and remember it until the server has it.
   * Then the checkpoint moves up if this commit lets it and its own transaction could not see that
   * (see #advanceCheckpoint); `cp` is the checkpoint its commit wrote, if any.
   */
  async #settle(s: Session, uid: number, how: Settle, cp?: ReadCheckpoint): Promise<void> {
    s.deferred.delete(uid);
    this.#uncommitted.delete(uid);
    this.#committed.add(uid);
    this.#unacked.set(uid, how);
    s.settler.add(uid, how);
    await this.#advanceCheckpoint(s, uid, cp);
    if (this.#committed.size >= this.#committedSweepAt) await this.#forgetCommitted(s);
  }

  /**
   * Forget the committed UIDs at or below the saved checkpoint: none is searched for again, and
   * a later commit's #reach looks only above its own UID (above the checkpoint). A failed
   * look-up leaves them to the next sweep.
   */
  async #forgetCommitted(s: Session): Promise<void> {
    if (this.#sweeping) return;
    this.#sweeping = true;
    const validity = this.#unackedValidity;
    try {
      const state = await mailboxState(this.#ctx.db, this.name);
      if (state !== undefined && validity !== null && state.uidvalidity === validity && s.uidValidity === validity && this.#unackedValidity === validity) {
        for (const uid of this.#committed) if (uid <= state.last_uid) this.#committed.delete(uid);
      }
    } catch (err) {
      this.#log.debug({ err }, 'the checkpoint could not be read to forget committed UIDs below it; the next sweep does');
    } finally {
      this.#sweeping = false;
      this.#committedSweepAt = Math.max(COMMITTED_SWEEP_MIN, this.#committed.size * 2);
    }
  }

  /**
   * Two messages committed close together: the second commit's transaction still counted the
   * first as uncommitted (it was committed, but its pipeline had not returned yet), so the
   * checkpoint it wrote stopped below the first — and, when no later message came, stayed there
   * (after a restart the messages above it ran once more, as duplicates). Once a commit has
   * settled, the checkpoint is computed again, and written when it is higher than what this
   * commit wrote (the write keeps the higher UID: a racing commit never moves it back). Only
   * within the UIDVALIDITY the commit saw. Best effort: a failed write leaves it to the next commit.
   */
  async #advanceCheckpoint(s: Session, uid: number, cp: ReadCheckpoint | undefined): Promise<void> {
    if (s.uidValidity !== this.#unackedValidity || (cp !== undefined && cp.uidvalidity !== s.uidValidity)) return;
    const reach = this.#reach(uid);
    if (reach <= (cp?.read ?? 0)) return;
    try {
      await saveCheckpoint(this.#ctx.db, { checkpoint: { mailbox: this.name, uidvalidity: s.uidValidity, uid: reach } }, this.#ctx.clock.now().toISOString());
    } catch (err) {
      this.#log.debug({ uid, checkpoint: reach, err }, 'the checkpoint could not be moved up now; the next commit writes it');
    }
  }

  /** UIDVALIDITY differs from the checkpoint: the folder was recreated; start over (dedupe makes it safe). */
  async syncUidValidity(uidValidity: string): Promise<void> {
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

  assertConnected(s: Session): void {
    if (!this.#lease.held) throw new LeaseLost(`lease of mailbox ${this.name} lost`);
    if (s.conn.closed || !s.client.usable) {
      const why = s.conn.lastError !== null ? describeImapError(s.conn.lastError) : s.client.byeReason !== undefined ? `server said BYE: ${s.client.byeReason}` : 'closed';
      throw Object.assign(new ConnectionLost(`connection lost (${why})`), { code: (s.conn.lastError as { code?: string } | null)?.code });
    }
    if (s.client.mailbox === false) throw new ConnectionLost(`folder "${this.#cfg.folder}" is no longer selected`);
  }

  /** Search, process, settle; again until nothing new is left (mail arriving meanwhile included). */
  async catchUp(s: Session): Promise<void> {
    for (;;) {
      if (this.#stopped) return;
      this.assertConnected(s);
      const current = s.client.mailbox === false ? s.uidValidity : String(s.client.mailbox.uidValidity);
      if (current !== s.uidValidity) {
        await this.syncUidValidity(current);
        s.uidValidity = current;
        s.deferred.clear();
      }
      if (this.#unackedValidity !== s.uidValidity) {
        this.#unacked.clear();
        this.#uncommitted.clear();
        this.#committed.clear();
        this.#unackedValidity = s.uidValidity;
      }
      const uids = await this.#unprocessed(s);
      const present = new Set(uids);
      for (const uid of s.deferred.keys()) if (!present.has(uid)) s.deferred.delete(uid);
      for (const uid of this.#unacked.keys()) if (!present.has(uid)) this.#unacked.delete(uid);
      for (const uid of this.#uncommitted) if (!present.has(uid)) this.#uncommitted.delete(uid);
      const now = performance.now();
      // Committed before, not acknowledged yet: only the acknowledgement is retried (see #unacked).
      const acks = uids.filter((uid) => this.#unacked.has(uid));
      const due = uids.filter((uid) => !this.#unacked.has(uid) && (s.deferred.get(uid)?.notBefore ?? 0) <= now);
      if (due.length === 0 && acks.length === 0) {
        await this.#health.success(s.idle ? 'idling' : 'polling', uids.length);
        return;
      }
      // A round of work counts as a success once it is done, acknowledgements included: while
      // they keep failing the failure streak goes on (failing_since, the alert after
      // alertAfterSeconds), also across a restart.
      await this.#health.set('processing', uids.length);
      if (acks.length > 0) {
        this.#log.debug({ count: acks.length, firstUid: acks[0] }, 'acknowledging again messages already committed (no new pipeline run)');
        for (const uid of acks) s.settler.add(uid, this.#unacked.get(uid)!);
      }
      const batch = due.slice(0, BATCH);
      for (const uid of batch) this.#uncommitted.add(uid);
      await this.#processBatch(s, batch);
      await this.#health.success('processing', uids.length);
    }
  }

  /** UIDs of unprocessed messages, ascending (= oldest first). */
  async #unprocessed(s: Session): Promise<number[]> {
    const cfg = this.#cfg;
    const search = async (q: SearchObject): Promise<number[]> => {
      const res = await s.client.search(q, { uid: true });
      if (!Array.isArray(res)) {
        this.assertConnected(s);
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
      // No keywords allowed: \Seen is only what we set for people to see; the work is what lies
      // above the checkpoint (every message up to it is committed: #checkpointFor), read or not,
      // less what this daemon committed above it. Not "unseen": a person marking a processed
      // message unread (a to-do marker in a shared mailbox) neither runs it again nor gets it
      // marked read again; and a message deferred before a restart and read meanwhile is still
      // above the checkpoint.
      const state = await mailboxState(this.#ctx.db, this.name);
      const lastUid = state?.uidvalidity === s.uidValidity ? state.last_uid : 0;
      for (const uid of this.#committed) if (uid <= lastUid) this.#committed.delete(uid);
      const above = (await search({ uid: `${lastUid + 1}:*`, deleted: false })).filter((u) => u > lastUid && (!this.#committed.has(u) || this.#unacked.has(u)));
      // Taken up but not committed below it: only from a checkpoint an older version wrote.
      const pending = [...this.#uncommitted].filter((u) => u <= lastUid);
      const kept = pending.length === 0 ? [] : await search({ uid: pending.join(','), deleted: false });
      uids = [...new Set([...above, ...kept])];
    }
    return uids.sort((a, b) => a - b);
  }

  async #processBatch(s: Session, uids: number[]): Promise<void> {
    const metas = uids.length === 0 ? [] : await s.client.fetchAll(uids, { uid: true, size: true, internalDate: true }, { uid: true });
    metas.sort((a, b) => a.uid - b.uid);
    const run: { failure: { err: unknown } | null } = { failure: null };
    for (let i = 0; i < metas.length && run.failure === null && !this.#stopped; i += PREFETCH_COUNT) {
      const chunk = metas.slice(i, i + PREFETCH_COUNT);
      // Small messages come in one FETCH for the whole chunk; big ones are streamed one by one.
      const small = chunk.filter((m) => m.size !== undefined && m.size <= PREFETCH_MAX_BYTES).map((m) => m.uid);
      const sources = new Map<number, Buffer>();
      /** Expunged by another client since they were listed: the server answered BODY[] NIL. */
      const gone = new Set<number>();
      if (small.length > 0) {
        for (const m of await s.client.fetchAll(small, { uid: true, source: true }, { uid: true })) {
          // imapflow reports BODY[] NIL (Dovecot's answer for a message expunged meanwhile) as `false`.
          if (Buffer.isBuffer(m.source)) sources.set(m.uid, m.source);
          else if ((m.source as unknown) === false) gone.add(m.uid);
        }
      }
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < chunk.length && run.failure === null && !this.#stopped && this.#lease.held) {
          const meta = chunk[next++]!;
          const source = sources.get(meta.uid);
          sources.delete(meta.uid);
          if (gone.has(meta.uid)) {
            this.#vanished(s, meta.uid);
            continue;
          }
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
      await this.#oversized(s, meta, meta.size);
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
        // Named, not written yet: the parse writes it first (on the MIME thread, in the daemon).
        blob = await ctx.blobs.hold(prefetched, limit);
      } else {
        // Streamed into the blob store chunk by chunk, never whole in memory.
        const dl = await s.client.download(String(uid), undefined, { uid: true, chunkSize: LARGE_CHUNK_BYTES });
        if (dl.content === undefined) {
          this.#vanished(s, uid);
          return;
        }
        blob = await ctx.blobs.put(dl.content, limit);
      }
    } catch (err) {
      if (err instanceof SizeLimitError) {
        await this.#oversized(s, meta, meta.size ?? limit + 1);
        return;
      }
      if (s.conn.closed || !s.client.usable) throw err;
      if (isDiskFull(err)) {
        // The loud line instead of the usual one; the message stays in the folder.
        this.#defer(s, uid, `download: ${await reportDiskFullRetry(ctx, { channel: 'imap', mailbox: this.name }, err)}`, false);
        return;
      }
      this.#defer(s, uid, `download: ${describeImapError(err)}`);
      return;
    }
    if (await this.#quarantinedBefore(s, uid, blob.sha256)) return;
    const receivedAt = meta.internalDate !== undefined ? new Date(meta.internalDate) : ctx.clock.now();
    let outcome;
    const checkpoint = this.#checkpointFor(s, uid);
    try {
      outcome = await runPipeline(ctx, {
        channel: 'imap',
        mailbox: this.#mailbox,
        envelopeFrom: null,
        envelopeTo: this.#mailbox.addresses,
        receivedAt: Number.isNaN(receivedAt.getTime()) ? ctx.clock.now() : receivedAt,
        raw: blob,
        checkpoint,
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
    await this.#settle(s, uid, outcome.kind === 'quarantined' ? 'quarantine' : 'processed', checkpoint);
  }

  /**
   * The checkpoint the commit of `uid` writes (read inside its transaction): the highest UID up to
   * which every message of the folder is committed — never past one taken up and not committed
   * (in flight beside it, or deferred after a `retry`), so such a message stays above the
   * checkpoint, across a restart too. Every present UID above the saved checkpoint is committed
   * (#committed), uncommitted (#uncommitted), or above every UID taken up so far (batches go
   * oldest first), and new mail gets higher UIDs: so this is exact for what this daemon knows.
   */
  #checkpointFor(s: Session, uid: number): ReadCheckpoint {
    const reader = this;
    const cp = {
      mailbox: this.name,
      uidvalidity: s.uidValidity,
      read: 0,
      get uid(): number {
        const reach = reader.#reach(uid);
        cp.read = Math.max(cp.read, reach);
        return reach;
      },
    };
    return cp;
  }

  /** The highest UID up to which every message is committed, as far as `uid`'s commit (committed or about to be) knows. */
  #reach(uid: number): number {
    let lowestOther = Infinity;
    for (const u of this.#uncommitted) if (u !== uid && u < lowestOther) lowestOther = u;
    let highest = uid;
    for (const u of this.#committed) if (u > highest && u < lowestOther) highest = u;
    return Math.min(highest, lowestOther - 1);
  }

  /**
   * This exact message (the same bytes from this mailbox) is quarantined already and still waits
   * for its acknowledgement: its MOVE to quarantineFolder failed, or the daemon stopped before it,
   * so #unacked (in memory) does not know it any more. Only the MOVE (flag mode: the STORE) is
   * retried: no second pipeline run, no second quarantine receipt. (Stored messages come back as
   * `ignored: duplicate` instead, which is a receipt of its own; a quarantined one must not be
   * quarantined twice, nor end up in processedFolder as a duplicate.) A failed look-up (database
   * busy) just lets the pipeline decide, as before.
   */
  async #quarantinedBefore(s: Session, uid: number, sha256: string): Promise<boolean> {
    const earlier = await quarantinedRaw(this.#ctx.db, this.name, sha256).catch(() => undefined);
    if (earlier === undefined) return false;
    this.#log.info(
      { uid, receiptId: earlier.id, reason: earlier.reason },
      `message uid ${uid} was quarantined before (receipt ${earlier.id}); only its ${s.quarantinePath !== null ? `move to ${s.quarantinePath}` : 'flags'} is retried`,
    );
    await this.#settle(s, uid, 'quarantine');
    return true;
  }

  /**
   * The message was listed (SEARCH, metadata FETCH) but another client expunged it before its
   * body was fetched: nothing to do, it is not ours to record. One info line; the UID is looked
   * at again only after a pause (a server still listing it must not make the round spin), and the
   * next SEARCH, which no longer lists it, forgets it.
   */
  #vanished(s: Session, uid: number): void {
    const attempts = (s.deferred.get(uid)?.attempts ?? 0) + 1;
    s.deferred.set(uid, { attempts, notBefore: performance.now() + Math.min(RETRY_MIN_MS * 2 ** (attempts - 1), RETRY_MAX_MS) });
    this.#log.info({ uid, folder: this.#cfg.folder }, `message uid ${uid} is gone from the server (expunged by another client after it was listed); nothing to do`);
  }

  #defer(s: Session, uid: number, reason: string, log = true): void {
    const attempts = (s.deferred.get(uid)?.attempts ?? 0) + 1;
    const delayMs = Math.min(RETRY_MIN_MS * 2 ** (attempts - 1), RETRY_MAX_MS);
    s.deferred.set(uid, { attempts, notBefore: performance.now() + delayMs });
    if (log) this.#log.warn({ uid, attempt: attempts, retryInMs: delayMs, reason }, 'message left in the folder; trying again later');
    void this.#health.note(`message uid ${uid}: will retry (${reason})`.slice(0, 500));
  }

  /** Above listener.maxMessageBytes: quarantined without being downloaded (imap-oversized.ts). */
  async #oversized(s: Session, meta: FetchMessageObject, size: number): Promise<void> {
    const checkpoint = this.#checkpointFor(s, meta.uid);
    const res = await quarantineOversized({ ctx: this.#ctx, mailbox: this.#mailbox, folder: this.#cfg.folder, log: this.#log }, s, meta.uid, size, meta.internalDate, checkpoint);
    if (res.kind === 'vanished') this.#vanished(s, meta.uid);
    else if (res.kind === 'defer') this.#defer(s, meta.uid, res.reason);
    else {
      await this.#health.note(`message uid ${meta.uid} (${size} bytes) exceeds listener.maxMessageBytes (${this.#ctx.config.listener.maxMessageBytes}); quarantined`);
      await this.#settle(s, meta.uid, 'quarantine', checkpoint);
    }
  }
}
