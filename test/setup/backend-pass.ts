import { appendFileSync } from 'node:fs';
import { relative } from 'node:path';
import { afterAll, expect } from 'vitest';
import { BACKEND_INDEPENDENT } from '../backend-independent.js';
import { databaseUsed, resetDatabaseUsed } from '../helpers/test-db.js';

/**
 * After each test file: a file listed in test/backend-independent.ts (run in the SQLite pass
 * only) must not have configured a database through the test helpers — if it did, the PostgreSQL
 * pass would be missing a test, and the file fails here saying so. CASEGATE_TEST_DB_REPORT=FILE
 * appends one line per file (`path TAB used|unused`) to find candidates.
 */
// Setup files run again before every test file, also when one worker process runs many of them
// (vitest.config.ts: isolate false): each file starts unmarked, before its own code runs.
resetDatabaseUsed();

afterAll(() => {
  const path = expect.getState().testPath;
  if (path === undefined) return;
  const file = relative(process.cwd(), path);
  const used = databaseUsed();
  const report = process.env['CASEGATE_TEST_DB_REPORT'];
  if (report !== undefined && report !== '') appendFileSync(report, `${file}\t${used ? 'used' : 'unused'}\n`);
  if (used && BACKEND_INDEPENDENT.includes(file)) {
    throw new Error(`${file} configures a database (test/helpers/test-db.ts) but is listed in test/backend-independent.ts, so the PostgreSQL pass skips it: remove it from that list`);
  }
});
