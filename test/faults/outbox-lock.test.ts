import SQLite from 'better-sqlite3';
import nodemailer from 'nodemailer';
import { afterEach, describe, expect, it } from 'vitest';
import { CliSandbox, jsonLines, spawnCli, type CliProcess, until } from '../helpers/cli.js';
import { lockDatabase, type DbLocker } from '../helpers/db-locker.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';


/** Child processes start slowly on a loaded 2-core machine: a generous hang guard, not a speed target. */
const TIMEOUT_MS = 240_000;
/**
 * Issue 8.1: another process holds the database lock for 15 s (15 times the daemon's busy timeout)
 * while confirmations are being sent and others fall due. Before the fix every one of them was delivered twice ("sent" could not be
 * written, the row stayed due, the next pass sent it again). Now: each exactly once.
 */

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('outbox while the database is locked by another process', () => {
  it('a 15 s lock while 8 confirmations are in flight or fall due: every one delivered exactly once, the delayed "sent" writes recorded as events', async () => {
    const LOCK_MS = 15_000;
    const N = 8;
    // A real relay that takes 1.5 s to answer, and refuses the first 3 messages with 451.
    const sink: SmtpSink = await startSmtpSink({ acceptDelayMs: 1_500 });
    cleanup.push(() => sink.close());
    sink.failNext(451, 3);
    const box = CliSandbox.create({
      listener: { port: 0 },
      outgoing: {
        transport: 'smtp',
        smtp: { host: '127.0.0.1', port: sink.port, secure: false, maxConnections: 3 },
        sweepSeconds: 1,
        // The 3 refused ones fall due again 6 s later: in the middle of the lock.
        retry: { baseSeconds: 6, maxSeconds: 16, giveUpHours: 48 },
      },
      // Every write gives up after 1 s of the lock (the default waits 5 s): the lock outlasts it many times.
      database: { busyTimeoutMs: 1000 },
    });
    cleanup.push(() => box.cleanup());
    const daemon: CliProcess = spawnCli(['--config', box.configPath, 'start'], { cwd: box.dir, env: { HOME: box.dir } });
    cleanup.push(() => daemon.kill('SIGKILL'));
    const port = (JSON.parse(await daemon.waitForLine(/"msg":"smtp listener ready"/, 30_000)) as { port: number }).port;
    await daemon.waitForLine(/"msg":"casegate started"/, 30_000);

    const customer = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
    await Promise.all(
      Array.from({ length: N }, (_, i) => customer.sendMail({ from: `c${i}@customer.example`, to: 'support@example.com', subject: `Question ${i}`, text: 'Hello', messageId: `<q${i}@customer.example>` })),
    );
    // The confirmations are on their way to the slow relay (3 of them refused, the next one waiting
    // for its answer): now lock the database. (Waiting for that, not for the clock: a loaded
    // machine may take seconds to claim the first rows.)
    await until('the relay to refuse 3 confirmations and hold the next one', 60_000, () => sink.dataCommands() >= 4 && sink.messages.length < N);
    const locker: DbLocker = lockDatabase(box.dbPath, LOCK_MS);
    cleanup.push(() => locker.child.kill('SIGKILL'));
    await locker.locked;
    const deliveredBeforeLock = sink.messages.length;

    // While locked: deliveries go on for what was already in flight, but nothing arrives twice.
    let maxDupDuringLock = 0;
    while (locker.times.releasedAt === null) {
      for (const n of sink.countsByMessageId().values()) maxDupDuringLock = Math.max(maxDupDuringLock, n);
      await new Promise((r) => setTimeout(r, 250));
    }
    const deliveredDuringLock = sink.messages.length - deliveredBeforeLock;
    const dueDuringLock = new SQLite(box.dbPath, { readonly: true });
    const fellDue = (dueDuringLock.prepare("SELECT count(*) AS n FROM outbox WHERE kind = 'confirmation' AND status = 'queued' AND attempts > 0 AND next_attempt_at < ?").get(new Date(locker.times.releasedAt).toISOString()) as { n: number }).n;
    dueDuringLock.close();

    // After the lock: everything goes out, each once; the database agrees.
    await sink.waitFor(N, 60_000);
    const db = new SQLite(box.dbPath, { readonly: true });
    cleanup.push(() => db.close());
    const rows = await until('every confirmation recorded as sent', 60_000, () => {
      const r = db.prepare("SELECT id, status, attempts, message_id FROM outbox WHERE kind = 'confirmation'").all() as { id: number; status: string; attempts: number; message_id: string }[];
      return r.length === N && r.every((x) => x.status === 'sent') ? r : undefined;
    });
    // A few more sweeps: nothing is sent again.
    await new Promise((r) => setTimeout(r, 3_000));
    const counts = sink.countsByMessageId();
    const delayedEvents = db.prepare("SELECT reason FROM events WHERE type = 'email.record-delayed'").all() as { reason: string }[];
    const lines = jsonLines(daemon.stdout());
    const heldLines = lines.filter((l) => l['msg'] === 'email accepted by the relay, but recording it failed; held in memory (never sent again) and recorded as soon as the database lets us');
    console.log(
      `[outbox-lock] lock ${LOCK_MS / 1000} s; confirmations ${N}; delivered before/during lock ${deliveredBeforeLock}/${deliveredDuringLock}, refused ones that fell due during the lock ${fellDue}; ` +
        `deliveries total ${sink.messages.length}, distinct Message-IDs ${counts.size}, most copies of one ${Math.max(...counts.values())}; ` +
        `"sent" writes that waited for the lock ${heldLines.length}, email.record-delayed events ${delayedEvents.length}`,
    );
    expect(maxDupDuringLock).toBe(1);
    expect(fellDue).toBeGreaterThanOrEqual(1);
    expect(counts.size).toBe(N);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(sink.messages).toHaveLength(N);
    expect(new Set(rows.map((r) => `<${r.message_id}>`))).toEqual(new Set(counts.keys()));
    // The fault really happened: the relay accepted mail while the database could not record it.
    expect(heldLines.length).toBeGreaterThanOrEqual(1);
    expect(delayedEvents).toHaveLength(heldLines.length);
    for (const e of delayedEvents) expect(e.reason).toMatch(/accepted by the relay at .*; recording it failed \d+ time\(s\) .*; not sent again/);

    daemon.child.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
  }, TIMEOUT_MS);
});
