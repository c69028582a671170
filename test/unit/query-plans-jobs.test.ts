import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest, registerSqliteFunctions } from '../../src/db/database.js';
import { dueForSurvey, lastAgentReplyText, requesterMessages, resolvedBefore } from '../../src/db/repos/follow-up.js';
import { claim, jobRun } from '../../src/db/repos/jobs.js';
import { countSlaBreach } from '../../src/db/repos/ops.js';
import { closedCasesAmong, closedCasesBefore } from '../../src/db/repos/purge.js';
import { isLinkRevoked } from '../../src/db/repos/links.js';
import { publicMessages } from '../../src/db/repos/public-thread.js';
import { countCasesBy, eventsInRange, feedbackInRange, firstResponsesInRange, openCases, ratingsInRange, resolutionsInRange, suspectedSpamOpened } from '../../src/db/repos/report.js';
import { claimSlaFlag, duePendingActions, dueSlaChecks, dueStaleChecks, slaOfCase } from '../../src/db/repos/sla.js';
import { isSurveyReference, surveyOfCase } from '../../src/db/repos/surveys.js';
import type { Database } from '../../src/db/schema.js';
import { indexesOf, planProblems, setStats, STATS_REGIMES } from '../helpers/query-plans.js';

/**
 * Every query the jobs, the web pages and the report run has an index that fits: each statement
 * is captured as Kysely runs it and EXPLAIN QUERY PLAN — under each set of statistics a production
 * file can carry (STATS_REGIMES) — must show no full table scan and no search of a growing table
 * by few-valued columns alone (helpers/query-plans.ts).
 */

let dir: string;
let sqlite: SQLite.Database;
let db: Kysely<Database>;
const captured: { sql: string; params: readonly unknown[] }[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'casegate-plans-'));
  sqlite = new SQLite(join(dir, 'plans.db'));
  registerSqliteFunctions(sqlite);
  db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: sqlite }),
    log: (e) => {
      if (e.level === 'query') captured.push({ sql: e.query.sql, params: e.query.parameters });
    },
  });
  await migrateToLatest(db);
});
afterAll(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** A connection that plans with the statistics of the regime under test (loaded when it opens). */
let explainer: SQLite.Database | undefined;
function plan(sql: string, params: readonly unknown[]): string[] {
  return (explainer!.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...(params as unknown[])) as { detail: string }[]).map((r) => r.detail);
}

const now = '2026-03-02T12:00:00.000Z';
const range = { from: '2026-03-01T00:00:00.000Z', to: '2026-03-02T00:00:00.000Z' };
const QUERIES: [string, () => Promise<unknown>][] = [
  ['sla-check: due warn/breach times', () => dueSlaChecks(db, now, 200)],
  ['sla-check: claim a flag', () => claimSlaFlag(db, 1, 'fr_warned_at', now)],
  ['sla-check: count a breach (/metrics casegate_sla_breaches_total)', () => countSlaBreach(db, 'first_response')],
  ['sla state of a case', () => slaOfCase(db, 1)],
  ['pending-reminder: due reminders/closes', () => duePendingActions(db, now, 200)],
  ['pending-reminder: our last question', () => lastAgentReplyText(db, 1)],
  ['critical-reminder: quiet critical cases', () => dueStaleChecks(db, now, 200)],
  ['resolved-close: resolved long ago', () => resolvedBefore(db, now, 200)],
  // Retention (jobs.retention / casegate purge): the closed cases past it, oldest first, a batch at a time.
  ['purge: closed before, oldest first', () => closedCasesBefore(db, now, 500)],
  ['purge: those of a batch still closed', () => closedCasesAmong(db, [1, 2, 3], now)],
  ['survey: resolved, not surveyed', () => dueForSurvey(db, range.from, range.to, 200)],
  ['survey: the requester\'s own messages', () => requesterMessages(db, 1, 'jane@customer.example')],
  ['claims', () => claim(db, 'survey', 1, 'survey', now)],
  ['job runs', () => jobRun(db, 'survey')],
  ['web: link revoked?', () => isLinkRevoked(db, 1, 'abc', now)],
  ['web: public thread', () => publicMessages(db, 1, ['agent-reply'])],
  ['web/survey: survey answer', () => surveyOfCase(db, 1)],
  ['pipeline: survey reference', () => isSurveyReference(db, 1, ['a@b', 'c@d'])],
  ['report: opened', () => countCasesBy(db, 'created_at', range)],
  ['report: resolved (queue)', () => countCasesBy(db, 'resolved_at', { ...range, queue: 'support' })],
  ['report: closed', () => countCasesBy(db, 'closed_at', range)],
  ['report: escalations / breaches / reopenings', () => eventsInRange(db, 'sla.breach', { ...range, queue: 'support' })],
  ['report: first responses', () => firstResponsesInRange(db, range)],
  ['report: resolutions', () => resolutionsInRange(db, { ...range, queue: 'support' })],
  ['report: backlog', () => openCases(db, ['2026-03-01T12:00:00.000Z', '2026-02-27T12:00:00.000Z', '2026-02-23T12:00:00.000Z'])],
  ['report: suspected spam opened', () => suspectedSpamOpened(db, range)],
  ['report: backlog (queue)', () => openCases(db, ['2026-03-01T12:00:00.000Z'], 'support')],
  ['report: ratings', () => ratingsInRange(db, range)],
  ['report: feedback', () => feedbackInRange(db, range)],
];

describe.each(STATS_REGIMES)('query plans with $name statistics', ({ rows }) => {
  beforeAll(() => {
    setStats(join(dir, 'plans.db'), rows);
    explainer = new SQLite(join(dir, 'plans.db'), { readonly: true });
  });
  afterAll(() => explainer?.close());

  it.each(QUERIES)('%s uses an index', async (_name, run) => {
    captured.length = 0;
    await run();
    expect(captured.length).toBeGreaterThan(0);
    const indexes = indexesOf(join(dir, 'plans.db'));
    for (const q of captured) {
      const details = plan(q.sql, q.params);
      const scans = details.filter((d) => /^SCAN (?!CONSTANT)/.test(d) && !/USING (COVERING )?INDEX/.test(d));
      expect(scans, `${q.sql}\n${details.join('\n')}`).toEqual([]);
      // The few-valued rule alone (the scenario test's other rules are not this file's).
      const few = planProblems(details, /^(?!SEARCH )/, indexes);
      expect(few, `${q.sql}\n${details.join('\n')}`).toEqual([]);
    }
  });
});
