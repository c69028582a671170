import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { caseById, updateCase } from '../db/repos/cases.js';
import { addEvent } from '../db/repos/events.js';
import type { CaseRow, CaseStatus, Database } from '../db/schema.js';
import { onStatusChange } from './sla-clock.js';

/**
 * A minimal status change for issue 11's jobs (automatic close of pending and resolved cases) and
 * their tests: status, resolved_at/closed_at, a `case.status` event and the SLA hook, in the
 * caller's transaction. The case lifecycle (issue 10, src/cases/lifecycle.ts) owns status changes:
 * the lead routes this function through it when both are merged (same signature intended: before
 * the change is read here, so a concurrent change is seen).
 */
export async function changeStatusForJobs(
  trx: Transaction<Database>,
  ctx: AppContext,
  caseId: number,
  to: CaseStatus,
  who: { readonly actor: string; readonly reason: string },
): Promise<{ readonly before: CaseRow; readonly after: CaseRow; readonly changed: boolean }> {
  const before = await caseById(trx, caseId);
  if (before === undefined) throw new Error(`no case with id ${caseId}`);
  if (before.status === to) return { before, after: before, changed: false };
  const now = ctx.clock.now().toISOString();
  const reopening = (before.status === 'resolved' || before.status === 'closed') && to !== 'resolved' && to !== 'closed';
  let after = await updateCase(trx, caseId, {
    status: to,
    updated_at: now,
    ...(to === 'resolved' ? { resolved_at: now, closed_at: null } : {}),
    ...(to === 'closed' ? { closed_at: now, resolved_at: before.resolved_at ?? now } : {}),
    ...(reopening ? { resolved_at: null, closed_at: null } : {}),
  });
  await addEvent(trx, { caseId, type: 'case.status', actor: who.actor, reason: who.reason, data: { from: before.status, to }, at: now });
  after = await onStatusChange(trx, ctx, before, after, who.actor);
  ctx.log.info({ caseId, caseNumber: after.number, from: before.status, to, actor: who.actor, reason: who.reason }, 'case status changed');
  return { before, after, changed: true };
}
