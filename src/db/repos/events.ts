import { sql, type Kysely } from 'kysely';
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
 * What the agents heard about one sender's mail (actor `customer:<address>`): how many of its
 * messages were notified since a time, when the last flood notice about it went out since
 * `noticeSince`, and how many of its messages were not notified individually since that notice.
 * Serialised per sender (PostgreSQL: a lock until commit) so two daemons count each other's
 * notification. Index events_notify_actor (partial: these three types, by actor): each count reads
 * only this sender's rows; the types are literals so that the partial index matches.
 */
export async function senderNotifications(db: Q, actor: string, since: string, noticeSince: string): Promise<{ readonly notified: number; readonly lastNotice: string | null; readonly suppressed: number }> {
  await lockKey(db, `notify:${actor}`);
  const count = async (type: string, after: string): Promise<number> => {
    const row = await db.selectFrom('events').select((eb) => eb.fn.countAll<number>().as('n')).where('actor', '=', actor).where('type', '=', sql.lit(type)).where('created_at', '>', after).executeTakeFirst();
    return Number(row?.n ?? 0);
  };
  const notified = await count('agents.notified', since);
  const notice = await db.selectFrom('events').select((eb) => eb.fn.max('created_at').as('at')).where('actor', '=', actor).where('type', '=', sql.lit('agents.flood-notice')).where('created_at', '>', noticeSince).executeTakeFirst();
  const lastNotice = (notice?.at as string | null | undefined) ?? null;
  const suppressed = lastNotice !== null ? await count('agents.notify-suppressed', lastNotice) : 0;
  return { notified, lastNotice, suppressed };
}
