import SQLite from 'better-sqlite3';
import { sql, type KyselyPlugin } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { databaseTarget, migrateTo, openDatabase } from '../../src/db/database.js';
import { migrationLockKey, migrationLockPath } from '../../src/db/migration-lock.js';
import { rebuildSearchIndex, SEARCH_TEXT_CHARS } from '../../src/db/repos/search.js';
import { seedHistory } from '../../bench/seed.js';
import { seedHistoryPostgres } from '../../bench/seed-postgres.js';
import { CliSandbox, describeResult, spawnCli, until } from '../helpers/cli.js';
import { eml } from '../helpers/context.js';
import { peekConfig } from '../helpers/db-peek.js';
import { TEST_BACKEND } from '../helpers/test-db.js';

/**
 * An installation with history upgraded to this version: the database of an old version (its schema
 * as after an early migration, filled by bench/seed.ts) brought up to date by `casegate migrate`.
 * CI size (4,000 messages); the figures for 1,000,000 are in docs/operating.md#upgrades.
 */

const MESSAGES = 4000;
const CASES = MESSAGES / 4;
// The earliest schemas the bench's seeds fit: SQLite's writes cases.kind (0002); PostgreSQL's reads the counters (0019).
const OLD = TEST_BACKEND === 'postgres' ? '0020-outbox-sent-bodies' : '0002-routing-escalation';

/** A sandbox whose database is at OLD, with MESSAGES of history when `seeded`. */
async function sandboxAtOld(busyTimeoutMs: number, seeded: boolean): Promise<CliSandbox> {
  const box = CliSandbox.create({ database: { busyTimeoutMs } });
  const resolved = loadConfig({ path: box.configPath, env: {} });
  const db = openDatabase(databaseTarget(resolved.config, resolved.paths));
  try {
    await migrateTo(db, OLD);
    if (seeded && TEST_BACKEND === 'postgres') await seedHistoryPostgres(db as never, MESSAGES);
  } finally {
    await db.destroy();
  }
  if (seeded && TEST_BACKEND !== 'postgres') seedHistory(box.dbPath, MESSAGES);
  return box;
}

