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

  it('makes the lock file and the pid file 0600 whatever the umask (a `casegate restore` run by sudo with umask 022 left a 0644 lock file)', () => {
    const db = join(tempDir('casegate-lockdir-'), 'casegate.db');
    const old = process.umask(0o022);
    let modes: number[];
    try {
      const lock = acquireInstanceLock(db);
      modes = [statSync(lock.lockPath).mode & 0o777, statSync(lock.pidPath).mode & 0o777];
      lock.release();
    } finally {
      process.umask(old);
    }
    expect(modes).toEqual([0o600, 0o600]);
  });
});
