import { sql, type Expression, type Kysely, type SqlBool } from 'kysely';
import type { SearchText } from '../../cases/search-text.js';
import { subjectKey } from '../../cases/subject-key.js';
import { caseMatches, type CaseWalk } from './search.js';
import { UNNAMED } from '../pg-named-statements.js';
import { isPostgres, takeCaseNumber } from '../dialect.js';
import { firstRowPrepared, placeholderRow, rowColumns, runPrepared } from '../prepared.js';
import type { CaseRow, CaseUpdate, Database, NewCase, ParticipantRole, ParticipantRow } from '../schema.js';

type Q = Kysely<Database>;

/**
 * The number of a new case: never handed out twice, whatever the backend and however many daemons
 * (see takeCaseNumber), and never again after its case was purged — a purged customer's signed
 * references and links name that number. SQLite: max + 1 under the write lock, past the
 * `case-number` counter, which records every number taken (migration 0019); PostgreSQL: a sequence.
 */
export async function nextCaseNumber(db: Q, first: number): Promise<number> {
  const n = await takeCaseNumber(db, first, async () => {
    const { rows } = await runPrepared(db, 'cases.maxNumberAndFloor', [], (q) =>
      q.selectFrom('cases').select((eb) => [eb.fn.max('number').as('max'), eb.selectFrom('counters').select('value').where('name', '=', CASE_NUMBER_COUNTER).as('floor')]),
    );
    const found = [rows[0]?.max, rows[0]?.floor].filter((v) => v !== null && v !== undefined).map(Number);
    return found.length === 0 ? null : Math.max(...found);
  });
  if (!isPostgres(db)) {
    await runPrepared(db, 'counters.caseNumber', [n], (q, [p]) =>
      q
        .insertInto('counters')
        .values({ name: CASE_NUMBER_COUNTER, value: p as number })
        .onConflict((oc) => oc.column('name').doUpdateSet({ value: p as number })),
    );
  }
  return n;
}

const CASE_NUMBER_COUNTER = 'case-number';

/** The highest case number handed out so far (the cases there, or the counter past purged ones), 0 for none. SQLite. */
export async function highestCaseNumber(db: Q): Promise<number> {
  const row = await db
    .selectFrom('cases')
    .select((eb) => [eb.fn.max('number').as('max'), eb.selectFrom('counters').select('value').where('name', '=', CASE_NUMBER_COUNTER).as('floor')])
    .executeTakeFirst();
  return Math.max(Number(row?.max ?? 0), Number(row?.floor ?? 0));
}

/** New cases take numbers above `highest` from now on (SQLite; never lowers the counter). */
export async function raiseCaseNumberFloor(db: Q, highest: number): Promise<void> {
  await db
    .insertInto('counters')
    .values({ name: CASE_NUMBER_COUNTER, value: highest })
    .onConflict((oc) => oc.column('name').doUpdateSet({ value: highest }).where('counters.value', '<', highest))
    .execute();
}

