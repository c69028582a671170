/**
 * Flat cost at any history size (issue 12): every statement on a hot path uses an index that fits
 * it. The statements are not written down here: they are recorded while the real code runs —
 * the whole pipeline over every golden fixture and a set of threading/bounce/escalation scenarios,
 * the outbox worker sending (and retrying, failing) the mail it queued — plus a named list of
 * other hot repo calls. Each recorded statement's EXPLAIN QUERY PLAN must show no SCAN of a table
 * that grows with history and no temporary B-tree sort. To cover a new hot query, add it to
 * NAMED_HOT_QUERIES (or make sure a scenario runs it).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppContext } from '../../src/context.js';
import { bouncingAmong, isBouncing } from '../../src/db/repos/addresses.js';
import { attachmentsOfOutboxRows } from '../../src/db/repos/agent-work.js';
import { caseById, caseByNumber, isParticipant, listCases, participants, requesterCasesBySubject, requesterSubjectMessagesSent } from '../../src/db/repos/cases.js';
import { eventsOfCase, freshLinkRequestsSince, senderNotifications } from '../../src/db/repos/events.js';
import { attachmentsOfMessages, caseByMessageIds, messagesOfCase } from '../../src/db/repos/messages.js';
import { autoRepliedCasesSince, autoRepliesSince, claimDue, dropSentBodies, nextDueAt, outboxOfCase, releaseClaims, sentBodiesBefore, unclaimRows } from '../../src/db/repos/outbox.js';
import { dueNow, giveBackRoom, roomFor, takeRoom, usedLastMinute } from '../../src/db/repos/relay-rate.js';
import { caseRateAlertedSince, newCasesOfMailboxSince } from '../../src/db/repos/case-rate.js';
import { listQuarantine, primaryReceipt, receiptById, resendCandidates, webRepliesSince } from '../../src/db/repos/receipts.js';
import { surveyAnswersSince } from '../../src/db/repos/surveys.js';
import { lastStoredAt, openCaseCounts, openSlaBreaches, outboxDepth, quarantineWaiting, slaBreachTotals } from '../../src/db/repos/ops.js';
import { tagsOfCase } from '../../src/db/repos/tags.js';
import { statusReport } from '../../src/ops/status-report.js';
import { buildReport } from '../../src/reports/report.js';
import { newestHits } from '../../src/db/repos/search.js';
import { parseSearchText } from '../../src/cases/search-text.js';
import { inboundTextsFrom, lastEventWithTrigger, lastStaffEvent, outgoingTexts, recentHumanMessages, subjectsOfCase } from '../../src/db/repos/thread-history.js';
import type { Database } from '../../src/db/schema.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import type { MailTransport } from '../../src/mail-out/transport.js';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { boundPartialIndexTerms, capturingDb, distinct, fewValuedSearch, indexesOf, partialIndexValueColumns, planProblems, STATS_REGIMES, type Captured, type CapturingDb } from '../helpers/query-plans.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

type Db = Kysely<Database>;

/**
 * Hot queries outside the inbound pipeline and the outbox worker's send loop: threading and
 * dedupe lookups called directly, job scans, the case views and listings the CLI and web use.
 * Each runs against a database that holds the scenario's cases.
 */
interface NamedQuery {
  readonly name: string;
  run(db: Db, ids: Ids): Promise<unknown>;
  /** Plan lines accepted for this query, and why they stay cheap at any history size. */
  readonly allow?: { readonly line: RegExp; readonly why: string };
}

