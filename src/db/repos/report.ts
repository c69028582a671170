import type { Kysely } from 'kysely';
import type { CaseStatus, Database } from '../schema.js';

/**
 * The report's queries (issue 11). Each is a range over an indexed time column or the status
 * index (migration 0009; test/unit/query-plans.test.ts checks every plan); an optional queue
 * narrows each of them.
 */

type Q = Kysely<Database>;

export interface Range {
  readonly from: string;
  readonly to: string;
  readonly queue?: string | undefined;
}

export const ACTIVE_STATUSES: readonly CaseStatus[] = ['new', 'open', 'pending', 'on_hold'];

export interface QueueCount {
  readonly queue: string;
  readonly n: number;
}

/**
 * Cases (not feedback, not suspected spam) per queue whose `column` falls in the range. A merged
 * case was opened, but the merge that closed it resolved nothing (its matter goes on in another).
 */
export async function countCasesBy(db: Q, column: 'created_at' | 'resolved_at' | 'closed_at', r: Range): Promise<QueueCount[]> {
  let q = db.selectFrom('cases').select(['queue', (eb) => eb.fn.countAll<number>().as('n')]).where(column, '>=', r.from).where(column, '<', r.to).where('kind', '=', 'case').where('spam', '=', 0);
  if (column !== 'created_at') q = q.where('merged_into', 'is', null);
  if (r.queue !== undefined) q = q.where('queue', '=', r.queue);
  const rows = await q.groupBy('queue').execute();
  return rows.map((x) => ({ queue: x.queue, n: Number(x.n) }));
}

/** Events of a type in the range, with their case's queue, number, priority and subject. */
export async function eventsInRange(db: Q, type: string, r: Range) {
  let q = db
    .selectFrom('events')
    .innerJoin('cases', 'cases.id', 'events.case_id')
    .select(['events.data_json', 'events.created_at', 'cases.queue', 'cases.number', 'cases.priority', 'cases.subject'])
    .where('events.type', '=', type)
    .where('events.created_at', '>=', r.from)
    .where('events.created_at', '<', r.to);
  if (r.queue !== undefined) q = q.where('cases.queue', '=', r.queue);
  // Events of one job run share their time (the SLA check's breaches), and on PostgreSQL the job
  // handles several cases at once, so their ids come in any order: the case number orders them,
  // the id a case's own events.
  return q.orderBy('events.created_at').orderBy('cases.number').orderBy('events.id').execute();
}

/**
 * First responses (cases.first_response_at) in the range: business seconds, met, priority. Merged
 * cases are measured in the case they continue as; suspected spam (closed unanswered, its clocks
 * stopped "missed") was never a customer's case, as in the counts.
 */
export async function firstResponsesInRange(db: Q, r: Range) {
  let q = db
    .selectFrom('cases')
    .innerJoin('case_sla', 'case_sla.case_id', 'cases.id')
    .select(['cases.queue', 'cases.priority', 'case_sla.fr_business_sec as sec', 'case_sla.fr_met as met'])
    .where('cases.first_response_at', 'is not', null)
    .where('cases.first_response_at', '>=', r.from)
    .where('cases.first_response_at', '<', r.to)
    .where('cases.merged_into', 'is', null)
    .where('cases.spam', '=', 0);
  if (r.queue !== undefined) q = q.where('cases.queue', '=', r.queue);
  return q.execute();
}

/** Resolution clocks that stopped in the range (not of merged cases nor suspected spam). */
export async function resolutionsInRange(db: Q, r: Range) {
  let q = db
    .selectFrom('case_sla')
    .innerJoin('cases', 'cases.id', 'case_sla.case_id')
    .select(['cases.queue', 'cases.priority', 'case_sla.res_business_sec as sec', 'case_sla.res_met as met'])
    .where('case_sla.res_done_at', 'is not', null)
    .where('case_sla.res_done_at', '>=', r.from)
    .where('case_sla.res_done_at', '<', r.to)
    .where('cases.merged_into', 'is', null)
    .where('cases.spam', '=', 0);
  if (r.queue !== undefined) q = q.where('cases.queue', '=', r.queue);
  return q.execute();
}

/** Open cases (not feedback, not suspected spam) by queue, status, priority and opening time (backlog now). */
export async function openCases(db: Q, queue?: string) {
  let q = db.selectFrom('cases').select(['queue', 'status', 'priority', 'created_at']).where('status', 'in', [...ACTIVE_STATUSES]).where('kind', '=', 'case').where('spam', '=', 0);
  if (queue !== undefined) q = q.where('queue', '=', queue);
  return q.execute();
}

/**
 * Cases opened in the range by mail our MX called spam and still held as such (not released with
 * `casegate cases ham`): reported apart, not as opened cases or backlog.
 */
export async function suspectedSpamOpened(db: Q, r: Range): Promise<number> {
  let q = db.selectFrom('cases').select((eb) => eb.fn.countAll<number>().as('n')).where('created_at', '>=', r.from).where('created_at', '<', r.to).where('kind', '=', 'case').where('spam', '=', 1);
  if (r.queue !== undefined) q = q.where('queue', '=', r.queue);
  return Number((await q.executeTakeFirst())?.n ?? 0);
}

/** Survey ratings given in the range. */
export async function ratingsInRange(db: Q, r: Range) {
  let q = db
    .selectFrom('survey_responses')
    .innerJoin('cases', 'cases.id', 'survey_responses.case_id')
    .select(['cases.queue', 'survey_responses.rating'])
    .where('survey_responses.rated_at', 'is not', null)
    .where('survey_responses.rated_at', '>=', r.from)
    .where('survey_responses.rated_at', '<', r.to);
  if (r.queue !== undefined) q = q.where('cases.queue', '=', r.queue);
  return q.execute();
}

/** Feedback messages (feedback queues) that arrived in the range, newest first. */
export async function feedbackInRange(db: Q, r: Range) {
  let q = db
    .selectFrom('cases')
    .select(['queue', 'number', 'requester_address', 'subject', 'created_at'])
    .where('created_at', '>=', r.from)
    .where('created_at', '<', r.to)
    .where('kind', '=', 'feedback');
  if (r.queue !== undefined) q = q.where('queue', '=', r.queue);
  return q.orderBy('created_at', 'desc').execute();
}
