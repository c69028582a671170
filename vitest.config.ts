import { defineConfig } from 'vitest/config';
import { BACKEND_INDEPENDENT } from './test/backend-independent.js';
import { FailureSummaryReporter } from './test/setup/failure-summary.js';
import { SlowFirstSequencer } from './test/setup/slow-first.js';

/**
 * Two passes over the suite (`npm test` runs both): SQLite (default) and PostgreSQL
 * (CASEGATE_TEST_DB=postgres; test/global-setup.ts starts a private cluster). Files named
 * *.pg.test.ts test what only PostgreSQL has (several daemons, EXPLAIN on PostgreSQL) and run in the
 * PostgreSQL pass; the files below test SQLite itself (its locks, its instance lock, its query
 * planner) and run in the SQLite pass, each with a PostgreSQL counterpart where one is meaningful.
 * Files that use no database at all (test/backend-independent.ts) run in the SQLite pass only:
 * the PostgreSQL pass would run the very same code again.
 */
export const SQLITE_ONLY = [
  'test/unit/jobs-clock-step.test.ts', // fake timers (node-cron reads the system clock); the pg driver's timers do not run under them
  'test/unit/query-plans.test.ts', // EXPLAIN QUERY PLAN → test/unit/query-plans.pg.test.ts
  'test/unit/query-plans-jobs.test.ts', // EXPLAIN QUERY PLAN → test/unit/query-plans.pg.test.ts
  'test/faults/db-lock.test.ts', // SQLite's write lock held by another process
  'test/faults/outbox-lock.test.ts', // the outbox under SQLite's write lock
  'test/faults/two-daemons.test.ts', // the SQLite instance lock → test/cluster/two-daemons.pg.test.ts
  'test/cli/backup.test.ts', // VACUUM INTO of the SQLite file → test/cli/backup.pg.test.ts (refused: pg_dump)
  'test/cli/run-as-owner.test.ts', // ownership of the SQLite files (the blobs and secret follow the same rule on PostgreSQL)
  'test/cli/backup-dkim.test.ts', // the same command, with DKIM keys (PostgreSQL: refused, its message names the keys)
  'test/e2e/postfix-pipe.test.ts', // its retry path holds SQLite's write lock; ingest on PostgreSQL: test/cli/ingest.test.ts
  'test/faults/power-loss.test.ts', // SQLite's WAL sync on commit (PostgreSQL's is the server's synchronous_commit)
  'test/cli/purge-race.test.ts', // a reply committed while purge waits for SQLite's write lock (PostgreSQL: the deleting transaction locks the rows it re-reads)
  'test/unit/subject-key-backfill.test.ts', // 0038's SQLite path (one UPDATE through casegate_subject_key) → test/unit/subject-key-backfill.pg.test.ts
];

/**
 * Files whose subject is the bytes of outgoing email as other programs see them — a headless
 * Chromium's rendering, SpamAssassin's score, a DKIM verifier — run in the SQLite pass only. They
 * reach the database only to produce the sample emails, and those emails are checked on PostgreSQL
 * too: test/deliverability/headers.test.ts builds the same sample corpus (every kind, language and
 * variant) and checks every header of it in both passes, the golden fixtures pin the pipeline's
 * emails, and test/unit/agent-mail.test.ts and the e2e files check their texts. Rendering and
 * scoring the same bytes a second time tests no storage code.
 */
export const EMAIL_BYTES_ONLY = [
  'test/deliverability/rendering.test.ts',
  'test/deliverability/spam-score.test.ts',
  'test/deliverability/dkim.test.ts',
];

const postgres = process.env['CASEGATE_TEST_DB'] === 'postgres';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...(postgres ? [...SQLITE_ONLY, ...EMAIL_BYTES_ONLY, ...BACKEND_INDEPENDENT] : ['test/**/*.pg.test.ts'])],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup/backend-pass.ts', 'test/setup/temp-dirs.ts', 'test/setup/cpu-report.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // The bundled CLI that test/helpers/cli-in-process.ts runs is loaded by Node as it is, not
    // transformed by vite: the same code the casegate binary runs.
    server: { deps: { external: [/[\\/]dist[\\/]bin[\\/]/] } },
    // Files share their worker's module cache instead of importing every module again (import
    // time 124 s → 32 s per pass). Tests keep no state in modules: each file builds its own
    // servers, directories and schemas; the one cross-file flag (test/setup/backend-pass.ts) is
    // reset per file.
    isolate: false,
    // Most files wait on servers and child processes (Dovecot, Postfix, the daemons, timers), not
    // on the CPU: vitest's default of one worker per core minus one would run a 2-core machine's
    // suite one file at a time. Measured on 2 cores (2026-12-05): the SQLite pass 220–231 s with
    // 3 workers, 200 s with 4 (the CPU was idle a fifth of the time with 3); the PostgreSQL pass,
    // where the cluster's own CPU comes on top, 264–269 s with 3 and 273 s with 4.
    maxWorkers: postgres ? 3 : 4,
    sequence: { sequencer: SlowFirstSequencer },
    // The failures of each pass also go to data/test-failures/ (printed last by `npm test`).
    reporters: ['default', new FailureSummaryReporter()],
  },
});
