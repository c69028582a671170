import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextCaseNumber } from '../../src/db/repos/cases.js';
import type { Db } from '../../src/db/database.js';
import { testEnv, type TestEnv } from '../helpers/context.js';

/**
 * Case numbers on PostgreSQL (takeCaseNumber in src/db/dialect.ts) at the start of a fresh
 * database, where the sequence must first be moved up to cases.firstNumber: with 8 messages in
 * flight, the bench's first heavy messages once got a number twice ("duplicate key value violates
 * unique constraint cases_number_key", the message quarantined). Takers queued for the lock set the
 * sequence from a value they read while others, already past the lock, drew their numbers.
 */

let env: TestEnv;

beforeAll(async () => {
  env = await testEnv({});
});

afterAll(async () => {
  await env?.close();
});

const FIRST = 10001;

/** A number taken the way the pipeline takes it: inside a transaction that then does some work. */
async function take(db: Db, workMs: number): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const n = await nextCaseNumber(trx, FIRST);
    if (workMs > 0) await new Promise((r) => setTimeout(r, workMs));
    return n;
  });
}

describe('case numbers on a fresh PostgreSQL database', () => {
  it('are never handed out twice while the sequence is moved up to firstNumber (many rounds, many takers at once)', async () => {
    const db = env.ctx.db;
    for (let round = 0; round < 50; round++) {
      // A fresh sequence: nothing handed out yet, no case stored.
      await sql`alter sequence case_number_seq restart with 1`.execute(db);
      const taken: Promise<number>[] = [];
      // The first takers all draw a number below firstNumber and queue for the lock ...
      for (let i = 0; i < 8; i++) taken.push(take(db, 2));
      // ... while later ones keep arriving, draw numbers past it and skip the lock.
      for (let wave = 0; wave < 12; wave++) {
        await new Promise((r) => setImmediate(r));
        for (let i = 0; i < 3; i++) taken.push(take(db, 0));
      }
      const numbers = await Promise.all(taken);
      expect(numbers.every((n) => n >= FIRST)).toBe(true);
      const twice = numbers.filter((n, i) => numbers.indexOf(n) !== i);
      expect({ round, twice }).toEqual({ round, twice: [] });
    }
  });

  it('a firstNumber just above the sequence: the numbers in between are drawn, never set back', async () => {
    const db = env.ctx.db;
    await sql`select setval('case_number_seq', ${FIRST - 3}::bigint)`.execute(db);
    const numbers = await Promise.all(Array.from({ length: 20 }, () => take(db, 1)));
    expect(numbers.every((n) => n >= FIRST)).toBe(true);
    expect(new Set(numbers).size).toBe(20);
    // The sequence went forward only: the next number follows the ones handed out.
    expect(await take(db, 0)).toBeGreaterThan(Math.max(...numbers));
  });
});
