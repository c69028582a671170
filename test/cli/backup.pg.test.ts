import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliSandbox, describeResult } from '../helpers/cli.js';

/**
 * `casegate backup` / `restore` copy a SQLite database (test/cli/backup.test.ts, SQLite pass). On
 * PostgreSQL they refuse with one clear line naming what to use instead (pg_dump for the
 * database, rsync for the blobs, the secret) and write nothing.
 */
let box: CliSandbox;

beforeAll(() => {
  box = CliSandbox.create({ jobs: { enabled: false } });
});

afterAll(() => box.cleanup());

describe('backup and restore on PostgreSQL', () => {
  it('backup refuses with what to use instead, and writes nothing', async () => {
    const target = join(box.dir, 'backup-1');
    const r = await box.run(['backup', target]);
    expect(r.code, describeResult(r)).toBe(1);
    expect(r.stderr).toMatch(/on PostgreSQL back up the database with pg_dump .* blob directory with rsync/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(target)).toBe(false);
  });

  it('restore refuses the same way', async () => {
    const source = join(box.dir, 'some-backup');
    mkdirSync(source);
    const r = await box.run(['restore', source]);
    expect(r.code, describeResult(r)).toBe(1);
    expect(r.stderr).toMatch(/on PostgreSQL back up the database with pg_dump/);
  });
});