const NAMED_HOT_QUERIES: readonly NamedQuery[] = [
  { name: 'dedupe: primary receipt by key', run: (db) => primaryReceipt(db, 'mid:nothing@example.com') },
  // Re-sent copies (stages/resend.ts): a message's earlier receipts with its resend key, on receipts_resend (0027).
  { name: 'resend: earlier receipts of the same content', run: (db) => resendCandidates(db, 'f'.repeat(64), '2026-02-23T09:00:00.000Z', undefined) },
  // The new-case rate alert (pipeline/case-rate-alert.ts) after every new case: one mailbox's hour, on cases_mailbox_created (0028).
  { name: 'case-rate: new cases of a mailbox within the hour', run: (db) => newCasesOfMailboxSince(db, 'support', '2026-03-02T08:00:00.000Z', 101) },
  { name: 'case-rate: alerts raised within the hour', run: (db) => caseRateAlertedSince(db, '2026-03-02T08:00:00.000Z') },
  { name: 'thread: case by Message-IDs (one)', run: (db, ids) => caseByMessageIds(db, [ids.customerMessageId]) },
  { name: 'thread: case by Message-IDs (many)', run: (db, ids) => caseByMessageIds(db, ['a@x', 'b@x', ids.customerMessageId, 'c@x']) },
  { name: 'thread: case by number', run: (db, ids) => caseByNumber(db, ids.caseNumber) },
  // A forward of her own message (forwarded-copy): her cases of the forwarded subject, on cases_requester_subject (0035) …
  { name: 'thread: a forward’s cases of that requester and subject, newest first', run: (db) => requesterCasesBySubject(db, 'jane@customer.example', 'Printer on fire') },
  // … and, beyond her newest ones, her messages of the forwarded Date on any of them, on messages_from_sent (0038).
  {
    name: 'thread: a forward’s message by its Date among her cases of that subject',
    run: (db) => requesterSubjectMessagesSent(db, 'jane@customer.example', 'Printer on fire', { from: '2026-03-02T08:00:00.000Z', to: '2026-03-02T08:02:00.000Z' }),
  },
  { name: 'thread: participant check', run: (db, ids) => isParticipant(db, ids.caseId, 'jane@customer.example') },
  { name: 'escalation: our sent texts of cases', run: (db, ids) => outgoingTexts(db, [ids.caseId]) },
  { name: 'escalation: subjects of a case', run: (db, ids) => subjectsOfCase(db, ids.caseId) },
  { name: 'escalation: recent human messages', run: (db, ids) => recentHumanMessages(db, ids.caseId, 5) },
  { name: 'escalation: staff lowered it lately', run: (db, ids) => lastStaffEvent(db, ids.caseId, 'case.deescalated', '2026-01-01T00:00:00.000Z') },
  { name: 'escalation: the sender’s earlier texts on cases', run: (db, ids) => inboundTextsFrom(db, [ids.caseId], 'jane@customer.example', 10) },
  { name: 'escalation: last event with trigger', run: (db, ids) => lastEventWithTrigger(db, ids.caseId, 'case.escalated', 'keyword', '2026-01-01T00:00:00.000Z') },
  { name: 'react: auto-replies since (rate limit)', run: (db) => autoRepliesSince(db, 'jane@customer.example', '2026-03-02T08:00:00.000Z') },
  { name: 'react: auto-replies since to a +tag address (its forms counted together)', run: (db) => autoRepliesSince(db, 'desk+t42@vendor.example', '2026-03-02T08:00:00.000Z') },
  { name: 'react: cases answered automatically since (the repeat check)', run: (db) => autoRepliedCasesSince(db, 'jane@customer.example', '2026-03-02T08:00:00.000Z', 10) },
  { name: 'notify-staff: what one sender’s mail notified within the hour (the flood cap)', run: (db) => db.transaction().execute((trx) => senderNotifications(trx, 'customer:jane@customer.example', '2026-03-02T08:00:00.000Z', '2026-03-01T09:00:00.000Z')) },
  { name: 'web: replies of a case page since (its rate limit)', run: (db, ids) => webRepliesSince(db, ids.caseId, '2026-03-02T08:00:00.000Z') },
  { name: 'web: fresh links one reader of a case asked for since (the notice page’s rate limit)', run: (db, ids) => freshLinkRequestsSince(db, ids.caseId, 'customer:jane@customer.example', '2026-03-02T08:00:00.000Z') },
  { name: 'web: survey answers of a case since (the survey form’s rate limit)', run: (db, ids) => surveyAnswersSince(db, ids.caseId, '2026-03-02T08:00:00.000Z') },
  // (h8 replaced the read of due rows by a claim in one statement.)
  { name: 'outbox: claim due rows', run: (db) => claimDue(db, { owner: 'plans', now: '2026-03-02T10:00:00.000Z', until: '2026-03-02T10:05:00.000Z', limit: 16, exclude: [1, 2] }) },
  { name: 'outbox: next due time', run: (db) => nextDueAt(db) },
  // A relay's maxPerMinute shared by every daemon (0040, relay-rate.ts): every claim takes its rows' room in one short transaction (the minute's sum, this second's count) …
  { name: 'outbox: take room within the relay\'s minute (every claim)', run: (db) => takeRoom(db, { relay: 'smtp.example.com:587', max: 30, n: 16, nowMs: Date.parse('2026-03-02T10:00:00.000Z'), whole: false }) },
  // … and, only when the minute is full: the rows it had no room for go back, room of a transaction that did not go too, and when it has room again.
  { name: 'outbox: give back rows the relay\'s minute had no room for', run: (db) => unclaimRows(db, 'plans', [1, 2, 3]) },
  { name: 'outbox: give back room of a transaction that did not go', run: (db) => giveBackRoom(db, 'smtp.example.com:587', Date.parse('2026-03-02T10:00:00.000Z'), 2) },
  { name: 'outbox: when the relay\'s minute has room again', run: (db) => roomFor(db, 'smtp.example.com:587', 30, Date.parse('2026-03-02T10:00:00.000Z'), 2) },
  { name: 'outbox, status, metrics: room used in the relay\'s last minute', run: (db) => usedLastMinute(db, 'smtp.example.com:587', Date.parse('2026-03-02T10:00:00.000Z')) },
  // casegate status and /metrics: the emails of a relay due now (what waits for its minute's room).
  { name: 'status/metrics: emails of a relay due now', run: (db) => dueNow(db, '2026-03-02T10:00:00.000Z', { fromNotIn: ['billing@example.com'], notHeld: ['held@example.com'] }) },
  // The retention job (jobs.sentBodies): the partial index of sent rows that still have a body (0020).
  { name: 'outbox: sent emails past retention with their body', run: (db) => sentBodiesBefore(db, '2026-03-02T10:00:00.000Z', 500) },
  { name: 'outbox: drop the bodies of sent emails', run: (db) => dropSentBodies(db, [1, 2, 3], '2026-03-02T10:00:00.000Z') },
  // The worker's start (every claim) and stop (its own): found by the partial index of held rows.
  { name: 'outbox: let go of every claim (start)', run: (db) => releaseClaims(db, null) },
  { name: 'outbox: let go of its own claims (stop)', run: (db) => releaseClaims(db, 'plans') },
  { name: 'outbox: bouncing address', run: (db) => isBouncing(db, 'jane@customer.example') },
  { name: 'outbox: bouncing recipients of a batch', run: (db) => bouncingAmong(db, ['jane@customer.example', 'joe@customer.example']) },
  { name: 'outbox: stored files of a batch', run: (db) => attachmentsOfOutboxRows(db, [1, 2, 3]) },
  { name: 'case view: case by id', run: (db, ids) => caseById(db, ids.caseId) },
  { name: 'case view: messages', run: (db, ids) => messagesOfCase(db, ids.caseId) },
  { name: 'case view: attachments', run: (db) => attachmentsOfMessages(db, [1, 2, 3]) },
  { name: 'case view: events', run: (db, ids) => eventsOfCase(db, ids.caseId) },
  { name: 'case view: outbox rows', run: (db, ids) => outboxOfCase(db, ids.caseId) },
  {
    name: 'case view: participants',
    run: (db, ids) => participants(db, ids.caseId),
    allow: { line: /^USE TEMP B-TREE FOR ORDER BY$/, why: 'sorts the few participants of one case found by the (case_id, address) index' },
  },
  { name: 'case view: tags', run: (db, ids) => tagsOfCase(db, ids.caseId) },
  {
    name: 'listing: newest cases',
    run: (db) => listCases(db, { limit: 20 }),
    allow: { line: /^SCAN cases USING INDEX sqlite_autoindex_cases_1$/, why: 'walks the case-number index newest first and stops after LIMIT rows' },
  },
  {
    name: 'listing: cases of one status, newest first',
    run: (db) => listCases(db, { status: ['new'] }),
    allow: { line: /^SEARCH cases USING INDEX cases_status_number \(status=\?\)$/, why: 'walks one status newest first along (status, number) and stops after LIMIT rows' },
  },
  // The default list (cases list, the web's): no suspected spam, newest first — the case numbers,
  // skipping the few spam cases; and `cases list --spam`: the partial index of suspected spam (0033).
  {
    name: 'listing: newest cases without suspected spam',
    run: (db) => listCases(db, { spam: false, limit: 20 }),
    allow: { line: /^SCAN cases USING INDEX sqlite_autoindex_cases_1$/, why: 'walks the case-number index newest first and stops after LIMIT rows' },
  },
  {
    name: 'listing: suspected spam, newest first',
    run: (db) => listCases(db, { spam: true, limit: 20 }),
    allow: { line: /^SCAN cases USING INDEX cases_spam$/, why: 'the partial index holds the suspected spam alone, newest first; stops after LIMIT rows' },
  },
  { name: 'listing: an agent\'s cases of one status', run: (db) => listCases(db, { owner: ['erika@example.com'], status: ['open'] }) },
  {
    name: 'listing: cases of one requester',
    run: (db) => listCases(db, { requester: ['jane@example.com'] }),
    allow: { line: /^USE TEMP B-TREE FOR ORDER BY$/, why: 'sorts the cases of one requester, found by the requester index' },
  },
  // --requester @domain: the domain index (0026), newest first, no sort and no walk through every case.
  { name: 'listing: cases of one requester domain', run: (db) => listCases(db, { requester: ['@example.com'] }) },
  {
    name: 'listing: search (cases list --search)',
    run: (db) => listCases(db, { search: parseSearchText('printer "room 4"')! }),
    allow: {
      line: /^(SCAN messages_fts VIRTUAL TABLE INDEX|USE TEMP B-TREE FOR ORDER BY$)/,
      why: 'the FTS5 index finds the messages by their words; the cases they belong to are sorted (as many as the words match)',
    },
  },
  {
    name: 'listing: the newest matching message of the cases listed',
    run: (db, ids) => newestHits(db, [ids.caseId], parseSearchText('printer "room 4"')!),
    allow: { line: /^SCAN messages_fts VIRTUAL TABLE INDEX/, why: 'the FTS5 index itself: finds the matching messages by their words' },
  },
  { name: 'listing: quarantine', run: (db) => listQuarantine(db) },
  { name: 'quarantine: receipt by id', run: (db) => receiptById(db, 1) },
  // Every /metrics scrape and `casegate status` (issue 13).
  {
    name: 'metrics: open cases by status and priority',
    run: (db) => openCaseCounts(db),
    allow: { line: /^USE TEMP B-TREE FOR GROUP BY$/, why: 'groups the rows of cases_open, which holds the open cases alone (the backlog, not the history)' },
  },
  // `casegate status` whole (every minute from monitoring: `status --check`) and `casegate report`
  // (a week): every statement each runs. Until 2026-12-07 status counted every receipt and every
  // outbox row (SCAN … USING COVERING INDEX), ~1 s at 1 M messages.
  {
    name: 'casegate status: every statement',
    run: (db) => statusReport({ ...env.ctx, db }),
    allow: {
      line: /^(USE TEMP B-TREE FOR GROUP BY|SCAN (mailbox_health|transport_health|job_runs|leases)\b.*|USE TEMP B-TREE FOR ORDER BY|SEARCH receipts USING COVERING INDEX receipts_outcome \(outcome=\?\))$/,
      why: 'the small tables of state (one row a mailbox, relay, job); the groups of the backlog’s rows in cases_open; the newest stored message, one step down (outcome, received_at)',
    },
  },
  {
    name: 'casegate report (7 days): every statement',
    run: (db) => buildReport(db, env.ctx.config, { from: new Date('2026-02-23T12:00:00.000Z'), to: new Date('2026-03-02T12:00:00.000Z'), periodName: 'custom', zone: 'UTC', now: new Date('2026-03-02T12:00:00.000Z') }),
    allow: { line: /^USE TEMP B-TREE FOR (GROUP BY|ORDER BY|LAST \d+ TERMS OF ORDER BY)$/, why: 'groups or orders the rows of one week (or the backlog in cases_open): what the report returns' },
  },
  { name: 'metrics: outbox depth and oldest queued', run: (db) => outboxDepth(db) },
  { name: 'metrics: open SLA breaches', run: (db) => openSlaBreaches(db) },
  // Two counters rows by key. Until 2026-12-07 every scrape counted every sla.breach event (SEARCH
  // events USING COVERING INDEX events_type_time (type=?): all of them, a growing read).
  { name: 'metrics: SLA breaches recorded (casegate_sla_breaches_total)', run: (db) => slaBreachTotals(db) },
  { name: 'metrics: quarantine waiting', run: (db) => quarantineWaiting(db) },
  {
    name: 'metrics: last stored message',
    run: (db) => lastStoredAt(db),
    allow: { line: /^SEARCH receipts USING COVERING INDEX receipts_outcome \(outcome=\?\)$/, why: 'one step down (outcome, received_at), newest first, LIMIT 1' },
  },
];

