/**
 * src/db/prepared.ts: statements built and compiled once, run with each call's values — on the
 * backend of the pass (SQLite, and PostgreSQL in the PostgreSQL pass), in and out of transactions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addEvent, eventsOfCase } from '../../src/db/repos/events.js';
import { insertCase } from '../../src/db/repos/cases.js';
import { rowColumns, runPrepared } from '../../src/db/prepared.js';
import { testEnv, type TestEnv } from '../helpers/context.js';

let env: TestEnv;
beforeAll(async () => {
  env = await testEnv();
});
afterAll(async () => {
  await env?.close();
});

const newCase = (number: number, extra: Record<string, unknown> = {}) => ({
  number,
  subject: `Case ${number}`,
  requester_address: `c${number}@example.com`,
  requester_name: '',
  status: 'new' as const,
  priority: 'normal',
  queue: 'support',
  mailbox: 'support',
  language: 'en',
  created_at: '2026-03-02T09:00:00.000Z',
  updated_at: '2026-03-02T09:00:00.000Z',
  ...extra,
});

describe('prepared statements (issue 12)', () => {
  it('builds a statement once per key and runs it with every call’s own values', async () => {
    let builds = 0;
    const byNumber = async (n: number): Promise<string | undefined> =>
      (
        await runPrepared(env.ctx.db, 'test.subjectByNumber', [n], (q, [p]) => {
          builds += 1;
          return q.selectFrom('cases').select('subject').where('number', '=', p as number);
        })
      ).rows[0]?.subject;
    await insertCase(env.ctx.db, newCase(70001));
    await insertCase(env.ctx.db, newCase(70002));
    expect(await byNumber(70001)).toBe('Case 70001');
    expect(await byNumber(70002)).toBe('Case 70002');
    expect(await byNumber(79999)).toBeUndefined();
    expect(builds).toBe(1);
  });

  it('keeps constants the builder wrote and repeats a value used twice', async () => {
    const subjectOf = async (n: number): Promise<string | undefined> =>
      (
        await runPrepared(env.ctx.db, 'test.constants', [n], (q, [p]) =>
          q
            .selectFrom('cases')
            .select('subject')
            .where('number', '>=', p as number)
            .where('number', '<=', p as number)
            .where('status', '=', 'new'),
        )
      ).rows[0]?.subject;
    expect(await subjectOf(70001)).toBe('Case 70001');
    expect(await subjectOf(70002)).toBe('Case 70002');
    await env.ctx.db.updateTable('cases').set({ status: 'open' }).where('number', '=', 70002).execute();
    expect(await subjectOf(70002)).toBeUndefined();
  });

  it('an INSERT with other columns is another statement (rowColumns names them); undefined columns are left out', async () => {
    const a = await insertCase(env.ctx.db, newCase(70003));
    const b = await insertCase(env.ctx.db, newCase(70004, { kind: 'feedback', owner: undefined }));
    expect(a.kind).toBe('case');
    expect(b.kind).toBe('feedback');
    expect(b.owner).toBeNull();
    expect(rowColumns({ a: 1, b: undefined, c: null }).columns).toEqual(['a', 'c']);
  });

  it('runs on the transaction’s connection: a rollback takes its rows back', async () => {
    const c = await insertCase(env.ctx.db, newCase(70005));
    await expect(
      env.ctx.db.transaction().execute(async (trx) => {
        await addEvent(trx, { caseId: c.id, type: 'test.event', actor: 'test', reason: 'rolled back', at: '2026-03-02T09:00:00.000Z' });
        expect((await eventsOfCase(trx, c.id)).map((e) => e.reason)).toEqual(['rolled back']);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await eventsOfCase(env.ctx.db, c.id)).toEqual([]);
    await addEvent(env.ctx.db, { caseId: c.id, type: 'test.event', actor: 'test', reason: 'kept', data: { n: 1 }, at: '2026-03-02T09:00:01.000Z' });
    const kept = await eventsOfCase(env.ctx.db, c.id);
    expect(kept.map((e) => [e.reason, e.data_json])).toEqual([['kept', '{"n":1}']]);
  });

  it('refuses a statement whose builder did not pass every value on as a parameter', async () => {
    await expect(runPrepared(env.ctx.db, 'test.unusedValue', [1, 2], (q, [p]) => q.selectFrom('cases').select('id').where('id', '=', p as number))).rejects.toThrow(
      /2 values given, 1 became parameters/,
    );
  });
});
