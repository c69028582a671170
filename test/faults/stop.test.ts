import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_BACKEND } from '../helpers/test-db.js';
import { childEnv, CliSandbox, REPO_ROOT, spawnCli, type CliProcess } from '../helpers/cli.js';
import { openSmtpSession } from '../helpers/smtp-probe.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';


/** Child processes start slowly on a loaded 2-core machine: a generous hang guard, not a speed target. */
const TIMEOUT_MS = 180_000;
/**
 * Issue 8.6: stop quickly. SIGTERM with an idle SMTP client connected (it used to take 31 s), with
 * a relay that never answers, a second signal, and `npm start` (it used to leave node running).
 */

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function sandbox(config: Parameters<typeof CliSandbox.create>[0]): CliSandbox {
  const box = CliSandbox.create(config);
  cleanup.push(() => box.cleanup());
  return box;
}

async function start(box: CliSandbox): Promise<{ proc: CliProcess; port: number }> {
  const proc = spawnCli(['--config', box.configPath, 'start'], { cwd: box.dir, env: { HOME: box.dir } });
  cleanup.push(() => proc.kill('SIGKILL'));
  const port = (JSON.parse(await proc.waitForLine(/"msg":"smtp listener ready"/, 30_000)) as { port: number }).port;
  await proc.waitForLine(/"msg":"casegate started"/, 30_000);
  return { proc, port };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stuckRelay(): Promise<SmtpSink> {
  // Takes the message, then never answers (for 10 minutes).
  const sink = await startSmtpSink({ acceptDelayMs: 600_000 });
  cleanup.push(() => sink.close());
  return sink;
}

describe('stopping the daemon', () => {
  it('SIGTERM with an idle SMTP client connected: the client gets 421 at once, the daemon exits 0 within 10 s', async () => {
    const box = sandbox({ listener: { port: 0 } });
    const { proc, port } = await start(box);
    const idle = await openSmtpSession(port);
    expect((await idle.command('EHLO idle.example')).reply).toMatch(/^250/);
    const t0 = Date.now();
    proc.child.kill('SIGTERM');
    const closedAt = await idle.closed;
    const exit = await proc.exited;
    const exitedAfter = Date.now() - t0;
    console.log(`[stop] idle client: 421 and closed after ${closedAt - t0} ms; daemon exited after ${exitedAfter} ms`);
    expect(idle.replies.at(-1)).toMatch(/^421 .*shutting down/);
    expect(closedAt - t0).toBeLessThan(3_000);
    expect(exit.code).toBe(0);
    expect(exitedAfter).toBeLessThan(10_000);
    expect(proc.stdout()).toMatch(/"idleClosed":1/);
  }, TIMEOUT_MS);

  it('SIGTERM while the relay takes 6 s to answer the final ".": the daemon waits for the answer (MIME thread), records the email sent and exits 0; the restart sends nothing again', async () => {
    const sink = await startSmtpSink({ acceptDelayMs: 6_000 });
    cleanup.push(() => sink.close());
    const box = sandbox({ listener: { port: 0 }, outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false, stopWaitSeconds: 15 }, sweepSeconds: 1 } });
    const { proc, port } = await start(box);
    await nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true }).sendMail({ from: 'c@customer.example', to: 'support@example.com', subject: 'Slow', text: 'x', messageId: '<slow@customer.example>' });
    await sink.waitFor(1, 20_000);
    const t0 = Date.now();
    proc.child.kill('SIGTERM');
    const exit = await proc.exited;
    const after = Date.now() - t0;
    console.log(`[stop] relay answering after 6 s: daemon exited ${exit.code} after ${after} ms`);
    expect(exit.code).toBe(0);
    expect(after).toBeLessThan(15_000);
    expect(proc.stdout()).toMatch(/"msg":"email sent"/);
    expect(proc.stdout()).not.toMatch(/closing the transport under them/);
    sink.setAcceptDelay(0);
    const again = await start(box);
    await new Promise((r) => setTimeout(r, 3_000));
    again.proc.child.kill('SIGTERM');
    expect((await again.proc.exited).code).toBe(0);
    expect([...sink.countsByMessageId().values()]).toEqual([1]);
    expect(again.proc.stdout()).not.toMatch(/released outbox rows claimed by a previous run/);
  }, TIMEOUT_MS);

  it('SIGTERM while the relay never answers: exits after outgoing.smtp.stopWaitSeconds; the unanswered email is recorded as such and goes out again after the restart (same Message-ID)', async () => {
    const sink = await stuckRelay();
    const box = sandbox({ listener: { port: 0 }, outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false, stopWaitSeconds: 2 }, sweepSeconds: 1 } });
    const { proc, port } = await start(box);
    await nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true }).sendMail({ from: 'c@customer.example', to: 'support@example.com', subject: 'Stuck', text: 'x', messageId: '<stuck@customer.example>' });
    await sink.waitFor(1, 20_000);
    const t0 = Date.now();
    proc.child.kill('SIGTERM');
    const exit = await proc.exited;
    const after = Date.now() - t0;
    console.log(`[stop] relay never answering: daemon exited ${exit.code} after ${after} ms`);
    expect(exit.code).toBe(0);
    expect(after).toBeLessThan(10_000);
    expect(proc.stdout()).toMatch(/sends still waiting for the relay's answer at stop; closing the transport under them/);
    // The MIME thread's send said its answer was lost after the final ".": recorded, not just released.
    expect(proc.stdout()).toMatch(/stopped before the relay answered the final \\"\.\\" of this email/);
    // The next start sends it again, with the same Message-ID (docs/how-it-works.md: a possible duplicate, never a lost email).
    sink.setAcceptDelay(0);
    const again = await start(box);
    await sink.waitFor(2, 20_000);
    expect(sink.messages[1]!.parsed.messageId).toBe(sink.messages[0]!.parsed.messageId);
    again.proc.child.kill('SIGTERM');
    expect((await again.proc.exited).code).toBe(0);
  }, TIMEOUT_MS);

  it('a second signal forces the exit at once', async () => {
    const sink = await stuckRelay();
    const box = sandbox({ listener: { port: 0 }, outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false }, sweepSeconds: 1 } });
    const { proc, port } = await start(box);
    await nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true }).sendMail({ from: 'c@customer.example', to: 'support@example.com', subject: 'Stuck', text: 'x' });
    await sink.waitFor(1, 20_000);
    proc.child.kill('SIGTERM');
    await proc.waitForLine(/"msg":"casegate stopping"/, 5_000);
    const t1 = Date.now();
    proc.child.kill('SIGINT');
    const exit = await proc.exited;
    expect(exit.code).toBe(130);
    expect(Date.now() - t1).toBeLessThan(2_000);
    expect(proc.stdout()).toMatch(/"msg":"second signal: exiting now"/);
  }, TIMEOUT_MS);

  it('`npm start` (exec env … node …) under SIGTERM leaves no node process behind', async () => {
    const script = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['start']!;
    expect(script).toMatch(/^exec (env [A-Z_]+=\S+ )?node /);
    const box = sandbox({ listener: { port: 0 } });
    const npm = spawn('npm', ['start'], { cwd: REPO_ROOT, env: childEnv({ CASEGATE_CONFIG: box.configPath, HOME: box.dir }), stdio: ['ignore', 'pipe', 'pipe'] });
    cleanup.push(() => npm.kill('SIGKILL'));
    let out = '';
    npm.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const npmExit = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
    const pidFile = `${box.dbPath}.pid`;
    const deadline = Date.now() + 60_000;
    // SQLite: the instance lock's pid file names the daemon; PostgreSQL has none (several daemons may run).
    while (!((TEST_BACKEND === 'postgres' || existsSync(pidFile)) && out.includes('"msg":"casegate started"'))) {
      if (Date.now() > deadline) throw new Error(`npm start did not start the daemon:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const daemonPid = TEST_BACKEND === 'postgres' ? childPidOf(npm.pid!) : Number(readFileSync(pidFile, 'utf8').trim());
    cleanup.push(() => {
      if (alive(daemonPid)) process.kill(daemonPid, 'SIGKILL');
    });
    // node is npm's direct child (exec, and env execs node), not a grandchild behind sh.
    expect(readFileSync(`/proc/${daemonPid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]).toBe(String(npm.pid));
    // …with glibc's malloc arenas capped (docs/performance.md).
    expect(readFileSync(`/proc/${daemonPid}/environ`, 'utf8').split('\0')).toContain('MALLOC_ARENA_MAX=2');
    const t0 = Date.now();
    npm.kill('SIGTERM');
    await npmExit;
    while (alive(daemonPid) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 100));
    console.log(`[stop] npm start: daemon PID ${daemonPid} ${alive(daemonPid) ? 'STILL RUNNING' : `gone after ${Date.now() - t0} ms`}`);
    expect(alive(daemonPid)).toBe(false);
    expect(out).toMatch(/"msg":"casegate stopped"/);
  }, TIMEOUT_MS);
});

/** The (one) child process of `pid`, from /proc. */
function childPidOf(pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((x) => x !== '');
  return Number(children[0]);
}
