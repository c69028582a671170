import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { peekDb } from '../helpers/db-peek.js';
import { TEST_BACKEND } from '../helpers/test-db.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { eml, writeConfig } from '../helpers/context.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { seedTemplateCheck } from '../helpers/template-check-seed.js';
import { folderContents, imapOf, removeDir, until } from './imap-env.js';

/**
 * kill -9 of the real daemon (`node dist/bin/casegate.js start`) in the middle of a backlog, then
 * a restart: exactly one case, one confirmation row and one distinct confirmation delivered per
 * message, and an empty INBOX. Needs dist/ (`npm test` runs tsc first).
 *
 * The backlog's size: the daemon acknowledges committed messages on the server ACK_BATCH (64) at a
 * time (imap-settler.ts) and reads up to 64 ahead (PREFETCH_COUNT, imap-reader.ts). Killed at
 * 96 cases of 192 (1.5 batches of 3), it leaves every state a message can be in: a batch moved to
 * Processed, about half a batch committed but still in INBOX (it comes back after the restart and
 * must be recognised as a duplicate), messages read and in the pipeline, and half the backlog not
 * read yet — and confirmations queued, in flight at the relay and sent. A larger backlog (this test
 * used 500) only repeats those states; a smaller one, killed before the first batch was moved, would
 * leave no message acknowledged at the kill.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist/bin/casegate.js');
const TOTAL = 192;
/** Killed once this many cases exist: the first acknowledgement batch (64) is on the server, the second half committed. */
const KILL_AT = 96;

let server: DovecotServer;
let sink: SmtpSink;
let dir: string;
const children: ChildProcess[] = [];

