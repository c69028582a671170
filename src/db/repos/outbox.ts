import { sql, type Kysely, type UpdateQueryBuilder, type UpdateResult } from 'kysely';
import { containsText, lockKey, skipLocked } from '../dialect.js';
import { insertReturningId, runPrepared } from '../prepared.js';
import type { Database, NewOutbox, OutboxRow, OutboxStatus } from '../schema.js';

type Q = Kysely<Database>;

/** The columns of a freshly queued row: due now, never tried, held by nobody. */
export function freshlyQueued(now: string) {
  return { status: 'queued', attempts: 0, next_attempt_at: now, last_error: null, created_at: now, queued_at: now, sent_at: null } as const;
}

export async function enqueue(db: Q, values: NewOutbox): Promise<number> {
  return insertReturningId(db, 'outbox', values);
}

/**
 * Automatic replies queued to `address` (and its +tag forms: mailboxOf) since a time, and when
 * the newest was queued (the per-sender rate limit and its interval). Called in the
 * transaction that may queue one more: on PostgreSQL it first takes a per-address lock held until
 * commit, so two daemons answering the same sender at once count each other's reply (SQLite's
 * write lock does the same).
 */
export async function autoRepliesSince(db: Q, address: string, since: string): Promise<{ readonly count: number; readonly latest: string | null }> {
  const m = mailboxOf(address);
  await lockKey(db, `auto-reply:${m.base}`);
  const { rows } = await runPrepared(db, 'outbox.autoRepliesSince', [m.base, m.from, m.to, m.domain, since], (q, [a, lo, hi, d, s]) =>
    q
      .selectFrom('outbox')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.max('created_at').as('latest')])
      .where((eb) => eb.or([eb('to_address', '=', a as string), eb.and([eb('to_address', '>=', lo as string), eb('to_address', '<', hi as string), eb('to_address', 'like', d as string)])]))
      .where('auto_reply', '=', 1)
      .where('status', '!=', 'suppressed')
      .where('created_at', '>', s as string),
  );
  return { count: Number(rows[0]?.n ?? 0), latest: (rows[0]?.latest as string | null | undefined) ?? null };
}

/**
 * One person's mailbox, whatever sub-address (+tag) a message names: `local+tag@domain` is
 * `local@domain`. An auto-acknowledger answering from a new `reply+<ticket>@…` each time is one
 * sender for the rate limit. Returned as the base address and the index range of its +tag forms
 * (`local+` ≤ address < `local,`, then the domain as a LIKE pattern: a `_` or `%` in a domain
 * only widens it): both backends use the (to_address …) index.
 */
function mailboxOf(address: string): { base: string; from: string; to: string; domain: string } {
  const at = address.lastIndexOf('@');
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  const plus = local.indexOf('+');
  const user = plus > 0 ? local.slice(0, plus) : local;
  return { base: `${user}@${domain}`, from: `${user}+`, to: `${user},`, domain: `%@${domain}` };
}

/**
 * The cases that automatic replies to `address` (and its +tag forms) were about since a time (at most
 * `limit`), each with its subject and the text of its first inbound message: what a new message
 * from that address is compared with (a repeat is an auto-responder answering us).
 */
export async function autoRepliedCasesSince(db: Q, address: string, since: string, limit: number): Promise<{ readonly subject: string; readonly text: string }[]> {
  const m = mailboxOf(address);
  const { rows } = await runPrepared(db, 'outbox.autoRepliedCasesSince', [m.base, m.from, m.to, m.domain, since, limit], (q, [a, lo, hi, d, s, l]) =>
    q
      .selectFrom('outbox')
      .innerJoin('cases', 'cases.id', 'outbox.case_id')
      .innerJoin('messages', (j) =>
        j.onRef('messages.case_id', '=', 'cases.id').on('messages.id', '=', (eb) =>
          eb.selectFrom('messages as first').select((f) => f.fn.min('first.id').as('id')).whereRef('first.case_id', '=', 'cases.id').where('first.direction', '=', 'in'),
        ),
      )
      .select(['cases.subject', 'messages.visible_text as text'])
      .where((eb) => eb.or([eb('outbox.to_address', '=', a as string), eb.and([eb('outbox.to_address', '>=', lo as string), eb('outbox.to_address', '<', hi as string), eb('outbox.to_address', 'like', d as string)])]))
      .where('outbox.auto_reply', '=', 1)
      .where('outbox.status', '!=', 'suppressed')
      .where('outbox.created_at', '>', s as string)
      .limit(l as number),
  );
  return rows;
}

