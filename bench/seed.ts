/**
 * History for `npm run bench` (BENCH_SEED=<stored messages>): a year of support mail generated
 * directly in a migrated casegate database with INSERT … SELECT over recursive CTEs, in one
 * transaction — seconds for 1,000,000 messages instead of hours through the pipeline.
 *
 * Per case (BENCH_SEED / 4 cases, one every few minutes over the last year, ending a day ago):
 *  - the customer's first mail and a reply (receipts + inbound messages, 1 in 10 with an attachment
 *    row), our confirmation and an agent's answer (outbox rows, sent, + outbound messages);
 *  - the requester as participant (customers customer0…4999@customer.bench.example — the bench's
 *    own senders are among them, so their lookups meet history);
 *  - five events (created, queued ×2, received, status);
 *  - 90 % closed, 5 % resolved, 5 % open; an agent's first response after an hour, and SLA clocks
 *    (case_sla) met, as the report reads them.
 * Row sizes are moderate (a few hundred bytes of text per message) so a million messages stay
 * about a gigabyte; every index casegate has is filled as by real traffic.
 */
import SQLite from 'better-sqlite3';

export interface SeedResult {
  readonly messages: number;
  readonly cases: number;
  readonly seconds: number;
  readonly dbBytes: number;
}

const TEXT = 'Hello, the export to CSV stops at 65,536 rows and the dashboard shows an error afterwards. We tried again with a smaller file and it worked, but the monthly report is much bigger than that. Could you have a look? Regards ';
const HTML = `<html><body><p>${TEXT}</p><p>Kind regards,<br>Bench Support</p></body></html>`;

/**
 * Each case's SLA clocks (what `casegate report` reads): a first response an hour after opening
 * (the agent's answer, cases.first_response_at), within its 4-hour target; the resolution clock
 * stopped when the case was resolved (still running for the open ones), within its 2-day target.
 * Same SQL on both backends (bench/seed-postgres.ts).
 */
export const FIRST_RESPONSES = 'update cases set first_response_at = last_customer_at';
/** The forward look-up's key of each case (0038): the seeded subjects are ASCII, whose key is lower(). Same SQL on both backends. */
export const SUBJECT_KEYS = 'update cases set subject_key = lower(subject)';
export const SLA_HISTORY = `insert into case_sla (case_id, policy, calendar, coverage, started_at, fr_target_min, fr_due_at, fr_business_sec, fr_met,
                      res_target_min, res_pauses_json, res_due_at, res_done_at, res_business_sec, res_met, pending_reminders, last_update_at, updated_at)
  select id, 'standard', 'default', 'business-hours', created_at, 240, last_customer_at, 3600, 1,
         2880, '[]', null, resolved_at, case when resolved_at is null then null else 7000 end, case when resolved_at is null then null else 1 end,
         0, last_customer_at, updated_at
  from cases`;

