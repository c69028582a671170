/**
 * Migration 0038 gives every existing case its subject_key (cases/subject-key.ts, computed in
 * TypeScript). Its first version wrote the keys with one UPDATE per 100 cases: on PostgreSQL every
 * updated row is a new row version with an entry in each of the cases' 20-odd indexes — 445 s at
 * 1,000,000 cases (22 s at 250,000), and a cases table twice its size afterwards; on SQLite 10,000
 * statements. Now PostgreSQL rewrites the table once (the keys through a helper table, both helpers
 * dropped), SQLite writes the keys in one UPDATE. Real databases (this file: PostgreSQL; subject-key-backfill.test.ts: SQLite); the figures
 * at 1,000,000 cases are bench/subject-key-backfill.ts's (docs/operating.md, Upgrading a large history).
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { migrateTo, migrateToLatest, openDatabase, type Db } from '../../src/db/database.js';
import { BEFORE, expectEveryKey, seedCases } from '../helpers/subject-key-history.js';
import { freshSchema, testPgUrl } from '../helpers/test-db.js';

describe('0038 on PostgreSQL', () => {
  it('rewrites the cases table once: every key, the table not grown to twice its size by dead row versions, the same indexes as a new database, no helper left', async () => {
    const target = (schema: string) => ({ kind: 'postgres' as const, url: testPgUrl(), schema, poolSize: 2, lockTimeoutMs: 10_000 });
    const schema = freshSchema();
    const db = openDatabase(target(schema));
    const fresh = openDatabase(target(freshSchema()));
    try {
      await migrateTo(db, BEFORE);
      await seedCases(db);
      const size = async () => Number((await sql<{ n: string }>`select pg_relation_size('cases') as n`.execute(db)).rows[0]!.n);
      const before = await size();
      await migrateToLatest(db);
      await expectEveryKey(db);
      // The first version left a second version of every row (2×) until a vacuum; the key adds ~20 bytes a row.
      expect(await size()).toBeLessThan(before * 1.5);
      const indexes = async (d: Db) =>
        (await sql<{ def: string }>`select regexp_replace(indexdef, ' ON \\S+\\.cases ', ' ON cases ') as def from pg_indexes where schemaname = current_schema() and tablename = 'cases' order by indexname`.execute(d)).rows.map((r) => r.def);
      await migrateToLatest(fresh);
      expect(await indexes(db)).toEqual(await indexes(fresh));
      expect(await indexes(db)).toContain('CREATE INDEX cases_requester_subject ON cases USING btree (requester_address, subject_key, created_at, id)');
      const left = await sql<{ n: number }>`select (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = current_schema() and c.relname like 'casegate_0038%')
                                              + (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = current_schema() and p.proname like 'casegate_0038%') as n`.execute(db);
      expect(Number(left.rows[0]!.n)).toBe(0);
    } finally {
      await db.destroy();
      await fresh.destroy();
    }
  });
});
