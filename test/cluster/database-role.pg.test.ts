import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { databaseTarget, migrateTo, migrateToLatest, openDatabase } from '../../src/db/database.js';
import { CliSandbox, until } from '../helpers/cli.js';
import { freePort } from '../helpers/pg-cluster.js';
import { freshSchema, testPgUrl } from '../helpers/test-db.js';

/**
 * casegate run by a least-privilege database role, the way a DBA sets it up: the role owns the
 * schema made for it and may not create schemas (no CREATE on the database). `casegate migrate`
 * and the daemon's start ran `create schema if not exists`, which PostgreSQL refuses without that
 * privilege even when the schema exists ("permission denied for database …", with a stack trace):
 * casegate could not start at all. Now an existing schema is used as it is, and a refusal the
 * admin fixes on the server (a schema it may not create, a schema it may not create tables in, a
 * server that does not answer) is one line that says what to do, not a stack.
 */

const role = `cg_role_${randomBytes(3).toString('hex')}`;
let admin: pg.Client;
const boxes: CliSandbox[] = [];

/** The test database's URL with casegate connecting as `user`. */
function urlAs(user: string): string {
  const u = new URL(testPgUrl());
  u.username = user;
  return u.toString();
}

function sandbox(url: string, schema: string): CliSandbox {
  const box = CliSandbox.create({ database: { url, schema } });
  boxes.push(box);
  return box;
}

beforeAll(async () => {
  admin = new pg.Client({ connectionString: testPgUrl() });
  await admin.connect();
  await admin.query(`create role ${role} login`);
});

afterAll(async () => {
  for (const b of boxes) b.cleanup();
  await admin.query(`drop owned by ${role} cascade`);
  await admin.query(`drop role ${role}`);
  await admin.end();
});

