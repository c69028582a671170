import type { Kysely } from 'kysely';
import type { Database, MessageRow } from '../schema.js';

type Q = Kysely<Database>;

/** Our outgoing mail on these cases: its visible text and recipients (to tell our wording quoted back from the customer's). */
export async function outgoingTexts(db: Q, caseIds: readonly number[]): Promise<Pick<MessageRow, 'visible_text' | 'to_json'>[]> {
  if (caseIds.length === 0) return [];
  return db.selectFrom('messages').select(['visible_text', 'to_json']).where('case_id', 'in', [...caseIds]).where('direction', '=', 'out').execute();
}

/** The visible text of the newest inbound messages from this address on these cases, newest first. */
export async function inboundTextsFrom(db: Q, caseIds: readonly number[], address: string, limit: number): Promise<string[]> {
  if (caseIds.length === 0) return [];
  const rows = await db
    .selectFrom('messages')
    .select('visible_text')
    .where('case_id', 'in', [...caseIds])
    .where('direction', '=', 'in')
    .where('from_address', '=', address)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => r.visible_text);
}

/** Subject of every message (in and out) of the case. */
export async function subjectsOfCase(db: Q, caseId: number): Promise<string[]> {
  const rows = await db.selectFrom('messages').select('subject').where('case_id', '=', caseId).execute();
  return rows.map((r) => r.subject);
}

/** The newest inbound human (not automated, not staff-only) messages of the case, newest first. */
export async function recentHumanMessages(db: Q, caseId: number, limit: number): Promise<MessageRow[]> {
  return db
    .selectFrom('messages')
    .selectAll()
    .where('case_id', '=', caseId)
    .where('direction', '=', 'in')
    .where('automated', 'is', null)
    .where('internal', '=', 0)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}

/** The newest inbound human (not automated) message of the case. */
export async function lastHumanMessage(db: Q, caseId: number): Promise<MessageRow | undefined> {
  return (await recentHumanMessages(db, caseId, 1))[0];
}

/** When an event of this type with data.trigger = `trigger` was last written for the case, or null. */
export async function lastEventWithTrigger(db: Q, caseId: number, type: string, trigger: string, since: string): Promise<string | null> {
  // Newest first along events_case (case_id, id); `since` is checked here, not in SQL: with it
  // there the planner takes events_type_time (type, created_at) and sorts every event of the type.
  const rows = await db.selectFrom('events').select(['data_json', 'created_at']).where('case_id', '=', caseId).where('type', '=', type).orderBy('id', 'desc').execute();
  for (const r of rows) {
    if (r.created_at < since) break;
    const data = JSON.parse(r.data_json) as { trigger?: unknown };
    if (data.trigger === trigger) return r.created_at;
  }
  return null;
}

/**
 * When staff (anyone but a customer: an agent, a lead, the CLI, a rule) last wrote an event of
 * this type on the case, at `since` or later; null when none did.
 */
export async function lastStaffEvent(db: Q, caseId: number, type: string, since: string): Promise<string | null> {
  // Along events_case (case_id, id), newest first, as lastEventWithTrigger.
  const rows = await db.selectFrom('events').select(['actor', 'created_at']).where('case_id', '=', caseId).where('type', '=', type).orderBy('id', 'desc').execute();
  for (const r of rows) {
    if (r.created_at < since) break;
    if (!r.actor.startsWith('customer:')) return r.created_at;
  }
  return null;
}
