import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireInstanceLock } from '../../src/instance-lock.js';
import { tempDir } from '../helpers/temp-dirs.js';

describe('the instance lock in a database directory that does not exist yet', () => {
  it('makes the directory 0700 whatever the umask (the database, its WAL and the pid file go there)', () => {
    const db = join(tempDir('casegate-lockdir-'), 'db', 'casegate.db');
    const old = process.umask(0o022);
    try {
      const lock = acquireInstanceLock(db);
      lock.release();
    } finally {
      process.umask(old);
    }
    expect(statSync(join(db, '..')).mode & 0o777).toBe(0o700);
  });
});