describe('casegate on a least-privilege PostgreSQL role', () => {
  it('a role that owns the schema made for it (and may not create schemas) migrates, and owns the tables it made', async () => {
    const schema = freshSchema();
    await admin.query(`create schema ${schema} authorization ${role}`);
    const box = sandbox(urlAs(role), schema);
    const migrate = await box.run(['migrate']);
    // Nothing but its progress (migrating …, migration … done).
    expect(migrate.stderr.split('\n').filter((l) => l !== '' && !/^migrat(ing the database|ion \S+ done)/.test(l))).toEqual([]);
    expect(migrate.code).toBe(0);
    expect(migrate.stdout).toMatch(/applied: 0001-initial/);
    const n = await admin.query<{ n: string }>(`select count(*) as n from pg_tables where schemaname = $1 and tableowner = $2`, [schema, role]);
    expect(Number(n.rows[0]!.n)).toBeGreaterThan(10);
  });

  it('a role that may not create its schema is told what to grant, in one line', async () => {
    const schema = freshSchema();
    const r = await sandbox(urlAs(role), schema).run(['migrate']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/permission denied for database/);
    expect(r.stderr).toContain(`CREATE SCHEMA "${schema}" AUTHORIZATION "${role}"`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a role that may not create tables in its schema is told to own it, in one line', async () => {
    const schema = freshSchema();
    await admin.query(`create schema ${schema}`);
    await admin.query(`grant usage on schema ${schema} to ${role}`);
    const r = await sandbox(urlAs(role), schema).run(['migrate']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/permission denied for schema/);
    expect(r.stderr).toContain(`ALTER SCHEMA "${schema}" OWNER TO "${role}"`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a server that takes no writes (a standby, read-only): one line saying so, not "is the server up"', async () => {
    const schema = freshSchema();
    await admin.query(`alter role ${role} set default_transaction_read_only = on`);
    try {
      const r = await sandbox(urlAs(role), schema).run(['migrate']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/read-only transaction \(the server is busy or not taking writes now/);
      expect(r.stderr).not.toMatch(/is the server up/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await admin.query(`alter role ${role} reset default_transaction_read_only`);
    }
  });

  it('a statement_timeout the DBA set for the role does not cut an upgrade short: a migration that takes longer still completes', async () => {
    const schema = freshSchema();
    await admin.query(`create schema ${schema} authorization ${role}`);
    const box = sandbox(urlAs(role), schema);
    const resolved = loadConfig({ path: box.configPath, env: {} });
    const db = openDatabase(databaseTarget(resolved.config, resolved.paths));
    try {
      await migrateTo(db, '0021-message-search');
    } finally {
      await db.destroy();
    }
    await admin.query(`alter role ${role} set statement_timeout = '500ms'`);
    const holder = new pg.Client({ connectionString: testPgUrl() });
    await holder.connect();
    try {
      // 0022 alters the outbox: held for 2 s, the migration's statement takes longer than the role's timeout.
      await holder.query('BEGIN');
      await holder.query(`LOCK TABLE ${schema}.outbox IN ACCESS EXCLUSIVE MODE`);
      const migrating = box.run(['migrate']);
      // Meanwhile another instance sharing the database (a schema of its own) upgrades: the migration
      // lock is the schema's, so it does not wait for this one (Kysely's one id for the database made it).
      const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await until('the migration waits for the outbox (its run lock held)', 20_000, async () => (await admin.query('SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))', [holderPid])).rowCount === 1);
      const neighbour = openDatabase({ kind: 'postgres', url: testPgUrl(), schema: freshSchema(), poolSize: 2, lockTimeoutMs: 1000, migrationLockWaitMs: 500 });
      try {
        expect((await migrateToLatest(neighbour)).applied).toContain('0026-search2-requester-domain');
      } finally {
        await neighbour.destroy();
      }
      await new Promise((res) => setTimeout(res, 1000));
      await holder.query('COMMIT');
      const r = await migrating;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('applied: 0022-links-recipient-copies, 0023-case-merge, 0024-unanswered-cases, 0025-search-words, 0026-search2-requester-domain, 0027-resend-copies, 0028-resend-case-rate, 0029-leftovers-message-failures, 0030-pgperf2-priority-list, 0031-pgperf2-purge-foreign-keys, 0032-pgperf3-open-cases, 0033-stats-few-valued, 0034-sla-queue-stretches, 0035-intake-forward-subject, 0036-sla-missed-targets, 0037-metrics-sla-breach-counter, 0038-intake-forward-lookup, 0039-relay-rate-slots, 0040-loose-relay-rate-seconds\n');
    } finally {
      await holder.end();
      await admin.query(`alter role ${role} reset statement_timeout`);
    }
  });

  it('a role that logs in with a password (scram-sha-256, a packaged server\'s default) gets it from database.password', async () => {
    // The suite's cluster trusts every local login, which hid that node-postgres dropped
    // database.password (the parsed URL's empty password replaced it): every password server
    // refused casegate. One role of the cluster is made to need a password, for this test only.
    const hba = (await admin.query<{ hba_file: string }>('show hba_file')).rows[0]!.hba_file;
    const before = readFileSync(hba, 'utf8');
    const pwRole = `cg_pw_${randomBytes(3).toString('hex')}`;
    const password = `pw ${randomBytes(4).toString('hex')}&%`;
    const schema = freshSchema();
    await admin.query(`set password_encryption = 'scram-sha-256'`);
    await admin.query(`create role ${pwRole} login password '${password}'`);
    await admin.query(`create schema ${schema} authorization ${pwRole}`);
    writeFileSync(hba, `host all ${pwRole} 127.0.0.1/32 scram-sha-256\n${before}`);
    await admin.query('select pg_reload_conf()');
    try {
      // The server asks for it now (the reload is asynchronous).
      await until('the server to ask for the password', 10_000, async () => {
        const probe = new pg.Client({ connectionString: urlAs(pwRole) });
        const refused = await probe.connect().then(() => false, () => true);
        await probe.end().catch(() => undefined);
        return refused;
      });
      const withPassword = CliSandbox.create({ database: { url: urlAs(pwRole), schema, password } });
      boxes.push(withPassword);
      const ok = await withPassword.run(['migrate']);
      expect(ok.stderr.split('\n').filter((l) => l !== '' && !/^migrat(ing the database|ion \S+ done)/.test(l))).toEqual([]);
      expect(ok.code).toBe(0);
      const none = await sandbox(urlAs(pwRole), schema).run(['migrate']);
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/the server asks for a password and casegate has none — set database\.password/);
      expect(none.stderr).not.toMatch(/\n\s+at /);
    } finally {
      writeFileSync(hba, before);
      await admin.query('select pg_reload_conf()');
      await admin.query(`drop owned by ${pwRole} cascade`);
      await admin.query(`drop role ${pwRole}`);
    }
  });

  it('a server that does not answer: one line naming it, exit 1 (systemd starts casegate again)', async () => {
    const port = await freePort();
    const r = await sandbox(`postgres://casegate@127.0.0.1:${port}/casegate`, 'public').run(['start'], { childProcess: true });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`cannot open the database postgres://casegate@127.0.0.1:${port}/casegate \\(schema public\\): connect ECONNREFUSED`));
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
