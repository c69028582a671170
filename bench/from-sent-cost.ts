/**
 * What messages_from_sent (migration 0038) costs an inbound commit on a large history:
 * `node dist/bench/from-sent-cost.js <casegate.yaml>` on a seeded, migrated data directory inserts
 * BENCH_ROWS inbound messages (copies of a stored one: same bodies, a random customer of 5,000 and
 * a new Date), each in its own transaction as ingest commits, in alternating rounds with the index
 * and without it (dropped, then built again), and prints the median and mean time of an insert.
 */
import { sql } from 'kysely';
import { loadConfig } from '../src/config/load.js';
import { databaseTarget, openDatabase } from '../src/db/database.js';
import { isPostgres } from '../src/db/dialect.js';

const config = process.argv[2]!;
const rowsPerRound = Number(process.env['BENCH_ROWS'] ?? 2000);
const r = loadConfig({ path: config, env: {} });
const db = openDatabase(databaseTarget(r.config, r.paths));
const pg = isPostgres(db);
const INDEX = `create index messages_from_sent on messages (from_address, sent_at) where direction = 'in' and sent_at is not null`;
const cols = pg
  ? (await sql<{ c: string }>`select column_name as c from information_schema.columns where table_schema = current_schema() and table_name = 'messages' and column_name <> 'id' order by ordinal_position`.execute(db)).rows.map((x) => x.c)
  : (await sql<{ c: string }>`select name as c from pragma_table_info('messages') where name <> 'id' order by cid`.execute(db)).rows.map((x) => x.c);
const template = Number((await sql<{ id: number }>`select min(id) as id from messages where direction = 'in' and sent_at is not null`.execute(db)).rows[0]!.id);
const total = Number((await sql<{ n: number }>`select count(*) as n from messages`.execute(db)).rows[0]!.n);
const inbound = Number((await sql<{ n: number }>`select count(*) as n from messages where direction = 'in' and sent_at is not null`.execute(db)).rows[0]!.n);
if (pg) {
  const size = (await sql<{ s: string }>`select pg_size_pretty(pg_relation_size('messages_from_sent')) as s`.execute(db)).rows[0]!.s;
  console.log(`postgres: ${total} messages, ${inbound} inbound with a Date; messages_from_sent ${size}`);
} else {
  const pages = await sql<{ n: number }>`select count(*) as n from dbstat where name = 'messages_from_sent'`.execute(db).then((x) => Number(x.rows[0]!.n), () => NaN);
  console.log(`sqlite: ${total} messages, ${inbound} inbound with a Date; messages_from_sent ${pages} pages of 4 KiB`);
}
const select = cols.map((c) =>
  c === 'message_id' ? sql`${sql.raw("'fsc-'")} || ${sql.ref('n')}` : c === 'from_address' ? sql`${sql.ref('a')}` : c === 'sent_at' ? sql`${sql.ref('t')}` : c === 'receipt_id' ? sql`null` : sql.ref(c),
);
let serial = 0;
async function round(withIndex: boolean): Promise<number[]> {
  if (withIndex) await sql.raw(INDEX).execute(db);
  const times: number[] = [];
  for (let i = 0; i < rowsPerRound; i++) {
    const n = `${process.pid}-${++serial}@bench`;
    const a = `customer${Math.floor(Math.random() * 5000)}@customer.bench.example`;
    const t = new Date(Date.now() + serial * 1000).toISOString();
    const t0 = performance.now();
    await db.transaction().execute(async (trx) => {
      await sql`insert into messages (${sql.join(cols.map((c) => sql.ref(c)))})
                select ${sql.join(select)} from (select ${n} as n, ${a} as a, ${t} as t) v, messages where messages.id = ${template}`.execute(trx);
    });
    times.push(performance.now() - t0);
  }
  if (withIndex) await sql.raw('drop index messages_from_sent').execute(db);
  return times;
}
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, mean: xs.reduce((a, b) => a + b, 0) / xs.length, p90: s[Math.floor(s.length * 0.9)]! };
};
await sql.raw('drop index messages_from_sent').execute(db);
const results: Record<string, number[]> = { with: [], without: [] };
for (const withIndex of [true, false, true, false, true, false]) {
  const times = await round(withIndex);
  const s = stats(times);
  console.log(`${withIndex ? 'with   ' : 'without'}: median ${s.median.toFixed(3)} ms, mean ${s.mean.toFixed(3)} ms, p90 ${s.p90.toFixed(3)} ms per insert`);
  results[withIndex ? 'with' : 'without']!.push(...times);
}
await sql.raw(INDEX).execute(db);
for (const k of ['with', 'without']) {
  const s = stats(results[k]!);
  console.log(`all ${k}: median ${s.median.toFixed(3)} ms, mean ${s.mean.toFixed(3)} ms (${results[k]!.length} inserts)`);
}
await sql`delete from messages where message_id like 'fsc-%'`.execute(db);
await db.destroy();
