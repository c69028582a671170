/**
 * Migration 0038 gives every existing case its subject_key (cases/subject-key.ts, computed in
 * TypeScript). Its first version wrote the keys with one UPDATE per 100 cases: on PostgreSQL every
 * updated row is a new row version with an entry in each of the cases' 20-odd indexes — 445 s at
 * 1,000,000 cases (22 s at 250,000), and a cases table twice its size afterwards; on SQLite 10,000
 * statements. Now PostgreSQL rewrites the table once (the keys through a helper table, both helpers
 * dropped), SQLite writes the keys in one UPDATE. Real database of this run's backend; the figures
 * at 1,000,000 cases are bench/subject-key-backfill.ts's (docs/operating.md, Upgrading a large history).
 */
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, sql, SqliteDialect } from 'kysely';
import { describe, expect, it } from 'vitest';
import { subjectKey } from '../../src/cases/subject-key.js';
import { migrateTo, migrateToLatest, openDatabase, registerSqliteFunctions, type Db } from '../../src/db/database.js';
import type { Database } from '../../src/db/schema.js';
import { tempDir } from '../helpers/temp-dirs.js';
import { freshSchema, TEST_BACKEND, testPgUrl } from '../helpers/test-db.js';

const BEFORE = '0037-metrics-sla-breach-counter';
const CASES = 450;
// ASCII in any case, German (ß, umlauts, decomposed as macOS writes them), Cyrillic, Greek final
// sigma, fullwidth letters, a quote: each case's key must be subjectKey's.
const SUBJECTS = ['Invoice 7 is WRONG', "It's the Printer", 'Rückgabe Bestellung 4471', 'RU\u0308CKGABE', 'Größe 42 fehlt', 'Заказ 77 не пришёл', 'ΟΔΟΣ', 'Ｉｎｖｏｉｃｅ ﬁle'];

async function seedCases(db: Db): Promise<void> {
  const at = '2026-01-05T10:00:00.000Z';
  for (let i = 0; i < CASES; i += 150) {
    const rows = Array.from({ length: Math.min(150, CASES - i) }, (_, k) => {
      const n = i + k;
      return sql`(${100_001 + n}, ${`${SUBJECTS[n % SUBJECTS.length]} ${n}`}, ${`c${n % 7}@customer.example`}, 'C', 'closed', 'normal', 'support', 'support', 'en', 'case', ${at}, ${at}, ${at})`;
    });
    await sql`insert into cases (number, subject, requester_address, requester_name, status, priority, queue, mailbox, language, kind, created_at, updated_at, last_customer_at)
              values ${sql.join(rows)}`.execute(db);
  }
}

async function expectEveryKey(db: Db): Promise<void> {
  const all = await (db as Kysely<Database>).selectFrom('cases').select(['subject', 'subject_key']).execute();
  expect(all).toHaveLength(CASES);
  expect(all.filter((c) => c.subject_key !== subjectKey(c.subject))).toEqual([]);
  // The key is what a forwarded subject in another case or form is compared with.
  expect(all.find((c) => c.subject.startsWith('RU\u0308CKGABE'))?.subject_key).toMatch(/^rückgabe \d+$/);
}

describe.runIf(TEST_BACKEND !== 'postgres')('0038 on SQLite', () => {
  it('fills every case\'s key in one UPDATE of the table, not one statement per 100 cases', async () => {
    const sqlite = new SQLite(join(tempDir('casegate-0038-'), 'casegate.db'));
    registerSqliteFunctions(sqlite);
    let writes = 0;
    let counting = false;
    const db = new Kysely<Database>({
      dialect: new SqliteDialect({ database: sqlite }),
      log: (e) => {
        if (counting && /^\s*update\s+"?cases"?\s/i.test(e.query.sql)) writes++;
      },
    });
    try {
      await migrateTo(db, BEFORE);
      await seedCases(db);
      counting = true;
      await migrateToLatest(db);
      counting = false;
      await expectEveryKey(db);
      expect(writes).toBe(1);
    } finally {
      await db.destroy();
    }
  });
});

describe.runIf(TEST_BACKEND === 'postgres')('0038 on PostgreSQL', () => {
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
