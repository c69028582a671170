/**
 * What migration 0038 (intake-forward-lookup) costs on an installation with history:
 * `node dist/bench/subject-key-backfill.js [sqlite|postgres]` seeds BENCH_SEED (default 1,000,000)
 * stored messages (bench/seed.ts: BENCH_SEED / 4 cases) into a database at 0035, adds copies of
 * those cases up to BENCH_CASES (default 1,000,000; a third of the copies with German, a third
 * with Cyrillic subjects), then applies 0038 as `casegate migrate` does and prints its time: every
 * case's subject_key (subjectKey's; on PostgreSQL the table rewritten once, every index of cases
 * built again; on SQLite one UPDATE), cases_requester_subject rebuilt on it, messages_from_sent
 * built over the inbound messages. Checks that no case is left without its key and that the keys
 * are subjectKey's. Figures: docs/operating.md (Upgrading a large history).
 */
import { sql, type Kysely } from 'kysely';
import { loadConfig } from '../src/config/load.js';
import { subjectKey } from '../src/cases/subject-key.js';
import { databaseTarget, migrateTo, migrateToLatest, openDatabase } from '../src/db/database.js';
import type { Database } from '../src/db/schema.js';
import { prepareDataDir, removeDataDir, seedHistoryIn, startBenchBackend } from './product.js';

const backend = process.argv[2] === 'postgres' ? 'postgres' : 'sqlite';
const messages = Number(process.env['BENCH_SEED'] ?? 1_000_000);
const cases = Number(process.env['BENCH_CASES'] ?? 1_000_000);

const cluster = await startBenchBackend(backend);
const data = await prepareDataDir();
try {
  const r = loadConfig({ path: data.config, env: {} });
  const open = () => openDatabase(databaseTarget(r.config, r.paths));
  // Back to 0035 (as case-numbers.test.ts undoes migrations), then the history an installation has.
  let db = open();
  // The database as it was before 0038: it and every later migration undone.
  await migrateTo(db, '0037-metrics-sla-breach-counter');
  await db.destroy();
  const seeded = await seedHistoryIn(data, messages);
  db = open();
  const columns = 'subject, requester_address, requester_name, status, priority, queue, mailbox, language, kind, created_at, updated_at, resolved_at, closed_at, last_customer_at';
  const prefix = ['', 'Rückgabe ', 'Заказ '];
  // The copies are written without the indexes of cases, which are built again afterwards (as the seed does).
  const indexes =
    backend === 'postgres'
      ? (await sql<{ name: string; def: string }>`select indexname as name, indexdef as def from pg_indexes where schemaname = current_schema() and tablename = 'cases' and indexname <> 'cases_pkey' and indexdef not like '%UNIQUE%'`.execute(db)).rows
      : (await sql<{ name: string; def: string }>`select name, sql as def from sqlite_master where type = 'index' and tbl_name = 'cases' and sql is not null and sql not like '%unique%'`.execute(db)).rows;
  for (const ix of indexes) await sql`drop index ${sql.id(ix.name)}`.execute(db);
  for (let k = 1; seeded.cases * (k + 1) <= cases; k++) {
    const t = performance.now();
    const subject = sql.raw(`'${prefix[k % 3]}' || subject`);
    await sql`insert into cases (number, ${sql.raw(columns)})
              select number + ${k * 10_000_000}, ${subject}, ${sql.raw(columns.replace(/^subject, /, ''))} from cases where number < 10000000 order by id`.execute(db);
    console.log(`copy ${k}: ${seeded.cases} cases in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const tIx = performance.now();
  for (const ix of indexes) await sql.raw(ix.def).execute(db);
  console.log(`indexes of cases built again in ${((performance.now() - tIx) / 1000).toFixed(1)} s`);
  if (backend === 'postgres') await sql`vacuum analyze cases`.execute(db);
  const total = Number((await sql<{ n: number }>`select count(*) as n from cases`.execute(db)).rows[0]!.n);
  const inbound = Number((await sql<{ n: number }>`select count(*) as n from messages where direction = 'in'`.execute(db)).rows[0]!.n);
  console.log(`${backend}: ${seeded.messages} messages (${inbound} inbound), ${total} cases; applying 0038`);
  const t = performance.now();
  const result = await migrateToLatest(db, { onProgress: (p) => p.kind === 'applied' && console.log(`  ${p.migration}: ${(p.ms / 1000).toFixed(1)} s`) });
  console.log(`applied ${result.applied.join(', ')} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const missing = Number((await sql<{ n: number }>`select count(*) as n from cases where subject_key is null`.execute(db)).rows[0]!.n);
  const sample = await (db as Kysely<Database>).selectFrom('cases').select(['subject', 'subject_key']).where(sql<boolean>`id % 9973 = 0`).execute();
  const wrong = sample.filter((c) => c.subject_key !== subjectKey(c.subject)).length;
  console.log(`cases without a key: ${missing}; sampled ${sample.length}, keys not subjectKey's: ${wrong} (e.g. ${JSON.stringify(sample.slice(-2))})`);
  await db.destroy();
} finally {
  removeDataDir(data.dir);
  if (cluster !== null) cluster.stop();
}
