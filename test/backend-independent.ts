/**
 * Test files that never configure a database through the test helpers (test/helpers/test-db.ts):
 * they run the same code whichever backend the pass is for, so they run in the SQLite pass only
 * (vitest.config.ts). test/setup/backend-pass.ts fails a listed file that starts using a database;
 * `CASEGATE_TEST_DB_REPORT=FILE npx vitest run` lists which files use one (the source of this list).
 */
export const BACKEND_INDEPENDENT: readonly string[] = [
  'test/cli/config-errors.test.ts',
  'test/cli/daemon.test.ts',
  'test/harness/dovecot.test.ts',
  'test/imap/alert-templates.test.ts',
  'test/imap/imap-connection.test.ts',
  'test/unit/agent-primitives.test.ts',
  'test/unit/automated.test.ts',
  'test/unit/blob-store.test.ts',
  'test/unit/business-calendar.test.ts',
  'test/unit/config-database.test.ts',
  'test/unit/config-hygiene.test.ts',
  'test/unit/config.test.ts',
  'test/unit/docs.test.ts',
  'test/unit/escalation-signals.test.ts',
  'test/unit/flowed.test.ts',
  'test/unit/header-words.test.ts',
  'test/unit/memo.test.ts',
  'test/unit/mime-thread.test.ts',
  'test/unit/outbox-alert-templates.test.ts',
  'test/unit/parse-mail-text.test.ts',
  'test/unit/rules.test.ts',
  'test/unit/send-errors.test.ts',
  'test/unit/sla-config.test.ts',
  'test/unit/sql-home.test.ts',
  'test/unit/sqlite-checkpointer.test.ts',
  'test/unit/survey-links.test.ts',
  'test/unit/systemd-unit.test.ts',
  'test/unit/templates-cache.test.ts',
  'test/unit/templates-docs.test.ts',
  'test/unit/templates-kinds.test.ts',
  'test/unit/templates.test.ts',
  'test/unit/thread-headers.test.ts',
  'test/unit/threading-primitives.test.ts',
  'test/unit/visible-text-clients.test.ts',
  'test/unit/visible-text-properties.test.ts',
  'test/unit/visible-text.test.ts',
];
