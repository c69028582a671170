import type { Kysely } from 'kysely';
import type { Database, SurveyResponseRow } from '../schema.js';

type Q = Kysely<Database>;

export async function surveyOfCase(db: Q, caseId: number): Promise<SurveyResponseRow | undefined> {
  return db.selectFrom('survey_responses').selectAll().where('case_id', '=', caseId).executeTakeFirst();
}

export async function saveSurvey(db: Q, row: SurveyResponseRow): Promise<void> {
  const { case_id: _id, created_at: _c, ...rest } = row;
  await db.insertInto('survey_responses').values(row).onConflict((oc) => oc.column('case_id').doUpdateSet(rest)).execute();
}

/** Survey answers recorded on a case since `since` (its rated, rerated and comment events): the survey form's hourly limit. */
export async function surveyAnswersSince(db: Q, caseId: number, since: string): Promise<number> {
  const row = await db
    .selectFrom('events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('case_id', '=', caseId)
    .where('type', 'in', ['survey.rated', 'survey.rerated', 'survey.comment'])
    .where('created_at', '>', since)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Whether one of `ids` is the Message-ID of a survey email we sent on the case. */
export async function isSurveyReference(db: Q, caseId: number, ids: readonly string[]): Promise<boolean> {
  if (ids.length === 0) return false;
  const row = await db
    .selectFrom('outbox')
    .select('outbox.id')
    .where('outbox.message_id', 'in', [...ids])
    .where('outbox.case_id', '=', caseId)
    .where('outbox.kind', '=', 'survey')
    .executeTakeFirst();
  return row !== undefined;
}
