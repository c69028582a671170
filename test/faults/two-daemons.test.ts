import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import nodemailer from 'nodemailer';
import { afterEach, describe, expect, it } from 'vitest';
import { CliSandbox, describeResult, spawnCli, type CliProcess } from '../helpers/cli.js';
import { eml } from '../helpers/context.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';


/** Child processes start slowly on a loaded 2-core machine: a generous hang guard, not a speed target. */
const TIMEOUT_MS = 240_000;
/**
 * Issue 8.3: two daemons on one data directory. The second one refuses to start, names the
 * holder's PID and sends nothing; a daemon killed with -9 leaves no stale lock; one-shot commands
 * keep working beside a running daemon; a daemon that cannot bind its listener sends nothing.
 */

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function daemon(box: CliSandbox): CliProcess {
  const p = spawnCli(['--config', box.configPath, 'start'], { cwd: box.dir, env: { HOME: box.dir } });
  cleanup.push(() => p.kill('SIGKILL'));
  return p;
}

async function started(p: CliProcess): Promise<number> {
  const port = (JSON.parse(await p.waitForLine(/"msg":"smtp listener ready"/, 30_000)) as { port: number }).port;
  await p.waitForLine(/"msg":"casegate started"/, 30_000);
  return port;
}

function sandbox(sink: SmtpSink, listenerPort = 0): CliSandbox {
  const box = CliSandbox.create({
    listener: { port: listenerPort },
    outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false }, sweepSeconds: 1 },
  });
  cleanup.push(() => box.cleanup());
  return box;
}

async function sinkOf(): Promise<SmtpSink> {
  const sink = await startSmtpSink();
  cleanup.push(() => sink.close());
  return sink;
}

describe('one daemon per data directory', () => {
  it('a second daemon refuses to start naming the PID of the first and sends nothing; one-shot commands work beside it; no stale lock after kill -9', async () => {
    const sink = await sinkOf();
    const box = sandbox(sink);
    const first = daemon(box);
    const port = await started(first);
    const pidFile = `${box.dbPath}.pid`;
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(first.child.pid));

    // Mail through the running daemon, and through `casegate ingest` beside it.
    const customer = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
    for (let i = 0; i < 5; i++) await customer.sendMail({ from: `c${i}@customer.example`, to: 'support@example.com', subject: `Via SMTP ${i}`, text: 'x', messageId: `<smtp-${i}@customer.example>` });
    const ingest = await box.run(['ingest', '--mailbox', 'support'], { stdin: eml({ subject: 'Via the pipe', messageId: 'pipe-1@customer.example' }) });
    expect(ingest.code, describeResult(ingest)).toBe(0);
    await sink.waitFor(6, 20_000);

    // Three more daemons on the same configuration, at once.
    const others = [daemon(box), daemon(box), daemon(box)];
    const exits = await Promise.all(others.map((o) => o.exited));
    for (const [i, o] of others.entries()) {
      expect(exits[i]!.code, o.stderr()).toBe(1);
      expect(o.stderr()).toContain(`another casegate daemon (PID ${first.child.pid}) is already running on ${box.dbPath}; not starting`);
      // It stopped before opening anything: no listener, no outbox.
      expect(o.stdout()).not.toMatch(/smtp listener ready|casegate started|email sent/);
    }
    // The first one is untouched and still the holder.
    expect(first.child.exitCode).toBeNull();
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(first.child.pid));

    // One-shot commands beside the running daemon.
    const cases = await box.json<{ subject: string }[]>(['cases', 'list', '--json']);
    expect(cases).toHaveLength(6);
    const status = await box.run(['status']);
    expect(status.code, describeResult(status)).toBe(0);
    const outbox = await box.json<{ status: string }[]>(['outbox', 'list', '--all', '--json']);
    expect(outbox.filter((r) => r.status === 'sent')).toHaveLength(6);

    // Each customer got one confirmation.
    await new Promise((r) => setTimeout(r, 2_000));
    const counts = sink.countsByMessageId();
    expect(sink.messages).toHaveLength(6);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);

    // kill -9: the lock dies with the process; the pid file stays behind but does not matter.
    first.child.kill('SIGKILL');
    await first.exited;
    expect(existsSync(pidFile)).toBe(true);
    const next = daemon(box);
    await started(next);
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(next.child.pid));
    next.child.kill('SIGTERM');
    expect((await next.exited).code).toBe(0);
    // A clean stop removes the pid file.
    expect(existsSync(pidFile)).toBe(false);
    expect(sink.messages).toHaveLength(6);
  }, TIMEOUT_MS);

  it('a daemon whose listener cannot bind exits without sending the mail that is due', async () => {
    const sink = await sinkOf();
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
    const taken = (blocker.address() as { port: number }).port;
    const box = sandbox(sink, taken);
    // Mail queued while no daemon runs: the confirmations are due.
    for (let i = 0; i < 4; i++) {
      const r = await box.run(['ingest', '--mailbox', 'support'], { stdin: eml({ from: `Customer ${i} <c${i}@customer.example>`, subject: `Queued ${i}`, messageId: `queued-${i}@customer.example` }) });
      expect(r.code, describeResult(r)).toBe(0);
    }
    const d = daemon(box);
    const exit = await d.exited;
    expect(exit.code).toBe(1);
    expect(d.stderr()).toMatch(new RegExp(`cannot listen: .*EADDRINUSE.*127\\.0\\.0\\.1:${taken}`));
    await new Promise((r) => setTimeout(r, 1_000));
    expect(sink.messages).toHaveLength(0);
    const outbox = await box.json<{ status: string }[]>(['outbox', 'list', '--json']);
    expect(outbox.map((r) => r.status)).toEqual(['queued', 'queued', 'queued', 'queued']);
  }, TIMEOUT_MS);
});
