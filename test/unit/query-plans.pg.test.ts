/**
 * The PostgreSQL counterpart of query-plans.test.ts (which reads SQLite's EXPLAIN QUERY PLAN):
 * the statements the code really runs on PostgreSQL — the pipeline over new mail, replies,
 * duplicates and bounces, the outbox worker claiming (FOR UPDATE SKIP LOCKED) and sending, and a
 * named list of other hot repo calls — recorded over a database holding a year of seeded history
 * (bench/seed-postgres.ts, analysed), then EXPLAINed with sequential scans disabled: a statement
 * that still shows a Seq Scan of a table that grows with history has no index that fits it. Each
 * statement's generic plan (for any values) is checked too: the server may run that one for a
 * named statement (src/db/pg-named-statements.ts).
 */
import { Readable } from 'node:stream';
import { Kysely, PostgresDialect, sql, type CompiledQuery } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedHistoryPostgres } from '../../bench/seed-postgres.js';
import type { AppContext } from '../../src/context.js';
import { bouncingAmong, isBouncing } from '../../src/db/repos/addresses.js';
import { attachmentsOfOutboxRows } from '../../src/db/repos/agent-work.js';
import { caseById, caseByNumber, isParticipant, listCases, participants } from '../../src/db/repos/cases.js';
import { eventsOfCase, freshLinkRequestsSince, senderNotifications } from '../../src/db/repos/events.js';
import { attachmentsOfMessages, caseByMessageIds, messagesOfCase } from '../../src/db/repos/messages.js';
import { autoRepliedCasesSince, autoRepliesSince, claimDue, nextDueAt, outboxOfCase, oldestQueued, releaseClaims, sentBodiesBefore, unclaimRows } from '../../src/db/repos/outbox.js';
import { dueNow, giveBackRoom, roomFor, takeRoom, usedLastMinute } from '../../src/db/repos/relay-rate.js';
import { countSlaBreach, slaBreachTotals } from '../../src/db/repos/ops.js';
import { listQuarantine, primaryReceipt, webRepliesSince } from '../../src/db/repos/receipts.js';
import { surveyAnswersSince } from '../../src/db/repos/surveys.js';
import { dueSlaChecks, duePendingActions, dueStaleChecks } from '../../src/db/repos/sla.js';
import { tagsOfCase } from '../../src/db/repos/tags.js';
import { DRIVING, newestHits, rebuildSearchIndex } from '../../src/db/repos/search.js';
import { priorityScheme } from '../../src/cases/priority.js';
import { parseSearchText } from '../../src/cases/search-text.js';
import { inboundTextsFrom, lastEventWithTrigger, lastStaffEvent, outgoingTexts, recentHumanMessages, subjectsOfCase } from '../../src/db/repos/thread-history.js';
import { takeLease } from '../../src/db/repos/leases.js';
import { statusReport } from '../../src/ops/status-report.js';
import { buildReport } from '../../src/reports/report.js';
import { createPostgresPool, namedTablesQuery } from '../../src/db/dialect-postgres.js';
import type { Database } from '../../src/db/schema.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import type { MailTransport } from '../../src/mail-out/transport.js';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { GROWING_TABLES } from '../helpers/query-plans.js';

const HISTORY = 20_000;

let env: TestEnv;
let capture: Kysely<Database>;
let ctx: AppContext;
let explain: pg.Pool;
const queries: CompiledQuery[] = [];

beforeAll(async () => {
  env = await testEnv({ autoReply: { perSenderPerHour: 1000 } });
  const d = env.ctx.config.database;
  const seeded = await seedHistoryPostgres(env.ctx.db as unknown as Kysely<unknown>, HISTORY, env.clock.now());
  expect(seeded.messages).toBe(HISTORY);
  // The seed writes rows with SQL; the search index is made in JavaScript (as bench/product.ts does).
  await rebuildSearchIndex(env.ctx.db);
  await sql`analyze message_search`.execute(env.ctx.db);
  capture = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: createPostgresPool({ url: d.url!, schema: d.schema, poolSize: 4, lockTimeoutMs: 5000 }) }),
    log: (e) => void queries.push(e.query),
  });
  ctx = { ...env.ctx, db: capture };
  explain = new pg.Pool({ connectionString: d.url!, options: `-c search_path=${d.schema}`, max: 1 });
}, 120_000);

