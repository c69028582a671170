/**
 * bench/seed.ts for PostgreSQL (BENCH_DB=postgres): the same year of history — same rows, same
 * shapes, same customers — generated with INSERT … SELECT over generate_series in one transaction,
 * with the big tables' secondary indexes dropped first and built once at the end. Then the identity
 * and case-number sequences are moved past the ids it wrote, and the tables are analysed.
 */
import { Kysely, sql } from 'kysely';
import { syncSequences } from '../src/db/dialect.js';
import { FIRST_RESPONSES, SLA_HISTORY, SUBJECT_KEYS, type SeedResult } from './seed.js';

const TEXT = 'Hello, the export to CSV stops at 65,536 rows and the dashboard shows an error afterwards. We tried again with a smaller file and it worked, but the monthly report is much bigger than that. Could you have a look? Regards ';
const HTML = `<html><body><p>${TEXT}</p><p>Kind regards,<br>Bench Support</p></body></html>`;
const TABLES = ['cases', 'case_participants', 'receipts', 'outbox', 'messages', 'attachments', 'events', 'case_sla'];

export async function seedHistoryPostgres(db: Kysely<unknown>, messages: number, now = new Date()): Promise<SeedResult> {
  const t0 = performance.now();
  const cases = Math.max(1, Math.floor(messages / 4));
  const existing = await sql<{ n: number }>`select count(*)::int as n from messages`.execute(db);
  if (existing.rows[0]!.n > 0) throw new Error('seedHistoryPostgres needs an empty database');
  const end = now.getTime() - 86_400_000;
  const stepS = Math.max(1, Math.floor((365 * 86_400) / cases));
  const start = new Date(end - cases * stepS * 1000).toISOString();
  const debug = process.env['BENCH_SEED_DEBUG'] === '1';
  await db.transaction().execute(async (trx) => {
    const run = async (name: string, q: ReturnType<typeof sql>): Promise<void> => {
      const t = performance.now();
      await q.execute(trx);
      if (debug) console.error(`seed: ${name} ${((performance.now() - t) / 1000).toFixed(2)} s`);
    };
    await sql`set local synchronous_commit = off`.execute(trx);
    await sql`set local maintenance_work_mem = '256MB'`.execute(trx);
    // Secondary indexes: dropped now, created again at the end (primary keys and unique constraints stay).
    const indexes = await sql<{ name: string; def: string }>`
      select i.indexname as name, i.indexdef as def from pg_indexes i
      where i.schemaname = current_schema() and i.tablename in (${sql.join(TABLES)})
        and not exists (select 1 from pg_constraint c where c.conname = i.indexname)`.execute(trx);
    for (const ix of indexes.rows) await sql`drop index ${sql.id(ix.name)}`.execute(trx);
    const iso = (offset: number) => sql.raw(`to_char((timestamptz '${start}' + make_interval(secs => (i - 1) * ${stepS} + ${offset})) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);
    await sql`create temp table seed_n on commit drop as select i, ${iso(0)} t0, ${iso(1800)} t1, ${iso(3600)} t2, ${iso(5400)} t3, ${iso(7000)} t4, ${iso(7200)} t5 from generate_series(1, ${cases}) i`.execute(trx);
    await sql`alter table seed_n add primary key (i)`.execute(trx);
    const at = (slot: string) => sql.raw(`(case ${slot} when 0 then t0 when 1 then t1 when 2 then t2 when 3 then t3 when 4 then t4 else t5 end)`);
    const customer = sql.raw(`'customer' || ((i - 1) % 5000) || '@customer.bench.example'`);
    const outId = (id: string) => sql.raw(`'c' || (100000 + i) || '.' || lpad(to_hex(${id}), 12, '0') || '.5eed5eed5eed@bench.example'`);
    const hex = (id: string) => sql.raw(`'9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c' || lpad(to_hex(${id}), 16, '0')`);
    await run('cases', sql`
      insert into cases (id, number, subject, requester_address, requester_name, status, priority, queue, mailbox, language, linked_case_id,
                         escalated, escalation_level, owner, kind, created_at, updated_at, resolved_at, closed_at, last_customer_at)
      select i, 100000 + i, 'History problem ' || i, ${customer}, 'Customer ' || ((i - 1) % 5000),
             case i % 20 when 0 then 'open' when 1 then 'resolved' else 'closed' end,
             'normal', 'support', 'support', 'en', null, 0, 0, null, 'case', ${at('0')}, ${at('5')},
             case when i % 20 = 0 then null else ${at('4')} end, case when i % 20 > 1 then ${at('5')} else null end, ${at('2')}
      from seed_n`);
    await run('participants', sql`
      insert into case_participants (case_id, address, name, role, created_at)
      select i, ${customer}, 'Customer ' || ((i - 1) % 5000), 'requester', ${at('0')} from seed_n`);
    await run('receipts', sql`
      insert into receipts (id, dedupe_key, is_primary, message_id, raw_sha256, raw_size, channel, mailbox, envelope_from, envelope_to_json,
                            from_address, subject, received_at, outcome, reason, stage, case_id, message_row_id, duplicate_of, retried_as)
      select 2 * (i - 1) + k + 1, 'mid:hist-' || i || '-' || k || '@customer.bench.example', 1, 'hist-' || i || '-' || k || '@customer.bench.example',
             ${hex('2 * (i - 1) + k + 1')}, 2048, 'imap', 'support', null, '[]', ${customer}, 'History problem ' || i,
             ${at('2 * k')}, 'stored', case k when 0 then 'new' else 'known-reference' end, 'persist', i, 4 * (i - 1) + 2 * k + 1, null, null
      from seed_n, generate_series(0, 1) k order by 1`);
    await run('outbox', sql`
      insert into outbox (id, case_id, kind, auto_reply, from_address, from_name, to_address, to_name, reply_to, subject, message_id, in_reply_to,
                          references_text, headers_json, text, html, status, attempts, next_attempt_at, last_error, created_at, sent_at, queued_at)
      select 2 * (i - 1) + k + 1, i, case k when 0 then 'confirmation' else 'agent-reply' end, 1 - k, 'support@bench.example', 'Bench Support',
             ${customer}, 'Customer', 'support@bench.example', '[Case #' || (100000 + i) || '] History problem ' || i,
             ${outId('2 * (i - 1) + k + 1')}, 'hist-' || i || '-' || k || '@customer.bench.example', null, '{}', ${TEXT}, ${HTML}, 'sent', 1,
             ${at('2 * k')}, null, ${at('2 * k')}, ${at('2 * k')}, ${at('2 * k')}
      from seed_n, generate_series(0, 1) k order by 1`);
    await run('messages', sql`
      insert into messages (id, case_id, direction, message_id, in_reply_to, references_json, from_address, from_name, to_json, cc_json, subject,
                            sent_at, text, html, visible_text, body_truncated, raw_sha256, raw_size, automated, thread_rule, receipt_id, outbox_id, created_at)
      select 4 * (i - 1) + k + 1, i, case k % 2 when 0 then 'in' else 'out' end,
             case k % 2 when 0 then 'hist-' || i || '-' || (k / 2) || '@customer.bench.example' else ${outId('2 * (i - 1) + k / 2 + 1')} end,
             null, '[]', case k % 2 when 0 then ${customer} else 'support@bench.example' end, 'Customer', '[]', '[]', 'History problem ' || i,
             ${at('k')}, ${TEXT}, case k % 2 when 1 then ${HTML} else null end, substr(${TEXT}, 1, 120), 0,
             case k % 2 when 0 then ${hex('4 * (i - 1) + k + 1')} else null end, 2048,
             case k when 1 then 'auto-reply' else null end,
             case k when 0 then 'new' when 2 then 'known-reference' else 'outgoing' end,
             case k % 2 when 0 then 2 * (i - 1) + k / 2 + 1 else null end,
             case k % 2 when 1 then 2 * (i - 1) + k / 2 + 1 else null end, ${at('k')}
      from seed_n, generate_series(0, 3) k order by 1`);
    await run('attachments', sql`
      insert into attachments (message_row_id, filename, content_type, size, sha256, content_id, disposition)
      select 4 * (i - 1) + 1, 'screenshot.png', 'image/png', 48213, ${hex('i')}, null, 'attachment' from seed_n where i % 10 = 0`);
    await run('events', sql`
      insert into events (case_id, message_row_id, type, actor, reason, data_json, created_at)
      select i, case when k < 4 then 4 * (i - 1) + k + 1 else null end, t.type, case when k % 2 = 0 then 'customer:' || ${customer} else 'system' end,
             t.type || ' (history)', '{}', ${at('k')}
      from seed_n, (values (0, 'case.created'), (1, 'email.queued'), (2, 'message.received'), (3, 'email.queued'), (4, 'case.status')) t(k, type)
      order by i, k`);
    // The first responses and clocks where the schema has them (the upgrade test seeds old ones).
    const columns = async (table: string): Promise<string[]> =>
      (await sql<{ c: string }>`select column_name as c from information_schema.columns where table_schema = current_schema() and table_name = ${table}`.execute(trx)).rows.map((r) => r.c);
    if ((await columns('cases')).includes('first_response_at')) await run('first responses', sql.raw(FIRST_RESPONSES));
    if ((await columns('cases')).includes('subject_key')) await run('subject keys', sql.raw(SUBJECT_KEYS));
    const sla = await columns('case_sla');
    if (sla.includes('res_pauses_json') && !sla.includes('fr_done_at')) await run('case_sla', sql.raw(SLA_HISTORY));
    const t = performance.now();
    for (const ix of indexes.rows) await sql.raw(ix.def).execute(trx);
    if (debug) console.error(`seed: ${indexes.rows.length} indexes ${((performance.now() - t) / 1000).toFixed(2)} s`);
  });
  await syncSequences(db, TABLES.filter((t) => t !== 'case_sla'));
  // VACUUM as autovacuum would soon: the visibility map lets the planner read an index alone (as on a live database).
  for (const t of TABLES) await sql`vacuum (analyze) ${sql.table(t)}`.execute(db);
  const size = await sql<{ bytes: number }>`select coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint as bytes from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = current_schema() and c.relkind = 'r'`.execute(db);
  return { messages: cases * 4, cases, seconds: (performance.now() - t0) / 1000, dbBytes: Number(size.rows[0]!.bytes) };
}
