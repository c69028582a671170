import { writeFileSync } from 'node:fs';
import pg from 'pg';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml, TRUSTED_SENDER_AUTH } from '../helpers/context.js';
import { CliSandbox, describeResult, runCli } from '../helpers/cli.js';
import { freshSchema, testPgUrl } from '../helpers/test-db.js';
import { COPY_TABLES } from '../../src/db/migrate-data.js';

/**
 * Moving over (issue 15 item 6): a SQLite installation with history (cases, a reply, a duplicate,
 * a quarantined message, queued confirmations) is copied into PostgreSQL by `casegate
 * migrate-data`; the counts match; a second run changes nothing; the same data directory (blobs,
 * secret) with `database.url` then carries on: a reply to mail sent before the move threads into
 * its case, a new message gets the next case number, ids continue after the copied ones.
 */

let box: CliSandbox;
let pool: pg.Pool;
const schema = freshSchema();

beforeAll(() => {
  box = CliSandbox.create({ database: { driver: 'sqlite' }, outgoing: { transport: 'file' }, security: { senderAuth: TRUSTED_SENDER_AUTH } });
  pool = new pg.Pool({ connectionString: testPgUrl(), options: `-c search_path=${schema}`, max: 2 });
});

afterAll(async () => {
  await pool.end();
  box.cleanup();
});

async function ingest(raw: string): Promise<void> {
  const r = await box.run(['ingest'], { stdin: raw });
  expect(r.code, describeResult(r)).toBe(0);
}

async function q<T extends Record<string, unknown>>(sql: string): Promise<T[]> {
  return (await pool.query<T>(sql)).rows;
}