interface Ids {
  readonly caseId: number;
  readonly caseNumber: number;
  readonly customerMessageId: string;
}

/** Accepts everything except mail to addresses that name a failure (to run the retry and failure paths). */
const transport: MailTransport = {
  name: 'plans',
  async send(message) {
    const to = JSON.stringify(message.to);
    if (to.includes('temporary')) throw Object.assign(new Error('451 try later'), { responseCode: 451 });
    if (to.includes('permanent')) throw Object.assign(new Error('550 no such user'), { responseCode: 550 });
    return { response: '250 ok' };
  },
  close: () => undefined,
};

let env: TestEnv;
let cap: CapturingDb;
let ctx: AppContext;
let ids: Ids;
const scenario: Captured[] = [];

async function ingest(raw: string | Buffer): Promise<void> {
  const blob = await ctx.blobs.put(Readable.from([typeof raw === 'string' ? Buffer.from(raw) : raw]));
  const outcome = await runPipeline(ctx, { channel: 'test', mailbox: ctx.mailboxes.default, envelopeFrom: null, envelopeTo: [], receivedAt: ctx.clock.now(), raw: blob });
  if (outcome.kind === 'retry') throw new Error(`unexpected retry: ${outcome.reason}`);
}

async function lastConfirmationId(): Promise<string> {
  const row = await env.ctx.db.selectFrom('outbox').select('message_id').orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
  return row.message_id;
}