describe('upgrading a database with history (an old version\'s schema) to this version', () => {
  let box: CliSandbox;
  beforeAll(async () => {
    box = await sandboxAtOld(60_000, true);
  });
  afterAll(() => box.cleanup());

  it('`casegate migrate` says what it applies, one line per migration as it finishes; each is committed when done: killed -9 (PostgreSQL) or failing in the middle, the next run resumes from the one that did not finish', async () => {
    const resolved = loadConfig({ path: box.configPath, env: {} });
    const lastApplied = async (): Promise<string | undefined> => {
      const peek = peekConfig(box.configPath);
      try {
        return (await peek.all<{ name: string }>('SELECT name FROM casegate_migrations ORDER BY name')).at(-1)?.name;
      } finally {
        await peek.close();
      }
    };
    // --dry-run: what an upgrade would apply, in order; nothing applied.
    const dry = await box.run(['migrate', '--dry-run']);
    expect(dry.code, describeResult(dry)).toBe(0);
    expect(dry.stdout).toMatch(TEST_BACKEND === 'postgres' ? /^would apply: 0021-message-search, 0022-links-recipient-copies, .*, 0026-search2-requester-domain, 0027-resend-copies, 0028-resend-case-rate, 0029-leftovers-message-failures, 0030-pgperf2-priority-list, 0031-pgperf2-purge-foreign-keys, 0032-pgperf3-open-cases, 0033-stats-few-valued, 0034-sla-queue-stretches, 0035-intake-forward-subject, 0036-sla-missed-targets, 0037-metrics-sla-breach-counter, 0038-intake-forward-lookup, 0039-relay-rate-slots, 0040-loose-relay-rate-seconds\n$/ : /^would apply: 0003-outbox-claims, 0004-content-digest, .*, 0026-search2-requester-domain, 0027-resend-copies, 0028-resend-case-rate, 0029-leftovers-message-failures, 0030-pgperf2-priority-list, 0031-pgperf2-purge-foreign-keys, 0032-pgperf3-open-cases, 0033-stats-few-valued, 0034-sla-queue-stretches, 0035-intake-forward-subject, 0036-sla-missed-targets, 0037-metrics-sla-breach-counter, 0038-intake-forward-lookup, 0039-relay-rate-slots, 0040-loose-relay-rate-seconds\n$/);
    expect(await lastApplied()).toBe(OLD);
    if (TEST_BACKEND === 'postgres') {
      // Another session holds the outbox (0022 alters it): the migration stops there, 0021 committed before it.
      const holder = new pg.Client({ connectionString: resolved.config.database.url!, options: `-c search_path=${resolved.config.database.schema}` });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE');
        const child = spawnCli(['--config', box.configPath, 'migrate'], { cwd: box.dir, env: { HOME: box.dir } });
        await until('0021 done', 30_000, () => /migration 0021-message-search done/.test(child.stderr()));
        // (pg_stat_activity and pg_locks are read once per transaction: the holder's is open, so each look clears it.)
        const look = async <T extends pg.QueryResultRow>(q: string, params: unknown[] = []): Promise<T[]> => {
          await holder.query('SELECT pg_stat_clear_snapshot()');
          return (await holder.query<T>(q, params)).rows;
        };
        let blocked: number | undefined;
        await until('0022 waits for the outbox', 30_000, async () => {
          blocked = (await look<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE pg_backend_pid() = ANY (pg_blocking_pids(pid))'))[0]?.pid;
          return blocked !== undefined;
        });
        // The lock of the whole run (migration-lock.ts), held on a connection of its own.
        const [lock] = await look<{ pid: number }>("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid::bigint = $1 AND objid::bigint = ($2::bigint & 4294967295)", [...migrationLockKey(resolved.config.database.schema)]);
        expect(lock).toBeDefined();
        child.kill('SIGKILL');
        await child.exited;
        // Its server sessions end with it (they do not wait out a lock or a long index build holding what they locked).
        await until("the killed migration's server sessions end", 10_000, async () => (await look('SELECT 1 FROM pg_stat_activity WHERE pid = ANY ($1)', [[blocked, lock!.pid]])).length === 0);
        await holder.query('ROLLBACK');
      } finally {
        await holder.end();
      }
      expect(await lastApplied()).toBe('0021-message-search');
    }
    // A migration that fails (here 0026: its index is already there) leaves the ones before it applied.
    const peek = peekConfig(box.configPath);
    await peek.run('CREATE INDEX cases_requester_domain ON cases (number)');
    await peek.close();
    const failed = await box.run(['migrate']);
    expect(failed.code, describeResult(failed)).not.toBe(0);
    expect(failed.stderr).toMatch(/migration 0026-search2-requester-domain failed: .*already exists.*up to 0025-search-words, are applied and stay; the next run resumes with 0026-search2-requester-domain/);
    expect(await lastApplied()).toBe('0025-search-words');
    const fix = peekConfig(box.configPath);
    await fix.run('DROP INDEX cases_requester_domain');
    await fix.close();
    const r = await box.run(['migrate']);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      'migrating the database: 15 migration(s) to apply (0026-search2-requester-domain, 0027-resend-copies, 0028-resend-case-rate, 0029-leftovers-message-failures, 0030-pgperf2-priority-list, 0031-pgperf2-purge-foreign-keys, 0032-pgperf3-open-cases, 0033-stats-few-valued, 0034-sla-queue-stretches, 0035-intake-forward-subject, 0036-sla-missed-targets, 0037-metrics-sla-breach-counter, 0038-intake-forward-lookup, 0039-relay-rate-slots, 0040-loose-relay-rate-seconds); mail waits meanwhile and is retried; each is committed when done: an interrupted one is rolled back, and the next run resumes with it',
      expect.stringMatching(/^migration 0026-search2-requester-domain done in \d+\.\d s$/),
      expect.stringMatching(/^migration 0027-resend-copies done in \d+\.\d s$/),
      expect.stringMatching(/^migration 0028-resend-case-rate done in \d+\.\d s$/),
      expect.stringMatching(/^migration 0029-leftovers-message-failures done in \d+\.\d s$/),
      expect.stringMatching(/^migration 0030-pgperf2-priority-list done in \d+\.\d s$/),
      expect.stringMatching(/^migration 0031-pgperf2-purge-foreign-keys done in \d+\.\d s$/),
      expect.stringMatching(/^migration 0032-pgperf3-open-cases done in \d+\.\d s$/),
      expect.stringMatching(/^migration 0033-stats-few-valued done in \d+\.\d s$/),
      expect.stringMatching(/^migration 0034-sla-queue-stretches done in \d+\.\d s$/),
      expect.stringMatching(/^migration 0035-intake-forward-subject done in \d+\.\d s$/),
      expect.stringMatching(/^migration 0036-sla-missed-targets done in \d+\.\d s$/),
      expect.stringMatching(/^migration 0037-metrics-sla-breach-counter done in \d+\.\d s$/),
      expect.stringMatching(/^migration 0038-intake-forward-lookup done in \d+\.\d s$/),
      expect.stringMatching(/^migration 0039-relay-rate-slots done in \d+\.\d s$/),
      expect.stringMatching(/^migration 0040-loose-relay-rate-seconds done in \d+\.\d s$/),
    ]);
    expect(r.stdout).toBe('applied: 0026-search2-requester-domain, 0027-resend-copies, 0028-resend-case-rate, 0029-leftovers-message-failures, 0030-pgperf2-priority-list, 0031-pgperf2-purge-foreign-keys, 0032-pgperf3-open-cases, 0033-stats-few-valued, 0034-sla-queue-stretches, 0035-intake-forward-subject, 0036-sla-missed-targets, 0037-metrics-sla-breach-counter, 0038-intake-forward-lookup, 0039-relay-rate-slots, 0040-loose-relay-rate-seconds\n');
    // The first run's lines: one per migration, as each finished.
    const lines = failed.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^migrating the database: \d+ migration\(s\) to apply \(.*0026-search2-requester-domain, 0027-resend-copies, 0028-resend-case-rate, 0029-leftovers-message-failures, 0030-pgperf2-priority-list, 0031-pgperf2-purge-foreign-keys, 0032-pgperf3-open-cases, 0033-stats-few-valued, 0034-sla-queue-stretches, 0035-intake-forward-subject, 0036-sla-missed-targets, 0037-metrics-sla-breach-counter, 0038-intake-forward-lookup, 0039-relay-rate-slots, 0040-loose-relay-rate-seconds\); mail waits meanwhile/);
    const done = lines.slice(1, lines.findIndex((l) => l.includes('0026-search2-requester-domain failed'))).map((l) => /^migration (\S+) done in \d+\.\d s$/.exec(l)?.[1]);
    expect(done.at(-1), failed.stderr).toBe('0025-search-words');
    expect(done.every((name) => name !== undefined), failed.stderr).toBe(true);
    const again = await box.run(['migrate']);
    expect([again.code, again.stdout, again.stderr]).toEqual([0, 'database is up to date\n', '']);
    expect((await box.run(['migrate', '--dry-run'])).stdout).toBe('database is up to date\n');
  });

  it('the history is whole and works after the upgrade: every message searchable, case numbers continue past the old ones', async () => {
    const peek = peekConfig(box.configPath);
    try {
      expect(await peek.get('SELECT count(*) AS n FROM messages')).toEqual({ n: MESSAGES });
      // 0025 indexed the inbound history (two per case): on SQLite the FTS5 table, on PostgreSQL message_search.
      const searched =
        TEST_BACKEND === 'postgres'
          ? await peek.get("SELECT count(*) AS n FROM message_search WHERE words @@ to_tsquery('simple', 'history')")
          : await peek.get("SELECT count(*) AS n FROM messages_fts WHERE messages_fts MATCH 'history'");
      expect(searched).toEqual({ n: CASES * 2 });
      // 0038 gave every old case its subject key (the seeded subjects are ASCII: their lower case).
      expect(await peek.get('SELECT count(*) AS n FROM cases WHERE subject_key IS NULL OR subject_key <> lower(subject)')).toEqual({ n: 0 });
      expect(await peek.get("SELECT count(*) AS n FROM cases WHERE subject_key = 'history problem 7'")).toEqual({ n: 1 });
      if (TEST_BACKEND !== 'postgres') {
        // 0003: every old outbox row entered the queue when it was written; 0019: the counter holds the highest number.
        expect(await peek.get('SELECT count(*) AS n FROM outbox WHERE queued_at IS NULL OR queued_at <> created_at')).toEqual({ n: 0 });
        expect(await peek.get("SELECT value AS n FROM counters WHERE name = 'case-number'")).toEqual({ n: 100000 + CASES });
      }
    } finally {
      await peek.close();
    }
    const file = box.write('after.eml', eml({ from: 'new-after-upgrade@customer.example', subject: 'First mail after the upgrade', messageId: 'after-upgrade@customer.example' }));
    const r = await box.run(['ingest', file]);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`stored \\(case ${100000 + CASES + 1}\\)`));
  });
  it('rebuilding the search index (what 0025 does over the whole history) reads only what it indexes — the searched messages, their first 100,000 characters — and a bounded amount of text at a time', async () => {
    const resolved = loadConfig({ path: box.configPath, env: {} });
    const db = openDatabase(databaseTarget(resolved.config, resolved.paths));
    try {
      await sql`update messages set visible_text = ${'lorem '.repeat(50_000)} where id <= 40`.execute(db);
      const read: { chars: number; searched: boolean }[] = [];
      let mostAtOnce = 0;
      const watch: KyselyPlugin = {
        transformQuery: (a) => a.node,
        transformResult: async (a) => {
          let chars = 0;
          for (const row of a.result.rows as { visible_text?: unknown; direction?: unknown; author?: unknown }[]) {
            if (typeof row.visible_text !== 'string') continue;
            read.push({ chars: row.visible_text.length, searched: row.direction === 'in' || row.author !== null });
            chars += row.visible_text.length;
          }
          mostAtOnce = Math.max(mostAtOnce, chars);
          return a.result;
        },
      };
      // Two inbound messages a case, and the one stored after the upgrade; at most 250,000 characters a query.
      expect(await rebuildSearchIndex(db.withPlugin(watch), 2000, 250_000)).toBe(CASES * 2 + 1);
      expect(mostAtOnce).toBeLessThanOrEqual(250_000);
      expect(read).toHaveLength(CASES * 2 + 1);
      expect(read.filter((r) => !r.searched)).toEqual([]);
      expect(Math.max(...read.map((r) => r.chars))).toBe(SEARCH_TEXT_CHARS);
    } finally {
      await db.destroy();
    }
  });

  it('a database a newer casegate migrated (a package rolled back, a host left behind) is refused, not worked on: ingest exits 75 and keeps the mail with the MTA', async () => {
    const peek = peekConfig(box.configPath);
    try {
      await peek.run("INSERT INTO casegate_migrations (name, timestamp) VALUES ('9999-from-a-newer-version', '2027-01-01T00:00:00.000Z')");
      const before = await peek.get<{ n: number }>('SELECT count(*) AS n FROM messages');
      const file = box.write('newer.eml', eml({ from: 'after-a-rollback@customer.example', subject: 'Sent after a rollback', messageId: 'after-rollback@customer.example' }));
      const r = await box.run(['ingest', file]);
      expect(r.code, describeResult(r)).toBe(75);
      expect(r.stderr).toMatch(/the database was upgraded by a newer version of casegate \(migration\(s\) 9999-from-a-newer-version, unknown to this one\)/);
      expect(await peek.get('SELECT count(*) AS n FROM messages')).toEqual(before);
      const m = await box.run(['migrate']);
      expect(m.code, describeResult(m)).toBe(1);
      expect(m.stderr).toMatch(/upgraded by a newer version of casegate/);
    } finally {
      await peek.run("DELETE FROM casegate_migrations WHERE name = '9999-from-a-newer-version'");
      await peek.close();
    }
  });
});

