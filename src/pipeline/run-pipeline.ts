import type { AppContext } from '../context.js';
import { caseNumberOf } from '../db/repos/cases.js';
import { insertReceipt, makePrimary, primaryReceipt, supersede } from '../db/repos/receipts.js';
import { saveCheckpoint } from '../db/repos/mailbox-state.js';
import { cancelQueuedAfter, lastOutboxId } from '../db/repos/outbox.js';
import { isDedupeConflict, isLostConnection, isTransientDbError } from '../db/dialect.js';
import { awaitWritable } from '../db/repos/ops.js';
import { commitsDurable } from '../db/commit-sync.js';
import { describeFull, diskSpaceOf, fullCode, isDiskFull } from '../ops/disk-space.js';
import { inMessageScope, type Logger, type MessageScope } from '../log.js';
import { agentActStage } from './stages/agent-act.js';
import { agentPersistStage } from './stages/agent-persist.js';
import { agentRequestStage } from './stages/agent-request.js';
import { agentRoleStage } from './stages/agent-role.js';
import { automatedStage } from './stages/automated.js';
import { classifyStage } from './stages/classify.js';
import type { Transaction } from 'kysely';
import type { Database, ReceiptRow } from '../db/schema.js';
import { applyDedupe, decideDedupe, dedupeStage, duplicateReason, ownLostCommit } from './stages/dedupe.js';
import { escalateStage } from './stages/escalate.js';
import { escalationRequestStage } from './stages/escalation-request.js';
import { formMailStage } from './stages/form-mail.js';
import { loopGuardStage } from './stages/loop-guard.js';
import { parseStage } from './stages/parse.js';
import { persistStage } from './stages/persist.js';
import { linkExposureStage } from './stages/link-exposure.js';
import { reactStage } from './stages/react.js';
import { routeStage } from './stages/route.js';
import { notifyStaffStage } from './stages/notify-staff.js';
import { senderStage } from './stages/sender.js';
import { spamStage } from './stages/spam.js';
import { statusReplyStage } from './stages/status-reply.js';
import { statusRequestStage } from './stages/status-request.js';
import { surveyRecordStage, surveyReplyStage } from './stages/survey-reply.js';
import { claimResend, resendStage, type ResendEnding } from './stages/resend.js';
import { alertCaseRate } from './case-rate-alert.js';
import { oldMailReason } from './old-mail.js';
import { threadStage } from './stages/thread.js';
import { announceGiveUp, giveUpReason, judgeTimeout, notePass, recordGiveUp, StageTimeoutError } from './give-up.js';
import { canRefuse, receiptBase, RefusedError, storeHeld, TransientError, type Arrival, type CommitStage, type DecideStage, type Inbound, type Outcome } from './types.js';

/**
 * The ordered lists (DESIGN §1). Every message passes the common decide stages; then the flow its
 * sender chooses (agent-role: a verified agent or lead working a case of their queue → the agent
 * flow, everyone else → the customer flow) runs its own decide stages and, in one transaction,
 * its commit stages. Decide stages have no side effects.
 */
export const DECIDE_STAGES: readonly DecideStage[] = [
  parseStage,
  dedupeStage,
  formMailStage,
  loopGuardStage,
  automatedStage,
  spamStage,
  senderStage,
  threadStage,
  resendStage,
  agentRoleStage,
];

export interface Flow {
  readonly name: 'customer' | 'agent';
  readonly decide: readonly DecideStage[];
  readonly commit: readonly CommitStage[];
}

export const CUSTOMER_FLOW: Flow = {
  name: 'customer',
  decide: [statusRequestStage, surveyReplyStage, escalationRequestStage, classifyStage],
  commit: [persistStage, linkExposureStage, routeStage, escalateStage, surveyRecordStage, reactStage, statusReplyStage, notifyStaffStage],
};

export const AGENT_FLOW: Flow = {
  name: 'agent',
  decide: [agentRequestStage],
  commit: [agentPersistStage, linkExposureStage, agentActStage],
};

/** The flow of a message that passed the common stages. */
export function flowOf(msg: Inbound): Flow {
  return msg.notes.agent != null ? AGENT_FLOW : CUSTOMER_FLOW;
}

const TRANSIENT_CODES = /^(SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|PROTOCOL|NOMEM)|ENOSPC|EIO|EMFILE|ENFILE|EAGAIN|EBUSY|EDQUOT|ENOMEM|ETIMEDOUT)/;

