import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliSandbox, describeResult, spawnCli, type CliProcess } from '../helpers/cli.js';
import { findFreePort } from '../helpers/dovecot-server.js';

/**
 * `casegate backup` while a real daemon takes mail over SMTP (issue 13, point 6), then `casegate
 * restore` into a fresh data directory: every message whose 250 came back before the backup
 * started is in it, every blob any row names is there and matches its name, SHA256SUMS checks,
 * and the restored instance shows the same cases. Restore refuses a running daemon's directory,
 * a non-empty one and a damaged backup.
 */

let box: CliSandbox;
let daemon: CliProcess;
let port: number;
/** A named blob the first test moves into the earlier two-level layout before the backup. */
let movedToEarlierLayout = '';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function message(i: number): nodemailer.SendMailOptions {
  return {
    from: `customer${i}@customer.example`,
    to: 'support@example.com',
    subject: `Load ${i}`,
    text: `Message number ${i}`,
    messageId: `<load-${i}@customer.example>`,
    // Every third one carries a file (the same bytes every sixth: a shared, content-addressed blob).
    ...(i % 3 === 0 ? { attachments: [{ filename: `log-${i}.txt`, content: i % 6 === 0 ? 'shared attachment bytes\n' : `log of ${i}\n`.repeat(200) }] } : {}),
  };
}

beforeAll(async () => {
  port = await findFreePort();
  // No configured secret: the generated <dataDir>/secret must travel with the backup.
  box = CliSandbox.create({ instance: { name: 'Example Support', domain: 'example.com' }, listener: { port }, jobs: { enabled: false } });
  daemon = spawnCli(['--config', box.configPath, 'start'], { cwd: box.dir, env: { HOME: box.dir } });
  await daemon.waitForLine(/"casegate started"/, 30_000);
}, 60_000);

afterAll(async () => {
  daemon?.kill('SIGTERM');
  await daemon?.exited;
  box?.cleanup();
});

