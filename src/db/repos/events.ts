import type { Kysely } from 'kysely';
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