function startCli(configFile: string): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [CLI, '--config', configFile, 'start'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  const keep = (b: Buffer): void => {
    out = (out + b.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => out };
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

describeWithDovecot('IMAP channel crash safety', () => {
  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npx tsc -p tsconfig.json\` first (npm test does)`);
    [server, sink] = await Promise.all([startDovecot({ users: [{ user: 'support', password: 'pw-support' }] }), startSmtpSink()]);
    dir = mkdtempSync(join(tmpdir(), 'casegate-crash-'));
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await sink?.close();
    await server?.stop();
    if (dir !== undefined) removeDir(dir);
  });

  it(`kill -9 in the middle of a ${TOTAL}-message backlog, restart: ${TOTAL} cases, ${TOTAL} confirmations, nothing twice`, async () => {
    // The backlog, appended quickly over one connection.
    const client = await server.connect('support');
    for (let i = 1; i <= TOTAL; i++) {
      await client.append('INBOX', eml({ from: `Customer ${i} <customer${i}@customer.example>`, subject: `Problem number ${i}`, messageId: `crash-${i}@customer.example` }));
    }
    await client.logout();

    const resolved = writeConfig(dir, {
      log: { level: 'warn' },
      mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: imapOf(server, 'support') }],
      listener: { enabled: false },
      templates: { watch: false },
      autoReply: { perSenderPerHour: 10 },
      // PostgreSQL: the killed daemon's mailbox lease and outbox claims lapse (they are not released by
      // the next start); its claims are taken over once the database has answered the new daemon for
      // takeoverGraceSeconds (30 s by default, counted from its start: the longer wait).
      outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false }, sweepSeconds: 1, retry: { baseSeconds: 1, maxSeconds: 2 }, ...(TEST_BACKEND === 'postgres' ? { claimSeconds: 5, takeoverGraceSeconds: 3 } : {}) },
      ...(TEST_BACKEND === 'postgres' ? { database: { leaseSeconds: 3 } } : {}),
    });
    // The data directory as after casegate's first start, the shipped templates recorded as checked
    // (as CliSandbox does): the first start's trial renders are not this test's point.
    seedTemplateCheck({ mailboxes: [{ name: 'support', addresses: ['support@example.com'] }] }, resolved.paths.dataDir, CLI);
    const configFile = resolved.source!;
    const dbPath = resolved.paths.dbPath;

    // First run: killed with SIGKILL once KILL_AT cases exist.
    const first = startCli(configFile);
    if (TEST_BACKEND === 'sqlite') await until(() => existsSync(dbPath), 'the database', 30_000, 10);
    const db = peekDb(resolved);
    const cases = async (): Promise<number> => {
      try {
        return Number((await db.get<{ n: number }>('SELECT count(*) AS n FROM cases'))!.n);
      } catch {
        return 0; // not migrated yet
      }
    };
    try {
      await until(async () => (await cases()) >= KILL_AT || first.child.exitCode !== null, `${KILL_AT} cases`, 60_000, 5).catch((err: unknown) => {
        throw new Error(`${String(err)}\n--- daemon output ---\n${first.output()}`);
      });
      first.child.kill('SIGKILL');
      const end = await exited(first.child);
      expect(end.signal, first.output()).toBe('SIGKILL');
      const atKill = await cases();
      expect(atKill).toBeGreaterThan(0);
      expect(atKill).toBeLessThan(TOTAL);
      const movedAtKill = (await folderContents(server, 'support', 'casegate/Processed')).length;
      console.log(`[imap-crash] at kill -9: ${atKill} of ${TOTAL} cases, ${movedAtKill} moved to Processed, ${atKill - movedAtKill} committed but still in INBOX`);

      // Second run: finishes the backlog.
      const second = startCli(configFile);
      await until(async () => (await cases()) === TOTAL || second.child.exitCode !== null, `${TOTAL} cases`, 90_000, 50).catch((err: unknown) => {
        throw new Error(`${String(err)}\n--- daemon output ---\n${second.output()}`);
      });
      expect(second.child.exitCode, second.output()).toBeNull();
      await until(async () => (await folderContents(server, 'support')).length === 0, 'INBOX to be empty', 30_000, 100);
      const sentOrFailed = async (): Promise<number> => Number((await db.get<{ n: number }>("SELECT count(*) AS n FROM outbox WHERE status != 'queued'"))!.n);
      await until(async () => (await sentOrFailed()) === TOTAL, 'every confirmation sent', 60_000, 100);

      // Exactly once in the database.
      const q = async (sql: string): Promise<number> => Number((await db.get<{ n: number }>(sql))!.n);
      expect(await q('SELECT count(*) AS n FROM cases')).toBe(TOTAL);
      expect(await q('SELECT count(DISTINCT subject) AS n FROM cases')).toBe(TOTAL);
      expect(await q("SELECT count(*) AS n FROM outbox WHERE kind = 'confirmation'")).toBe(TOTAL);
      expect(await q("SELECT count(DISTINCT case_id) AS n FROM outbox WHERE kind = 'confirmation'")).toBe(TOTAL);
      expect(await q("SELECT count(*) AS n FROM outbox WHERE status = 'sent'")).toBe(TOTAL);
      expect(await q("SELECT count(*) AS n FROM receipts WHERE outcome = 'stored'")).toBe(TOTAL);
      expect(await q("SELECT count(*) AS n FROM receipts WHERE outcome NOT IN ('stored', 'ignored')")).toBe(0);
      // Committed-but-not-moved messages came back and were recognised.
      const ignored = await db.all<{ reason: string }>("SELECT reason FROM receipts WHERE outcome = 'ignored'");
      for (const r of ignored) expect(r.reason).toMatch(/duplicate/);

      // Delivered: one distinct confirmation per case (a resend after the kill reuses its Message-ID).
      const delivered = new Set(sink.messages.map((m) => m.parsed.messageId));
      expect(delivered.size).toBe(TOTAL);
      const recipients = new Set(sink.messages.map((m) => m.envelopeTo[0]));
      expect(recipients.size).toBe(TOTAL);
      expect((await folderContents(server, 'support', 'casegate/Processed')).length).toBe(TOTAL);

      // A clean stop.
      second.child.kill('SIGTERM');
      const stopped = await exited(second.child);
      expect(stopped.code, second.output()).toBe(0);
    } finally {
      await db.close();
    }
  }, 180_000);
});