function dsnAbout(messageId: string, recipient: string): string {
  return [
    'From: MAILER-DAEMON@mx.example (Mail Delivery System)',
    'To: support@example.com',
    'Subject: Undelivered Mail Returned to Sender',
    `Message-ID: <dsn-${Math.random().toString(36).slice(2)}@mx.example>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="r"',
    '',
    '--r',
    'Content-Type: text/plain',
    '',
    `<${recipient}>: 550 5.1.1 user unknown`,
    '--r',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example',
    '',
    `Final-Recipient: rfc822; ${recipient}`,
    'Action: failed',
    'Status: 5.1.1',
    '',
    '--r',
    'Content-Type: text/rfc822-headers',
    '',
    `Message-ID: <${messageId}>`,
    `To: ${recipient}`,
    'Subject: [Case #10001] We have received your request',
    '--r--',
    '',
  ].join('\r\n');
}

beforeAll(async () => {
  env = await testEnv({
    queues: {
      support: {
        tiers: { 1: { addresses: ['leads@example.com'] } },
        agents: [
          { name: 'Erika', address: 'erika@example.com' },
          { name: 'Max', address: 'max@example.com' },
        ],
        assignment: 'round-robin',
      },
    },
  });
  cap = capturingDb(env.ctx.paths.dbPath);
  ctx = { ...env.ctx, db: cap.db };
  const worker = new OutboxWorker(ctx, transport);
  const drain = async (): Promise<void> => {
    await worker.drain();
  };

  const start = cap.queries.length;
  // Every golden fixture (bounces and replies refer to the newest confirmation).
  for (const file of readdirSync(FIXTURES).filter((f) => f.endsWith('.eml')).sort()) {
    const raw = readFileSync(join(FIXTURES, file), 'latin1');
    const needsId = raw.includes('{{');
    const confirmation = needsId ? await lastConfirmationId().catch(() => 'none@example.com') : '';
    await ingest(Buffer.from(raw.replace(/\{\{\s*confirmation_message_id\s*\}\}/g, confirmation), 'latin1'));
  }
  await drain();

  // Threading by every rule, duplicates, reopen, escalation, bounces, retries and failures.
  await ingest(eml({ messageId: 'first@customer.example', subject: 'Printer on fire', cc: 'boss@customer.example' }));
  const first = await env.ctx.db.selectFrom('cases').selectAll().orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
  const confirmation = await lastConfirmationId();
  await ingest(eml({ messageId: 'first@customer.example', subject: 'Printer on fire' })); // duplicate
  await ingest(eml({ messageId: null, subject: 'No id', body: 'same bytes' }));
  await ingest(eml({ messageId: null, subject: 'No id', body: 'same bytes' })); // duplicate by hash
  await ingest(eml({ inReplyTo: confirmation, references: `<first@customer.example> <${confirmation}>`, subject: 'Re: Printer on fire', body: 'Still burning' }));
  await ingest(eml({ inReplyTo: 'first@customer.example', references: '<first@customer.example>', subject: 'Re: Printer on fire', body: 'Known reference' }));
  await ingest(eml({ from: 'Boss <boss@customer.example>', inReplyTo: 'first@customer.example', subject: 'Re: Printer on fire', body: 'From the CC' }));
  await ingest(eml({ subject: `Re: [Case #${first.number}] Printer on fire`, body: 'By the tag' }));
  await ingest(eml({ from: 'Stranger <stranger@else.example>', subject: `[Case #${first.number}] let me in`, body: 'A stranger' }));
  await ingest(eml({ subject: `Re: [Case #${first.number}] Printer on fire`, body: 'Please escalate this, it is urgent.' }));
  await ingest(eml({ subject: `Urgent - printer #${first.number}`, body: 'Escalation please' }));
  await ingest(eml({ from: 'Erika <erika@example.com>', inReplyTo: confirmation, subject: `Re: [Case #${first.number}] Printer on fire`, body: '#assign max\n#priority high\nOn it.' }));
  await ingest(eml({ to: `support+c${first.number}-0000000000@example.com`, subject: 'plus address with a bad token' }));
  await drain();
  await env.ctx.db.updateTable('cases').set({ status: 'resolved', resolved_at: '2026-03-02T09:00:00.000Z' }).where('id', '=', first.id).execute();
  await ingest(eml({ inReplyTo: confirmation, subject: `Re: [Case #${first.number}] Printer on fire`, body: 'It is back!' })); // reopens
  await ingest(eml({ from: 'T <temporary@customer.example>', subject: 'will be retried' }));
  await ingest(eml({ from: 'P <permanent@customer.example>', subject: 'will fail' }));
  await drain();
  await ingest(dsnAbout(confirmation, 'jane@customer.example'));
  await ingest(eml({ subject: 'to a bouncing address' })); // suppressed confirmation
  env.clock.advance(3_600_000);
  await drain();
  scenario.push(...cap.queries.slice(start));
  ids = { caseId: first.id, caseNumber: first.number, customerMessageId: 'first@customer.example' };
});

afterAll(async () => {
  await cap?.close();
  await env?.close();
});

const PRINT = process.env['PLANS_PRINT'] === '1';

/**
 * Statements whose plan does not fit, or that bind a parameter where a partial index needs a
 * literal (re-prepared on every call); PLANS_PRINT=1 prints every statement with its plan.
 */
function report(list: readonly Captured[], allow?: RegExp): string[] {
  const bad: string[] = [];
  const partialColumns = partialIndexValueColumns(env.ctx.paths.dbPath);
  const indexes = indexesOf(env.ctx.paths.dbPath);
  for (const q of distinct(list)) {
    const plan = cap.explain(q);
    if (PRINT) console.log(`${q.sql}\n    ${plan.join('\n    ') || '(no table access)'}`);
    const problems = [...planProblems(plan, allow, indexes), ...boundPartialIndexTerms(q.sql, partialColumns).map((t) => `re-prepared on every call: ${t} (write the value as a literal)`)];
    if (problems.length > 0) bad.push(`${q.sql}\n    ${problems.join('\n    ')}`);
  }
  return bad;
}

describe('query plans of hot queries (issue 12)', () => {
  it('the scenario ran the statements it is meant to judge', () => {
    const sql = distinct(scenario).map((q) => q.sql);
    // Sanity: inbound commit, threading, dedupe, rate limit and the outbox send/mark path all ran.
    for (const needle of ['insert into "receipts"', 'insert into "cases"', 'insert into "messages"', 'insert into "outbox"', 'from "receipts"', 'from "messages"', 'update "outbox"', 'update "messages"']) {
      expect(sql.some((s) => s.includes(needle)), needle).toBe(true);
    }
    expect(sql.length).toBeGreaterThan(30);
  });

});

// Every plan is judged under each set of statistics a production file can carry: none (casegate
// gathers none), sampled (`PRAGMA optimize`), full (ANALYZE). A plan that fits only under one of
// them fits by luck: until 2026-12-07 the report's counts were planned on cases_spam_number
// (spam=?) — every non-spam case ever — without statistics on a small file and with sampled ones
// on a 1 M-message file (7-day report: 0.16 s with full statistics, 1.4 s sampled, 3.3 s with none).
describe.each(STATS_REGIMES)('query plans of hot queries with $name statistics (issue 12)', ({ rows }) => {
  beforeAll(() => cap.useStats(rows));
  afterAll(() => cap.useStats(null));

  it('no statement of the pipeline or the outbox worker scans a growing table, searches it by a few-valued column alone or sorts in a temp B-tree', () => {
    expect(report(scenario)).toEqual([]);
  });

  it.each(NAMED_HOT_QUERIES.map((q) => [q.name, q] as const))('%s fits an index', async (_name, q) => {
    const ran = await cap.during(() => q.run(cap.db, ids));
    expect(ran.length).toBeGreaterThan(0);
    expect(report(ran, q.allow?.line)).toEqual([]);
  });
});

describe('query plans of hot queries (issue 12): particular plans and the rules', () => {

  it('the flood cap counts one sender’s rows by the partial index events_notify_actor, not a whole hour of notifications', async () => {
    const ran = await cap.during(() => cap.db.transaction().execute((trx) => senderNotifications(trx, 'customer:jane@customer.example', '2026-03-02T08:00:00.000Z', '2026-03-01T09:00:00.000Z')));
    const counts = ran.filter((q) => /count\(\*\)/i.test(q.sql));
    expect(counts.length).toBeGreaterThan(0);
    for (const q of counts) expect(cap.explain(q).join('\n')).toMatch(/USING COVERING INDEX events_notify_actor \(actor=\? AND type=\? AND created_at>\?\)/);
  });

  it('the open first-response breaches (every /metrics scrape) are counted from the unanswered cases (partial index cases_unanswered), not from every open case', async () => {
    const ran = await cap.during(() => openSlaBreaches(cap.db));
    const fr = ran.filter((q) => q.sql.includes('"fr_breached_at"'));
    expect(fr).toHaveLength(1);
    expect(cap.explain(fr[0]!).join('\n')).toMatch(/USING (COVERING )?INDEX cases_unanswered \(status=\?\)/);
  });

  it('the judge catches a parameter where a partial index needs a literal (the rule itself works)', () => {
    const columns = partialIndexValueColumns(env.ctx.paths.dbPath);
    expect(columns.has('is_primary')).toBe(true);
    expect(boundPartialIndexTerms('select * from "receipts" where "dedupe_key" in (?, ?) and "is_primary" = ?', columns)).toEqual(['"is_primary" = ?']);
    expect(boundPartialIndexTerms('select * from "receipts" where "dedupe_key" = ? and "is_primary" = 1', columns)).toEqual([]);
  });

  it('the judge catches a search by a few-valued column alone, not one that ranges or one on a partial index (the rule itself works)', () => {
    // cases_spam_number (spam, number) was dropped by 0033: as it was, and the real indexes for the rest.
    const indexes = new Map([...indexesOf(env.ctx.paths.dbPath), ['cases_spam_number', { table: 'cases', partial: false }]]);
    expect(fewValuedSearch('SEARCH cases USING INDEX cases_spam_number (spam=?)', indexes)).toMatch(/few-valued column\(s\) only \(spam\)/);
    expect(fewValuedSearch('SEARCH c USING COVERING INDEX cases_status_number (status=?)', indexes)).toMatch(/only \(status\)/);
    expect(fewValuedSearch('SEARCH cases USING INDEX cases_created (created_at>? AND created_at<?)', indexes)).toBeNull();
    expect(fewValuedSearch('SEARCH outbox USING COVERING INDEX outbox_queued (status=? AND queued_at>?)', indexes)).toBeNull();
    expect(fewValuedSearch('SEARCH cases USING COVERING INDEX cases_open (status=?)', indexes)).toBeNull();
    expect(fewValuedSearch('SEARCH cases USING INDEX cases_requester (requester_address=?)', indexes)).toBeNull();
    expect(planProblems(['SEARCH cases USING INDEX cases_spam_number (spam=?)'], undefined, indexes)).toHaveLength(1);
  });

  it('the judge catches a scan and a temp B-tree (the rule itself works)', () => {
    expect(planProblems(cap.explain({ sql: 'select * from messages where outbox_id + 0 = ?', parameters: [1] }))).toHaveLength(1);
    expect(planProblems(cap.explain({ sql: 'select * from events where case_id = ? order by created_at', parameters: [1] }))).toEqual(['USE TEMP B-TREE FOR ORDER BY']);
  });
});
