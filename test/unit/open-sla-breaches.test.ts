/**
 * The open SLA breaches of every /metrics scrape and `casegate status` (repos/ops.ts
 * openSlaBreaches): a clock that breached counts while its case is open (or resolved, not yet
 * closed) and the clock still runs. The resolution count starts from the breached clocks (partial
 * index case_sla_res_breached_open, a CROSS JOIN on SQLite: query-plans.test.ts checks the plan);
 * this checks what it counts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSlaBreaches } from '../../src/db/repos/ops.js';
import type { CaseStatus } from '../../src/db/schema.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';

let env: TestEnv;

beforeAll(async () => {
  env = await testEnv();
});
afterAll(async () => {
  await env?.close();
});

const AT = '2026-03-02T08:00:00.000Z';

/** A new case whose clocks are exactly these (any row ingest made replaced). */
async function caseWith(n: number, status: CaseStatus, clocks: { fr_breached_at?: string; res_breached_at?: string; res_done_at?: string }, answered = false): Promise<void> {
  await env.ingest(eml({ subject: `SLA case ${n}`, messageId: `sla-${n}@customer.example`, from: `c${n}@customer.example` }));
  const { id } = await env.ctx.db.selectFrom('cases').select('id').orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
  await env.ctx.db.updateTable('cases').set({ status, first_response_at: answered ? AT : null, closed_at: status === 'closed' ? AT : null }).where('id', '=', id).execute();
  await env.ctx.db.deleteFrom('case_sla').where('case_id', '=', id).execute();
  await env.ctx.db
    .insertInto('case_sla')
    .values({ case_id: id, policy: 'p', calendar: 'c', coverage: '24x7', started_at: AT, res_pauses_json: '[]', last_update_at: AT, updated_at: AT, fr_breached_at: clocks.fr_breached_at ?? null, res_breached_at: clocks.res_breached_at ?? null, res_done_at: clocks.res_done_at ?? null })
    .execute();
}

describe('open SLA breaches', () => {
  it('count the breached clocks that still run, of cases not closed — each clock once', async () => {
    const before = await openSlaBreaches(env.ctx.db);
    await caseWith(1, 'open', { res_breached_at: AT, fr_breached_at: AT }); // both count
    await caseWith(2, 'resolved', { res_breached_at: AT }); // resolved, clock still running: counts
    await caseWith(3, 'open', { res_breached_at: AT, res_done_at: AT }); // clock stopped
    await caseWith(4, 'closed', { res_breached_at: AT, fr_breached_at: AT }); // closed
    await caseWith(5, 'pending', { fr_breached_at: AT }, true); // answered since: no first-response breach
    await caseWith(6, 'new', {}); // no breach
    expect(await openSlaBreaches(env.ctx.db)).toEqual({ firstResponse: before.firstResponse + 1, resolution: before.resolution + 2 });
  });
});
