import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setStatus } from '../../src/cases/lifecycle.js';
import { caseById } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { outboxOfCase } from '../../src/db/repos/outbox.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { testPgUrl } from '../helpers/test-db.js';

/**
 * Several daemons (or a daemon and the CLI) on one PostgreSQL: a customer's reply is threaded (the
 * thread stage reads the case, outside the commit's transaction) while an agent's close of the
 * same case commits on another connection. The reply's commit then worked from the case as the
 * thread stage had read it — open, so "keep its status" — and appended the reply to the case the
 * agent had just closed: nobody was told, the case stayed closed. Now the commit locks the case
 * and decides the reopen on what the case is when the reply is recorded.
 */

let env: TestEnv;
let admin: pg.Client;

beforeAll(async () => {
  env = await testEnv({});
  admin = new pg.Client({ connectionString: testPgUrl() });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await env?.close();
});

describe('a customer reply threaded while an agent closes the case', () => {
  it('reopens the case the agent closed meanwhile (the reply is not buried in a closed case)', async () => {
    const first = await env.ingest(eml({ from: 'Jane <jane@customer.example>', subject: 'Printer on fire', messageId: 'race-1@customer.example' }));
    if (first.kind !== 'stored') throw new Error(first.reason);
    const caseId = first.caseId;
    const conf = (await outboxOfCase(env.ctx.db, caseId)).find((r) => r.kind === 'confirmation')!;

    // The agent's close, committed on its own connection once the reply's commit waits for the case.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let holder!: (pid: number) => void;
    const holderPid = new Promise<number>((r) => (holder = r));
    const closing = env.ctx.db.transaction().execute(async (trx) => {
      holder(Number((await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx)).rows[0]!.pid));
      await setStatus(trx, env.ctx, caseId, 'closed', { actor: 'agent:erika@example.com', reason: 'done' });
      await gate;
    });
    const pid = await holderPid;
    const reply = env.ingest(eml({ from: 'Jane <jane@customer.example>', subject: 'Re: Printer on fire', inReplyTo: conf.message_id, messageId: 'race-2@customer.example', body: 'It is on fire again.' }));
    for (let i = 0; ; i++) {
      const r = await admin.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where $1 = any(pg_blocking_pids(pid))', [pid]);
      if (r.rows[0]!.n > 0) break;
      if (i > 200) throw new Error('the reply never waited for the case');
      await new Promise((res) => setTimeout(res, 25));
    }
    release();
    await closing;
    const out = await reply;
    expect(out.kind).toBe('stored');
    expect(out.kind === 'stored' && out.caseId).toBe(caseId);
    expect((await caseById(env.ctx.db, caseId))!.status).toBe('open');
    const events = (await eventsOfCase(env.ctx.db, caseId)).map((e) => `${e.type}: ${e.reason ?? ''}`);
    expect(events.some((e) => /customer replied to a closed case/.test(e))).toBe(true);
  });
});