/** Whether an error is worth trying again later (so the channel keeps the message) rather than quarantining. */
export function isTransient(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TRANSIENT_CODES.test(code)) return true;
  // PostgreSQL: deadlocks, lock waits, a server restarting or unreachable (src/db/dialect.ts).
  if (isTransientDbError(err)) return true;
  // A concurrent process committed the same message first: the next attempt sees the duplicate.
  return isDedupeConflict(err);
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  return (typeof e?.code === 'string' ? `${e.code}: ` : '') + msg.split('\n')[0]!.slice(0, 300);
}

/** How long a message whose database connection broke waits for the database before its second attempt. */
export const LOST_CONNECTION_WAIT_MS = 10_000;

/** When the last wait for the database ended without it taking writes (per context): an outage. */
const unwritableAt = new WeakMap<AppContext, number>();

/**
 * Run one arrival through every stage to exactly one outcome, committed before this returns
 * (except `retry`, which commits nothing so the channel offers the message again).
 *
 * A PostgreSQL connection that broke under the message (a server restart or failover, a connection
 * ended by an admin, or one db/pg-silent-watch.ts found silent and closed) does not cost the sender
 * a 451: once the database takes writes again (within LOST_CONNECTION_WAIT_MS), the message runs
 * through every stage once more, on a fresh connection. That is safe even when the connection broke
 * after COMMIT was sent and only its answer was lost: the second attempt's dedupe stage finds the
 * committed receipt (the message ends `ignored`, a duplicate; nothing is stored or sent twice); a
 * commit the server has not finished yet holds its receipt's dedupe key, so the second attempt's
 * receipt waits for it on the unique index and is then refused (isDedupeConflict → the duplicate),
 * or the wait ends at lock_timeout (retry). Only one outcome line is written, for the attempt that counts.
 */
export async function runPipeline(ctx: AppContext, arrival: Arrival): Promise<Outcome> {
  const arrivedMs = arrival.arrivedMs ?? performance.now();
  const first = await runOnce(ctx, arrival, arrivedMs, true);
  if (!('lost' in first)) return first;
  // In an outage that outlasted the wait, the next messages do not each wait again (their SMTP
  // sessions would pile up): their second attempt runs at once and fails as fast as the first.
  const failedWait = unwritableAt.get(ctx);
  const wait = failedWait === undefined || performance.now() - failedWait > LOST_CONNECTION_WAIT_MS * 3;
  const writable = wait && (await awaitWritable(ctx.db, LOST_CONNECTION_WAIT_MS));
  if (writable) unwritableAt.delete(ctx);
  else if (wait) unwritableAt.set(ctx, performance.now());
  // During an outage, the message's own `retry` line says enough.
  ctx.log[wait ? 'warn' : 'debug'](
    { component: 'pipeline', channel: arrival.channel, mailbox: arrival.mailbox.name, messageId: first.messageId ?? null, sha256: arrival.raw.sha256, stage: first.stage, err: first.lost },
    writable
      ? 'the database connection broke under the message: processing it once more on a fresh connection'
      : wait
        ? `the database connection broke under the message and the database did not take writes within ${LOST_CONNECTION_WAIT_MS / 1000} s: trying once more anyway`
        : 'the database connection broke under the message during an outage (the last wait for it failed): trying once more at once',
  );
  return (await runOnce(ctx, first.stage === 'commit' ? { ...arrival, afterLostCommit: true } : arrival, arrivedMs, false)) as Outcome;
}

/** An attempt whose database connection broke (to be run once more). */
interface LostAttempt {
  readonly lost: unknown;
  readonly stage: string;
  readonly messageId: string | null | undefined;
}

