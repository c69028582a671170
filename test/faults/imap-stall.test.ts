import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { describeResult } from '../helpers/cli.js';
import { runCliInProcess } from '../helpers/cli-in-process.js';
import { eml } from '../helpers/context.js';
import { peekDb, type DbPeek } from '../helpers/db-peek.js';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { imapOf, removeDir, runDaemon, until, type RunningDaemon } from '../imap/imap-env.js';
import { STOP_DEADLINE_MS } from '../../src/cli/daemon.js';

/**
 * A stalled IMAP server: the TCP connection stays open but nothing answers (every Dovecot process
 * SIGSTOPped: a hung server, or a NAT that silently dropped the session). The daemon, idling,
 * must notice within imap.stallTimeoutSeconds — not after minutes — report the mailbox down
 * (health backing-off with the reason, `casegate status`, one log line per attempt), and recover
 * once the server answers again (SIGCONT), taking mail sent afterwards.
 */
const STALL_SECONDS = 4;
/** Scheduling slack on a loaded 2-core machine (the detection itself takes STALL_SECONDS). */
const SLACK_MS = 3_000;

let server: DovecotServer | null = null;
let d: RunningDaemon | null = null;
let db: DbPeek | null = null;

afterEach(async () => {
  server?.resume();
  await d?.stop();
  await db?.close();
  db = null;
  if (d !== null) removeDir(d.dir);
  d = null;
  await server?.stop();
  server = null;
});

interface HealthRow {
  state: string;
  detail: string | null;
  failing_since: string | null;
}

async function health(): Promise<HealthRow | undefined> {
  db ??= peekDb(d!.resolved);
  return db.get<HealthRow>("SELECT state, detail, failing_since FROM mailbox_health WHERE mailbox = 'support'");
}

