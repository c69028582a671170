/**
 * The look-ups a forward of a customer's own message makes (stages/thread.ts, forwarded-copy), at a
 * history size: `node dist/bench/forward-lookup.js [sqlite|postgres]` seeds BENCH_SEED (default
 * 200,000) stored messages (bench/seed.ts), adds two heavy senders — an automated one with 3,000
 * cases of one subject ("Nightly backup report", one a night… and then some) and a big account
 * with 2,000 cases of varied subjects — and prints, per statement, its plan and its median time
 * over 200 runs: the old read of a requester's 20 newest cases (what 0035 replaced), her newest
 * cases of the forwarded subject (cases_requester_subject), and her messages of the forwarded
 * Date on her cases of that subject: 0035's statement (cases opened around that Date only) and
 * 0038's (messages_from_sent: any of her cases), for a later reply in an old case.
 */
import { CompiledQuery, sql, type Kysely } from 'kysely';
import { loadConfig } from '../src/config/load.js';
import { databaseTarget, openDatabase } from '../src/db/database.js';
import { subjectKey } from '../src/cases/subject-key.js';
import { requesterCasesBySubject, requesterCasesBySubjectQuery, requesterSubjectMessagesSent, requesterSubjectMessagesSentQuery } from '../src/db/repos/cases.js';
import type { Database } from '../src/db/schema.js';
import { prepareDataDir, removeDataDir, seedHistoryIn, startBenchBackend } from './product.js';

const backend = process.argv[2] === 'postgres' ? 'postgres' : 'sqlite';
const messages = Number(process.env['BENCH_SEED'] ?? 200_000);
const RUNS = 200;
const DAY = 86_400_000;

/** Heavy senders: `count` cases of `subject(i)`, opened a day apart ending a week ago, each with her message Dated 2 minutes before. */
async function addSender(db: Kysely<Database>, address: string, count: number, subject: (i: number) => string, firstNumber: number): Promise<void> {
  const end = Date.now() - 7 * DAY;
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < count; i++) {
      const at = new Date(end - (count - i) * (DAY / 8)).toISOString();
      const sent = new Date(Date.parse(at) - 120_000).toISOString();
      const row = await trx
        .insertInto('cases')
        .values({ number: firstNumber + i, subject: subject(i), subject_key: subjectKey(subject(i)), requester_address: address, requester_name: 'Heavy', status: 'closed', priority: 'normal', queue: 'support', mailbox: 'support', language: 'en', linked_case_id: null, owner: null, created_at: at, updated_at: at, resolved_at: null, closed_at: at, last_customer_at: at, first_response_due_at: null, resolution_due_at: null, escalated_at: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('messages')
        .values({ case_id: row.id, direction: 'in', message_id: null, in_reply_to: null, references_json: '[]', from_address: address, from_name: 'Heavy', to_json: '[]', cc_json: '[]', subject: subject(i), sent_at: sent, text: 'Backup finished.', html: null, visible_text: 'Backup finished.', body_truncated: 0, raw_sha256: null, raw_size: null, automated: null, thread_rule: 'new', receipt_id: null, outbox_id: null, created_at: at })
        .execute();
    }
  });
}