export function seedHistory(dbPath: string, messages: number, now = new Date()): SeedResult {
  const t0 = performance.now();
  const cases = Math.max(1, Math.floor(messages / 4));
  const db = new SQLite(dbPath);
  const existing = (db.prepare('select count(*) as n from messages').get() as { n: number }).n;
  if (existing > 0) throw new Error('seedHistory needs an empty database');
  // One big write: no WAL growth, no syncs; back to WAL (casegate's mode) afterwards.
  db.pragma('journal_mode = DELETE');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144');
  const end = now.getTime() - 86_400_000;
  const stepS = Math.max(1, Math.floor((365 * 86_400) / cases));
  const startIso = new Date(end - cases * stepS * 1000).toISOString();
  const p = { text: TEXT, html: HTML };
  // Each case's times (first mail; +30 min, +1 h, +1.5 h replies; resolved +1 h 56 min; closed +2 h),
  // formatted once per case: the inserts below join this table instead of formatting per row.
  db.exec('drop table if exists temp.seed_n');
  db.exec('create temp table seed_n (i integer primary key, t0 text, t1 text, t2 text, t3 text, t4 text, t5 text)');
  const fmt = (offset: number): string => `strftime('%Y-%m-%dT%H:%M:%fZ', :start, '+' || ((i - 1) * :step + ${offset}) || ' seconds')`;
  db.prepare(
    `with recursive n(i) as (select 1 union all select i + 1 from n where i < :cases)
     insert into temp.seed_n select i, ${fmt(0)}, ${fmt(1800)}, ${fmt(3600)}, ${fmt(5400)}, ${fmt(7000)}, ${fmt(7200)} from n`,
  ).run({ cases, start: startIso, step: stepS });
  /** The time `slot` (0–5, may be a SQL expression) of the case. */
  const at = (slot: string): string => `(case ${slot} when 0 then t0 when 1 then t1 when 2 then t2 when 3 then t3 when 4 then t4 else t5 end)`;
  const numbers = 'with n as (select * from temp.seed_n)';
  /** Message-ID of the outbox row `id` (written twice: outbox and its thread entry). */
  const outId = (id: string): string => `'c' || (100000 + i) || '.' || printf('%012x', ${id}) || '.5eed5eed5eed@bench.example'`;
  const hex = (id: string): string => `'9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c' || printf('%016x', ${id})`;
  const customer = `'customer' || ((i - 1) % 5000) || '@customer.bench.example'`;
  const timed = (name: string, sql: string): void => {
    const t = performance.now();
    db.prepare(sql).run(p);
    if (process.env['BENCH_SEED_DEBUG'] === '1') console.error(`seed: ${name} ${((performance.now() - t) / 1000).toFixed(2)} s`);
  };
  db.transaction(() => {
    // Build the indexes once at the end (a sort) instead of row by row: much faster for random keys.
    const indexes = db.prepare(`select name, sql from sqlite_master where type = 'index' and sql is not null and tbl_name in ('cases', 'case_participants', 'receipts', 'outbox', 'messages', 'attachments', 'events', 'case_sla')`).all() as { name: string; sql: string }[];
    for (const ix of indexes) db.exec(`drop index "${ix.name}"`);
    timed('cases', `${numbers}
       insert into cases (id, number, subject, requester_address, requester_name, status, priority, queue, mailbox, language, linked_case_id,
                          escalated, escalation_level, owner, kind, created_at, updated_at, resolved_at, closed_at, last_customer_at)
       select i, 100000 + i, 'History problem ' || i, ${customer}, 'Customer ' || ((i - 1) % 5000),
              case i % 20 when 0 then 'open' when 1 then 'resolved' else 'closed' end,
              'normal', 'support', 'support', 'en', null, 0, 0, null, 'case',
              ${at('0')}, ${at('5')},
              case when i % 20 = 0 then null else ${at('4')} end,
              case when i % 20 > 1 then ${at('5')} else null end,
              ${at('2')}
       from n`);
    timed('participants', `${numbers}
       insert into case_participants (case_id, address, name, role, created_at)
       select i, ${customer}, 'Customer ' || ((i - 1) % 5000), 'requester', ${at('0')} from n`);
    // Receipts: two inbound messages per case (k = 0 first mail, k = 1 reply).
    timed('receipts', `${numbers}, k(k) as (select 0 union all select 1)
       insert into receipts (id, dedupe_key, is_primary, message_id, raw_sha256, raw_size, channel, mailbox, envelope_from, envelope_to_json,
                             from_address, subject, received_at, outcome, reason, stage, case_id, message_row_id, duplicate_of, retried_as)
       select 2 * (i - 1) + k + 1, 'mid:hist-' || i || '-' || k || '@customer.bench.example', 1, 'hist-' || i || '-' || k || '@customer.bench.example',
              ${hex('2 * (i - 1) + k + 1')}, 2048, 'imap', 'support', null, '[]', ${customer}, 'History problem ' || i,
              ${at('2 * k')}, 'stored', case k when 0 then 'new' else 'known-reference' end, 'persist', i, 4 * (i - 1) + 2 * k + 1, null, null
       from n, k order by 1`);
    // Outbox: our confirmation (k = 0) and an agent's answer (k = 1), both sent.
    timed('outbox', `${numbers}, k(k) as (select 0 union all select 1)
       insert into outbox (id, case_id, kind, auto_reply, from_address, from_name, to_address, to_name, reply_to, subject, message_id, in_reply_to,
                           references_text, headers_json, text, html, status, attempts, next_attempt_at, last_error, created_at, sent_at)
       select 2 * (i - 1) + k + 1, i, case k when 0 then 'confirmation' else 'agent-reply' end, 1 - k, 'support@bench.example', 'Bench Support',
              ${customer}, 'Customer', 'support@bench.example', '[Case #' || (100000 + i) || '] History problem ' || i,
              ${outId('2 * (i - 1) + k + 1')},
              'hist-' || i || '-' || k || '@customer.bench.example', null, '{}', :text, :html, 'sent', 1,
              ${at('2 * k')}, null, ${at('2 * k')}, ${at('2 * k')}
       from n, k order by 1`);
    // Messages: in (first), out (confirmation), in (reply), out (agent answer).
    timed('messages', `${numbers}, k(k) as (select 0 union all select 1 union all select 2 union all select 3)
       insert into messages (id, case_id, direction, message_id, in_reply_to, references_json, from_address, from_name, to_json, cc_json, subject,
                             sent_at, text, html, visible_text, body_truncated, raw_sha256, raw_size, automated, thread_rule, receipt_id, outbox_id, created_at)
       select 4 * (i - 1) + k + 1, i, case k % 2 when 0 then 'in' else 'out' end,
              case k % 2 when 0 then 'hist-' || i || '-' || (k / 2) || '@customer.bench.example' else ${outId('2 * (i - 1) + k / 2 + 1')} end,
              null, '[]',
              case k % 2 when 0 then ${customer} else 'support@bench.example' end, 'Customer', '[]', '[]', 'History problem ' || i,
              ${at('k')}, :text, case k % 2 when 1 then :html else null end, substr(:text, 1, 120), 0,
              case k % 2 when 0 then ${hex('4 * (i - 1) + k + 1')} else null end, 2048,
              case k when 1 then 'auto-reply' else null end,
              case k when 0 then 'new' when 2 then 'known-reference' else 'outgoing' end,
              case k % 2 when 0 then 2 * (i - 1) + k / 2 + 1 else null end,
              case k % 2 when 1 then 2 * (i - 1) + k / 2 + 1 else null end,
              ${at('k')}
       from n, k order by 1`);
    timed('attachments', `${numbers}
       insert into attachments (message_row_id, filename, content_type, size, sha256, content_id, disposition)
       select 4 * (i - 1) + 1, 'screenshot.png', 'image/png', 48213, ${hex('i')}, null, 'attachment' from n where i % 10 = 0`);
    timed('events', `${numbers}, k(k, type) as (values (0, 'case.created'), (1, 'email.queued'), (2, 'message.received'), (3, 'email.queued'), (4, 'case.status'))
       insert into events (case_id, message_row_id, type, actor, reason, data_json, created_at)
       select i, case when k < 4 then 4 * (i - 1) + k + 1 else null end, type, case when k % 2 = 0 then 'customer:' || ${customer} else 'system' end,
              type || ' (history)', '{}', ${at('k')}
       from n, k order by i, k`);
    // The first responses and clocks where the schema has them (the upgrade test seeds old ones).
    const columns = (table: string): string[] => (db.prepare(`select name from pragma_table_info('${table}')`).all() as { name: string }[]).map((c) => c.name);
    if (columns('cases').includes('first_response_at')) timed('first responses', FIRST_RESPONSES);
    // Its subjects are ASCII ('History problem N'): lower() is their key (cases/subject-key.ts).
    if (columns('cases').includes('subject_key')) timed('subject keys', SUBJECT_KEYS);
    if (columns('case_sla').includes('res_pauses_json') && !columns('case_sla').includes('fr_done_at')) timed('case_sla', SLA_HISTORY);
    const t = performance.now();
    for (const ix of indexes) db.exec(ix.sql);
    if (process.env['BENCH_SEED_DEBUG'] === '1') console.error(`seed: indexes ${((performance.now() - t) / 1000).toFixed(2)} s`);
  })();
  db.exec('drop table temp.seed_n');
  db.pragma('journal_mode = WAL');
  const pages = db.pragma('page_count', { simple: true }) as number;
  const size = db.pragma('page_size', { simple: true }) as number;
  db.close();
  return { messages: cases * 4, cases, seconds: (performance.now() - t0) / 1000, dbBytes: pages * size };
}