describeWithDovecot('IMAP: a server that stops answering', () => {
  it(`is reported down within stallTimeoutSeconds (${STALL_SECONDS} s) and used again once it answers`, async () => {
    server = await startDovecot({ users: [{ user: 'stall', password: 'pw-stall' }] });
    d = await runDaemon({
      mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: imapOf(server, 'stall', { stallTimeoutSeconds: STALL_SECONDS, reconnectMinSeconds: 1, reconnectMaxSeconds: 4 }) }],
    });
    await until(async () => (await health())?.state === 'idling', 'the mailbox to idle');

    server.pause();
    const pausedAt = Date.now();
    try {
      await until(async () => (await health())?.state === 'backing-off', 'the mailbox reported down', 60_000, 50);
      const detectedMs = Date.now() - pausedAt;
      console.log(`[imap-stall] stalled server noticed after ${detectedMs} ms (stallTimeoutSeconds ${STALL_SECONDS})`);
      expect(detectedMs).toBeLessThanOrEqual(STALL_SECONDS * 1000 + SLACK_MS);
      const h = (await health())!;
      expect(h.failing_since).not.toBeNull();
      expect(h.detail).toBe(`the IMAP server stopped answering (no reply within ${STALL_SECONDS} s, imap.stallTimeoutSeconds); connection dropped`);
      const lines = d.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('IMAP mailbox support failed:'));
      expect(lines[0]?.msg).toMatch(/^IMAP mailbox support failed: the IMAP server stopped answering .*; next attempt in \d/);
      expect(lines[0]?.level).toBe(40);

      // `casegate status` says so too (it reads what the daemon records).
      const status = await runCliInProcess(['-c', join(d.dir, 'casegate.yaml'), 'status', '--check']);
      expect(status.code, describeResult(status)).toBe(1);
      expect(status.stdout).toMatch(/✗ mailbox:support: backing-off since \S+: the IMAP server stopped answering/);

      // Still stalled: a new connection is accepted by the kernel but never greeted; it keeps failing, never "idling".
      await new Promise((r) => setTimeout(r, STALL_SECONDS * 1000));
      expect((await health())?.state).not.toBe('idling');
    } finally {
      server.resume();
    }
    const resumedAt = Date.now();
    await until(async () => { const h = await health(); return h?.state === 'idling' && h.failing_since === null; }, 'the mailbox back after SIGCONT', 60_000, 50);
    console.log(`[imap-stall] idling again ${Date.now() - resumedAt} ms after SIGCONT`);
    expect(Date.now() - resumedAt).toBeLessThanOrEqual(4_000 + STALL_SECONDS * 1000 + SLACK_MS);

    await server.append('stall', eml({ subject: 'After the stall', messageId: 'after-stall@customer.example' }));
    await until(async () => (await db!.get<{ n: number }>('SELECT count(*) AS n FROM cases'))!.n === 1, 'the case');
  }, 120_000);

  it('a NAT that forgets the session (no RST: nothing passes any more) while the periodic SELECT waits: reported as stalled, reconnected, and mail sent meanwhile lands', async () => {
    server = await startDovecot({ users: [{ user: 'stall', password: 'pw-stall' }] });
    // A TCP proxy standing in for the NAT: forget() drops every byte of the connections it has;
    // new connections pass (a new NAT entry).
    const pairs: { forgotten: boolean }[] = [];
    const nat = createServer((inside) => {
      const outside = connect(server!.port, server!.host);
      const pair = { forgotten: false };
      pairs.push(pair);
      inside.on('data', (b) => void (pair.forgotten || outside.write(b)));
      outside.on('data', (b) => void (pair.forgotten || inside.write(b)));
      for (const [a, b] of [[inside, outside], [outside, inside]] as const) {
        a.on('error', () => undefined);
        a.on('close', () => b.destroy());
      }
    });
    await new Promise<void>((r) => nat.listen(0, '127.0.0.1', r));
    try {
      // pollSeconds 1: a SELECT is always about to be sent, so the stall hits one waiting for its answer.
      d = await runDaemon({ mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: imapOf(server, 'stall', { port: (nat.address() as AddressInfo).port, pollSeconds: 1, stallTimeoutSeconds: STALL_SECONDS }) }] });
      await until(async () => (await health())?.state === 'idling', 'the mailbox to idle');
      for (const p of pairs) p.forgotten = true;
      const t0 = Date.now();
      await server.append('stall', eml({ subject: 'During the NAT drop', messageId: 'nat-1@customer.example' }));
      await until(async () => (await db!.get<{ n: number }>('SELECT count(*) AS n FROM cases'))!.n === 1, 'the case', 60_000, 50);
      console.log(`[imap-stall] mail sent when the NAT forgot the session became a case after ${Date.now() - t0} ms`);
      expect(Date.now() - t0).toBeLessThanOrEqual(STALL_SECONDS * 1000 + SLACK_MS);
      const failed = d.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('IMAP mailbox support failed:'));
      expect(failed.map((l) => l.msg)).toEqual([expect.stringMatching(/^IMAP mailbox support failed: the IMAP server stopped answering \(no reply within 4 s, imap\.stallTimeoutSeconds\); connection dropped; next attempt in /)]);
    } finally {
      nat.close();
    }
  }, 120_000);

  it('a stop (SIGTERM, a reload that drops the mailbox) while the server hangs before its greeting is not held up by the hung connection attempt', async () => {
    server = await startDovecot({ users: [{ user: 'stall', password: 'pw-stall' }] });
    // Hung before the daemon starts: the connection is accepted by the kernel, no greeting ever comes.
    server.pause();
    d = await runDaemon({
      // stallTimeoutSeconds 60: imapflow's greeting timeout is 16 s, longer than the stop grace (STOP_GRACE_MS) and
      // the CLI's stop deadline (9 s): it used to exit 130 with "could not stop in time".
      mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: imapOf(server, 'stall', { stallTimeoutSeconds: 60 }) }],
    });
    await until(async () => (await health())?.state === 'connecting', 'the mailbox connecting');
    // Let the attempt get under way (TCP accepted, waiting for the greeting).
    await new Promise((r) => setTimeout(r, 1_000));
    const t0 = Date.now();
    await d.stop();
    const stoppedMs = Date.now() - t0;
    console.log(`[imap-stall] daemon stopped ${stoppedMs} ms after stop() while the server hung before its greeting`);
    expect(stoppedMs).toBeLessThan(5_000);
    expect((await health())?.state).toBe('stopped');
  }, 120_000);

  it('a stop while the XOAUTH2 tokenCommand hangs (an identity provider that does not answer) ends it at once, not after its 30 s timeout', async () => {
    d = await runDaemon({
      mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: { host: '127.0.0.1', port: 9, tls: 'none', auth: { method: 'xoauth2', user: 'support', tokenCommand: 'sleep 20; echo token' } } }],
    });
    await until(async () => (await health())?.state === 'connecting', 'the mailbox connecting');
    // Let the command get under way.
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    await d.stop();
    const stoppedMs = Date.now() - t0;
    console.log(`[imap-stall] daemon stopped ${stoppedMs} ms after stop() while tokenCommand hung`);
    expect(stoppedMs).toBeLessThan(3_000);
    expect((await health())?.state).toBe('stopped');
    expect(d.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('IMAP mailbox support failed:'))).toEqual([]);
  }, 60_000);

  it('a stop while the server hangs under a command of an open session (the periodic SELECT) ends inside the CLI stop deadline', async () => {
    server = await startDovecot({ users: [{ user: 'stall', password: 'pw-stall' }] });
    // pollSeconds 1: the safety SELECT every second; stallTimeoutSeconds 60: imapflow gives up on it after 30 s.
    d = await runDaemon({ mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: imapOf(server, 'stall', { pollSeconds: 1, stallTimeoutSeconds: 60 }) }] });
    await until(async () => (await health())?.state === 'idling', 'the mailbox to idle');
    server.pause();
    // The next SELECT is sent and never answered.
    await new Promise((r) => setTimeout(r, 2_500));
    const t0 = Date.now();
    await d.stop();
    const stoppedMs = Date.now() - t0;
    console.log(`[imap-stall] daemon stopped ${stoppedMs} ms after stop() while a SELECT hung`);
    // cli/daemon.ts STOP_DEADLINE_MS: past it the process exits 130 with "could not stop in time".
    expect(stoppedMs).toBeLessThan(STOP_DEADLINE_MS);
  }, 120_000);
});
