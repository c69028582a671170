/**
 * The history migration 0038 meets: cases of every kind of subject, before their subject_key
 * (test/unit/subject-key-backfill.test.ts on SQLite, subject-key-backfill.pg.test.ts on PostgreSQL).
 */
import { type Kysely, sql } from 'kysely';
import { expect } from 'vitest';
import { subjectKey } from '../../src/cases/subject-key.js';
import type { Db } from '../../src/db/database.js';
import type { Database } from '../../src/db/schema.js';

export const BEFORE = '0037-metrics-sla-breach-counter';
export const CASES = 450;
// ASCII in any case, German (ß, umlauts, decomposed as macOS writes them), Cyrillic, Greek final
// sigma, fullwidth letters, a quote: each case's key must be subjectKey's.
const SUBJECTS = ['Invoice 7 is WRONG', "It's the Printer", 'Rückgabe Bestellung 4471', 'RU\u0308CKGABE', 'Größe 42 fehlt', 'Заказ 77 не пришёл', 'ΟΔΟΣ', 'Ｉｎｖｏｉｃｅ ﬁle'];

export async function seedCases(db: Db): Promise<void> {
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

export async function expectEveryKey(db: Db): Promise<void> {
  const all = await (db as Kysely<Database>).selectFrom('cases').select(['subject', 'subject_key']).execute();
  expect(all).toHaveLength(CASES);
  expect(all.filter((c) => c.subject_key !== subjectKey(c.subject))).toEqual([]);
  // The key is what a forwarded subject in another case or form is compared with.
  expect(all.find((c) => c.subject.startsWith('RU\u0308CKGABE'))?.subject_key).toMatch(/^rückgabe \d+$/);
}

