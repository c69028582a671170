import type { Kysely } from 'kysely';
import type { CaseRow, Database } from '../schema.js';

type Q = Kysely<Database>;

/** Visible text of the newest agent reply on the case (what we asked the customer), or ''. */
export async function lastAgentReplyText(db: Q, caseId: number): Promise<string> {
  const row = await db
    .selectFrom('messages')
    .innerJoin('outbox', 'outbox.id', 'messages.outbox_id')
    .select('messages.visible_text')
    .where('messages.case_id', '=', caseId)
    .where('messages.direction', '=', 'out')
    .where('outbox.kind', '=', 'agent-reply')
    .orderBy('messages.id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.visible_text ?? '';
}

/** How the requester's own messages on a case reached us (the survey asks only someone who really wrote to us). */
export interface RequesterMessage {
  readonly automated: string | null;
  readonly spam: number;
  readonly sender_auth: string | null;
}

/** The inbound messages of a case from its requester (the first `limit`, oldest first). */
export async function requesterMessages(db: Q, caseId: number, address: string, limit = 50): Promise<RequesterMessage[]> {
  return db
    .selectFrom('messages')
    .select(['messages.automated', 'messages.spam', 'messages.sender_auth'])
    .where('messages.case_id', '=', caseId)
    .where('messages.direction', '=', 'in')
    .where('messages.from_address', '=', address)
    .orderBy('messages.id')
    .limit(limit)
    .execute();
}

/** Resolved cases whose resolution is older than `before` (resolved → closed). */
export async function resolvedBefore(db: Q, before: string, limit: number): Promise<CaseRow[]> {
  return db.selectFrom('cases').selectAll().where('status', '=', 'resolved').where('resolved_at', '<=', before).orderBy('resolved_at').limit(limit).execute();
}

/**
 * Cases resolved in [from, to] that have not had their survey yet (no survey claim), oldest
 * first. Feedback is never surveyed.
 */
export async function dueForSurvey(db: Q, from: string, to: string, limit: number): Promise<CaseRow[]> {
  return db
    .selectFrom('cases')
    .selectAll('cases')
    .where('cases.resolved_at', '>=', from)
    .where('cases.resolved_at', '<=', to)
    .where('cases.kind', '=', 'case')
    .where('cases.status', 'in', ['resolved', 'closed'])
    // A merged case was closed by the merge: its matter goes on in the case it was merged into.
    .where('cases.merged_into', 'is', null)
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('job_claims').select('job_claims.id').where('job_claims.job', '=', 'survey').whereRef('job_claims.case_id', '=', 'cases.id').where('job_claims.claim_key', '=', 'survey'))),
    )
    .orderBy('cases.resolved_at')
    .limit(limit)
    .execute();
}