afterAll(async () => {
  await capture?.destroy();
  await explain?.end();
  await env?.close();
});

async function ingest(raw: string): Promise<void> {
  const blob = await ctx.blobs.put(Readable.from([Buffer.from(raw)]));
  await runPipeline(ctx, { channel: 'test', mailbox: ctx.mailboxes.default, envelopeFrom: null, envelopeTo: [], receivedAt: env.clock.now(), raw: blob });
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function seqScans(node: PlanNode, out: string[] = []): string[] {
  if (node['Node Type'] === 'Seq Scan' && node['Relation Name'] !== undefined && GROWING_TABLES.has(node['Relation Name'])) out.push(`Seq Scan on ${node['Relation Name']}`);
  for (const child of node.Plans ?? []) seqScans(child, out);
  return out;
}

type ExplainRows = { 'QUERY PLAN': { Plan: PlanNode }[] };

/** `run` on a connection of its own inside a transaction with sequential scans disabled (rolled back after). */
async function withoutSeqScans(run: (c: pg.PoolClient) => Promise<pg.QueryResult<ExplainRows>>): Promise<PlanNode> {
  const c = await explain.connect();
  try {
    await c.query('begin');
    await c.query('set local enable_seqscan = off');
    return (await run(c)).rows[0]!['QUERY PLAN'][0]!.Plan;
  } finally {
    await c.query('rollback');
    // A prepared statement (genericPlanOf) outlives the transaction.
    await c.query('deallocate all');
    c.release();
  }
}

/** EXPLAIN ANALYZE of a statement: with the plan for its values, or (generic) the plan for any values. */
async function analyzedPlanOf(q: CompiledQuery, generic: boolean): Promise<PlanNode> {
  const c = await explain.connect();
  try {
    if (!generic) return (await c.query<ExplainRows>(`explain (analyze, format json) ${q.sql}`, q.parameters as unknown[])).rows[0]!['QUERY PLAN'][0]!.Plan;
    await c.query('set plan_cache_mode = force_generic_plan');
    await c.query(`prepare analyzed as ${q.sql}`);
    const args = q.parameters.map((v) => (Array.isArray(v) ? `'{${v.join(',')}}'` : typeof v === 'number' ? String(v) : c.escapeLiteral(String(v)))).join(', ');
    return (await c.query<ExplainRows>(`explain (analyze, format json) execute analyzed${args === '' ? '' : `(${args})`}`)).rows[0]!['QUERY PLAN'][0]!.Plan;
  } finally {
    await c.query('deallocate all');
    await c.query('reset plan_cache_mode');
    c.release();
  }
}

async function planOf(q: CompiledQuery): Promise<PlanNode> {
  return withoutSeqScans((c) => c.query<ExplainRows>(`explain (format json) ${q.sql}`, q.parameters as unknown[]));
}

/**
 * The generic plan of a statement (plan_cache_mode=force_generic_plan): what the server may keep for
 * a named statement after five calls (src/db/pg-named-statements.ts) and run for any values.
 */
async function genericPlanOf(q: CompiledQuery): Promise<PlanNode> {
  return withoutSeqScans(async (c) => {
    await c.query('set local plan_cache_mode = force_generic_plan');
    await c.query(`prepare generic_check as ${q.sql}`);
    // EXECUTE takes its values as SQL text: the values (which a generic plan does not look at) as literals.
    const literal = (v: unknown): string => {
      if (v === null || v === undefined) return 'NULL';
      if (typeof v === 'number' || typeof v === 'bigint') return String(v);
      if (typeof v === 'boolean') return v ? 'true' : 'false';
      if (typeof v === 'string') return c.escapeLiteral(v);
      if (v instanceof Date) return c.escapeLiteral(v.toISOString());
      if (Buffer.isBuffer(v)) return `'\\x${v.toString('hex')}'::bytea`;
      if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return `'{${v.join(',')}}'`;
      throw new Error(`no literal for a ${typeof v} parameter`);
    };
    const args = q.parameters.map(literal).join(', ');
    return c.query<ExplainRows>(`explain (format json) execute generic_check${args === '' ? '' : `(${args})`}`);
  });
}

describe('query plans on PostgreSQL', () => {
  it('no statement of the pipeline, the outbox worker or the named hot calls needs a sequential scan of a growing table', async () => {
    // The pipeline: new cases, a reply in the thread of our confirmation, a duplicate, a reply by subject tag, a bounce.
    for (let i = 0; i < 3; i++) await ingest(eml({ from: `Customer ${i} <plan${i}@customer.example>`, subject: `Plan ${i}`, messageId: `plan-${i}@customer.example` }));
    const confirmation = (await env.ctx.db.selectFrom('outbox').select(['message_id', 'case_id']).where('kind', '=', 'confirmation').orderBy('id', 'desc').executeTakeFirstOrThrow());
    const caseRow = (await caseById(env.ctx.db, confirmation.case_id!))!;
    await ingest(eml({ from: `Customer 2 <plan2@customer.example>`, subject: 'Re: Plan 2', messageId: 'plan-reply@customer.example', inReplyTo: confirmation.message_id.replace(/^<|>$/g, '') }));
    await ingest(eml({ from: `Customer 2 <plan2@customer.example>`, subject: 'Plan 2', messageId: 'plan-2@customer.example' }));
    await ingest(eml({ from: `Customer 2 <plan2@customer.example>`, subject: `Re: [Case #${caseRow.number}] more`, messageId: 'plan-tag@customer.example' }));
    // The outbox worker sends what was queued (claims with FOR UPDATE SKIP LOCKED).
    const transport: MailTransport = { name: 'discard', send: async () => ({ response: '250 ok' }), close: () => undefined };
    expect(await new OutboxWorker(ctx, transport).drain()).toBeGreaterThan(0);
    // Named hot calls (threading, dedupe, jobs, listings, leases).
    const now = env.clock.now().toISOString();
    const calls: [string, () => Promise<unknown>][] = [
      ['primary receipt', () => primaryReceipt(capture, 'mid:nothing@example.com')],
      ['case by Message-IDs', () => caseByMessageIds(capture, ['a@x', 'hist-77-0@customer.bench.example', 'b@x'])],
      ['case by number', () => caseByNumber(capture, 100_077)],
      ['participant check', () => isParticipant(capture, 77, 'customer76@customer.bench.example')],
      ['participants', () => participants(capture, 77)],
      ['our sent texts', () => outgoingTexts(capture, [77])],
      ['subjects of a case', () => subjectsOfCase(capture, 77)],
      ['recent human messages', () => recentHumanMessages(capture, 77, 5)],
      ['staff lowered it lately', () => lastStaffEvent(capture, 77, 'case.deescalated', '2026-01-01T00:00:00.000Z')],
      ['the sender’s earlier texts', () => inboundTextsFrom(capture, [77], 'jane@customer.example', 10)],
      ['last event with trigger', () => lastEventWithTrigger(capture, 77, 'case.escalated', 'keyword', '2026-01-01T00:00:00.000Z')],
      ['auto-replies since', () => capture.transaction().execute((trx) => autoRepliesSince(trx, 'customer76@customer.bench.example', now))],
      ['auto-replies since (+tag)', () => capture.transaction().execute((trx) => autoRepliesSince(trx, 'customer76+t1@customer.bench.example', now))],
      ['cases answered automatically since', () => autoRepliedCasesSince(capture, 'customer76@customer.bench.example', now, 10)],
      ['web replies of a case since', () => webRepliesSince(capture, 77, now)],
      ['fresh links one reader of a case asked for since', () => freshLinkRequestsSince(capture, 77, 'customer:customer76@customer.bench.example', now)],
      ['survey answers of a case since', () => surveyAnswersSince(capture, 77, now)],
      ['what one sender’s mail notified (flood cap)', () => capture.transaction().execute((trx) => senderNotifications(trx, 'customer:customer76@customer.bench.example', now, now))],
      ['bouncing?', () => isBouncing(capture, 'customer76@customer.bench.example')],
      ['bouncing recipients of a batch', () => bouncingAmong(capture, ['customer76@customer.bench.example', 'customer77@customer.bench.example'])],
      ['stored files of a batch', () => attachmentsOfOutboxRows(capture, [1, 2, 3])],
      ['claim due rows', () => claimDue(capture, { owner: 'plan', now, until: now, limit: 16, exclude: [1, 2] })],
      ['next due', () => nextDueAt(capture)],
      ['take room within the relay\'s minute (every claim)', () => takeRoom(capture, { relay: 'smtp.example.com:587', max: 30, n: 16, nowMs: Date.parse(now), whole: false })],
      ['give back rows the relay\'s minute had no room for', () => unclaimRows(capture, 'plan', [1, 2, 3])],
      ['give back room of a transaction that did not go', () => giveBackRoom(capture, 'smtp.example.com:587', Date.parse(now), 2)],
      ['when the relay\'s minute has room again', () => roomFor(capture, 'smtp.example.com:587', 30, Date.parse(now), 2)],
      ['room used in the relay\'s last minute', () => usedLastMinute(capture, 'smtp.example.com:587', Date.parse(now))],
      ['status and /metrics: emails of a relay due now', () => dueNow(capture, now, { fromNotIn: ['billing@example.com'], notHeld: ['held@example.com'] })],
      ['sent emails past retention with their body (jobs.sentBodies)', () => sentBodiesBefore(capture, now, 500)],
      ['let go of every claim (start)', () => releaseClaims(capture, null)],
      ['let go of its own claims (stop)', () => releaseClaims(capture, 'plan')],
      ['oldest queued', () => oldestQueued(capture)],
      ['/metrics: SLA breaches recorded (two counters rows)', () => slaBreachTotals(capture)],
      ['sla-check: count a breach', () => countSlaBreach(capture, 'resolution')],
      ['case view: messages', () => messagesOfCase(capture, 77)],
      ['case view: attachments', () => attachmentsOfMessages(capture, [305, 306])],
      ['case view: events', () => eventsOfCase(capture, 77)],
      ['case view: outbox', () => outboxOfCase(capture, 77)],
      ['case view: tags', () => tagsOfCase(capture, 77)],
      ['list: newest', () => listCases(capture, { limit: 50 })],
      ['list: status', () => listCases(capture, { status: ['open'], limit: 50 })],
      ['list: owner', () => listCases(capture, { owner: ['agent@example.com'], status: ['open'], limit: 50 })],
      ['list: requester', () => listCases(capture, { requester: ['customer17@example.com'], limit: 50 })],
      ['list: requester domain', () => listCases(capture, { requester: ['@customer.bench.example'], limit: 50 })],
      ['list: search', () => listCases(capture, { search: parseSearchText('printer "room 4"')!, limit: 50 })],
      ['list: search, a rare word drives', () => listCases(capture, { search: parseSearchText('problem "77"')!, limit: 50 })],
      ['list: search, newest matching messages', () => newestHits(capture, [77, 78], parseSearchText('printer "room 4"')!)],
      ['quarantine', () => listQuarantine(capture)],
      ['jobs: SLA checks', () => dueSlaChecks(capture, now, 200)],
      ['jobs: pending', () => duePendingActions(capture, now, 200)],
      ['jobs: stale', () => dueStaleChecks(capture, now, 200)],
      ['lease', () => takeLease(capture, 'imap:plan', 'me', now, now)],
    ];
    for (const [, call] of calls) await call();

    const distinct = new Map<string, CompiledQuery>();
    for (const q of queries) if (!/^\s*(begin|commit|rollback|savepoint|release|select (pg_|nextval|setval))/i.test(q.sql) && !distinct.has(q.sql)) distinct.set(q.sql, q);
    expect(distinct.size).toBeGreaterThan(40);
    const problems: string[] = [];
    for (const q of distinct.values()) {
      const scans = seqScans(await planOf(q));
      if (scans.length > 0) problems.push(`${scans.join(', ')}: ${q.sql.slice(0, 200)}`);
      // Named statements: the server may run the generic plan instead, for any values.
      const generic = seqScans(await genericPlanOf(q));
      if (generic.length > 0) problems.push(`generic plan: ${generic.join(', ')}: ${q.sql.slice(0, 200)}`);
    }
    expect(problems).toEqual([]);
  }, 120_000);

  it('cases list --search: a rare word reads its own few cases, not every case newest first (with a common word beside it too)', async () => {
    // Seeded: every inbound message says "problem", and "History problem 77" is case 77's subject.
    const rowsRead = (node: PlanNode & { 'Actual Rows'?: number; 'Actual Loops'?: number }, table: string): number =>
      (node['Relation Name'] === table ? (node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 1) : 0) + (node.Plans ?? []).reduce((n, c) => n + rowsRead(c, table), 0);
    for (const text of ['"77"', 'problem "77"', 'zqxnobodywrote']) {
      const before = queries.length;
      const found = await listCases(capture, { search: parseSearchText(text)!, spam: false, limit: 51 });
      expect(found.map((c) => c.number), text).toEqual(text === 'zqxnobodywrote' ? [] : [100_077]);
      const main = queries.slice(before).filter((q) => /from "cases"/.test(q.sql));
      expect(main).toHaveLength(1);
      // Both plans: the one for these values, and the generic one a named statement may keep after five calls.
      for (const generic of [false, true]) {
        const plan = await analyzedPlanOf(main[0]!, generic);
        // Before: every case read (5,000 here; 250,000 at 1 M messages), newest first, each probed for its messages.
        expect(rowsRead(plan, 'cases'), `${text}${generic ? ' (generic plan)' : ''}`).toBeLessThanOrEqual(1);
        expect(rowsRead(plan, 'messages'), `${text}${generic ? ' (generic plan)' : ''}`).toBeLessThanOrEqual(4);
      }
    }
  });

  it('cases list --search with two words in every message: the newest cases are probed and the walk stops at the list, instead of every message of a word read', async () => {
    const rowsRead = (node: PlanNode & { 'Actual Rows'?: number; 'Actual Loops'?: number }, table: string): number =>
      (node['Relation Name'] === table ? (node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 1) : 0) + (node.Plans ?? []).reduce((n, c) => n + rowsRead(c, table), 0);
    // Seeded: every inbound message says "problem" and "History" (10,000 messages, 5,000 cases).
    const before = queries.length;
    const search = parseSearchText('problem history')!;
    const found = await listCases(capture, { search, spam: false, limit: 51 });
    expect(found.map((c) => c.number)).toEqual(Array.from({ length: 51 }, (_, k) => 105_000 - k));
    await newestHits(capture, found.map((c) => c.id), search);
    const ran = queries.slice(before).filter((q) => /from "(cases|messages)"/.test(q.sql));
    // The list (the window's first cases by number, then one chunk of them probed: it filled the
    // list) and the newest matching message of each case.
    expect(ran.filter((q) => /from "cases"/.test(q.sql))).toHaveLength(2);
    for (const q of ran) {
      for (const generic of [false, true]) {
        const plan = await analyzedPlanOf(q, generic);
        const what = `${q.sql.slice(0, 60)}${generic ? ' (generic plan)' : ''}`;
        // Before: the list read every message of "problem" (10,000 here; 500,000 at 1 M messages:
        // 1.2–2.2 s), and the newest hits every message with both words (0.5–0.9 s at 1 M).
        expect(rowsRead(plan, 'message_search'), what).toBeLessThanOrEqual(4 * 102 * 2);
        // The window's ids: its 2,040 cases by number, no message; a chunk: 102 cases.
        expect(rowsRead(plan, 'cases'), what).toBeLessThanOrEqual(rowsRead(plan, 'message_search') === 0 ? 2_040 : 102);
      }
    }
    // Common words whose cases are all older than the newest ones tried first: the search over
    // every case finds them ("1…" is in the subjects of cases 1, 10–19, 100–199 and 1000–1999).
    const olderFrom = queries.length;
    const older = await listCases(capture, { search: parseSearchText('problem 1')!, spam: false, limit: 51 });
    expect(older.map((c) => c.number)).toEqual(Array.from({ length: 51 }, (_, k) => 101_999 - k));
    // The window's ids and its chunks of probes (102, 408, 1,632 cases), then the search over all cases.
    expect(queries.slice(olderFrom).filter((q) => /from "cases"/.test(q.sql))).toHaveLength(5);
  });

  const rowsReadOf = (node: PlanNode & { 'Actual Rows'?: number; 'Actual Loops'?: number }, table: string): number =>
    (node['Relation Name'] === table ? (node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 1) : 0) + (node.Plans ?? []).reduce((n, c) => n + rowsReadOf(c, table), 0);

  it('cases list sorted by priority (its default): a level at a time, each statement reads no more cases than the list, a search of two common words too', async () => {
    const levels = priorityScheme(env.ctx.config).levels;
    // Seeded: every case is "normal"; one urgent case and one of a priority no level has (listed last).
    await sql`update cases set priority = 'Urgent' where number = 100007`.execute(env.ctx.db);
    await sql`update cases set priority = 'odd' where number = 105000`.execute(env.ctx.db);
    await sql`analyze cases`.execute(env.ctx.db);
    try {
      // The newest normal cases (earlier tests stored a few past the seed's).
      const normal = (await sql<{ number: number }>`select number from cases where spam = 0 and priority = 'normal' order by number desc limit 50`.execute(env.ctx.db)).rows.map((r) => r.number);
      const before = queries.length;
      const plain = await listCases(capture, { spam: false, limit: 51, priorityOrder: levels });
      expect(plain.map((c) => c.number)).toEqual([100_007, ...normal]);
      const few = await listCases(capture, { spam: false, limit: 5, priorityOrder: levels, requester: ['customer6@customer.bench.example'] });
      expect(few.map((c) => c.number)).toEqual([100_007]);
      const search = parseSearchText('problem history')!;
      const found = await listCases(capture, { search, spam: false, limit: 51, priorityOrder: levels });
      expect(found.map((c) => c.number)).toEqual([100_007, ...Array.from({ length: 50 }, (_, k) => 104_999 - k)]);
      expect(normal[3]).toBe(104_999);
      const ran = queries.slice(before).filter((q) => /from "cases"/.test(q.sql));
      // Every case: the priority of no level comes last.
      const all = await listCases(capture, { spam: false, limit: 10_000, priorityOrder: levels });
      expect(all).toHaveLength(Number((await sql<{ n: number }>`select count(*)::int as n from cases where spam = 0`.execute(env.ctx.db)).rows[0]!.n));
      expect(all.at(-1)!.number).toBe(105_000);
      for (const q of ran) {
        const plan = await analyzedPlanOf(q, false);
        // Before: one statement sorted every case by the levels' CASE (5,000 here; 250,000 at 1 M
        // messages: 0.6–1 s), and the search read every message of a word (4–6 s at 1 M).
        expect(rowsReadOf(plan, 'cases'), q.sql.slice(0, 120)).toBeLessThanOrEqual(2_040);
        expect(rowsReadOf(plan, 'message_search'), q.sql.slice(0, 120)).toBeLessThanOrEqual(4 * 102 * 2);
      }
    } finally {
      await sql`update cases set priority = 'normal' where number in (100007, 105000)`.execute(env.ctx.db);
    }
  });

  it('cases list --search, common words that share no newest case: a word in far fewer messages drives (its cases, each probed for the other), not every message of the common one read', async () => {
    // Scaled to this history: "1…" (2,222 messages) drives, "problem" (10,000) is probed.
    const saved = { ...DRIVING };
    Object.assign(DRIVING, { drivingMatches: 3_000, drivingRatio: 4 });
    try {
      const before = queries.length;
      const found = await listCases(capture, { search: parseSearchText('problem 1')!, spam: false, limit: 51 });
      expect(found.map((c) => c.number)).toEqual(Array.from({ length: 51 }, (_, k) => 101_999 - k));
      const ran = queries.slice(before).filter((q) => /from "cases"/.test(q.sql));
      for (const q of ran) {
        const plan = await analyzedPlanOf(q, false);
        // Before: the search over all cases read every message of "problem" (10,000 here; 500,000 at 1 M: 3–5 s).
        expect(rowsReadOf(plan, 'message_search'), q.sql.slice(0, 120)).toBeLessThanOrEqual(1_632 * 2);
      }
    } finally {
      Object.assign(DRIVING, saved);
    }
  });

  it('searches in one long-lived process: the GIN probes and each search\'s own statement run unnamed (no generic plan for any tsquery, no slot per search)', async () => {
    // One connection (a transaction), named statements as casegate opens them (env.ctx.db).
    const named = await env.ctx.db.transaction().execute(async (trx) => {
      for (const text of ['problem "77"', 'problem "78"', 'problem history', 'problem "79"', 'problem "80"', 'problem "81"', 'problem "82"']) {
        const found = await listCases(trx, { search: parseSearchText(text)!, spam: false, limit: 51 });
        await newestHits(trx, found.map((c) => c.id), parseSearchText(text)!);
      }
      return (await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(trx)).rows.map((r) => r.statement);
    });
    // Before: the probe was named, went generic after five calls and then read message_search from
    // the start for a rare word (140 ms a search instead of 10–15 at 1 M messages), and every
    // search's statement (its ids written in) took a slot of its own (200 of them: 11 MB a connection).
    expect(named.filter((t) => /from message_search where words @@/.test(t))).toEqual([]);
    expect(named.filter((t) => /from "cases"/.test(t) && /message_search/.test(t))).toEqual([]);
    expect(named.some((t) => /from "messages"/.test(t))).toBe(true);
  });

  it('casegate status and report (a week) read what waits and what the window holds, not the history: no statement reads more than a few hundred rows of a growing table', async () => {
    // Seeded: 5,000 cases over a year (250 open, 250 resolved), 10,000 receipts and outbox rows.
    // Before: status counted every receipt and every outbox row (10,000 each here; 500,000 each at
    // 1 M messages: ~1 s a `status --check`), the open cases by reading each one's row; the
    // report returned every open case's row, and joined a week's first responses with the whole of
    // case_sla (5,000 here).
    const now = env.clock.now();
    const before = queries.length;
    await statusReport(ctx);
    await buildReport(capture, env.ctx.config, { from: new Date(now.getTime() - 7 * 86_400_000), to: now, periodName: 'custom', zone: 'UTC', now });
    const ran = queries.slice(before).filter((q) => /^\s*select/i.test(q.sql) && /from "(cases|receipts|outbox|events|case_sla|messages)"/.test(q.sql));
    expect(ran.length).toBeGreaterThan(10);
    const tooMany: string[] = [];
    for (const q of ran) {
      for (const generic of [false, true]) {
        const plan = await analyzedPlanOf(q, generic);
        for (const table of [...GROWING_TABLES, 'case_sla']) {
          const n = rowsReadOf(plan, table);
          // The backlog (500 not closed) and a week's cases (~100) with their clocks.
          if (n > 600) tooMany.push(`${table} ${n} rows${generic ? ' (generic plan)' : ''}: ${q.sql.slice(0, 160)}`);
        }
      }
    }
    expect(tooMany).toEqual([]);
    // The backlog's counts (open cases by status; the report's by queue, status, priority and age)
    // read the backlog through an index, one scan of cases: cases_open index-only on a vacuumed table
    // (bench/ops-queries.ts at 1 M). The access path itself is the planner's: with the test cluster's other files running, their
    // open transactions can keep VACUUM from marking the pages all-visible, and PostgreSQL then reads
    // cases_open as a bitmap, or the backlog's statuses by cases_status_priority — both read the
    // backlog alone, which the row counts above check. Never the whole table.
    const scansOf = (node: PlanNode, out: string[] = []): string[] => {
      if (node['Relation Name'] === 'cases') out.push(String(node['Node Type']));
      for (const child of node.Plans ?? []) scansOf(child, out);
      return out;
    };
    const backlog = ran.filter((q) => /from "cases" where "status" in/.test(q.sql));
    expect(backlog.length).toBeGreaterThanOrEqual(2);
    for (const q of backlog) {
      const scans = scansOf(await analyzedPlanOf(q, false));
      expect(scans.length, q.sql).toBe(1);
      expect(['Index Only Scan', 'Index Scan', 'Bitmap Heap Scan'], q.sql).toContain(scans[0]);
    }
  });

  it('every foreign key that names a row of a growing table has an index on its column: deleting that row (purge, erasure) looks its referrers up by key', async () => {
    // Before: messages.receipt_id, receipts.duplicate_of and receipts.retried_as had none, so each
    // receipt purge deleted read every message and receipt (16–18 minutes a batch at 1 M messages).
    const fks = await sql<{ child: string; col: string; parent: string }>`
      select c.conrelid::regclass::text as child, a.attname as col, c.confrelid::regclass::text as parent
      from pg_constraint c join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
      where c.contype = 'f' and c.connamespace = current_schema()::regnamespace`.execute(env.ctx.db);
    const unindexed: string[] = [];
    for (const fk of fks.rows) {
      if (!GROWING_TABLES.has(fk.parent) || !GROWING_TABLES.has(fk.child)) continue;
      // What the foreign key's check asks when a parent row is deleted.
      const plan = await withoutSeqScans((c) => c.query<ExplainRows>(`explain (format json) select 1 from ${fk.child} where ${fk.col} = 1`));
      if (seqScans(plan).length > 0) unindexed.push(`${fk.child}.${fk.col} → ${fk.parent}`);
    }
    expect(unindexed).toEqual([]);
  });

  it('the migrator asks about its own tables by name: an index lookup in pg_class, not a scan of every schema', async () => {
    // What the migrator sees (several times at every start of a daemon or command): its two tables, nothing else.
    const tables = await env.ctx.db.introspection.getTables();
    expect(tables.map((t) => [t.schema, t.name]).sort()).toEqual([
      [env.ctx.config.database.schema, 'casegate_migrations'],
      [env.ctx.config.database.schema, 'casegate_migrations_lock'],
    ]);
    const plan = JSON.stringify(await planOf(namedTablesQuery(['casegate_migrations', 'casegate_migrations_lock']).compile(env.ctx.db)));
    expect(plan).toContain('pg_class_relname_nsp_index');
    expect(plan).not.toMatch(/"Node Type":"Seq Scan","[^{}]*"Relation Name":"pg_class"/);
  });
});
