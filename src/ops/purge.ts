import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppContext } from '../context.js';
import { addEvent } from '../db/repos/events.js';
import { blobInUse, casesOfRequester, closedCasesAmong, closedCasesBefore, deleteCases, eraseAddress, nothingRemoved, zeroDeletedContent, type Removed } from '../db/repos/purge.js';
import { compactSearchIndex } from '../db/repos/search.js';
import { eraseReader } from '../mail-out/reader-withdrawal.js';
import { addressSpellings } from '../address-form.js';
import type { Db } from '../db/database.js';
import type { Progress } from '../cli/progress.js';

/**
 * `casegate purge` (retention and erasure):
 *
 *  --closed-before DATE  closed cases closed before DATE, with their messages, attachments,
 *                        receipts, outbox rows, events, participants, tags, SLA clocks, surveys;
 *  --requester ADDRESS   GDPR erasure: every case the address opened (whatever its status), plus
 *                        its traces elsewhere (db/repos/purge.ts eraseAddress).
 *
 * Work goes in batches of BATCH cases, each one transaction (the daemon's writes wait at most
 * that long) that also writes ONE audit event: what kind of purge, who ran it, counts and case
 * numbers — never the address, a subject or a name. After each commit, the blobs the deleted rows
 * named are deleted unless a remaining row names them too (blobs are content-addressed and
 * shared) or the file was written in the last RECENT_MS (a message arriving right now with the
 * same bytes may be about to name it). --dry-run runs the same transactions and rolls them back.
 */

const BATCH = 200;
const RECENT_MS = 5 * 60_000;

export interface PurgeRequest {
  /** An ISO-8601 instant (2024-01-01T00:00:00.000Z): the CLI reads what the operator typed. */
  readonly closedBefore?: string;
  readonly requester?: string;
  /** Delete blob files no row names (left by a purge's recent-blob guard, a message that ended in retry, a crash). */
  readonly orphans?: boolean;
  readonly dryRun: boolean;
  readonly actor: string;
}

export interface PurgeResult {
  readonly dryRun: boolean;
  readonly cases: number;
  readonly caseNumbers: number[];
  readonly messages: number;
  readonly attachments: number;
  readonly receipts: number;
  readonly outbox: number;
  readonly events: number;
  readonly participants: number;
  /** Blob files deleted (dry run: that would be). */
  readonly blobsDeleted: number;
  /** Blobs the purged rows named that other rows still name (kept). */
  readonly blobsShared: number;
  /** Unnamed blobs kept because they were written moments ago (run again later). */
  readonly blobsRecent: number;
}

class Rollback extends Error {}

/** The request itself is wrong (no or several kinds of purge, no date): the user's problem, one line. */
export class PurgeError extends Error {
  override readonly name = 'PurgeError';
}

interface Tally {
  removed: Removed;
  caseNumbers: number[];
  deleted: number;
  shared: number;
  recent: number;
}