async function runOnce(ctx: AppContext, arrival: Arrival, arrivedMs: number, mayRunAgain: boolean): Promise<Outcome | LostAttempt> {
  const msg: Inbound = { arrival, notes: {} };
  // The fields of every line about this message (not a pino child: building one per message cost
  // more than the message's whole log line; most messages log a single line).
  const where = { component: 'pipeline', channel: arrival.channel, mailbox: arrival.mailbox.name };
  let outcome: Outcome;
  let stageName = 'start';
  /** Set when the retry is a full disk: the outcome line says so at error level. */
  let diskFull: string | null = null;
  // The lines the stages and the modules they call write carry this message's Message-ID (log.ts).
  const scope: MessageScope = { messageId: () => msg.notes.parsed?.messageId, ended: false };
  const timer = new StageTimer(ctx, () => ({ ...where, messageId: scope.messageId() }));
  const startedMs = ctx.clock.now().getTime();
  try {
    type Ending = { end: 'ignored' | 'quarantined'; reason: string; caseId: number | null; caseNumber: number | null };
    const decide = async (stages: readonly DecideStage[]): Promise<Ending | null> => {
      for (const stage of stages) {
        stageName = stage.name;
        const verdict = await timer.run(stage.name, () => inMessageScope(scope, () => stage.run(msg, ctx)));
        if ('end' in verdict) return { end: verdict.end, reason: verdict.reason, caseId: verdict.caseRow?.id ?? null, caseNumber: verdict.caseRow?.number ?? null };
      }
      return null;
    };
    let ended = await decide(DECIDE_STAGES);
    const flow = flowOf(msg);
    if (ended === null) ended = await decide(flow.decide);
    if (ended !== null) {
      outcome = await recordEnding(ctx, msg, stageName, ended.end, ended.reason, ended.caseId, ended.caseNumber);
    } else {
      stageName = 'commit';
      // The raw message is in its file before any row names it (the parse wrote a held one).
      await storeHeld(ctx.blobs, arrival.raw);
      // The receipt a concurrent commit wrote with our dedupe key (the recheck below finds it).
      let concurrentOf: ReceiptRow | null = null;
      // A re-sent copy whose twin committed while both were on their way (claimResend).
      let resent: ResendEnding | null = null;
      const commitOnce = (recheck: boolean): Promise<Outcome | null | 'conflict'> => ctx.db.transaction().execute(async (trx) => {
        /** The dedupe look-up again, inside the transaction: true when a concurrent commit made this message a duplicate. */
        const duplicateNow = async (): Promise<boolean> => {
          const again = await decideDedupe(trx, msg.notes.parsed!, arrival.raw.sha256, msg.notes.contentDigest ?? '', arrival.retryOf, msg.notes.copyKey ?? null);
          if (again.kind === 'duplicate') {
            msg.notes.dedupeKey = again.of.dedupe_key;
            concurrentOf = again.of;
            return true;
          }
          applyDedupe(msg, again);
          return false;
        };
        // Another arrival committed a message with our dedupe key meanwhile (the unique index on
        // primary receipts refused ours): the same message is now a duplicate, a different one
        // reusing its Message-ID a collision. On the first attempt the dedupe stage's decision
        // stands — that index refuses the receipt of anything committed since, so no second look-up.
        if (recheck && (await duplicateNow())) return null;
        stageName = 'resend';
        const copy = await timer.run('resend', () => inMessageScope(scope, () => claimResend(trx, msg, ctx)));
        if (copy !== null) {
          // Its twin committed while both were on their way. With the same Message-ID (one message
          // delivered to two of our mailboxes at once) it is a duplicate, not a re-sent copy.
          if (!(await duplicateNow())) resent = copy;
          return null;
        }
        // Historic mail: what the commit queues is withdrawn before anyone can see it queued.
        const outboxBefore = arrival.historic === true ? await lastOutboxId(trx) : null;
        for (const stage of flow.commit) {
          stageName = stage.name;
          await timer.run(stage.name, () => inMessageScope(scope, () => stage.run(msg, ctx, trx)));
        }
        if (outboxBefore !== null) await cancelQueuedAfter(trx, outboxBefore, 'historic mail (casegate import): recorded, not sent');
        await saveCheckpoint(trx, arrival, ctx.clock.now().toISOString());
        // What fails from here on is the COMMIT itself (its answer may be lost with the connection: runPipeline).
        stageName = 'commit';
        const p = msg.notes.persisted!;
        return {
          kind: 'stored',
          reason:
            flow.name === 'agent'
              ? `agent mail (${msg.notes.agent?.rule})`
              : p.created
                ? `new case (${msg.notes.thread?.rule})`
                : `${p.reopened ? 'reopened' : 'appended'} (${msg.notes.thread?.rule})`,
          caseId: p.caseRow.id,
          caseNumber: p.caseRow.number,
          receiptId: p.receiptId,
          created: p.created,
        } satisfies Outcome;
      }).catch((err: unknown): 'conflict' => {
        if (isDedupeConflict(err)) return 'conflict';
        throw err;
      });
      let committed = await commitOnce(false);
      // Another arrival (this process or another) committed a message with this dedupe key between
      // the dedupe stage and our commit (PostgreSQL's unique index waited for it). Once more, with
      // the look-up inside the transaction: it now sees that row — the same message is a duplicate,
      // a different one reusing the Message-ID is stored as a collision.
      if (committed === 'conflict') committed = await commitOnce(true);
      const copyOf = resent as ResendEnding | null;
      outcome =
        committed !== null && committed !== 'conflict'
          ? committed
          : copyOf !== null
            ? await recordEnding(ctx, msg, 'resend', 'ignored', copyOf.reason, copyOf.caseRow?.id ?? null, copyOf.caseRow?.number ?? null)
            : await recordEnding(ctx, msg, 'dedupe', 'ignored', concurrentOf !== null && ownLostCommit(arrival, concurrentOf) ? duplicateReason(arrival, concurrentOf) : 'duplicate (committed concurrently)', null, null);
      ctx.outboxSignal.wake();
      // A new case of live mail (not imported history, not a backlog): the mailbox's new-case rate (alerts.newCasesPerMailboxPerHour).
      if (outcome.kind === 'stored' && outcome.created && arrival.historic !== true && oldMailReason(ctx, msg) === null) await alertCaseRate(ctx, msg.notes.persisted!.caseRow.mailbox);
    }
  } catch (err) {
    if (err instanceof RefusedError && canRefuse(arrival.channel)) {
      // Not ours: the channel answers with a permanent error and the sender's MTA keeps it.
      ctx.log.warn({ ...where, sha256: arrival.raw.sha256, size: arrival.raw.size, outcome: 'refused', reason: err.message, stage: stageName }, 'message refused');
      ctx.telemetry.messageOutcome({ mailbox: arrival.mailbox.name, channel: arrival.channel, outcome: 'refused', seconds: (performance.now() - arrivedMs) / 1000 });
      throw err;
    }
    if (mayRunAgain && isLostConnection(err)) return { lost: err, stage: stageName, messageId: msg.notes.parsed?.messageId };
    // A stage that keeps running out of time on this message while it works for other mail: give up (give-up.ts).
    const giveUp = err instanceof StageTimeoutError ? await judgeTimeout(ctx, arrival, err, startedMs) : null;
    if (giveUp !== null) {
      const alert: { mail?: { subject: string; text: string } } = {};
      try {
        outcome = await recordEnding(ctx, msg, stageName, 'quarantined', giveUpReason(giveUp), null, null, async (trx, receiptId) => {
          alert.mail = (await recordGiveUp(trx, ctx, msg, giveUp, receiptId)) ?? undefined;
        });
        ctx.log.error({ ...where, stage: giveUp.stage, attempts: giveUp.attempts, firstFailedAt: giveUp.firstFailedAt, messageId: msg.notes.parsed?.messageId ?? null }, `message given up: stage ${giveUp.stage} ran out of time on it ${giveUp.attempts} times while it worked for other mail; quarantined (casegate quarantine retry after a fix)`);
        if (alert.mail !== undefined) announceGiveUp(ctx, alert.mail);
      } catch (recordErr) {
        outcome = { kind: 'retry', reason: `${stageName}: ${describe(err)}; and could not quarantine it: ${describe(recordErr)}` };
      }
    } else if (isTransient(err)) {
      outcome = { kind: 'retry', reason: `${stageName}: ${describe(err)}`, ...(isDiskFull(err) ? { diskFull: true } : {}) };
      if (isDiskFull(err)) diskFull = describeFull(await diskSpaceOf(ctx.paths).catch(() => []), fullCode(err));
    } else {
      try {
        outcome = await recordEnding(ctx, msg, stageName, 'quarantined', `${stageName} failed: ${describe(err)}`, null, null);
        ctx.log.warn({ ...where, err, stage: stageName }, 'stage failed; message quarantined');
      } catch (recordErr) {
        outcome = await quarantineRawOnly(ctx, msg, stageName, err, recordErr, ctx.log.child(where));
      }
    }
  } finally {
    timer.stop();
    scope.ended = true;
  }
  const p = msg.notes.parsed;
  // A retry is not the normal course (the sender keeps the message: a locked or unreachable
  // database, a stage that timed out): warn, so a warn-level log alert sees it; a full disk, error.
  ctx.log[diskFull !== null ? 'error' : outcome.kind === 'retry' ? 'warn' : 'info'](
    {
      ...(diskFull !== null ? { diskFull } : {}),
      ...where,
      messageId: p?.messageId ?? null,
      sha256: arrival.raw.sha256,
      size: arrival.raw.size,
      outcome: outcome.kind,
      reason: outcome.reason,
      caseId: 'caseId' in outcome ? outcome.caseId : null,
      caseNumber: 'caseNumber' in outcome ? outcome.caseNumber : null,
      receiptId: 'receiptId' in outcome ? outcome.receiptId : null,
      rule: msg.notes.agent?.rule ?? msg.notes.thread?.rule ?? null,
      automated: msg.notes.automated?.kind ?? null,
      spam: msg.notes.spam != null ? msg.notes.spam.reason : null,
      flow: msg.notes.agent != null ? 'agent' : 'customer',
    },
    diskFull !== null ? `message retry: ${diskFull}; it is kept for a later attempt — free space on the disk` : `message ${outcome.kind}`,
  );
  // Every channel acknowledges the message once this returns (250, exit 0, MOVE): the commit must
  // be on disk by then (commit-sync.ts). A failed sync is a retry: the sender keeps the message.
  if (outcome.kind !== 'retry') {
    try {
      await commitsDurable(ctx.db);
    } catch (err) {
      ctx.log.error({ ...where, err }, 'the commit could not be synced to disk: retry');
      outcome = { kind: 'retry', reason: `sync: ${describe(err)}` };
    }
  }
  ctx.telemetry.messageOutcome({ mailbox: arrival.mailbox.name, channel: arrival.channel, outcome: outcome.kind, seconds: (performance.now() - arrivedMs) / 1000, automated: outcome.kind === 'retry' ? null : (msg.notes.automated?.kind ?? null) });
  return outcome;
}