export interface ClaimOptions {
  /** Who claims (one id per sender process). */
  readonly owner: string;
  readonly now: string;
  /** The claim lapses then (a sender that died never holds a row for good). */
  readonly until: string;
  readonly limit: number;
  /** Rows this sender still holds in memory (never offered twice). */
  readonly exclude: readonly number[];
  /**
   * Whether rows whose claim by ANOTHER sender lapsed may be taken over (default true). False
   * right after the database came back from an outage: the other sender may be alive and still
   * hold an email the relay accepted, waiting to record it (outbox-worker.ts, outgoing.takeoverGraceSeconds).
   */
  readonly takeOverLapsed?: boolean;
  /** Senders (From addresses, lower-case) whose rows are held: the relay refuses them at MAIL FROM (sender-holds.ts). */
  readonly excludeFrom?: readonly string[];
  /** Only rows from this sender (lower-case): the one email that probes a held sender. */
  readonly onlyFrom?: string;
  /** Only rows from these senders (lower-case): a named relay's mailboxes (mail-out/relays.ts). */
  readonly fromIn?: readonly string[];
}

/** A relay's rows (mail-out/relays.ts): From one of `fromIn`, or From none of `fromNotIn` (lower-case). */
export interface FromFilter {
  readonly fromIn?: readonly string[];
  readonly fromNotIn?: readonly string[];
}

/**
 * Claim up to `limit` due rows nobody holds, oldest first, in one statement (UPDATE … RETURNING;
 * the SQLite dialect runs it under the write lock; on PostgreSQL the sub-select takes the rows FOR
 * UPDATE SKIP LOCKED, and the outer UPDATE re-checks the claim condition on the row it locked).
 * Two passes — of one daemon or of several — can never hold the same row.
 */
export async function claimDue(db: Q, o: ClaimOptions): Promise<OutboxRow[]> {
  const rows = await db
    .updateTable('outbox')
    .set({ claimed_by: o.owner, claim_expires_at: o.until, last_attempt_at: o.now })
    .where('id', 'in', (eb) => {
      let sub = eb
        .selectFrom('outbox')
        .select('id')
        .where('status', '=', 'queued')
        .where('next_attempt_at', '<=', o.now)
        .where((w) =>
          w.or([
            w('claimed_by', 'is', null),
            o.takeOverLapsed === false ? w.and([w('claim_expires_at', '<', o.now), w('claimed_by', '=', o.owner)]) : w('claim_expires_at', '<', o.now),
          ]),
        );
      if (o.exclude.length > 0) sub = sub.where('id', 'not in', [...o.exclude]);
      if (o.excludeFrom !== undefined && o.excludeFrom.length > 0) sub = sub.where((w) => w.fn('lower', ['from_address']), 'not in', [...o.excludeFrom]);
      if (o.onlyFrom !== undefined) sub = sub.where((w) => w.fn('lower', ['from_address']), '=', o.onlyFrom);
      if (o.fromIn !== undefined) sub = sub.where((w) => w.fn('lower', ['from_address']), 'in', o.fromIn.length > 0 ? [...o.fromIn] : ['']);
      // PostgreSQL: rows another daemon is claiming this instant are skipped, not waited for.
      return skipLocked(db, sub.orderBy('next_attempt_at').orderBy('id').limit(o.limit));
    })
    .returningAll()
    .execute();
  return rows.sort((a, b) => a.id - b.id);
}