export async function purge(ctx: AppContext, req: PurgeRequest, progress: (total: number) => Progress): Promise<PurgeResult> {
  if ([req.closedBefore, req.requester, req.orphans === true ? true : undefined].filter((x) => x !== undefined).length !== 1) throw new PurgeError('give exactly one of --closed-before DATE, --requester ADDRESS, --orphans');
  const tally: Tally = { removed: nothingRemoved(), caseNumbers: [], deleted: 0, shared: 0, recent: 0 };
  if (req.orphans === true) {
    await sweepOrphans(ctx, req, tally, progress);
  } else if (req.closedBefore !== undefined) {
    // An instant (the CLI reads the operator's date: cli/report.ts parseSince); nothing Date would guess at.
    const before = new Date(req.closedBefore);
    if (!/^\d{4}-\d\d-\d\dT/.test(req.closedBefore) || Number.isNaN(before.getTime())) throw new PurgeError(`not an ISO-8601 time: ${req.closedBefore}`);
    const beforeIso = before.toISOString();
    // A dry run rolls back, so the same first batch would come again: it walks a list made up front.
    const all = req.dryRun ? await closedCasesBefore(ctx.db, beforeIso, Number.MAX_SAFE_INTEGER) : null;
    const bar = progress(all?.length ?? 0);
    for (let offset = 0; ; offset += BATCH) {
      const batch = all !== null ? all.slice(offset, offset + BATCH) : await closedCasesBefore(ctx.db, beforeIso, BATCH);
      if (batch.length === 0) break;
      await runBatch(ctx, req, tally, async (trx, removed) => {
        // Read again under the write lock: a reply that reopened one of them since keeps it.
        const still = await closedCasesAmong(trx, batch.map((c) => c.id), beforeIso);
        await deleteCases(trx, still.map((c) => c.id), removed);
        return { cases: still, audit: { type: 'purge.closed-before', reason: `retention: ${still.length} case(s) closed before ${beforeIso} removed`, data: { closedBefore: beforeIso } } };
      });
      bar.setTotal(Math.max(offset + batch.length, all?.length ?? 0));
      bar.tick(batch.length);
    }
    bar.stop();
  } else {
    // One address, every spelling it may be stored under: an internationalised domain as the
    // customer's client wrote it (Unicode) and as mail systems and bounces report it (punycode).
    const spellings = addressSpellings(req.requester!.trim());
    // Erased is gone from the file too, not only from every query.
    if (!req.dryRun) await zeroDeletedContent(ctx.db);
    await runBatch(ctx, req, tally, async (trx, removed) => {
      // Read under the write lock: a case she opened a moment ago goes too.
      const cases: { id: number; number: number }[] = [];
      for (const a of spellings) for (const c of await casesOfRequester(trx, a)) if (!cases.some((x) => x.id === c.id)) cases.push(c);
      await deleteCases(trx, cases.map((c) => c.id), removed);
      const touched = new Set<number>();
      for (const address of spellings) {
        // Emails of others' cases still to go that name her go on to the others (the next reader takes her place as the To),
        // also one a sender holds right now: it reads the row's readers again right before each send.
        await eraseReader(trx, address);
        for (const id of await eraseAddress(trx, address, removed)) touched.add(id);
      }
      // The cases of others it wrote into say so (without saying who).
      for (const caseId of touched) await addEvent(trx, { caseId, type: 'purge.erased-message', actor: req.actor, reason: 'messages of a participant were erased on request', data: {}, at: ctx.clock.now().toISOString() });
      return { cases, audit: { type: 'purge.erasure', reason: `erasure on request: ${cases.length} case(s) of one requester and their traces removed`, data: {} } };
    });
    if (!req.dryRun) await compactSearchIndex(ctx.db);
  }
  const r = tally.removed;
  return {
    dryRun: req.dryRun,
    cases: r.cases,
    caseNumbers: tally.caseNumbers,
    messages: r.messages,
    attachments: r.attachments,
    receipts: r.receipts,
    outbox: r.outbox,
    events: r.events,
    participants: r.participants,
    blobsDeleted: tally.deleted,
    blobsShared: tally.shared,
    blobsRecent: tally.recent,
  };
}

type Audit = { type: string; reason: string; data: Record<string, unknown> };