/** How many cases were opened in [from, to) (ISO instants). */
export async function casesOpenedBetween(db: Q, from: string, to: string): Promise<number> {
  const row = await db.selectFrom('cases').select((eb) => eb.fn.countAll<number>().as('n')).where('created_at', '>=', from).where('created_at', '<', to).executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** A new case; its subject_key is computed here from its subject (cases/subject-key.ts). */
export async function insertCase(db: Q, values: Omit<NewCase, 'subject_key'>): Promise<CaseRow> {
  const { columns, values: v } = rowColumns({ ...values, subject_key: subjectKey(values.subject) });
  return firstRowPrepared(db, `cases.insert:${columns.join(',')}`, v, (q, p) => q.insertInto('cases').values(placeholderRow(columns, p) as NewCase).returningAll());
}

export async function updateCase(db: Q, id: number, values: CaseUpdate): Promise<CaseRow> {
  return db.updateTable('cases').set(values).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

export async function caseById(db: Q, id: number): Promise<CaseRow | undefined> {
  return (await runPrepared(db, 'cases.byId', [id], (q, [p]) => q.selectFrom('cases').selectAll().where('id', '=', p as number))).rows[0];
}

/**
 * A case, locked for the rest of the transaction: a job deciding about it (remind, close, alert)
 * waits for a change being written (a customer's reply) and then sees it. PostgreSQL: FOR UPDATE;
 * SQLite: the transaction's write lock already serialises.
 */
export async function lockCaseById(db: Q, id: number): Promise<CaseRow | undefined> {
  if (!isPostgres(db)) return caseById(db, id);
  return db.selectFrom('cases').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** A case's number, or null when there is no such case. */
export async function caseNumberOf(db: Q, id: number): Promise<number | null> {
  return (await db.selectFrom('cases').select('number').where('id', '=', id).executeTakeFirst())?.number ?? null;
}

/**
 * Raise a case's escalation level, on the condition that it is still `from` (read by the caller in
 * the same transaction): the updated case, or undefined when another writer changed the level first.
 */
export async function raiseEscalationLevel(db: Q, id: number, from: number, to: number, at: string): Promise<CaseRow | undefined> {
  return db
    .updateTable('cases')
    .set({ escalation_level: to, escalated: 1, escalated_at: at, updated_at: at })
    .where('id', '=', id)
    .where('escalation_level', '=', from)
    .returningAll()
    .executeTakeFirst();
}

export async function caseByNumber(db: Q, number: number): Promise<CaseRow | undefined> {
  return db.selectFrom('cases').selectAll().where('number', '=', number).executeTakeFirst();
}

export interface CaseListFilter {
  readonly status?: readonly string[];
  readonly queue?: string;
  readonly kind?: CaseRow['kind'];
  /** Only cases owned by one of these addresses (an agent's address and aliases). */
  readonly owner?: readonly string[];
  /** Only cases without an owner. */
  readonly unowned?: boolean;
  readonly escalated?: boolean;
  /**
   * Only cases still being worked (new, open, pending, on hold) with an SLA target due at or before
   * this time: the first response not yet given and due, or the resolution due (paused: not due).
   */
  readonly dueBy?: string;
  /** true: only suspected spam; false: none of it; undefined: both. */
  readonly spam?: boolean;
  /** Only these priorities (names as stored). */
  readonly priority?: readonly string[];
  /** Only cases with this tag. */
  readonly tag?: string;
  /** Only cases of this requester: the spellings of one address, or of one "@domain" (every address of it); lower case. */
  readonly requester?: readonly string[];
  /** Only cases with a message that contains every word (repos/search.ts). */
  readonly search?: SearchText;
  readonly limit?: number;
  /**
   * Most urgent first: the priority levels with their order (smaller = more severe; unknown
   * priorities come last), then the higher escalation level. Within that (and without levels)
   * the newest case first.
   */
  readonly priorityOrder?: readonly { readonly name: string; readonly order: number }[];
}

/**
 * "@domain" of a case's requester: the address from its last @ on (rtrim strips every character
 * other than @ from the right). Word for word the expression of the index cases_requester_domain
 * (migration 0026), so `--requester @domain` reads that index instead of every case.
 */
const REQUESTER_DOMAIN = sql<string>`substr(requester_address, length(rtrim(requester_address, replace(requester_address, '@', ''))))`;

/**
 * The cases with these ids: a join with the array (estimated small, so read by key whatever its
 * size), unnamed (the statement is this search's own).
 */
const inIds = (ids: readonly number[]) => sql<SqlBool>`(${sql.raw(UNNAMED)} cases.id in (select unnest(${[...ids]}::int8[])))`;

/** lower(priority): word for word the expression of the index cases_priority_list (migration 0027). */
const PRIORITY = sql<string>`lower(priority)`;

export async function listCases(db: Q, filter: CaseListFilter = {}): Promise<CaseRow[]> {
  const limit = filter.limit ?? 50;
  const levels = filter.priorityOrder ?? [];
  const filtered = (extra: Expression<SqlBool> | null) => {
    let q = db.selectFrom('cases');
    if (filter.status !== undefined && filter.status.length > 0) q = q.where('status', 'in', [...filter.status] as CaseRow['status'][]);
    if (filter.queue !== undefined) q = q.where('queue', '=', filter.queue);
    if (filter.kind !== undefined) q = q.where('kind', '=', filter.kind);
    if (filter.owner !== undefined) q = q.where('owner', 'in', [...filter.owner]);
    if (filter.unowned === true) q = q.where('owner', 'is', null);
    if (filter.escalated !== undefined) q = q.where('escalated', '=', filter.escalated ? 1 : 0);
    if (filter.dueBy !== undefined) {
      const by = filter.dueBy;
      q = q
        .where('status', 'in', ['new', 'open', 'pending', 'on_hold'])
        .where((eb) => eb.or([eb.and([eb('first_response_at', 'is', null), eb('first_response_due_at', '<=', by)]), eb('resolution_due_at', '<=', by)]));
    }
    // A literal: `cases list --spam` walks the partial index cases_spam (0033), whose condition it repeats.
    if (filter.spam !== undefined) q = q.where('cases.spam', '=', sql.lit(filter.spam ? 1 : 0));
    if (filter.priority !== undefined && filter.priority.length > 0) q = q.where('priority', 'in', [...filter.priority]);
    if (filter.tag !== undefined) {
      const tag = filter.tag;
      q = q.where((eb) => eb.exists(eb.selectFrom('case_tags').select('case_tags.case_id').whereRef('case_tags.case_id', '=', 'cases.id').where('case_tags.tag', '=', tag)));
    }
    if (filter.requester !== undefined) {
      const spellings = [...filter.requester];
      // Addresses are stored in lower case (address-form.ts); a domain is what follows the last @.
      q = spellings.every((r) => r.startsWith('@'))
        ? q.where(REQUESTER_DOMAIN, 'in', spellings)
        : q.where('requester_address', 'in', spellings);
    }
    if (extra !== null) q = q.where(extra);
    return q;
  };
  /** lower(priority) → its order (smaller first; priorities of no level after them all). */
  const priorityKey = sql`case ${PRIORITY} ${sql.join(levels.map((l) => sql`when ${l.name.toLowerCase()} then ${l.order}`), sql` `)} else ${Number.MAX_SAFE_INTEGER} end`;
  /** All of the list's order in one statement (the planner sorts what the condition gives). */
  const inOrder = (extra: Expression<SqlBool> | null, n: number) => {
    let q = filtered(extra).selectAll();
    if (levels.length > 0) q = q.orderBy(priorityKey).orderBy('escalation_level', 'desc');
    return q.orderBy('number', 'desc').limit(n).execute();
  };
  /**
   * The first `n` cases of the list, as `run` reads them (a condition, how many; in the order of
   * escalation level and number). Sorted by priority: one statement per level, most urgent first,
   * until there are `n` (each reads cases_priority_list in its order and stops there), then the
   * priorities of no level. Sorting every case by the levels' CASE took 0.6–1 s at 250,000 cases
   * for a plain `cases list`.
   */
  const firstInOrder = async <T>(extra: Expression<SqlBool> | null, n: number, run: (where: Expression<SqlBool> | null, n: number) => Promise<T[]>): Promise<T[]> => {
    if (levels.length === 0) return run(extra, n);
    const names = (ls: readonly { readonly name: string }[]) => [...new Set(ls.map((l) => l.name.toLowerCase()))];
    const orders = [...new Set(levels.map((l) => l.order))].sort((a, b) => a - b);
    const groups = [...orders.map((o) => sql<SqlBool>`${PRIORITY} in (${sql.join(names(levels.filter((l) => l.order === o)))})`), sql<SqlBool>`${PRIORITY} not in (${sql.join(names(levels))})`];
    const out: T[] = [];
    for (const group of groups) {
      if (out.length >= n) break;
      out.push(...(await run(extra === null ? group : sql<SqlBool>`(${extra} and ${group})`, n - out.length)));
    }
    return out;
  };
  const levelOrder = <O extends { orderBy: (c: 'escalation_level' | 'number', d: 'desc') => O }>(q: O): O => (levels.length > 0 ? q.orderBy('escalation_level', 'desc') : q).orderBy('number', 'desc');
  const rows = (where: Expression<SqlBool> | null, n: number) => levelOrder(filtered(where).selectAll()).limit(n).execute();
  const ids = async (where: Expression<SqlBool> | null, n: number) => (await levelOrder(filtered(where).select('cases.id')).limit(n).execute()).map((r) => Math.trunc(Number(r.id)));
  /** A walk of a search (repos/search.ts): its cases in list order, probed a chunk at a time; null when its window did not fill the list. */
  const walkCases = async (walk: CaseWalk): Promise<CaseRow[] | null> => {
    if (walk.cases !== null && walk.cases.length === 0) return [];
    const only = walk.cases === null ? null : inIds(walk.cases);
    const order = await firstInOrder(only, walk.window ?? walk.cases?.length ?? limit, ids);
    const out: CaseRow[] = [];
    // Chunks grow (2, 8, 32 … lists' worth): a dense search probes little more than the list.
    for (let i = 0, size = 2 * limit; i < order.length && out.length < limit; i += size, size *= 4) {
      const chunk = inIds(order.slice(i, i + size));
      out.push(...(await inOrder(walk.probe === null ? chunk : sql<SqlBool>`(${chunk} and ${walk.probe})`, limit - out.length)));
    }
    return out.length >= limit || walk.window === null || order.length < walk.window ? out : null;
  };
  if (filter.search === undefined) return firstInOrder(null, limit, rows);
  const match = await caseMatches(db, filter.search, limit);
  for (const next of match.walks ?? []) {
    const walk = await next();
    const rows = walk === null ? null : await walkCases(walk);
    if (rows !== null) return rows;
  }
  return inOrder(await match.where(), limit);
}

export async function addParticipant(db: Q, caseId: number, address: string, name: string, role: ParticipantRole, at: string): Promise<void> {
  await runPrepared(db, 'case_participants.add', [caseId, address, name, role, at], (q, [id, a, n, r, t]) =>
    q
      .insertInto('case_participants')
      .values({ case_id: id as number, address: a as string, name: n as string, role: r as ParticipantRole, created_at: t as string })
      .onConflict((oc) => oc.columns(['case_id', 'address']).doNothing()),
  );
}

/** Stop copying an address (never the requester); whether it was a participant. */
export async function removeParticipant(db: Q, caseId: number, address: string): Promise<boolean> {
  const r = await db.deleteFrom('case_participants').where('case_id', '=', caseId).where('address', '=', address).where('role', '!=', 'requester').executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** A participant of the case by its id (what a per-recipient case link names); undefined once removed. */
export async function participantById(db: Q, caseId: number, id: number): Promise<ParticipantRow | undefined> {
  return db.selectFrom('case_participants').selectAll().where('case_id', '=', caseId).where('id', '=', id).executeTakeFirst();
}

/** A participant of the case by address (compared without case: mail may spell it either way). */
export async function participantByAddress(db: Q, caseId: number, address: string): Promise<ParticipantRow | undefined> {
  return db
    .selectFrom('case_participants')
    .selectAll()
    .where('case_id', '=', caseId)
    .where(sql<string>`lower(address)`, '=', address.toLowerCase())
    .orderBy('id')
    .executeTakeFirst();
}

export async function participants(db: Q, caseId: number): Promise<ParticipantRow[]> {
  return db.selectFrom('case_participants').selectAll().where('case_id', '=', caseId).orderBy('id').execute();
}

/** Whether the address takes part in the case (`exceptRole`: not counting that role, e.g. agents). */
export async function isParticipant(db: Q, caseId: number, address: string, o: { readonly exceptRole?: ParticipantRole } = {}): Promise<boolean> {
  let q = db.selectFrom('case_participants').select('id').where('case_id', '=', caseId).where('address', '=', address);
  if (o.exceptRole !== undefined) q = q.where('role', '!=', o.exceptRole);
  return (await q.executeTakeFirst()) !== undefined;
}

/**
 * Her cases of one subject: its key (cases/subject-key.ts, computed in TypeScript: the same on
 * SQLite and PostgreSQL, any script's case, NFKC) against cases.subject_key, which
 * cases_requester_subject holds (0038; 0035 held lower(subject): ASCII-only on SQLite).
 */
const ofSubject = (subject: string) => sql<SqlBool>`cases.subject_key = ${subjectKey(subject)}`;

/**
 * The newest cases (at most `limit`, by when they were opened) a requester opened with the subject
 * `subject` (the caller's normalisation; compared by its key, cases/subject-key.ts): what a forward of that
 * requester's message may be about (stages/thread.ts). On cases_requester_subject (0038): only her
 * cases of that subject are read, however many cases she has; the same instant: the higher id first.
 */
export async function requesterCasesBySubject(db: Q, requester: string, subject: string, limit = 20): Promise<CaseRow[]> {
  return requesterCasesBySubjectQuery(db, requester, subject, limit).execute();
}

/** The statement of requesterCasesBySubject, unrun (bench/forward-lookup.ts plans it). */
export function requesterCasesBySubjectQuery(db: Q, requester: string, subject: string, limit = 20) {
  return db.selectFrom('cases').selectAll().where('requester_address', '=', requester).where(ofSubject(subject)).where('kind', '=', sql.lit('case')).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit);
}

/**
 * Her inbound messages Dated within [sent.from, sent.to) on her own cases (she is the requester) of
 * that subject — a forwarded message by its Date, on a case of any age, opened whenever: its first
 * message or a reply weeks later (at most `limit`). On messages_from_sent (0038): her messages of
 * those hours, then each one's case by its key; never her whole history, nor a case of that
 * subject someone else opened (where she may have written too).
 */
export async function requesterSubjectMessagesSent(
  db: Q,
  requester: string,
  subject: string,
  sent: { readonly from: string; readonly to: string },
  limit = 1_000,
): Promise<{ case_id: number; sent_at: string | null }[]> {
  return requesterSubjectMessagesSentQuery(db, requester, subject, sent, limit).execute();
}

/** The statement of requesterSubjectMessagesSent, unrun (bench/forward-lookup.ts plans it). */
export function requesterSubjectMessagesSentQuery(db: Q, requester: string, subject: string, sent: { readonly from: string; readonly to: string }, limit = 1_000) {
  return db
    .selectFrom('messages')
    .innerJoin('cases', 'cases.id', 'messages.case_id')
    .select(['messages.case_id', 'messages.sent_at'])
    .where('messages.from_address', '=', requester)
    // Literals: messages_from_sent is partial on them (SQLite uses it only when the query says so).
    .where('messages.direction', '=', sql.lit('in'))
    .where('messages.sent_at', '>=', sent.from)
    .where('messages.sent_at', '<', sent.to)
    .where('cases.requester_address', '=', requester)
    .where(ofSubject(subject))
    .where('cases.kind', '=', sql.lit('case'))
    .limit(limit);
}
