import { sql, type ExpressionBuilder, type Kysely } from 'kysely';
import { lockKey } from '../dialect.js';
import { runPrepared } from '../prepared.js';
import type { Database, EventRow } from '../schema.js';

type Q = Kysely<Database>;

export interface NewEvent {
  readonly caseId: number | null;
  readonly messageRowId?: number | null;
  readonly type: string;
  readonly actor: string;
  readonly reason: string;
  readonly data?: Record<string, unknown>;
  readonly at: string;
}

export async function addEvent(db: Q, e: NewEvent): Promise<void> {
  const values = [e.caseId, e.messageRowId ?? null, e.type, e.actor, e.reason, JSON.stringify(e.data ?? {}), e.at];
  await runPrepared(db, 'events.add', values, (q, [caseId, messageRowId, type, actor, reason, data, at]) =>
    q.insertInto('events').values({
      case_id: caseId as number | null,
      message_row_id: messageRowId as number | null,
      type: type as string,
      actor: actor as string,
      reason: reason as string,
      data_json: data as string,
      created_at: at as string,
    }),
  );
}

export async function eventsOfCase(db: Q, caseId: number): Promise<EventRow[]> {
  return db.selectFrom('events').selectAll().where('case_id', '=', caseId).orderBy('id').execute();
}

/**
 * Events of the case or of a case merged into it (cases/case-merge.ts): a merge moves the merged
 * case's people and mail but leaves its events where they happened, and whom an agent took off
 * that case (`participant.removed`) must stay off the case that goes on (index cases_merged_into).
 */
const inCaseOrMergedIn =
  (caseId: number) =>
  (eb: ExpressionBuilder<Database, 'events'>) =>
    eb.or([eb('case_id', '=', caseId), eb('case_id', 'in', eb.selectFrom('cases').select('cases.id').where('cases.merged_into', '=', caseId))]);

/**
 * Those of `addresses` (lower-case) an agent took off the case (or a case merged into it) since `since` (`participant.removed`
 * events; index events_case) and who are no participant of it now (not copied in again): an email
 * written to them before then must not reach them (mail-out/outbox-worker.ts, right before it goes).
 */
export async function readersTakenOffSince(db: Q, caseId: number, addresses: readonly string[], since: string): Promise<Set<string>> {
  const asked = new Set(addresses.map((a) => a.toLowerCase()));
  // Before every email the outbox worker sends: compiled once.
  const { rows } = await runPrepared(db, 'events.readersTakenOffSince', [caseId, since], (q, [c, s]) =>
    q
      .selectFrom('events')
      .select('data_json')
      .where(inCaseOrMergedIn(c as number))
      .where('type', '=', 'participant.removed')
      .where('created_at', '>=', s as string),
  );
  const off = new Set(rows.map((r) => String((JSON.parse(r.data_json) as { address?: unknown }).address ?? '').toLowerCase()).filter((a) => asked.has(a)));
  if (off.size === 0) return off;
  const back = await db.selectFrom('case_participants').select('address').where('case_id', '=', caseId).where('address', 'in', [...off]).execute();
  for (const b of back) off.delete(b.address.toLowerCase());
  return off;
}

/** The addresses an agent took off the case or a case merged into it (`participant.removed` events; index events_case), lower-case. */
export async function addressesTakenOff(db: Q, caseId: number): Promise<Set<string>> {
  const rows = await db.selectFrom('events').select('data_json').where(inCaseOrMergedIn(caseId)).where('type', '=', 'participant.removed').execute();
  return new Set(rows.map((r) => String((JSON.parse(r.data_json) as { address?: unknown }).address ?? '').toLowerCase()));
}

/**
 * What the agents heard about one sender's mail (actor `customer:<address>`): how many of its
 * messages were notified since a time, when the last flood notice about it went out since
 * `noticeSince`, and how many of its messages were not notified individually since that notice.
 * Serialised per sender (PostgreSQL: a lock until commit) so two daemons count each other's
 * notification. Index events_notify_actor (partial: these three types, by actor): each count reads
 * only this sender's rows; the types are literals so that the partial index matches. It runs for
 * every message that notifies agents: one prepared statement for the common case (no flood notice
 * within the day), a second only after a flood notice.
 */
export async function senderNotifications(db: Q, actor: string, since: string, noticeSince: string): Promise<{ readonly notified: number; readonly lastNotice: string | null; readonly suppressed: number }> {
  await lockKey(db, `notify:${actor}`);
  const { rows } = await runPrepared(db, 'events.senderNotifications', [actor, since, actor, noticeSince], (q, [a1, s, a2, ns]) =>
    q.selectNoFrom((eb) => [
      eb.selectFrom('events').select((e) => e.fn.countAll<number>().as('n')).where('actor', '=', a1 as string).where('type', '=', sql.lit('agents.notified')).where('created_at', '>', s as string).as('notified'),
      eb.selectFrom('events').select((e) => e.fn.max('created_at').as('at')).where('actor', '=', a2 as string).where('type', '=', sql.lit('agents.flood-notice')).where('created_at', '>', ns as string).as('last_notice'),
    ]),
  );
  const notified = Number(rows[0]?.notified ?? 0);
  const lastNotice = (rows[0]?.last_notice as string | null | undefined) ?? null;
  if (lastNotice === null) return { notified, lastNotice, suppressed: 0 };
  const { rows: after } = await runPrepared(db, 'events.suppressedSince', [actor, lastNotice], (q, [a, t]) =>
    q.selectFrom('events').select((eb) => eb.fn.countAll<number>().as('n')).where('actor', '=', a as string).where('type', '=', sql.lit('agents.notify-suppressed')).where('created_at', '>', t as string),
  );
  return { notified, lastNotice, suppressed: Number(after[0]?.n ?? 0) };
}

/** Who the flood notices about one sender's mail (actor `customer:<address>`) since a time went to (their data.notified; index events_notify_actor). */
export async function floodNoticeRecipients(db: Q, actor: string, since: string): Promise<Set<string>> {
  const rows = await db.selectFrom('events').select('data_json').where('actor', '=', actor).where('type', '=', sql.lit('agents.flood-notice')).where('created_at', '>', since).execute();
  const told = new Set<string>();
  for (const r of rows) {
    const notified = (JSON.parse(r.data_json) as { notified?: unknown }).notified;
    if (Array.isArray(notified)) for (const a of notified) told.add(String(a).toLowerCase());
  }
  return told;
}

/**
 * The fresh links one reader asked for on a case's notice page since a time (cases/fresh-link.ts: its
 * rate limit). Along events_type_time (type, created_at): only the last hour's requests of every
 * case are read, however long the history.
 */
export async function freshLinkRequestsSince(db: Q, caseId: number, actor: string, since: string): Promise<number> {
  const row = await db
    .selectFrom('events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('type', '=', 'link.fresh-requested')
    .where('created_at', '>', since)
    .where('case_id', '=', caseId)
    .where('actor', '=', actor)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}