/** One transaction: the deletions, the audit event; then (for real) the blobs nobody names. */
async function runBatch(ctx: AppContext, req: PurgeRequest, tally: Tally, work: (trx: Db, removed: Removed) => Promise<{ cases: readonly { number: number }[]; audit: Audit }>): Promise<void> {
  const removed = nothingRemoved();
  let unnamed: string[] = [];
  let batch: readonly { number: number }[] = [];
  try {
    await ctx.db.transaction().execute(async (trx) => {
      const done = await work(trx, removed);
      batch = done.cases;
      const audit = done.audit;
      const counts = { cases: removed.cases, messages: removed.messages, attachments: removed.attachments, receipts: removed.receipts, outbox: removed.outbox, events: removed.events, participants: removed.participants };
      await addEvent(trx, { caseId: null, type: audit.type, actor: req.actor, reason: `${audit.reason}: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}`, data: { ...audit.data, ...counts, caseNumbers: batch.map((c) => c.number) }, at: ctx.clock.now().toISOString() });
      unnamed = [];
      for (const sha of removed.blobs) {
        if (await blobInUse(trx, sha)) tally.shared += 1;
        else unnamed.push(sha);
      }
      if (req.dryRun) throw new Rollback();
    });
  } catch (err) {
    if (!(err instanceof Rollback)) throw err;
  }
  for (const k of ['cases', 'messages', 'attachments', 'receipts', 'outbox', 'events', 'participants'] as const) tally.removed[k] += removed[k];
  tally.caseNumbers.push(...batch.map((c) => c.number));
  const now = ctx.clock.now().getTime();
  for (const sha of unnamed) await removeBlob(ctx, sha, now, req, tally);
  ctx.log.info({ dryRun: req.dryRun, cases: removed.cases, messages: removed.messages, blobs: unnamed.length }, req.dryRun ? 'purge (dry run): batch counted, nothing changed' : 'purge: batch removed');
}

/**
 * Remove a blob no row names, in whichever layout it is (both, when a store written before
 * 2026-12-05 got the same content again): counted once, and left alone while any copy is recent
 * (a message being stored right now may be about to name it).
 */
async function removeBlob(ctx: AppContext, sha: string, now: number, req: PurgeRequest, tally: Tally): Promise<void> {
  const found: string[] = [];
  let recent = false;
  for (const path of ctx.blobs.locations(sha)) {
    const mtime = (await stat(path).catch(() => null))?.mtimeMs;
    if (mtime === undefined) continue; // not there (or already gone)
    found.push(path);
    if (now - mtime < RECENT_MS) recent = true;
  }
  if (found.length === 0) return;
  if (recent) {
    tally.recent += 1;
    return;
  }
  if (!req.dryRun) for (const path of found) await unlink(path).catch(() => undefined);
  tally.deleted += 1;
}

const BLOB_NAME = /^[0-9a-f]{64}$/;
/** Temp files of writes that never finished (a crash mid-write) go after this long. */
const TMP_MAX_AGE_MS = 24 * 3_600_000;

/** Every blob file no row names (and older than RECENT_MS), and stale temp files. */
async function sweepOrphans(ctx: AppContext, req: PurgeRequest, tally: Tally, progress: (total: number) => Progress): Promise<void> {
  const root = ctx.blobs.dir;
  const now = ctx.clock.now().getTime();
  const files = new Set<string>();
  const walk = async (dir: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      // <aa>/<sha256> (the store's layout) and <aa>/<bb>/<sha256> (stores written before 2026-12-05).
      if (e.isDirectory() && depth < 2 && /^[0-9a-f]{2}$/.test(e.name)) await walk(join(dir, e.name), depth + 1);
      else if (e.isFile() && depth > 0 && BLOB_NAME.test(e.name)) files.add(e.name);
    }
  };
  await walk(root, 0);
  const bar = progress(files.size);
  for (const sha of files) {
    bar.tick();
    if (await blobInUse(ctx.db, sha)) continue;
    await removeBlob(ctx, sha, now, req, tally);
  }
  bar.stop();
  for (const e of await readdir(join(root, 'tmp')).catch(() => [] as string[])) {
    const path = join(root, 'tmp', e);
    const mtime = (await stat(path).catch(() => null))?.mtimeMs;
    if (mtime !== undefined && now - mtime > TMP_MAX_AGE_MS && !req.dryRun) await unlink(path).catch(() => undefined);
  }
  if (!req.dryRun) {
    await addEvent(ctx.db, { caseId: null, type: 'purge.orphans', actor: req.actor, reason: `unused blob files removed: ${tally.deleted}`, data: { deleted: tally.deleted, recent: tally.recent }, at: ctx.clock.now().toISOString() });
  }
  ctx.log.info({ dryRun: req.dryRun, deleted: tally.deleted, recent: tally.recent, scanned: files.size }, 'purge: unused blob files swept');
}
