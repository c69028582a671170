import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { startDaemon } from '../../src/main.js';
import { CliSandbox } from '../helpers/cli.js';
import { eml, writeConfig } from '../helpers/context.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { freshSchema, testPgUrl } from '../helpers/test-db.js';

/**
 * Several daemons on one PostgreSQL database must sign with one instance secret: a daemon with
 * another one — started before the shared dataDir was mounted (it generated a new secret in the
 * empty directory, and keeps raw mail on its own disk), or another instance's configuration
 * pointed at this database — ran alongside the others, and its signed references, reply tokens
 * and links were rejected by them. Now it refuses to start, saying why; a rotation (the secret in
 * use kept in instance.previousSecrets) is followed.
 */

const OLD = 'old-secret-0123456789abcdef-0123456789';
const NEW = 'new-secret-0123456789abcdef-0123456789';
const schema = freshSchema();
const running: TestDaemon[] = [];

function config(instance: Record<string, unknown>): ConfigInput {
  return {
    instance: { name: 'Example Support', domain: 'support.example.com', ...instance },
    mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
    database: { schema },
    jobs: { enabled: false },
  };
}

async function start(instance: Record<string, unknown>): Promise<TestDaemon> {
  const d = await startTestDaemon(config(instance));
  running.push(d);
  return d;
}

/** A start that must be refused: no sink, and its directory removed whatever happens. */
async function refusedStart(instance: Record<string, unknown>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-secret-'));
  try {
    const resolved = writeConfig(dir, { ...config(instance), templates: { watch: false }, listener: { port: 0 } });
    const daemon = await startDaemon({ resolved, log: silentLogger() });
    await daemon.stop();
    throw new Error('the daemon started');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

afterAll(async () => {
  for (const d of running) await d.stop().catch(() => undefined);
});

describe('the instance secret of several daemons on one database', () => {
  it('a daemon with another secret than the running ones refuses to start and says why; the others run on', async () => {
    const first = await start({ secret: OLD });
    await expect(refusedStart({ secret: NEW })).rejects.toThrow(/sign with another instance secret than this one \(instance\.secret\).*shared dataDir mounted/);
    // A generated secret (an empty dataDir: the shared one not mounted) is named by its file.
    await expect(refusedStart({})).rejects.toThrow(/another instance secret than this one \(.*\/data\/secret\)/);
    expect(first.daemon.smtp).not.toBeNull();
    const again = await start({ secret: OLD });
    expect(again.daemon.smtp).not.toBeNull();
  });

  it('a rotation (the old secret in instance.previousSecrets) is followed; a daemon left on the old secret is then refused', async () => {
    const rotated = await start({ secret: NEW, previousSecrets: [{ secret: OLD, acceptUntil: '2099-01-01' }] });
    expect(rotated.daemon.smtp).not.toBeNull();
    await expect(refusedStart({ secret: OLD })).rejects.toThrow(/another instance secret/);
    expect((await start({ secret: NEW })).daemon.smtp).not.toBeNull();
  });
});

describe('casegate ingest on a host with another secret', () => {
  it('exits 75 (the MTA keeps the message) and says why; nothing is stored', async () => {
    // The daemons of `schema` sign with NEW (the test above).
    const box = CliSandbox.create({ ...config({ secret: OLD }), jobs: { enabled: false } });
    try {
      const r = await box.run(['ingest', '--recipient', 'support@example.com'], { stdin: eml({ messageId: 'other-secret-1@customer.example' }) });
      expect(r.code).toBe(75);
      expect(r.stderr).toMatch(/sign with another instance secret than this one/);
      const admin = new pg.Client({ connectionString: testPgUrl() });
      await admin.connect();
      try {
        const n = await admin.query<{ n: string }>(`select count(*) as n from ${schema}.receipts where message_id = 'other-secret-1@customer.example'`);
        expect(Number(n.rows[0]!.n)).toBe(0);
      } finally {
        await admin.end();
      }
    } finally {
      box.cleanup();
    }
  });
});

describe('CLI commands on a host with another secret', () => {
  it('refuse every command that changes something (replies, links, jobs, the outbox) with the same one line; looking still works', async () => {
    // The daemons of `schema` sign with NEW (the tests above); a case made by a host that agrees.
    const good = CliSandbox.create({ ...config({ secret: NEW }), jobs: { enabled: false } });
    const box = CliSandbox.create({ ...config({ secret: OLD }), jobs: { enabled: false } });
    const admin = new pg.Client({ connectionString: testPgUrl() });
    await admin.connect();
    const outboxRows = async (): Promise<number> => Number((await admin.query<{ n: string }>(`select count(*) as n from ${schema}.outbox`)).rows[0]!.n);
    try {
      const made = await good.run(['ingest', '--recipient', 'support@example.com', '--sender', 'cli-secret@customer.example'], { stdin: eml({ from: 'cli-secret@customer.example', messageId: 'cli-secret-1@customer.example' }) });
      expect(made.code, made.stderr).toBe(0);
      const number = /\(case (\d+)\)/.exec(made.stdout)?.[1];
      expect(number).toBeDefined();
      const before = await outboxRows();

      const refused = [
        ['cases', 'reply', number!, '--message', 'signed with the wrong secret'],
        ['cases', 'resolve', number!],
        ['links', 'create', number!],
        ['jobs', 'run', 'pending-reminder'],
        ['outbox', 'retry', '--all-failed'],
      ];
      for (const args of refused) {
        const r = await box.run(args);
        expect(r.code, args.join(' ')).toBe(1);
        // One line (`jobs run` logs at info: JSON log lines beside it).
        expect(r.stderr.trim().split('\n').filter((l) => !l.startsWith('{')), args.join(' ')).toHaveLength(1);
        expect(r.stderr, args.join(' ')).toMatch(/sign with another instance secret than this one \(instance\.secret\).*shared dataDir mounted/);
        expect(r.stdout, args.join(' ')).not.toMatch(/https?:\/\//);
      }
      expect(await outboxRows()).toBe(before);
      const status = await admin.query<{ status: string }>(`select status from ${schema}.cases where number = $1`, [Number(number)]);
      expect(status.rows[0]!.status).not.toBe('resolved');

      // An admin can look: list, show, the outbox, the jobs, status.
      for (const args of [['cases', 'list'], ['cases', 'show', number!], ['outbox', 'list'], ['jobs', 'list'], ['status']]) {
        const r = await box.run(args);
        expect(r.stderr, args.join(' ')).not.toMatch(/instance secret/);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      }
      // The host that agrees works as before.
      const link = await good.run(['links', 'create', number!]);
      expect(link.code, link.stderr).toBe(0);
    } finally {
      await admin.end();
      box.cleanup();
      good.cleanup();
    }
  });
});