describe('backup under load and restore', () => {
  const backupDir = (): string => join(box.dir, 'backup-1');

  it('a backup taken while mail arrives holds everything committed before it started, with every blob', async () => {
    const client = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: 2 });
    const accepted = new Map<string, number>();
    let stop = false;
    let next = 0;
    const sender = async (): Promise<void> => {
      while (!stop) {
        const i = next++;
        await client.sendMail(message(i));
        accepted.set(`load-${i}@customer.example`, Date.now());
      }
    };
    const senders = [sender(), sender()];
    while (accepted.size < 20) await new Promise((r) => setTimeout(r, 50));
    // One stored file moved into the layout of stores written before 2026-12-05 (<aa>/<bb>/<sha256>):
    // backed up from there, restored into the current one.
    const blobs = join(box.dataDir, 'blobs');
    const live = new SQLite(box.dbPath, { readonly: true });
    const movedSha = (live.prepare('select raw_sha256 as s from receipts order by id limit 1').get() as { s: string }).s;
    live.close();
    movedToEarlierLayout = movedSha;
    mkdirSync(join(blobs, movedSha.slice(0, 2), movedSha.slice(2, 4)), { recursive: true });
    renameSync(join(blobs, movedSha.slice(0, 2), movedSha), join(blobs, movedSha.slice(0, 2), movedSha.slice(2, 4), movedSha));
    const startedAt = Date.now();
    const before = [...accepted].filter(([, at]) => at < startedAt).map(([id]) => id);
    const r = await box.run(['backup', backupDir()]);
    const during = accepted.size;
    stop = true;
    await Promise.all(senders);
    client.close();
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout).toMatch(/^backup written to .* blobs .*sha256sum -c SHA256SUMS$/m);
    // Mail kept arriving while the backup ran.
    expect(accepted.size).toBeGreaterThan(before.length);
    expect(during).toBeGreaterThan(before.length);

    const db = new SQLite(join(backupDir(), 'casegate.db'), { readonly: true });
    try {
      const ids = new Set((db.prepare('select message_id from messages where direction = ?').all('in') as { message_id: string }[]).map((m) => m.message_id));
      const missing = before.filter((id) => !ids.has(id));
      expect(missing).toEqual([]);
      const named = db.prepare('select raw_sha256 as s from messages where raw_sha256 is not null union select raw_sha256 from receipts union select sha256 from attachments').all() as { s: string }[];
      expect(named.length).toBeGreaterThan(before.length);
      const bad = named.filter(({ s }) => {
        const f = join(backupDir(), 'blobs', s.slice(0, 2), s.slice(2, 4), s);
        return !existsSync(f) || sha256(readFileSync(f)) !== s;
      });
      expect(bad).toEqual([]);
      expect((db.prepare('select count(*) as n from attachments').get() as { n: number }).n).toBeGreaterThan(0);
      const manifest = JSON.parse(readFileSync(join(backupDir(), 'manifest.json'), 'utf8')) as { backend: string; database: { counts: { messages: number; cases: number } }; blobs: { count: number }; secret: boolean; casegateVersion: string };
      expect(manifest).toMatchObject({ backend: 'sqlite', secret: true, blobs: { count: new Set(named.map((n) => n.s)).size } });
      expect(manifest.database.counts.messages).toBe((db.prepare('select count(*) as n from messages').get() as { n: number }).n);
    } finally {
      db.close();
    }
    // The admin's own check.
    const sums = execFileSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: backupDir(), encoding: 'utf8' });
    expect(sums).toBe('');
    // The daemon never noticed: it is still running and taking mail.
    expect(daemon.child.exitCode).toBeNull();
  }, 120_000);

  it('restores into a fresh data directory; the restored instance shows the same cases and threads with the same secret', async () => {
    const fresh = CliSandbox.create({ instance: { name: 'Example Support', domain: 'example.com' }, jobs: { enabled: false } });
    try {
      // (the test harness validated the config, which generated a secret there: a fresh host has none)
      rmSync(fresh.dataDir, { recursive: true, force: true });
      const r = await fresh.run(['restore', backupDir()]);
      expect(r.code, describeResult(r)).toBe(0);
      expect(r.stdout).toMatch(/all checksums verified/);
      const manifest = JSON.parse(readFileSync(join(backupDir(), 'manifest.json'), 'utf8')) as { database: { counts: { cases: number } } };
      const cases = await fresh.json<{ number: number }[]>(['cases', 'list', '--json', '--limit', '100000']);
      expect(cases).toHaveLength(manifest.database.counts.cases);
      expect(readFileSync(join(fresh.dataDir, 'secret'), 'utf8')).toBe(readFileSync(join(box.dataDir, 'secret'), 'utf8'));
      const shown = await fresh.json<{ messages: { attachments: unknown[] }[] }>(['cases', 'show', String(cases.at(-1)!.number), '--json']);
      expect(shown.messages.length).toBeGreaterThan(0);
      // Every blob restored into the store's layout, <aa>/<sha256>: also the one backed up from the earlier layout.
      const restored = join(fresh.dataDir, 'blobs');
      const files = readdirSync(restored).flatMap((d) => readdirSync(join(restored, d)).map((f) => `${d}/${f}`));
      expect(files.length).toBe((JSON.parse(readFileSync(join(backupDir(), 'manifest.json'), 'utf8')) as { blobs: { count: number } }).blobs.count);
      for (const f of files) expect(f).toMatch(/^([0-9a-f]{2})\/\1[0-9a-f]{62}$/);
      expect(files).toContain(`${movedToEarlierLayout.slice(0, 2)}/${movedToEarlierLayout}`);
      // Cases opened after the backup are lost with the old instance, but their customers hold
      // mail naming their numbers: the restored instance never hands those numbers out again.
      const highest = Math.max(...cases.map((c) => c.number));
      const next = /New cases start at (\d+)/.exec(r.stdout);
      expect(next, r.stdout).not.toBeNull();
      expect(Number(next![1])).toBeGreaterThan(highest + 1000);
      const after = await fresh.run(['ingest'], { stdin: `From: new@customer.example\r\nTo: support@example.com\r\nSubject: After the restore\r\nMessage-ID: <after-restore@customer.example>\r\n\r\nhello\r\n` });
      expect(after.code, describeResult(after)).toBe(0);
      expect(after.stdout).toContain(`stored (case ${next![1]})`);
    } finally {
      fresh.cleanup();
    }
  }, 60_000);

  it('refuses the running daemon’s data directory, a non-empty one and a damaged backup (writing nothing)', async () => {
    const intoRunning = await box.run(['restore', backupDir()]);
    expect(intoRunning.code).toBe(1);
    expect(intoRunning.stderr).toMatch(/daemon \(PID \d+\) is running/);

    const other = CliSandbox.create({ jobs: { enabled: false } });
    try {
      rmSync(other.dataDir, { recursive: true, force: true });
      other.write('data/stray.txt', 'not empty');
      const intoFull = await other.run(['restore', backupDir()]);
      expect(intoFull.code).toBe(1);
      expect(intoFull.stderr).toMatch(/is not empty/);
      rmSync(join(other.dataDir, 'stray.txt'));

      const damaged = join(other.dir, 'damaged');
      cpSync(backupDir(), damaged, { recursive: true });
      const blobDir = join(damaged, 'blobs');
      const first = readdirSync(blobDir);
      const a = join(blobDir, first[0]!);
      const b = join(a, readdirSync(a)[0]!);
      const f = join(b, readdirSync(b)[0]!);
      writeFileSync(f, Buffer.concat([readFileSync(f), Buffer.from('x')]));
      const bad = await other.run(['restore', damaged]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/the backup is damaged: 1 file\(s\)/);
      expect(readdirSync(other.dataDir)).toEqual([]);
    } finally {
      other.cleanup();
    }
  }, 60_000);

  it('refuses to write into an existing, non-empty directory', async () => {
    const r = await box.run(['backup', backupDir()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/exists and is not empty/);
  });
});