describe('casegate migrate-data', () => {
  it('copies every table, verifies the counts, is safe to re-run, and PostgreSQL carries on where SQLite stopped', async () => {
    await ingest(eml({ subject: 'Printer on fire', messageId: 'm1@customer.example' }));
    await ingest(eml({ from: 'Bob <bob@other.example>', subject: 'Invoice wrong', messageId: 'm2@other.example', to: 'billing@example.com' }));
    await ingest(eml({ subject: 'Printer on fire', messageId: 'm1@customer.example' })); // duplicate
    await ingest(eml({ from: null, subject: 'No sender', messageId: 'm3@nowhere.example' })); // quarantined
    await ingest(eml({ subject: 'Re: [Case #10001] Printer on fire', messageId: 'm4@customer.example', inReplyTo: 'm1@customer.example' }));
    const before = await box.json<{ number: number }[]>(['cases', 'list', '--json']);
    expect(before.map((c) => c.number).sort()).toEqual([10001, 10002]);

    const to = `postgres:${testPgUrl()}`;
    const first = await box.run(['migrate-data', '--from', `sqlite:${box.dbPath}`, '--to', to, '--schema', schema, '--json']);
    expect(first.code, describeResult(first)).toBe(0);
    const report = JSON.parse(first.stdout) as { ok: boolean; tables: { table: string; copied: number; source: number; target: number; ok: boolean }[] };
    expect(report.ok).toBe(true);
    const counts = Object.fromEntries(report.tables.map((t) => [t.table, t.target]));
    expect(counts).toMatchObject({ cases: 2, messages: 5, receipts: 5 });
    expect(counts['events']).toBeGreaterThan(0);
    expect(counts['outbox']).toBe(2); // the two confirmations, queued
    for (const t of report.tables) expect(t.source, t.table).toBe(t.target);
    // Every table casegate has is copied (a new migration's table must be added to COPY_TABLES).
    const tables = await q<{ name: string }>(`select table_name as name from information_schema.tables where table_schema = '${schema}' order by 1`);
    const notCopied = tables.map((t) => t.name).filter((n) => !COPY_TABLES.some((c) => c.name === n));
    // message_search (PostgreSQL's search index) is made from the copied messages, not copied;
    // relay_rate_seconds (the relays' last minute) belongs to the running daemons.
    expect(notCopied.sort()).toEqual(['casegate_migrations', 'casegate_migrations_lock', 'leases', 'message_search', 'relay_rate_seconds']);
    const quarantined = await q<{ n: number }>(`select count(*)::int n from receipts where outcome = 'quarantined'`);
    expect(quarantined[0]!.n).toBe(1);

    // Again: nothing doubles.
    const second = await box.run(['migrate-data', '--from', `sqlite:${box.dbPath}`, '--to', to, '--schema', schema, '--json']);
    expect(second.code, describeResult(second)).toBe(0);
    const again = JSON.parse(second.stdout) as { tables: { table: string; target: number }[] };
    expect(Object.fromEntries(again.tables.map((t) => [t.table, t.target]))).toEqual(counts);

    // The same data directory (blobs, secret) on PostgreSQL.
    const config = box.configPath.replace(/casegate\.yaml$/, 'casegate-pg.yaml');
    const { parse } = await import('yaml');
    const { readFileSync } = await import('node:fs');
    const old = parse(readFileSync(box.configPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(config, stringify({ ...old, database: { url: testPgUrl(), schema } }));
    // The outbox rows we queued on SQLite carry the Message-ID the customer will answer.
    const confirmation = await q<{ message_id: string }>(`select message_id from outbox where kind = 'confirmation' order by id limit 1`);
    const reply = eml({ subject: 'Re: We have received your request', messageId: 'm5@customer.example', inReplyTo: confirmation[0]!.message_id.replace(/^<|>$/g, '') });
    const r1 = await runWith(config, ['ingest'], reply);
    expect(r1.code, describeResult(r1)).toBe(0);
    const r2 = await runWith(config, ['ingest'], eml({ from: 'Carol <carol@third.example>', subject: 'New after the move', messageId: 'm6@third.example' }));
    expect(r2.code, describeResult(r2)).toBe(0);
    const cases = await q<{ number: number; subject: string; n: number }>(`select c.number, c.subject, (select count(*)::int from messages m where m.case_id = c.id and m.direction = 'in') n from cases c order by c.number`);
    expect(cases).toEqual([
      { number: 10001, subject: 'Printer on fire', n: 3 },
      { number: 10002, subject: 'Invoice wrong', n: 1 },
      { number: 10003, subject: 'New after the move', n: 1 },
    ]);
    // Ids continue after the copied ones (the identity sequences were moved past them).
    const ids = await q<{ id: number }>(`select id from receipts order by id`);
    expect(ids.map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // The raw mail copied before the move is still readable where it was: `cases show` on PostgreSQL.
    const show = await runWith(config, ['cases', 'show', '10001']);
    expect(show.code, describeResult(show)).toBe(0);
    expect(show.stdout).toContain('Printer on fire');
    // The mail copied from SQLite is found by its words on PostgreSQL.
    const found = await runWith(config, ['cases', 'list', '--json', '--search', 'invoice']);
    expect(found.code, describeResult(found)).toBe(0);
    expect((JSON.parse(found.stdout) as { number: number }[]).map((c) => c.number)).toEqual([10002]);
  });

  it('the numbers of cases purged on SQLite are not handed out again on PostgreSQL', async () => {
    const small = CliSandbox.create({ database: { driver: 'sqlite' }, outgoing: { transport: 'file' }, security: { senderAuth: TRUSTED_SENDER_AUTH }, jobs: { enabled: false } });
    const other = freshSchema();
    try {
      for (const who of ['ann', 'bob', 'carl']) {
        const r = await small.run(['ingest'], { stdin: eml({ from: `${who}@customer.example`, subject: `${who} asks`, messageId: `${who}@customer.example` }) });
        expect(r.code, describeResult(r)).toBe(0);
      }
      const erased = await small.run(['purge', '--requester', 'carl@customer.example']);
      expect(erased.code, describeResult(erased)).toBe(0);
      const moved = await small.run(['migrate-data', '--from', `sqlite:${small.dbPath}`, '--to', `postgres:${testPgUrl()}`, '--schema', other, '--json']);
      expect(moved.code, describeResult(moved)).toBe(0);
      const { parse } = await import('yaml');
      const { readFileSync } = await import('node:fs');
      const config = small.configPath.replace(/casegate\.yaml$/, 'casegate-pg.yaml');
      writeFileSync(config, stringify({ ...(parse(readFileSync(small.configPath, 'utf8')) as Record<string, unknown>), database: { url: testPgUrl(), schema: other } }));
      const r = await runCli(['--config', config, 'ingest'], { cwd: small.dir, env: { HOME: small.dir }, stdin: eml({ from: 'dora@customer.example', subject: 'Dora asks', messageId: 'dora@customer.example' }) });
      expect(r.code, describeResult(r)).toBe(0);
      expect(r.stdout).toMatch(/stored \(case 10004\)/);
    } finally {
      small.cleanup();
    }
  });
});

/** The CLI with the PostgreSQL configuration (same directory, same data directory). */
function runWith(config: string, args: string[], stdin?: string) {
  return runCli(['--config', config, ...args], { cwd: box.dir, env: { HOME: box.dir }, ...(stdin !== undefined ? { stdin } : {}) });
}