describe('mail piped in while another process migrates', () => {
  let box: CliSandbox;
  beforeAll(async () => {
    box = await sandboxAtOld(1000, false);
  });
  afterAll(() => box.cleanup());

  it('`casegate ingest` waits database.busyTimeoutMs for the migration, then exits 75 (the MTA retries) — not for as long as the upgrade takes; afterwards it migrates and stores', async () => {
    const file = box.write('during.eml', eml({ from: 'during-upgrade@customer.example', subject: 'Sent during the upgrade', messageId: 'during-upgrade@customer.example' }));
    const resolved = loadConfig({ path: box.configPath, env: {} });
    let release: () => Promise<void>;
    if (TEST_BACKEND === 'postgres') {
      // What a migrating process holds for the whole run: its schema's migration lock (migration-lock.ts), in a transaction.
      const holder = new pg.Client({ connectionString: resolved.config.database.url! });
      await holder.connect();
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1, $2)', [...migrationLockKey(resolved.config.database.schema)]);
      release = async () => {
        await holder.query('ROLLBACK');
        await holder.end();
      };
    } else {
      // What a migrating process holds for the whole run (migration-lock.ts): the write lock of the
      // file beside the database. The database's own is free between two of its migrations.
      const holder = new SQLite(migrationLockPath(box.dbPath));
      holder.pragma('locking_mode = EXCLUSIVE');
      holder.exec('BEGIN EXCLUSIVE');
      holder.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER)');
      release = async () => {
        holder.exec('ROLLBACK');
        holder.close();
      };
    }
    try {
      const started = Date.now();
      const r = await box.run(['ingest', file], { timeoutMs: 20_000 });
      expect(r.code, describeResult(r)).toBe(75);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(r.stderr).toMatch(/waiting for another process that migrates the database failed/);
    } finally {
      await release();
    }
    const again = await box.run(['ingest', file]);
    expect(again.code, describeResult(again)).toBe(0);
    expect(again.stdout).toMatch(/stored \(case \d+\)/);
  });
});