describe('backup of a damaged data directory', () => {
  it('a blob file that is gone or damaged is left out and named (exit 2); the database, the other blobs and the secret are still backed up and restore', async () => {
    const own = CliSandbox.create({ instance: { name: 'Example Support', domain: 'example.com' }, jobs: { enabled: false } });
    const fresh = CliSandbox.create({ instance: { name: 'Example Support', domain: 'example.com' }, jobs: { enabled: false } });
    try {
      for (const who of ['ann', 'bob', 'carl']) {
        const r = await own.run(['ingest'], { stdin: `From: ${who}@customer.example\r\nTo: support@example.com\r\nSubject: ${who} asks\r\nMessage-ID: <${who}-1@customer.example>\r\n\r\nhello from ${who}\r\n` });
        expect(r.code, describeResult(r)).toBe(0);
      }
      const live = new SQLite(own.dbPath, { readonly: true });
      const raws = (live.prepare("select raw_sha256 as s from messages where direction = 'in' order by id").all() as { s: string }[]).map((x) => x.s);
      live.close();
      const file = (s: string): string => join(own.dataDir, 'blobs', s.slice(0, 2), s);
      rmSync(file(raws[0]!));
      writeFileSync(file(raws[1]!), 'not what was stored\n');
      const dir = join(own.dir, 'backup-damaged');
      const r = await own.run(['backup', dir]);
      expect(r.code, describeResult(r)).toBe(2);
      expect(r.stderr).toMatch(/the data directory is damaged — left out of the backup: 1 blob file\(s\) the database names are missing \([0-9a-f]{64}\), 1 no longer match their checksum/);
      const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { unreadableBlobs: { missing: string[]; damaged: string[] }; secret: boolean; database: { counts: { cases: number } } };
      expect(manifest.unreadableBlobs).toEqual({ missing: [raws[0]], damaged: [raws[1]] });
      expect(manifest).toMatchObject({ secret: true, database: { counts: { cases: 3 } } });
      expect(execFileSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' })).toBe('');
      rmSync(fresh.dataDir, { recursive: true, force: true });
      const restored = await fresh.run(['restore', dir]);
      expect(restored.code, describeResult(restored)).toBe(0);
      expect(await fresh.json<unknown[]>(['cases', 'list', '--json'])).toHaveLength(3);
      expect(existsSync(join(fresh.dataDir, 'blobs', raws[2]!.slice(0, 2), raws[2]!))).toBe(true);
    } finally {
      own.cleanup();
      fresh.cleanup();
    }
  }, 60_000);
});

describe('restore and the emails that waited in the outbox', () => {
  it('holds them as failed (the lost instance may have sent them), each with an event; outbox retry sends one, outbox cancel drops one; --send-queued keeps them queued', async () => {
    const own = CliSandbox.create({ instance: { name: 'Example Support', domain: 'example.com' }, jobs: { enabled: false } });
    const held = CliSandbox.create({ instance: { name: 'Example Support', domain: 'example.com' }, jobs: { enabled: false } });
    const sending = CliSandbox.create({ instance: { name: 'Example Support', domain: 'example.com' }, jobs: { enabled: false } });
    try {
      // No daemon: the two confirmations wait in the outbox when the backup is taken.
      for (const who of ['ann', 'bob']) {
        const r = await own.run(['ingest'], { stdin: `From: ${who}@customer.example\r\nTo: support@example.com\r\nSubject: ${who} asks\r\nMessage-ID: <${who}-q@customer.example>\r\n\r\nhello from ${who}\r\n` });
        expect(r.code, describeResult(r)).toBe(0);
      }
      const dir = join(own.dir, 'backup-queued');
      const b = await own.run(['backup', dir]);
      expect(b.code, describeResult(b)).toBe(0);

      rmSync(held.dataDir, { recursive: true, force: true });
      const r = await held.run(['restore', dir]);
      expect(r.code, describeResult(r)).toBe(0);
      expect(r.stdout).toMatch(/ 2 email\(s\) that waited in the outbox when the backup was taken are held as failed .*casegate outbox retry ID… sends one, casegate outbox cancel ID… drops it\. Reminders, automatic-close notices, surveys and "still working" emails the jobs make for what fell due before now are held the same way .*; later ones go as usual\. Start the daemon\.\n$/);
      const out = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { createdAt: string };
      const rows = await held.json<{ id: number; status: string; to_address: string; last_error: string }[]>(['outbox', 'list', '--all', '--json']);
      expect(rows.map((x) => [x.to_address, x.status]).sort()).toEqual([
        ['ann@customer.example', 'failed'],
        ['bob@customer.example', 'failed'],
      ]);
      for (const x of rows) expect(x.last_error).toContain(`when the backup was taken (${out.createdAt})`);
      // The jobs' emails for items due before the restore are held too (compose.ts queueEmail dueAt): the restore's time is recorded.
      const fenceOf = (path: string): number | undefined => {
        const db = new SQLite(path, { readonly: true });
        try {
          return (db.prepare("select value from counters where name = 'restore-fence'").get() as { value: number } | undefined)?.value;
        } finally {
          db.close();
        }
      };
      expect(Math.abs(fenceOf(held.dbPath)! - Date.now())).toBeLessThan(60_000);
      const cases = await held.json<{ number: number }[]>(['cases', 'list', '--json']);
      const shown = await held.json<{ events: { type: string; reason: string }[] }>(['cases', 'show', String(cases[0]!.number), '--json']);
      expect(shown.events.find((e) => e.type === 'email.held')?.reason).toMatch(/^confirmation to .*: held \(queued when the backup of .* was taken/);
      // The admin decides, row by row.
      const ann = rows.find((x) => x.to_address === 'ann@customer.example')!;
      const bob = rows.find((x) => x.to_address === 'bob@customer.example')!;
      expect((await held.run(['outbox', 'retry', String(ann.id)])).code).toBe(0);
      expect((await held.run(['outbox', 'cancel', String(bob.id)])).code).toBe(0);
      const after = await held.json<{ id: number; status: string }[]>(['outbox', 'list', '--all', '--json']);
      expect(Object.fromEntries(after.map((x) => [x.id, x.status]))).toEqual({ [ann.id]: 'queued', [bob.id]: 'cancelled' });
      rmSync(sending.dataDir, { recursive: true, force: true });
      const json = await sending.run(['restore', dir, '--send-queued', '--json']);
      expect(json.code, describeResult(json)).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({ held: [] });
      expect(fenceOf(sending.dbPath)).toBeUndefined();
      const queued = await sending.json<{ status: string }[]>(['outbox', 'list', '--all', '--json']);
      expect(queued.map((x) => x.status)).toEqual(['queued', 'queued']);
    } finally {
      own.cleanup();
      held.cleanup();
      sending.cleanup();
    }
  }, 60_000);
});
