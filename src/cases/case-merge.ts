import type { Kysely, Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { continuedAs, moveCaseContent, type MovedContent } from '../db/repos/case-merge.js';
import { caseById, caseByNumber, lockCaseById, updateCase } from '../db/repos/cases.js';
import { addEvent } from '../db/repos/events.js';
import type { CaseRow, Database } from '../db/schema.js';
import { CaseCommandError } from './case-command-error.js';
import { firstResponseByMerge, isEnded, setStatus } from './lifecycle.js';
import { staffProven, type SenderClaim } from './participation.js';
import { staffMember } from './staff.js';

/**
 * Merging two cases that are one matter (a customer wrote twice, from two addresses, or a colleague
 * wrote about the same problem): `casegate cases merge M N`. Case M's messages (with their files),
 * its outgoing mail, its tags and its people move to case N, which goes on; M is closed without a
 * word to anyone and keeps its number. What names M later — our signed references in a reply to an
 * email of M, M's plus address, a subject tag "[Case #M]" — threads into N (pipeline/stages/
 * thread.ts follows `merged_into`), with the same rules of trust as before: a claim anyone can
 * copy (the tag, an unsigned reference) counts only from a participant, and M's participants are
 * N's now (M's requester as a copied participant when N has another). Its events stay on M (the
 * record of what happened there); N gets one saying what came in. An ended N is opened again when
 * an active case merges into it: the customer's matter is not done. M's SLA clocks stop with it,
 * N's go on — with M's first response as N's when N had none and M's came after N was opened. Not merged: a case into itself or into one that continues as it, feedback, into
 * suspected spam, suspected spam into a case (its sender would get that case's mail), a case
 * merged already.
 */

export interface MergeRequest {
  readonly actor: string;
  readonly reason: string;
}

export interface MergeOutcome {
  readonly source: CaseRow;
  readonly target: CaseRow;
  readonly moved: MovedContent;
  readonly summary: string;
}

/** Why these two cases are not merged, or null. `target` is the case `named` continues as (itself when not merged). */
export function mergeRefusal(source: CaseRow, target: CaseRow, named: number): string | null {
  if (source.merged_into !== null) return `case ${source.number} was merged already (it continues as another case: merge that one)`;
  if (source.id === target.id) return `case ${source.number} cannot be merged into itself${named !== source.number ? ` (case ${named} continues as it)` : ''}`;
  if (source.kind === 'feedback' || target.kind === 'feedback') return 'feedback is not merged (it is no case to work on)';
  if (target.spam !== 0) return `case ${target.number} is suspected spam: release it first (casegate cases ham ${target.number})`;
  // Its sender would join the case that goes on and get its mail.
  if (source.spam !== 0) return `case ${source.number} is suspected spam: merged, its sender would get case ${target.number}'s mail; release it first if it is a customer's (casegate cases ham ${source.number})`;
  return null;
}

/**
 * An agent's `#merge N` in their mail about `source` (cases/agent-commands.ts): the case it merges
 * into, or why not in words for the command-error email — the rules of mergeRefusal, and the agent
 * must be an agent (or lead) of the queue of the case that goes on, proven for that case as for
 * their own (sender authentication pass; an answer to our mail about `source` proves them for
 * `source` only). A merge works on that case too: it reopens it, and the merged case's people
 * join it and get its mail from then on — an agent of another queue may not work it by email
 * (pipeline/stages/agent-role.ts), nor should a mistyped number put a customer's mail before
 * another team. `casegate cases merge` (an administrator's command) has no such rule.
 */
export async function agentMergeTarget(db: Kysely<Database>, ctx: Pick<AppContext, 'config'>, sourceRow: CaseRow, into: number, sender: SenderClaim, o: { readonly lock: boolean }): Promise<{ readonly target: CaseRow } | { readonly refusal: string }> {
  const found = await caseByNumber(db, into);
  if (found === undefined) return { refusal: `there is no case ${into}` };
  // In the commit's transaction (lock): locked as mergeCases locks them, and read again — a merge
  // of either committed meanwhile is refused in words (mergeCases would fail the agent's mail).
  if (o.lock) for (const id of [sourceRow.id, found.id].sort((a, b) => a - b)) await lockCaseById(db, id);
  const source = (await caseById(db, sourceRow.id)) ?? sourceRow;
  const named = (await caseById(db, found.id)) ?? found;
  const target = await continuedAs(db, named);
  const refusal = mergeRefusal(source, target, into);
  if (refusal !== null) return { refusal };
  const admin = `ask an agent of queue ${target.queue}, or an administrator: casegate cases merge ${source.number} ${target.number}`;
  if (staffMember(ctx.config, target.queue, sender.address) === null) return { refusal: `case ${target.number} belongs to queue ${target.queue}, and ${sender.address} is no agent of it: ${admin}` };
  if (!staffProven(sender, target)) return { refusal: `your email proves who you are for case ${source.number} only (it answers our mail to you about it; nothing else proves its sender), not for case ${target.number}: ${admin}` };
  return { target };
}

export async function mergeCases(trx: Transaction<Database>, ctx: AppContext, sourceId: number, targetId: number, who: MergeRequest): Promise<MergeOutcome> {
  // Both rows locked, the lower id first (two merges of the same pair the other way round wait, never deadlock).
  for (const id of [sourceId, targetId].sort((a, b) => a - b)) await lockCaseById(trx, id);
  const source = await caseById(trx, sourceId);
  const named = await caseById(trx, targetId);
  if (source === undefined || named === undefined) throw new Error(`mergeCases: no case with id ${source === undefined ? sourceId : targetId}`);
  let target = await continuedAs(trx, named);
  const refusal = mergeRefusal(source, target, named.number);
  if (refusal !== null) throw new CaseCommandError(refusal);
  const at = ctx.clock.now().toISOString();
  const moved = await moveCaseContent(trx, source, target);
  const what = `${moved.messages} message(s), ${moved.outbox} outgoing email(s), ${moved.participants} participant(s), ${moved.tags} tag(s)`;
  const why = who.reason !== '' ? ` (${who.reason})` : '';
  await addEvent(trx, { caseId: source.id, type: 'case.merged', actor: who.actor, reason: `merged into case ${target.number}: ${what} moved there${why}`, data: { into: target.number, ...moved }, at });
  await addEvent(trx, { caseId: target.id, type: 'case.merged-in', actor: who.actor, reason: `case ${source.number} merged in: ${what}${why}`, data: { from: source.number, ...moved }, at });
  if (source.status !== 'closed') await setStatus(trx, ctx, source.id, 'closed', { actor: who.actor, reason: `merged into case ${target.number}` });
  // The customer's newest word and the newer activity are the target's now.
  const lastCustomer = [source.last_customer_at, target.last_customer_at].filter((t): t is string => t !== null).sort().at(-1) ?? null;
  target = await updateCase(trx, target.id, { updated_at: at, last_customer_at: lastCustomer });
  // The source's answer (read before the merge closed it), given after the target was opened, is
  // the target's first response too: its clock does not run on (and page the leads) for a
  // customer who had our answer in the thread that now goes on here.
  if (source.first_response_at !== null && target.first_response_at === null) {
    target = await firstResponseByMerge(trx, ctx, target.id, source.first_response_at, { actor: who.actor, reason: `answered in case ${source.number} (merged in)` });
  }
  if (!isEnded(source.status) && isEnded(target.status)) {
    target = (await setStatus(trx, ctx, target.id, 'open', { actor: who.actor, reason: `case ${source.number} (${source.status}) merged in` }))?.caseRow ?? target;
  }
  const merged = (await caseById(trx, source.id)) ?? source;
  ctx.log.info({ caseId: target.id, caseNumber: target.number, mergedCaseId: source.id, mergedCaseNumber: source.number, ...moved, actor: who.actor }, 'case merged');
  return { source: merged, target, moved, summary: `case ${source.number} merged into case ${target.number}: ${what} moved; case ${source.number} closed` };
}
