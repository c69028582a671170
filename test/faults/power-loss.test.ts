import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openDatabase } from '../../src/db/database.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml } from '../helpers/context.js';
import { childEnv, CLI_JS, CliSandbox } from '../helpers/cli.js';

/**
 * Acknowledged means on stable storage. A channel acknowledges a message (250, `ingest` exiting 0,
 * IMAP MOVE) right after its commit; a power loss or an OS crash after that must find both the
 * commit and the files it names on disk. Nobody can cut the power in a test, so the order of the
 * system calls is checked instead, with strace on a real `casegate ingest`: the raw message's file
 * is fdatasync'ed before SQLite syncs the commit that names it (synchronous = FULL), and both happen
 * before the process exits 0.
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
    const lines = readFileSync(trace, 'utf8').split('\n');
    const at = (re: RegExp): number => lines.findIndex((l) => re.test(l));
    const blobSync = at(/\b(?:fdatasync|fsync)\(\d+<[^>]*\/blobs\/[0-9a-f]{2}\/[0-9a-f]{64}>\) = 0/);
    const walSync = lines.findIndex((l, i) => i > blobSync && /\b(?:fdatasync|fsync)\(\d+<[^>]*casegate\.db-wal>\) = 0/.test(l));
    const exit = at(/exit_group\(0\)/);
    expect(blobSync, lines.join('\n')).toBeGreaterThanOrEqual(0);
    expect(walSync, lines.join('\n')).toBeGreaterThan(blobSync);
    expect(exit).toBeGreaterThan(walSync);
  });

  it('the database syncs every commit (synchronous = FULL) on the connection the product opens', async () => {
    const db = openDatabase({ path: join(box.dataDir, 'casegate.db') });
    try {
      const { rows } = await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(db);
      expect(rows[0]?.synchronous).toBe(2); // 0 OFF, 1 NORMAL, 2 FULL
    } finally {
      await db.destroy();
    }
  });
});
