import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

type Q = Kysely<Database>;

export async function addTags(db: Q, caseId: number, tags: readonly string[], at: string): Promise<void> {
  if (tags.length === 0) return;
  await db
    .insertInto('case_tags')
    .values([...new Set(tags)].map((tag) => ({ case_id: caseId, tag, created_at: at })))
    .onConflict((oc) => oc.columns(['case_id', 'tag']).doNothing())
    .execute();
}

export async function tagsOfCase(db: Q, caseId: number): Promise<string[]> {
  const rows = await db.selectFrom('case_tags').select('tag').where('case_id', '=', caseId).orderBy('tag').execute();
  return rows.map((r) => r.tag);
}