/**
 * A stage still waiting after pipeline.stageTimeoutSeconds ends the message in `retry` (like
 * Haraka's hook timeout → DENYSOFT): the channel offers it again later, nothing is recorded. Inside
 * the commit the transaction is rolled back, and Kysely refuses any later query of the abandoned
 * stage. Synchronous work cannot be interrupted; that is why admin regexes are vetted at load
 * and run on bounded input. A stage that finished but took longer than the limit without its timer
 * firing kept the event loop busy: logged as synchronous work. A stage the timer abandoned was
 * waiting (a hung database query or lock, DNS, the disk): if it settles later, that is logged with
 * how long it took — the length of the hang.
 */
/** One timer per message, restarted for each stage (`refresh()`), rather than a timer and a race per stage. */
class StageTimer {
  readonly #ctx: AppContext;
  readonly #limitMs: number;
  #timer: NodeJS.Timeout | null = null;
  #current: { readonly stage: string; readonly fail: (err: Error) => void } | null = null;

  readonly #fields: () => Record<string, unknown>;

  constructor(ctx: AppContext, fields: () => Record<string, unknown>) {
    this.#ctx = ctx;
    this.#limitMs = ctx.config.pipeline.stageTimeoutSeconds * 1000;
    this.#fields = fields;
  }