async function median(fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

async function plan(db: Kysely<Database>, q: { sql: string; parameters: readonly unknown[] }): Promise<string[]> {
  const text = backend === 'sqlite' ? `explain query plan ${q.sql}` : `explain (analyze, buffers, costs off) ${q.sql}`;
  const r = await db.executeQuery<Record<string, string>>(CompiledQuery.raw(text, [...q.parameters]));
  return r.rows.map((row) => row['detail'] ?? row['QUERY PLAN'] ?? JSON.stringify(row));
}

const cluster = await startBenchBackend(backend);
const data = await prepareDataDir();
try {
  const seeded = await seedHistoryIn(data, messages);
  const r = loadConfig({ path: data.config, env: {} });
  const db = openDatabase(databaseTarget(r.config, r.paths));
  const monitor = 'monitor@heavy.bench.example';
  const account = 'purchasing@heavy.bench.example';
  await addSender(db, monitor, 3_000, () => 'Nightly backup report', 5_000_000);
  await addSender(db, account, 2_000, (i) => `Order ${i}`, 6_000_000);
  // PostgreSQL's autovacuum keeps statistics; casegate never runs ANALYZE on SQLite: measured without.
  if (backend === 'postgres') await sql`analyze`.execute(db);
  const total = await db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  console.log(`${backend}: ${Number(total.n)} messages (${seeded.messages} seeded + 5,000 of the heavy senders)`);

  // The forwarded message: the monitor's later reply on its case 1,000 (of 3,000), Dated 40 days
  // after that case opened (125 of its cases opened since) — what 0035's look-up never found.
  const target = await db.selectFrom('messages').innerJoin('cases', 'cases.id', 'messages.case_id').selectAll('messages').select(['cases.created_at as opened']).where('cases.number', '=', 5_000_999).executeTakeFirstOrThrow();
  const { id: _id, opened: caseOpened, ...first } = target;
  const replied = Date.parse(caseOpened) + 40 * DAY;
  const iso = (t: number) => new Date(t).toISOString();
  await db.insertInto('messages').values({ ...first, subject: 'Re: Nightly backup report', sent_at: iso(replied), created_at: iso(replied + 60_000), text: 'Still failing.', visible_text: 'Still failing.' }).execute();
  if (backend === 'postgres') await sql`analyze messages`.execute(db);
  // A zone-less local time read in +0100 and an hour either side: the span the thread stage asks for.
  const sentSpan = { from: iso(replied - 2 * 3_600_000), to: iso(replied + 2 * 3_600_000) };
  const opened = { from: iso(replied - 2 * 3_600_000 - DAY), to: iso(replied + 2 * 3_600_000 + 4 * DAY) };
  /** 0035's statement (e967a9f…7b74c2f): her messages of the Date on her cases of the subject opened around it. */
  const before0038 = () =>
    db
      .selectFrom('cases')
      .innerJoin('messages', 'messages.case_id', 'cases.id')
      .select(['messages.case_id', 'messages.sent_at'])
      .where('cases.requester_address', '=', monitor)
      .where(sql<boolean>`lower(cases.subject) = lower(${'Nightly backup report'})`)
      .where('cases.created_at', '>=', opened.from)
      .where('cases.created_at', '<', opened.to)
      .where('cases.kind', '=', sql.lit('case'))
      .where('messages.direction', '=', sql.lit('in'))
      .where('messages.from_address', '=', monitor)
      .where('messages.sent_at', '>=', sentSpan.from)
      .where('messages.sent_at', '<', sentSpan.to)
      .limit(1_000);

  const cases: Array<[string, () => Promise<unknown>, { sql: string; parameters: readonly unknown[] }]> = [
    [
      'before (d37412f…e967a9f): the requester’s 20 newest cases, subject compared in code (monitor)',
      () => db.selectFrom('cases').selectAll().where('requester_address', '=', monitor).where('kind', '=', 'case').orderBy('id', 'desc').limit(20).execute(),
      db.selectFrom('cases').selectAll().where('requester_address', '=', monitor).where('kind', '=', 'case').orderBy('id', 'desc').limit(20).compile(),
    ],
    [
      'now: her 20 newest cases of the subject (monitor, 3,000 of that subject)',
      () => requesterCasesBySubject(db, monitor, 'Nightly backup report'),
      requesterCasesBySubjectQuery(db, monitor, 'Nightly backup report').compile(),
    ],
    [
      'now: her 20 newest cases of the subject (account, 1 of 2,000)',
      () => requesterCasesBySubject(db, account, 'Order 5'),
      requesterCasesBySubjectQuery(db, account, 'Order 5').compile(),
    ],
    ['before (0035): her messages of the forwarded Date on cases of the subject opened around it (monitor)', () => before0038().execute(), before0038().compile()],
    [
      'now: her messages of the forwarded Date on her cases of the subject, any of them (monitor)',
      () => requesterSubjectMessagesSent(db, monitor, 'Nightly backup report', sentSpan),
      requesterSubjectMessagesSentQuery(db, monitor, 'Nightly backup report', sentSpan).compile(),
    ],
  ];
  const missed = await before0038().execute();
  // 0035's statement as it ran then: on 0035's indexes (lower(subject), no messages_from_sent), then 0038's are back.
  await sql`drop index messages_from_sent`.execute(db);
  await sql`create index cases_requester_subject_0035 on cases (requester_address, lower(subject), created_at, id)`.execute(db);
  if (backend === 'postgres') await sql`analyze cases`.execute(db);
  const [beforeName, beforeRun, beforeCompiled] = cases.splice(3, 1)[0]!;
  const beforeMs = await median(beforeRun);
  console.log(`\n${beforeName}: median ${beforeMs.toFixed(3)} ms over ${RUNS} runs`);
  for (const line of await plan(db, beforeCompiled)) console.log(`    ${line}`);
  await sql`drop index cases_requester_subject_0035`.execute(db);
  await sql`create index messages_from_sent on messages (from_address, sent_at) where direction = 'in' and sent_at is not null`.execute(db);
  if (backend === 'postgres') await sql`analyze`.execute(db);
  const found = await requesterSubjectMessagesSent(db, monitor, 'Nightly backup report', sentSpan);
  console.log(`the forwarded reply's case ${target.case_id}: before ${missed.some((m) => m.case_id === target.case_id)} among ${missed.length} rows; now ${found.some((m) => m.case_id === target.case_id)} among ${found.length} rows`);
  for (const [name, run, compiled] of cases) {
    const ms = await median(run);
    console.log(`\n${name}: median ${ms.toFixed(3)} ms over ${RUNS} runs`);
    for (const line of await plan(db, compiled)) console.log(`    ${line}`);
  }
  await db.destroy();
} finally {
  removeDataDir(data.dir);
  if (cluster !== null) {
    cluster.stop();
  }
}
