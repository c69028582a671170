import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openDatabase } from '../../src/db/database.js';
import { GroupSync } from '../../src/db/commit-sync.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml } from '../helpers/context.js';
import { childEnv, CLI_JS, CliSandbox } from '../helpers/cli.js';
import { openSmtpSession, type SmtpSession } from '../helpers/smtp-probe.js';

/**
 * Acknowledged means on stable storage. A channel acknowledges a message (250, `ingest` exiting 0,
 * IMAP MOVE) right after its commit; a power loss or an OS crash after that must find both the
 * commit and the files it names on disk. Nobody can cut the power in a test, so the order of the
 * system calls is checked instead, with strace on a real `casegate ingest`: the raw message's file
 * is fdatasync'ed before the commit that names it, the WAL holding the commit is fdatasync'ed
 * (commit-sync.ts) before the process exits 0, and the SMTP listener's 250 comes after that sync.
 */

function haveStrace(): boolean {
  const ok = spawnSync('strace', ['-V'], { encoding: 'utf8' }).status === 0;
  if (!ok && process.env['CI'] === 'true') throw new Error('strace is not installed (apt-get install strace; .ci/run does it)');
  return ok;
}

describe.runIf(haveStrace())('durable before acknowledged (power loss)', () => {
  let box: CliSandbox;
  beforeAll(() => {
    box = CliSandbox.create();
  });
  afterAll(() => box.cleanup());

  it('casegate ingest: the raw file is synced, then the commit (WAL synced), then exit 0', () => {
    const file = box.write('power.eml', eml({ subject: 'Power loss', messageId: 'power@customer.example' }));
    const trace = join(box.dir, 'strace.txt');
    const r = spawnSync('strace', ['-f', '-y', '-qq', '-e', 'trace=fdatasync,fsync,exit_group', '-o', trace, process.execPath, CLI_JS, '--config', box.configPath, 'ingest', file], {
      cwd: box.dir,
      env: childEnv({ HOME: box.dir }),
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('stored (case 10001)');
    const lines = joinResumed(readFileSync(trace, 'utf8').split('\n'));
    const at = (re: RegExp): number => lines.findIndex((l) => re.test(l));
    const blobSync = at(/\b(?:fdatasync|fsync)\(\d+<[^>]*\/blobs\/[0-9a-f]{2}\/[0-9a-f]{64}>\)\s*= 0/);
    const walSync = lines.findIndex((l, i) => i > blobSync && /\b(?:fdatasync|fsync)\(\d+<[^>]*casegate\.db-wal>\)\s*= 0/.test(l));
    const exit = at(/exit_group\(0\)/);
    expect(blobSync, lines.join('\n')).toBeGreaterThanOrEqual(0);
    expect(walSync, lines.join('\n')).toBeGreaterThan(blobSync);
    expect(exit).toBeGreaterThan(walSync);
  });

  it('the daemon answers 250 to an SMTP client only after the raw file and then the WAL holding the commit were synced', async () => {
    const port = await freePort();
    const daemonBox = CliSandbox.create({ listener: { enabled: true, host: '127.0.0.1', port } });
    let stop = async (): Promise<void> => undefined;
    try {
      const trace = join(daemonBox.dir, 'strace.txt');
      const child = spawn('strace', ['-f', '-y', '-qq', '-s', '80', '-e', 'trace=fdatasync,fsync,write', '-o', trace, process.execPath, CLI_JS, '--config', daemonBox.configPath, 'start'], {
        cwd: daemonBox.dir,
        env: childEnv({ HOME: daemonBox.dir }),
        stdio: 'ignore',
      });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      // Stop the daemon (strace's child) and wait for strace to finish the trace; also when the
      // test fails half-way, so no daemon outlives it.
      stop = async (): Promise<void> => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const node = spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).stdout.trim().split('\n')[0] ?? '';
        if (node !== '') process.kill(Number(node), 'SIGTERM');
        else child.kill('SIGTERM');
        await exited;
      };
      let session: SmtpSession | null = null;
      for (let i = 0; i < 300 && session === null; i++) {
        try {
          session = await openSmtpSession(port);
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      expect(session, 'the listener did not come up').not.toBeNull();
      // Several messages in a row: SQLite syncs the WAL by itself when it starts one, so only the
      // second and later messages show whether each 250 waits for a sync of its own commit.
      expect((await session!.command('EHLO probe.example')).reply).toMatch(/^250/);
      for (let i = 0; i < 4; i++) {
        const replies: string[] = [];
        for (const line of ['MAIL FROM:<jane@customer.example>', 'RCPT TO:<support@example.com>', 'DATA']) replies.push((await session!.command(line)).reply.slice(0, 3));
        expect(replies).toEqual(['250', '250', '354']);
        const data = eml({ from: `Customer ${i} <c${i}@customer.example>`, subject: `Power loss over SMTP ${i}`, messageId: `power-smtp-${i}@customer.example` }).replace(/\r\n\./g, '\r\n..');
        expect((await session!.command(`${data}.`, 30_000)).reply).toMatch(/^250 .*Stored in case/);
      }
      session!.close();
      await stop();
      const lines = joinResumed(readFileSync(trace, 'utf8').split('\n'));
      const acks = lines.flatMap((l, i) => (/write\(\d+<(?:TCP|socket)[^>]*>, "250 [^"]*Stored/.test(l) ? [i] : []));
      expect(acks, 'the 250s in the trace').toHaveLength(4);
      const isWalSync = (l: string): boolean => /\b(?:fdatasync|fsync)\(\d+<[^>]*casegate\.db-wal>\)\s*= 0/.test(l);
      const isBlobSync = (l: string): boolean => /\b(?:fdatasync|fsync)\(\d+<[^>]*\/blobs\/[0-9a-f]{2}\/[0-9a-f]{64}>\)\s*= 0/.test(l);
      acks.forEach((ack, k) => {
        const from = k === 0 ? 0 : acks[k - 1]! + 1;
        const window = lines.slice(from, ack);
        const blob = window.findIndex(isBlobSync);
        const wal = window.findLastIndex(isWalSync);
        expect(blob, `message ${k}: its raw file synced before its 250\n${window.join('\n')}`).toBeGreaterThanOrEqual(0);
        expect(wal, `message ${k}: the WAL synced after its raw file and before its 250\n${window.join('\n')}`).toBeGreaterThan(blob);
      });
    } finally {
      await stop();
      daemonBox.cleanup();
    }
  }, 120_000);

  it('the WAL is synced once for commits made together (group commit), not in every COMMIT', async () => {
    const db = openDatabase({ path: join(box.dataDir, 'casegate.db') });
    try {
      const { rows } = await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(db);
      expect(rows[0]?.synchronous).toBe(1); // NORMAL: commitsDurable syncs before an acknowledgement
    } finally {
      await db.destroy();
    }
    let syncs = 0;
    let release: () => void = () => undefined;
    const group = new GroupSync(async () => {
      syncs++;
      if (syncs === 1) await new Promise<void>((r) => (release = r));
    });
    const first = group.request();
    // Three commits while the first sync runs: they may postdate its start, so they wait for one more.
    const later = [group.request(), group.request(), group.request()];
    release();
    await Promise.all([first, ...later]);
    expect(syncs).toBe(2);
    await group.request();
    expect(syncs).toBe(3);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * strace -f splits a call another thread interrupts into "PID call(args <unfinished ...>" and,
 * later, "PID <... call resumed>) = result": put the two halves back together at the first one's
 * place (the call started there; the result is what the test reads).
 */
function joinResumed(lines: readonly string[]): string[] {
  const out: string[] = [];
  const open = new Map<string, number>();
  for (const line of lines) {
    const pid = /^(\d+)\s/.exec(line)?.[1];
    if (pid !== undefined && line.endsWith('<unfinished ...>')) {
      open.set(pid, out.length);
      out.push(line.slice(0, -'<unfinished ...>'.length).trimEnd());
      continue;
    }
    const resumed = pid !== undefined ? /^\d+\s+<\.\.\. \w+ resumed>(.*)$/.exec(line) : null;
    const at = pid !== undefined ? open.get(pid) : undefined;
    if (resumed !== null && at !== undefined) {
      out[at] = `${out[at]}${resumed[1]}`;
      open.delete(pid!);
      continue;
    }
    out.push(line);
  }
  return out;
}
