import type { AppContext } from '../context.js';
import { insertReceipt, primaryReceipt, supersede } from '../db/repos/receipts.js';
import { saveCheckpoint } from '../db/repos/mailbox-state.js';
import { automatedStage } from './stages/automated.js';
import { classifyStage } from './stages/classify.js';
import { dedupeStage } from './stages/dedupe.js';
import { escalateStage } from './stages/escalate.js';
import { escalationRequestStage } from './stages/escalation-request.js';
import { loopGuardStage } from './stages/loop-guard.js';
import { parseStage } from './stages/parse.js';
import { persistStage } from './stages/persist.js';
import { reactStage } from './stages/react.js';
import { routeStage } from './stages/route.js';
import { senderStage } from './stages/sender.js';
import { surveyRecordStage, surveyReplyStage } from './stages/survey-reply.js';
import { threadStage } from './stages/thread.js';
import { visibleTextStage } from './stages/visible.js';
import { receiptBase, TransientError, type Arrival, type CommitStage, type DecideStage, type Inbound, type Outcome } from './types.js';

/** The ordered list (DESIGN §1). Decide stages have no side effects; commit stages share one transaction. */
export const DECIDE_STAGES: readonly DecideStage[] = [
  parseStage,
  dedupeStage,
  loopGuardStage,
  automatedStage,
  senderStage,
  visibleTextStage,
  threadStage,
  surveyReplyStage,
  escalationRequestStage,
  classifyStage,
];
export const COMMIT_STAGES: readonly CommitStage[] = [persistStage, routeStage, escalateStage, surveyRecordStage, reactStage];

const TRANSIENT_CODES = /^(SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|PROTOCOL|NOMEM)|ENOSPC|EIO|EMFILE|ENFILE|EAGAIN|EBUSY|EDQUOT|ENOMEM|ETIMEDOUT)/;

/** Whether an error is worth trying again later (so the channel keeps the message) rather than quarantining. */
export function isTransient(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TRANSIENT_CODES.test(code)) return true;
  // A concurrent process committed the same message first: the next attempt sees the duplicate.
  if (typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT') && String((err as Error).message).includes('receipts.dedupe_key')) return true;
  return false;
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  return (typeof e?.code === 'string' ? `${e.code}: ` : '') + msg.split('\n')[0]!.slice(0, 300);
}

/**
 * Run one arrival through every stage to exactly one outcome, committed before this returns
 * (except `retry`, which commits nothing so the channel offers the message again).
 */
export async function runPipeline(ctx: AppContext, arrival: Arrival): Promise<Outcome> {
  const msg: Inbound = { arrival, notes: {} };
  const log = ctx.log.child({ component: 'pipeline', channel: arrival.channel, mailbox: arrival.mailbox.name });
  let outcome: Outcome;
  let stageName = 'start';
  try {
    let ended: { end: 'ignored' | 'quarantined'; reason: string; caseId: number | null; caseNumber: number | null } | null = null;
    for (const stage of DECIDE_STAGES) {
      stageName = stage.name;
      const verdict = await stage.run(msg, ctx);
      if ('end' in verdict) {
        ended = { end: verdict.end, reason: verdict.reason, caseId: verdict.caseRow?.id ?? null, caseNumber: verdict.caseRow?.number ?? null };
        break;
      }
    }
    if (ended !== null) {
      outcome = await recordEnding(ctx, msg, stageName, ended.end, ended.reason, ended.caseId, ended.caseNumber);
    } else {
      stageName = 'commit';
      outcome = await ctx.db.transaction().execute(async (trx) => {
        const dup = await primaryReceipt(trx, msg.notes.dedupeKey ?? '');
        if (dup !== undefined && dup.id !== arrival.retryOf) return null;
        for (const stage of COMMIT_STAGES) {
          stageName = stage.name;
          await stage.run(msg, ctx, trx);
        }
        await saveCheckpoint(trx, arrival, ctx.clock.now().toISOString());
        const p = msg.notes.persisted!;
        return {
          kind: 'stored',
          reason: p.created ? `new case (${msg.notes.thread?.rule})` : `${p.reopened ? 'reopened' : 'appended'} (${msg.notes.thread?.rule})`,
          caseId: p.caseRow.id,
          caseNumber: p.caseRow.number,
          receiptId: p.receiptId,
          created: p.created,
        } satisfies Outcome;
      }) ?? (await recordEnding(ctx, msg, 'dedupe', 'ignored', 'duplicate (committed concurrently)', null, null));
      ctx.outboxSignal.wake();
    }
  } catch (err) {
    if (isTransient(err)) {
      outcome = { kind: 'retry', reason: `${stageName}: ${describe(err)}` };
    } else {
      try {
        outcome = await recordEnding(ctx, msg, stageName, 'quarantined', `${stageName} failed: ${describe(err)}`, null, null);
        log.warn({ err, stage: stageName }, 'stage failed; message quarantined');
      } catch (recordErr) {
        outcome = { kind: 'retry', reason: `${stageName}: ${describe(err)}; and could not record quarantine: ${describe(recordErr)}` };
      }
    }
  }
  const p = msg.notes.parsed;
  log.info(
    {
      messageId: p?.messageId ?? null,
      sha256: arrival.raw.sha256,
      size: arrival.raw.size,
      outcome: outcome.kind,
      reason: outcome.reason,
      caseId: 'caseId' in outcome ? outcome.caseId : null,
      caseNumber: 'caseNumber' in outcome ? outcome.caseNumber : null,
      receiptId: 'receiptId' in outcome ? outcome.receiptId : null,
      rule: msg.notes.thread?.rule ?? null,
      automated: msg.notes.automated?.kind ?? null,
    },
    `message ${outcome.kind}`,
  );
  return outcome;
}

/** Write the receipt for an ignored or quarantined message (the raw bytes are already in the blob store). */
async function recordEnding(
  ctx: AppContext,
  msg: Inbound,
  stage: string,
  kind: 'ignored' | 'quarantined',
  reason: string,
  caseId: number | null,
  caseNumber: number | null,
): Promise<Outcome> {
  const { arrival, notes } = msg;
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
      duplicate_of: duplicateOf,
    });
    await saveCheckpoint(trx, arrival, ctx.clock.now().toISOString());
    if (isRetry && primary !== undefined) {
      // A retried quarantine that ends quarantined again keeps the key on the newest receipt.
      await supersede(trx, primary.id, id);
      await trx.updateTable('receipts').set({ is_primary: 1 }).where('id', '=', id).execute();
    }
    // A duplicate names the case its original went to.
    const linkedCase = caseId ?? (duplicateOf !== null ? (primary?.case_id ?? null) : null);
    const number = caseNumber ?? (linkedCase !== null ? ((await trx.selectFrom('cases').select('number').where('id', '=', linkedCase).executeTakeFirst())?.number ?? null) : null);
    return { id, caseId: linkedCase, caseNumber: number };
  });
  if (kind === 'quarantined') return { kind, reason, receiptId: receipt.id };
  return { kind, reason, caseId: receipt.caseId, caseNumber: receipt.caseNumber, receiptId: receipt.id };
}
