import type { Kysely } from 'kysely';
import type { CaseRow, Database } from '../schema.js';
import { caseById, caseByNumber } from './cases.js';

type Q = Kysely<Database>;

/** How far `continuedAs` follows merges (a merge re-points earlier ones, so one step is the rule). */
const MAX_HOPS = 8;

/** The case a (merged) case continues as: itself when not merged. */
export async function continuedAs(db: Q, caseRow: CaseRow): Promise<CaseRow> {
  let row = caseRow;
  for (let hop = 0; hop < MAX_HOPS && row.merged_into !== null; hop++) {
    const next = await caseById(db, row.merged_into);
    if (next === undefined) break;
    row = next;
  }
  return row;
}

/** The case a number names, or the one it continues as when it was merged. */
export async function caseGoingOnAs(db: Q, number: number): Promise<CaseRow | undefined> {
  const named = await caseByNumber(db, number);
  return named === undefined || named.merged_into === null ? named : continuedAs(db, named);
}

export interface MovedContent {
  readonly messages: number;
  readonly outbox: number;
  readonly participants: number;
  readonly tags: number;
}

const n = (r: { numUpdatedRows: bigint }): number => Number(r.numUpdatedRows);

/**
 * Move what a case holds into another (in the caller's transaction): its messages (with their files,
 * raw mail and receipts), its outgoing mail, its tags; its participants join the target — the requester of
 * `from` as a copied participant (`cc`) unless they are the target's requester. `from` points at
 * `into` from now on, and so do the cases merged into `from` before. Events stay where they
 * happened; the status is the caller's (cases/case-merge.ts).
 */
export async function moveCaseContent(db: Q, from: CaseRow, into: CaseRow): Promise<MovedContent> {
  const messages = n(await db.updateTable('messages').set({ case_id: into.id }).where('case_id', '=', from.id).executeTakeFirst());
  const outbox = n(await db.updateTable('outbox').set({ case_id: into.id }).where('case_id', '=', from.id).executeTakeFirst());
  // The receipts of the moved messages (messages.receipt_id): a purge of the closed merged case
  // deletes its receipts, which its messages — now the other case's — still name.
  await db.updateTable('receipts').set({ case_id: into.id }).where('case_id', '=', from.id).execute();
  const joining = await db.selectFrom('case_participants').selectAll().where('case_id', '=', from.id).orderBy('id').execute();
  let participants = 0;
  for (const p of joining) {
    if (p.address === into.requester_address) continue;
    const r = await db
      .insertInto('case_participants')
      .values({ case_id: into.id, address: p.address, name: p.name, role: p.role === 'requester' ? 'cc' : p.role, created_at: p.created_at })
      .onConflict((oc) => oc.columns(['case_id', 'address']).doNothing())
      .executeTakeFirst();
    participants += Number(r.numInsertedOrUpdatedRows ?? 0);
  }
  const tags = await db.selectFrom('case_tags').select(['tag', 'created_at']).where('case_id', '=', from.id).execute();
  for (const t of tags) await db.insertInto('case_tags').values({ case_id: into.id, tag: t.tag, created_at: t.created_at }).onConflict((oc) => oc.columns(['case_id', 'tag']).doNothing()).execute();
  await db.updateTable('cases').set({ merged_into: into.id }).where('merged_into', '=', from.id).execute();
  await db.updateTable('cases').set({ merged_into: into.id }).where('id', '=', from.id).execute();
  return { messages, outbox, participants, tags: tags.length };
}
