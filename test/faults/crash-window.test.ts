import { peekConfig } from '../helpers/db-peek.js';
import { TEST_BACKEND } from '../helpers/test-db.js';
import { afterEach, describe, expect, it } from 'vitest';
import { CliSandbox, describeResult, spawnCli, type CliProcess, until } from '../helpers/cli.js';
import { eml } from '../helpers/context.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';


/** Child processes start slowly on a loaded 2-core machine: a generous hang guard, not a speed target. */
const TIMEOUT_MS = 240_000;
/**
 * Issue 8.4, the crash window: kill -9 while sending through a pool of maxConnections = 3 to a
 * slow relay. A message the relay has taken (it counts as delivered here) but whose 250 the daemon
 * never read is sent again after the restart — with the same Message-ID. Measured: at most
 * maxConnections such resends; nothing the daemon had recorded is sent again.
 */

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('crash window', () => {
  it('kill -9 mid-send with maxConnections 3: at most 3 resends, each with the same Message-ID', async () => {
    const N = 12;
    const MAX_CONNECTIONS = 3;
    // The relay records a message (delivered) and only then, 3 s later, answers 250.
    const sink: SmtpSink = await startSmtpSink({ acceptDelayMs: 3_000 });
    cleanup.push(() => sink.close());
    const box = CliSandbox.create({
      listener: { enabled: false },
      // PostgreSQL: the killed daemon's claims are not released by the next start (another daemon could
      // be sending them); they lapse after claimSeconds, and the new daemon takes them over once the
      // database has answered it for takeoverGraceSeconds (30 s by default: the longer wait of the two).
      outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false, maxConnections: MAX_CONNECTIONS }, sweepSeconds: 1, ...(TEST_BACKEND === 'postgres' ? { claimSeconds: 5, takeoverGraceSeconds: 3 } : {}) },
    });
    cleanup.push(() => box.cleanup());
    // Mail arrives while no daemon runs: N confirmations are due when it starts.
    const files = Array.from({ length: N }, (_, i) => box.write(`in/${i}.eml`, eml({ from: `Customer ${i} <c${i}@customer.example>`, subject: `Crash ${i}`, messageId: `crash-${i}@customer.example` })));
    const ingest = await box.run(['ingest', '--mailbox', 'support', ...files]);
    expect(ingest.code, describeResult(ingest)).toBe(0);

    const first: CliProcess = spawnCli(['--config', box.configPath, 'start'], { cwd: box.dir, env: { HOME: box.dir } });
    cleanup.push(() => first.kill('SIGKILL'));
    // Wait until the second round is at the relay: 3 acknowledged (and recorded), 3 taken but unanswered.
    const db = peekConfig(box.configPath);
    cleanup.push(() => void db.close());
    const sentCount = async (): Promise<number> => (await db.get<{ n: number }>("SELECT count(*) AS n FROM outbox WHERE status = 'sent'"))!.n;
    await until('the first round recorded as sent', 60_000, async () => (await sentCount()) >= MAX_CONNECTIONS);
    await until('the second round at the relay', 30_000, () => sink.messages.length >= 2 * MAX_CONNECTIONS);
    const atKill = { delivered: sink.messages.length, recorded: await sentCount() };
    first.child.kill('SIGKILL');
    await first.exited;
    const deliveredUnrecorded = atKill.delivered - atKill.recorded;

    // Restart with a relay that answers at once: everything goes out.
    sink.setAcceptDelay(0);
    const second: CliProcess = spawnCli(['--config', box.configPath, 'start'], { cwd: box.dir, env: { HOME: box.dir } });
    cleanup.push(() => second.kill('SIGKILL'));
    await until('every confirmation recorded as sent', 60_000, async () => (await sentCount()) === N);
    await new Promise((r) => setTimeout(r, 2_000));
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);

    const counts = sink.countsByMessageId();
    const resends = sink.messages.length - counts.size;
    const resent = [...counts.entries()].filter(([, n]) => n > 1);
    console.log(
      `[crash-window] ${N} confirmations, maxConnections ${MAX_CONNECTIONS}; at kill -9: ${atKill.delivered} delivered, ${atKill.recorded} recorded as sent (${deliveredUnrecorded} taken by the relay, unanswered); ` +
        `after restart: ${sink.messages.length} deliveries, ${counts.size} distinct Message-IDs, ${resends} resent (${resent.map(([id, n]) => `${id}×${n}`).join(', ')})`,
    );
    expect(counts.size).toBe(N);
    expect(resends).toBeLessThanOrEqual(MAX_CONNECTIONS);
    // Exactly the ones the relay had taken without the daemon hearing back — never a recorded one.
    expect(resends).toBe(deliveredUnrecorded);
    for (const [, n] of resent) expect(n).toBe(2);
    // SQLite: the restart said why it sent them again (PostgreSQL: they were sent once their claims lapsed).
    if (TEST_BACKEND === 'sqlite') expect(second.stdout()).toMatch(/released outbox rows claimed by a previous run/);
  }, TIMEOUT_MS);

  it('after kill -9 mid-send, `outbox list` does not say "sending now" and `outbox cancel` withdraws the email: its sender is gone', async () => {
    // A relay that takes the message and never answers: the daemon dies waiting.
    const sink: SmtpSink = await startSmtpSink({ acceptDelayMs: 600_000 });
    cleanup.push(() => sink.close());
    const box = CliSandbox.create({
      listener: { enabled: false },
      outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false }, sweepSeconds: 1, claimSeconds: 3_600 },
    });
    cleanup.push(() => box.cleanup());
    const ingest = await box.run(['ingest', '--mailbox', 'support', box.write('in/1.eml', eml({ from: 'Ann <ann@customer.example>', subject: 'Killed', messageId: 'killed-1@customer.example' }))]);
    expect(ingest.code, describeResult(ingest)).toBe(0);
    const daemon: CliProcess = spawnCli(['--config', box.configPath, 'start'], { cwd: box.dir, env: { HOME: box.dir } });
    cleanup.push(() => daemon.kill('SIGKILL'));
    await until('the email at the relay', 60_000, () => sink.messages.length >= 1);
    // While it runs, the claim is real.
    const live = await box.run(['outbox', 'list']);
    expect(live.stdout).toMatch(/^1 +queued .* sending now$/m);
    daemon.child.kill('SIGKILL');
    await daemon.exited;

    const list = await box.run(['outbox', 'list']);
    expect(list.code, describeResult(list)).toBe(0);
    expect(list.stdout).toMatch(/^1 +queued .* due now$/m);
    const rows = await box.json<{ id: number; claimed_by: string | null }[]>(['outbox', 'list', '--json']);
    expect(rows).toMatchObject([{ id: 1, claimed_by: null }]);
    const cancel = await box.run(['outbox', 'cancel', '1', '--reason', 'sent by hand']);
    expect(cancel.stdout, describeResult(cancel)).toBe('email #1 (confirmation to ann@customer.example) is cancelled and will not be sent\n');

    // The next start sends nothing: the relay had it once, and it was withdrawn.
    sink.setAcceptDelay(0);
    const second: CliProcess = spawnCli(['--config', box.configPath, 'start'], { cwd: box.dir, env: { HOME: box.dir } });
    cleanup.push(() => second.kill('SIGKILL'));
    await second.waitForLine(/"msg":"casegate started"/, 60_000);
    await new Promise((r) => setTimeout(r, 2_000));
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    expect(sink.messages).toHaveLength(1);
    expect((await box.json<{ status: string }[]>(['outbox', 'list', '--all', '--json'])).map((r) => r.status)).toEqual(['cancelled']);
  }, TIMEOUT_MS);
});
