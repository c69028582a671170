import type { Kysely, Updateable } from 'kysely';
import { firstRowPrepared, placeholderRow, rowColumns } from '../prepared.js';
import type { CaseRow, CaseSlaRow, CaseSlaTable, Database, NewCaseSla } from '../schema.js';

type Q = Kysely<Database>;

export async function slaOfCase(db: Q, caseId: number): Promise<CaseSlaRow | undefined> {
  return db.selectFrom('case_sla').selectAll().where('case_id', '=', caseId).executeTakeFirst();
}

export async function upsertSla(db: Q, row: NewCaseSla): Promise<CaseSlaRow> {
  const { columns, values } = rowColumns(row);
  return firstRowPrepared(db, `case_sla.upsert:${columns.join(',')}`, values, (q, p) => {
    const { case_id: _id, ...rest } = placeholderRow(columns, p);
    return q
      .insertInto('case_sla')
      .values(placeholderRow(columns, p) as NewCaseSla)
      .onConflict((oc) => oc.column('case_id').doUpdateSet(rest as Partial<NewCaseSla>))
      .returningAll();
  });
}

export async function updateSla(db: Q, caseId: number, patch: Updateable<CaseSlaTable>): Promise<void> {
  await db.updateTable('case_sla').set(patch).where('case_id', '=', caseId).execute();
}

export type SlaFlag = 'fr_warned_at' | 'fr_breached_at' | 'res_warned_at' | 'res_breached_at';

/** Set a warned/breached flag only when it is not set yet: true when this call set it (the claim). */
export async function claimSlaFlag(db: Q, caseId: number, flag: SlaFlag, at: string): Promise<boolean> {
  const r = await db.updateTable('case_sla').set({ [flag]: at }).where('case_id', '=', caseId).where(flag, 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export interface CaseWithSla {
  readonly caseRow: CaseRow;
  readonly sla: CaseSlaRow;
}

async function withCases(db: Q, rows: CaseSlaRow[]): Promise<CaseWithSla[]> {
  if (rows.length === 0) return [];
  const cases = await db.selectFrom('cases').selectAll().where('id', 'in', rows.map((r) => r.case_id)).execute();
  const byId = new Map(cases.map((c) => [c.id, c]));
  return rows.flatMap((sla) => {
    const caseRow = byId.get(sla.case_id);
    return caseRow !== undefined ? [{ caseRow, sla }] : [];
  });
}

/** Cases whose next SLA warn/due time has come (sla-check job), oldest first. */
export async function dueSlaChecks(db: Q, now: string, limit: number): Promise<CaseWithSla[]> {
  const rows = await db.selectFrom('case_sla').selectAll().where('next_check_at', 'is not', null).where('next_check_at', '<=', now).orderBy('next_check_at').limit(limit).execute();
  return withCases(db, rows);
}

/** Pending cases whose next reminder or automatic close has come. */
export async function duePendingActions(db: Q, now: string, limit: number): Promise<CaseWithSla[]> {
  const rows = await db.selectFrom('case_sla').selectAll().where('pending_next_at', 'is not', null).where('pending_next_at', '<=', now).orderBy('pending_next_at').limit(limit).execute();
  return withCases(db, rows);
}

/** Critical cases without a team update since their quiet period began. */
export async function dueStaleChecks(db: Q, now: string, limit: number): Promise<CaseWithSla[]> {
  const rows = await db.selectFrom('case_sla').selectAll().where('stale_check_at', 'is not', null).where('stale_check_at', '<=', now).orderBy('stale_check_at').limit(limit).execute();
  return withCases(db, rows);
}

/**
 * Ids of cases with a clock, after `afterId`, oldest first: `running` — their clocks still run (not
 * resolved or closed), a reload recomputes them; `waiting` — waiting for the customer (pending,
 * their waiting recorded), a reload that changed the reminder schedule goes through them.
 */
export async function clockCases(db: Q, which: 'running' | 'waiting', afterId: number, limit: number): Promise<number[]> {
  let q = db.selectFrom('case_sla').innerJoin('cases', 'cases.id', 'case_sla.case_id').select('cases.id').where('cases.id', '>', afterId);
  q = which === 'running' ? q.where('cases.status', 'not in', ['resolved', 'closed']) : q.where('cases.status', '=', 'pending').where('case_sla.pending_since', 'is not', null);
  const rows = await q.orderBy('cases.id').limit(limit).execute();
  return rows.map((r) => r.id);
}