  async run<T>(stage: string, run: () => Promise<T> | T): Promise<T> {
    const started = performance.now();
    let abandoned = false;
    try {
      return await new Promise<T>((resolve, reject) => {
        this.#current = {
          stage,
          fail: (err) => {
            abandoned = true;
            reject(err);
          },
        };
        if (this.#timer === null) this.#timer = setTimeout(() => this.#expire(), this.#limitMs);
        else this.#timer.refresh();
        // An abandoned stage's late result or failure changes nothing (the message is in retry);
        // when it comes is worth a line: how long the stage really waited.
        Promise.resolve()
          .then(run)
          .then(
            (value) => {
              if (abandoned) return this.#late(stage, started, null);
              notePass(this.#ctx, stage);
              resolve(value);
            },
            (err: unknown) => (abandoned ? this.#late(stage, started, err) : reject(err)),
          );
      });
    } finally {
      this.#current = null;
      const ms = performance.now() - started;
      // Not abandoned yet past the limit: the timer could not fire — the stage kept the event loop busy.
      if (!abandoned && ms > this.#limitMs) this.#ctx.log.warn({ ...this.#fields(), stage, ms: Math.round(ms) }, 'stage ran past its time limit (synchronous work)');
    }
  }

  #late(stage: string, started: number, err: unknown): void {
    const ms = Math.round(performance.now() - started);
    this.#ctx.log.warn(
      { ...this.#fields(), stage, ms, ...(err !== null ? { err } : {}) },
      `stage abandoned at its time limit ${err === null ? 'finished' : 'failed'} after ${ms} ms (it was waiting — a database query or lock, DNS, the disk — not computing; the message ended in retry)`,
    );
  }

  #expire(): void {
    const current = this.#current;
    this.#current = null;
    current?.fail(new StageTimeoutError(current.stage, this.#ctx.config.pipeline.stageTimeoutSeconds));
  }

  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
  }
}

/**
 * Recording the quarantine failed too. When the database is only busy (or gone), the message is
 * offered again (`retry`). Otherwise the database refuses something taken from the message itself
 * — the same failure on every attempt: it would be offered again for ever. It is quarantined with
 * the raw message's facts only (its bytes kept, size, channel, envelope; keyed by the raw SHA-256),
 * so an admin finds it with `casegate quarantine list` and nothing loops.
 */
async function quarantineRawOnly(ctx: AppContext, msg: Inbound, stage: string, err: unknown, recordErr: unknown, log: Logger): Promise<Outcome> {
  const both = `${stage}: ${describe(err)}; and could not record quarantine: ${describe(recordErr)}`;
  if (isTransient(recordErr)) return { kind: 'retry', reason: both };
  try {
    const outcome = await recordEnding(ctx, { arrival: msg.arrival, notes: {} }, stage, 'quarantined', `${stage} failed: ${describe(err)}; recorded from the raw message only, its parsed fields could not be stored (${describe(recordErr)})`, null, null);
    log.error({ err, recordErr, stage }, 'stage failed and its parsed fields cannot be stored; message quarantined from the raw message only');
    return outcome;
  } catch (rawErr) {
    return { kind: 'retry', reason: `${both}; nor from the raw message only: ${describe(rawErr)}` };
  }
}

/** Write the receipt for an ignored or quarantined message (its raw bytes written first when they are held). */
async function recordEnding(
  ctx: AppContext,
  msg: Inbound,
  stage: string,
  kind: 'ignored' | 'quarantined',
  reason: string,
  caseId: number | null,
  caseNumber: number | null,
  /** More writes in the same transaction (a give-up's record and alert), given the new receipt's id. */
  also?: (trx: Transaction<Database>, receiptId: number) => Promise<void>,
): Promise<Outcome> {
  const { arrival, notes } = msg;
  await storeHeld(ctx.blobs, arrival.raw);
  const key = notes.dedupeKey ?? `sha256:${arrival.raw.sha256}`;
  const receipt = await ctx.db.transaction().execute(async (trx) => {
    const primary = await primaryReceipt(trx, key);
    const isRetry = primary !== undefined && primary.id === arrival.retryOf;
    const duplicateOf = primary !== undefined && !isRetry ? primary.id : null;
    const id = await insertReceipt(trx, {
      ...receiptBase(msg, key),
      is_primary: duplicateOf === null && !isRetry ? 1 : 0,
      outcome: kind,
      reason,
      stage,
      case_id: caseId ?? (duplicateOf !== null ? (primary?.case_id ?? null) : null),
      // A re-sent copy under a new Message-ID (stages/resend.ts) owns its own key and names its original.
      duplicate_of: duplicateOf ?? notes.resendOf ?? null,
    });
    await saveCheckpoint(trx, arrival, ctx.clock.now().toISOString());
    if (also !== undefined) await also(trx, id);
    if (isRetry && primary !== undefined) {
      // A retried quarantine that ends quarantined again keeps the key on the newest receipt.
      await supersede(trx, primary.id, id);
      await makePrimary(trx, id);
    }
    // A duplicate names the case its original went to.
    const linkedCase = caseId ?? (duplicateOf !== null ? (primary?.case_id ?? null) : null);
    const number = caseNumber ?? (linkedCase !== null ? await caseNumberOf(trx, linkedCase) : null);
    return { id, caseId: linkedCase, caseNumber: number };
  });
  if (kind === 'quarantined') return { kind, reason, receiptId: receipt.id };
  return { kind, reason, caseId: receipt.caseId, caseNumber: receipt.caseNumber, receiptId: receipt.id };
}
