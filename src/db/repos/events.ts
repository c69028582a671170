import type { Kysely } from 'kysely';
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
  await db
    .insertInto('events')
    .values({
      case_id: e.caseId,
      message_row_id: e.messageRowId ?? null,
      type: e.type,
      actor: e.actor,
      reason: e.reason,
      data_json: JSON.stringify(e.data ?? {}),
      created_at: e.at,
    })
    .execute();
}

export async function eventsOfCase(db: Q, caseId: number): Promise<EventRow[]> {
  return db.selectFrom('events').selectAll().where('case_id', '=', caseId).orderBy('id').execute();
}
