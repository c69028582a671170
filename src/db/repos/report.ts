import { sql, type Kysely } from 'kysely';
import type { CaseStatus, Database, Flag } from '../schema.js';
import { OPEN_CASE } from './ops.js';

/**
 * The report's queries (issue 11). Each is a range over an indexed time column or the status
 * index (migration 0009; test/unit/query-plans.test.ts checks every plan, with and without
 * statistics); an optional queue narrows each of them. kind and spam are literals: no index leads
 * with them (0033), and partial indexes name them (cases_open, cases_spam).
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
  let q = db.selectFrom('cases').select(['queue', (eb) => eb.fn.countAll<number>().as('n')]).where(column, '>=', r.from).where(column, '<', r.to).where('kind', '=', sql.lit('case')).where('spam', '=', sql.lit(0));
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
  // Each case's clock by key, one correlated look-up a case. As a join, PostgreSQL read the whole
  // of case_sla into a hash for a week's cases (8,000 pages, 0.4–1 s at 1 M messages, under load):
  // it estimates a few thousand key probes above a scan of a table that size, a cost that grows
  // with the history. The look-up returns both values in one integer, null when the case has no
  // clocks: business seconds × 4 + met (0, 1; 2 for none), seconds -1 for none.
  let q = db
    .selectFrom('cases')
    .select((eb) => [
      'cases.queue',
      'cases.priority',
      eb.selectFrom('case_sla').select(sql<number>`coalesce(fr_business_sec, -1) * 4 + coalesce(fr_met, 2)`.as('v')).whereRef('case_sla.case_id', '=', 'cases.id').as('clock'),
    ])
    .where('cases.first_response_at', 'is not', null)
    .where('cases.first_response_at', '>=', r.from)
    .where('cases.first_response_at', '<', r.to)
    .where('cases.merged_into', 'is', null)
    .where('cases.spam', '=', sql.lit(0));
  if (r.queue !== undefined) q = q.where('cases.queue', '=', r.queue);
  // A case without clocks is not measured, as in the join before.
  return (await q.execute()).flatMap((x) => {
    if (x.clock === null) return [];
    const v = Number(x.clock);
    const met = ((v % 4) + 4) % 4;
    const sec = (v - met) / 4;
    return [{ queue: x.queue, priority: x.priority, sec: sec < 0 ? null : sec, met: met === 2 ? null : (met as Flag) }];
  });
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
    .where('cases.spam', '=', sql.lit(0));
  if (r.queue !== undefined) q = q.where('cases.queue', '=', r.queue);
  return q.execute();
}

export interface BacklogCount {
  readonly queue: string;
  readonly status: string;
  readonly priority: string;
  /** The index of the age bracket its opening time falls in: 0 when after `openedAfter[0]`, … `openedAfter.length` when before all. */
  readonly age: number;
  readonly n: number;
}

/**
 * Open cases (not feedback, not suspected spam) counted by queue, status, priority and age (the
 * backlog now): `openedAfter` are the brackets' bounds, newest first (a case opened after the first
 * is in bracket 0). A read of the partial index cases_open alone (0032; its condition OPEN_CASE):
 * until 2026-12-07 every open case's row was read and returned (0.8–1.3 s at 1 M messages).
 */
export async function openCases(db: Q, openedAfter: readonly string[], queue?: string): Promise<BacklogCount[]> {
  const age = openedAfter.length === 0 ? sql<number>`0` : sql<number>`case ${sql.join(openedAfter.map((t, i) => sql`when "created_at" > ${t} then ${sql.lit(i)}`), sql` `)} else ${sql.lit(openedAfter.length)} end`;
  let q = db
    .selectFrom('cases')
    .select(['queue', 'status', 'priority', age.as('age'), (eb) => eb.fn.countAll<number>().as('n')])
    .where('status', 'in', [...ACTIVE_STATUSES])
    .where(OPEN_CASE);
  if (queue !== undefined) q = q.where('queue', '=', queue);
  const rows = await q.groupBy(['queue', 'status', 'priority', 'age']).execute();
  return rows.map((r) => ({ queue: r.queue, status: r.status, priority: r.priority, age: Number(r.age), n: Number(r.n) }));
}

/**
 * Cases opened in the range by mail our MX called spam and still held as such (not released with
 * `casegate cases ham`): reported apart, not as opened cases or backlog.
 */
export async function suspectedSpamOpened(db: Q, r: Range): Promise<number> {
  let q = db.selectFrom('cases').select((eb) => eb.fn.countAll<number>().as('n')).where('created_at', '>=', r.from).where('created_at', '<', r.to).where('kind', '=', sql.lit('case')).where('spam', '=', sql.lit(1));
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