/** Drop every claim of `owner` (or, with null, every claim: the single daemon starting up under its instance lock). */
export async function releaseClaims(db: Q, owner: string | null): Promise<number> {
  let q = db.updateTable('outbox').set({ claimed_by: null, claim_expires_at: null }).where('claimed_by', 'is not', null);
  if (owner !== null) q = q.where('claimed_by', '=', owner);
  const res = await q.executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/**
 * Extend `owner`'s claims on the rows it still holds (being sent, or an outcome not yet written)
 * until `until`; a row another sender took over meanwhile, or one already decided, is left alone.
 * Returns how many claims were extended.
 */
export async function renewClaims(db: Q, owner: string, ids: readonly number[], until: string): Promise<number> {
  if (ids.length === 0) return 0;
  const res = await db.updateTable('outbox').set({ claim_expires_at: until }).where('claimed_by', '=', owner).where('status', '=', 'queued').where('id', 'in', [...ids]).executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/** Rows waiting out a backoff become due now (the relay works again after an outage). Returns how many. */
export async function retryBackedOffNow(db: Q, now: string, from: FromFilter = {}): Promise<number> {
  let q = db.updateTable('outbox').set({ next_attempt_at: now }).where('status', '=', 'queued').where('attempts', '>', 0).where('next_attempt_at', '>', now);
  if (from.fromIn !== undefined) q = q.where((w) => w.fn('lower', ['from_address']), 'in', from.fromIn.length > 0 ? [...from.fromIn] : ['']);
  if (from.fromNotIn !== undefined && from.fromNotIn.length > 0) q = q.where((w) => w.fn('lower', ['from_address']), 'not in', [...from.fromNotIn]);
  const res = await q.executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/**
 * A held sender's hold ended (sender-holds.ts): its queued emails count their age (giveUpHours)
 * from now, as after `outbox retry` — the hold is not a failure of theirs. Returns how many.
 */
export async function restartGiveUpClock(db: Q, fromAddress: string, now: string): Promise<number> {
  const res = await db
    .updateTable('outbox')
    .set({ queued_at: now })
    .where('status', '=', 'queued')
    .where((w) => w.fn('lower', ['from_address']), '=', fromAddress.toLowerCase())
    .where((w) => w.or([w('queued_at', 'is', null), w('queued_at', '<', now)]))
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

export async function nextDueAt(db: Q): Promise<string | null> {
  const row = await db.selectFrom('outbox').select((eb) => eb.fn.min('next_attempt_at').as('at')).where('status', '=', 'queued').executeTakeFirst();
  return row?.at ?? null;
}

const unclaimed = { claimed_by: null, claim_expires_at: null } as const;

/** The row, and the thread entry it created (messages.outbox_id), are sent. */
export async function markSent(db: Q, id: number, attempts: number, at: string): Promise<void> {
  await runPrepared(db, 'outbox.markSent', [id, attempts, at], (q, [i, n, t]) =>
    q
      .updateTable('outbox')
      .set({ status: 'sent', sent_at: t as string, attempts: n as number, last_error: null, ...unclaimed })
      .where('id', '=', i as number),
  );
  await runPrepared(db, 'messages.markSent', [id, at], (q, [i, t]) =>
    q
      .updateTable('messages')
      .set({ sent_at: t as string })
      .where('outbox_id', '=', i as number),
  );
}

/**
 * The relay took the row for some recipients and refused `pending` for now: it stays queued for
 * them alone (due at nextAt); its thread entry went out (messages.sent_at, the first time).
 */
export async function markPartlySent(db: Q, id: number, o: { attempts: number; at: string; nextAt: string; pending: readonly string[]; error: string }): Promise<void> {
  await db
    .updateTable('outbox')
    .set({ attempts: o.attempts, next_attempt_at: o.nextAt, last_error: o.error, pending_rcpt_json: JSON.stringify(o.pending), ...unclaimed })
    .where('id', '=', id)
    .execute();
  await db.updateTable('messages').set({ sent_at: o.at }).where('outbox_id', '=', id).where('sent_at', 'is', null).execute();
}

/**
 * An email sent as per-recipient copies (0022): the relay took one reader's copy, and `pending` are
 * those still to get theirs. Written right after each copy, while `owner` holds the claim, so a
 * crash or restart sends only the copies not yet taken (the thread entry went out: messages.sent_at).
 */
export async function markCopySent(db: Q, id: number, owner: string | null, pending: readonly string[], at: string): Promise<boolean> {
  const ok = await claimedWrite(db.updateTable('outbox').set({ pending_rcpt_json: JSON.stringify(pending) }).where('id', '=', id), owner);
  if (ok) await db.updateTable('messages').set({ sent_at: at }).where('outbox_id', '=', id).where('sent_at', 'is', null).execute();
  return ok;
}

/**
 * The outcomes below are written only while `owner` still holds the row's claim (true when
 * written). A sender whose claim lapsed (it could not reach the database for longer than
 * outgoing.claimSeconds) may find the row taken over by another sender, which is sending it or
 * has sent it: its late "retry" or "released" would free the row under that sender (and have it
 * sent once more), its "failed" or "suppressed" would overwrite a sent row.
 */
export async function markRetry(db: Q, id: number, owner: string | null, attempts: number, nextAt: string, error: string): Promise<boolean> {
  return claimedWrite(db.updateTable('outbox').set({ attempts, next_attempt_at: nextAt, last_error: error, ...unclaimed }).where('id', '=', id), owner);
}

export async function markFailed(db: Q, id: number, owner: string | null, attempts: number, error: string): Promise<boolean> {
  return claimedWrite(db.updateTable('outbox').set({ status: 'failed', attempts, last_error: error, ...unclaimed }).where('id', '=', id), owner);
}

export async function markSuppressed(db: Q, id: number, owner: string | null, reason: string): Promise<boolean> {
  return claimedWrite(db.updateTable('outbox').set({ status: 'suppressed', last_error: reason, ...unclaimed }).where('id', '=', id), owner);
}

/** Give a row back untried (the transport is paused): due again as soon as sending resumes. */
export async function releaseRow(db: Q, id: number, owner: string | null, attempts: number, error: string | null): Promise<boolean> {
  return claimedWrite(db.updateTable('outbox').set({ attempts, ...(error !== null ? { last_error: error } : {}), ...unclaimed }).where('id', '=', id), owner);
}

/**
 * Give claimed rows back untried, as they were (the relay's minute had no room for them:
 * mail-out/relay-rate.ts): one statement; due again for the next claim. Returns how many.
 */
export async function unclaimRows(db: Q, owner: string, ids: readonly number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await db.updateTable('outbox').set(unclaimed).where('claimed_by', '=', owner).where('status', '=', 'queued').where('id', 'in', [...ids]).executeTakeFirst();
  return Number(r.numUpdatedRows);
}

type OutboxUpdate = UpdateQueryBuilder<Database, 'outbox', 'outbox', UpdateResult>;

async function claimedWrite(q: OutboxUpdate, owner: string | null): Promise<boolean> {
  const r = await (owner === null ? q.where('claimed_by', 'is', null) : q.where('claimed_by', '=', owner)).where('status', '=', 'queued').executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function outboxOfCase(db: Q, caseId: number): Promise<OutboxRow[]> {
  return db.selectFrom('outbox').selectAll().where('case_id', '=', caseId).orderBy('id').execute();
}

/**
 * A case's emails not sent to everyone yet and not being sent this moment: queued (or waiting
 * for a retry, partly sent) or failed (`outbox retry` sends them), and no sender holds their claim.
 */
export async function unsentOfCase(db: Q, caseId: number, now: string): Promise<OutboxRow[]> {
  return db
    .selectFrom('outbox')
    .selectAll()
    .where('case_id', '=', caseId)
    .where('status', 'in', ['queued', 'failed'])
    .where((w) => w.or([w('claimed_by', 'is', null), w('claim_expires_at', '<', now)]))
    .orderBy('id')
    .execute();
}

/**
 * Unsent emails (queued, failed) that name `address` (lower case) as their To, a Cc, a reader
 * still waiting or a reader's copy — of any case or none (an erasure), claimed by a sender this
 * moment or not: a sender checks its readers right before each send (`readersOfRow`). Found by
 * substring, confirmed by the caller (mail-out/reader-withdrawal.ts).
 */
export async function unsentNaming(db: Q, address: string): Promise<OutboxRow[]> {
  return db
    .selectFrom('outbox')
    .selectAll()
    .where('status', 'in', ['queued', 'failed'])
    .where((w) => w.or([w('to_address', '=', address), containsText(db, 'cc_json', address), containsText(db, 'pending_rcpt_json', address), containsText(db, 'copies_json', address)]))
    .orderBy('id')
    .execute();
}

/**
 * Whom a row names now (its To and Cc: every reader it can go to) and its status, or undefined: it
 * is gone. A sender reads it right before each send (primary key): the erasure may have changed
 * the row it holds. A sender never writes these columns, so what it read is what the erasure left.
 */
export async function readersOfRow(db: Q, id: number): Promise<RowReaders | undefined> {
  const { rows } = await runPrepared(db, 'outbox.readersOfRow', [id], (q, [i]) => q.selectFrom('outbox').select(['status', 'to_address', 'cc_json']).where('id', '=', i as number));
  return rows[0] as RowReaders | undefined;
}

export type RowReaders = Pick<OutboxRow, 'status' | 'to_address' | 'cc_json'>;

export type ReaderSet = Pick<OutboxRow, 'to_address' | 'to_name' | 'text' | 'html' | 'cc_json' | 'copies_json' | 'pending_rcpt_json'>;

/**
 * Write an unsent email's readers anew (mail-out/reader-withdrawal.ts), and its thread entry's To
 * and Cc with them; `sentAt`: nobody is left to wait for it, so it is sent. Only while still
 * unsent and unclaimed (false: a sender took it meanwhile) — or, `now` null (an erasure), claimed
 * or not: the sender checks the row's readers right before each send.
 */
export async function rewriteReaders(db: Q, id: number, set: ReaderSet, now: string | null, sentAt: string | null = null): Promise<boolean> {
  const r = await unclaimedAt(
    db
      .updateTable('outbox')
      .set({ ...set, ...(sentAt !== null ? { status: 'sent' as const, sent_at: sentAt, last_error: null } : {}) })
      .where('id', '=', id)
      .where('status', 'in', ['queued', 'failed']),
    now,
  ).executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0) return false;
  await db.updateTable('messages').set({ to_json: JSON.stringify([{ address: set.to_address, name: set.to_name }]), cc_json: set.cc_json }).where('outbox_id', '=', id).execute();
  return true;
}

/**
 * Cancel an unsent email nobody is sending this moment (false: a sender took it meanwhile, or it
 * went); `now` null (an erasure): claimed or not (its sender finds it cancelled before it sends).
 */
export async function cancelUnsent(db: Q, id: number, reason: string, now: string | null): Promise<boolean> {
  const r = await unclaimedAt(db.updateTable('outbox').set({ status: 'cancelled', last_error: reason, ...unclaimed }).where('id', '=', id).where('status', 'in', ['queued', 'failed']), now).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Only a row no sender holds at `now` (its claim lapsed or none); null: any. */
function unclaimedAt(q: OutboxUpdate, now: string | null): OutboxUpdate {
  return now === null ? q : q.where((w) => w.or([w('claimed_by', 'is', null), w('claim_expires_at', '<', now)]));
}

export async function outboxRow(db: Q, id: number): Promise<OutboxRow | undefined> {
  return db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirst();
}

export type OutboxSummary = Omit<OutboxRow, 'html' | 'text' | 'headers_json' | 'copies_json'> & { readonly case_number: number | null };

/** Rows for `casegate outbox list`, newest first (without bodies), with the case number. */
export async function listOutbox(db: Q, o: { statuses: readonly OutboxStatus[]; limit: number }): Promise<OutboxSummary[]> {
  let q = db
    .selectFrom('outbox as o')
    .leftJoin('cases as c', 'c.id', 'o.case_id')
    .select([
      'o.id',
      'o.case_id',
      'c.number as case_number',
      'o.kind',
      'o.auto_reply',
      'o.from_address',
      'o.from_name',
      'o.to_address',
      'o.to_name',
      'o.cc_json',
      'o.reply_to',
      'o.subject',
      'o.message_id',
      'o.in_reply_to',
      'o.references_text',
      'o.status',
      'o.attempts',
      'o.next_attempt_at',
      'o.last_error',
      'o.created_at',
      'o.sent_at',
      'o.claimed_by',
      'o.claim_expires_at',
      'o.last_attempt_at',
      'o.queued_at',
      'o.pending_rcpt_json',
      'o.body_dropped_at',
    ]);
  if (o.statuses.length > 0) q = q.where('o.status', 'in', [...o.statuses]);
  return q.orderBy('o.id', 'desc').limit(o.limit).execute();
}

/**
 * Sent emails that still have their rendered body and were sent before `before`: the oldest
 * `limit` ids (jobs.sentBodies). Index outbox_sent_bodies (0020): partial on these rows alone,
 * which the literal status in the query lets SQLite and PostgreSQL use.
 */
export async function sentBodiesBefore(db: Q, before: string, limit: number): Promise<number[]> {
  const rows = await db
    .selectFrom('outbox')
    .select('id')
    .where(sql<boolean>`status = 'sent'`)
    .where('body_dropped_at', 'is', null)
    .where('sent_at', '<', before)
    .orderBy('sent_at')
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}

/**
 * Empty the rendered text and HTML of these sent emails (and of their per-recipient copies), keeping the row (recipients, Message-ID, status, times); how many.
 * Staff mail's thread entries that older versions wrote with theirs lose them too (only their visible text is shown).
 */
export async function dropSentBodies(db: Q, ids: readonly number[], at: string): Promise<number> {
  if (ids.length === 0) return 0;
  const res = await db
    .updateTable('outbox')
    .set({ text: '', html: '', body_dropped_at: at, copies_json: null })
    .where('id', 'in', [...ids])
    .where('status', '=', 'sent')
    .where('body_dropped_at', 'is', null)
    .executeTakeFirst();
  // Staff mail's thread entries written by older versions still hold a text and HTML that nothing shows: they go too.
  await db.updateTable('messages').set({ text: null, html: null }).where('outbox_id', 'in', [...ids]).where('direction', '=', 'out').where('internal', '=', 1).where('html', 'is not', null).execute();
  return Number(res.numUpdatedRows);
}

/** Put a failed (or waiting) row back in the queue, due now and counting its age from now. */
export async function requeue(db: Q, id: number, now: string): Promise<void> {
  await db.updateTable('outbox').set({ status: 'queued', next_attempt_at: now, queued_at: now, last_error: null, ...unclaimed }).where('id', '=', id).execute();
}

export async function cancelRow(db: Q, id: number, reason: string): Promise<void> {
  await db.updateTable('outbox').set({ status: 'cancelled', last_error: reason, ...unclaimed }).where('id', '=', id).execute();
}

export async function failedIds(db: Q): Promise<number[]> {
  const rows = await db.selectFrom('outbox').select('id').where('status', '=', 'failed').orderBy('id').execute();
  return rows.map((r) => r.id);
}

/**
 * `casegate status`'s outbox counts: the emails queued and failed now (whatever their age: work
 * waiting, as the metrics' depth), and those queued since `since` that were sent, suppressed or
 * cancelled. Ranges of outbox_due (status, next_attempt_at) and outbox_queued (status, queued_at):
 * the cost does not grow with the sent history (every outbox row ever was counted until
 * 2026-12-07: 0.3–0.5 s at 1 M messages on PostgreSQL).
 */
export async function statusCounts(db: Q, since: string): Promise<{ readonly now: Record<string, number>; readonly since: Record<string, number> }> {
  const waiting = await db.selectFrom('outbox').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).where('status', 'in', ['queued', 'failed']).groupBy('status').execute();
  const done = await db
    .selectFrom('outbox')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('status', 'in', ['sent', 'suppressed', 'cancelled'])
    .where('queued_at', '>=', since)
    .groupBy('status')
    .execute();
  const record = (rows: readonly { status: string; n: number | string | bigint }[]): Record<string, number> => Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  return { now: record(waiting), since: record(done) };
}

/** Emails waiting to be sent (index outbox_due): the outgoing alert's count. */
export async function queuedCount(db: Q): Promise<number> {
  const row = await db.selectFrom('outbox').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'queued').executeTakeFirst();
  return Number(row?.n ?? 0);
}

export interface QueueAge {
  readonly id: number;
  readonly kind: string;
  readonly to_address: string;
  readonly queued_at: string;
  readonly attempts: number;
  readonly last_error: string | null;
}

/** The queued row that has been waiting longest (for `casegate status`). */
export async function oldestQueued(db: Q): Promise<QueueAge | undefined> {
  return db
    .selectFrom('outbox')
    .select(['id', 'kind', 'to_address', 'attempts', 'last_error', (eb) => eb.fn.coalesce('queued_at', 'created_at').as('queued_at')])
    .where('status', '=', 'queued')
    .orderBy('queued_at')
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
}

/** The highest outbox id so far (0 when empty). */
export async function lastOutboxId(db: Q): Promise<number> {
  const row = await db.selectFrom('outbox').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
  return Number(row?.id ?? 0);
}

/** Withdraw every queued row above `afterId` (written by the running transaction): recorded, never sent. */
export async function cancelQueuedAfter(db: Q, afterId: number, reason: string): Promise<number> {
  const res = await db.updateTable('outbox').set({ status: 'cancelled', last_error: reason, ...unclaimed }).where('id', '>', afterId).where('status', '=', 'queued').executeTakeFirst();
  return Number(res.numUpdatedRows);
}

export interface HeldRow {
  readonly id: number;
  readonly case_id: number | null;
  readonly kind: string;
  readonly to_address: string;
}

/**
 * Every row still waiting to be sent becomes `failed` with `reason` (a restore: the lost instance
 * may have sent them after the backup; the admin decides with `outbox retry` or `outbox cancel`).
 */
/** One row just queued is held instead (`failed`, `reason`): a job's email for an item due before a restore (compose.ts). */
export async function holdRow(db: Q, id: number, reason: string): Promise<void> {
  await db.updateTable('outbox').set({ status: 'failed', last_error: reason, ...unclaimed }).where('id', '=', id).where('status', '=', 'queued').execute();
}

export async function holdQueued(db: Q, reason: string): Promise<HeldRow[]> {
  const rows = await db.selectFrom('outbox').select(['id', 'case_id', 'kind', 'to_address']).where('status', '=', 'queued').orderBy('id').execute();
  if (rows.length > 0) await db.updateTable('outbox').set({ status: 'failed', last_error: reason, ...unclaimed }).where('status', '=', 'queued').execute();
  return rows;
}
