/**
 * Migration 0038 gives every existing case its subject_key (cases/subject-key.ts, computed in
 * TypeScript). Its first version wrote the keys with one UPDATE per 100 cases: on PostgreSQL every
 * updated row is a new row version with an entry in each of the cases' 20-odd indexes — 445 s at
 * 1,000,000 cases (22 s at 250,000), and a cases table twice its size afterwards; on SQLite 10,000
 * statements. Now PostgreSQL rewrites the table once (the keys through a helper table, both helpers
 * dropped), SQLite writes the keys in one UPDATE. Real databases (this file: SQLite; subject-key-backfill.pg.test.ts: PostgreSQL); the figures
 * at 1,000,000 cases are bench/subject-key-backfill.ts's (docs/operating.md, Upgrading a large history).
 */
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { describe, expect, it } from 'vitest';
import { migrateTo, migrateToLatest, registerSqliteFunctions } from '../../src/db/database.js';
import type { Database } from '../../src/db/schema.js';
import { BEFORE, expectEveryKey, seedCases } from '../helpers/subject-key-history.js';
import { tempDir } from '../helpers/temp-dirs.js';

describe('0038 on SQLite', () => {
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

