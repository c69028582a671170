/**
 * The daemon's WAL checkpoints run in a worker thread (src/db/sqlite-checkpointer.ts): the
 * connection itself never checkpoints inside a COMMIT, the database file still receives the
 * committed pages, a failed worker hands checkpointing back to the connection, and closing waits
 * for the worker.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase, WAL_SIZE_LIMIT_BYTES } from '../../src/db/database.js';
import { BackgroundCheckpointer, CHECKPOINT_EVERY_MS } from '../../src/db/sqlite-checkpointer.js';
import { tempDir } from '../helpers/temp-dirs.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await sleep(20);
  }
}

function walDb(path: string): SQLite.Database {
  const db = new SQLite(path);
  db.pragma('journal_mode = WAL');
  db.exec('create table t (id integer primary key, body text)');
  return db;
}

const autocheckpoint = (db: SQLite.Database): number => db.pragma('wal_autocheckpoint', { simple: true }) as number;

describe('background WAL checkpoints', () => {
  it('the connection stops checkpointing by itself; the worker copies the committed pages into the database file', async () => {
    const path = join(tempDir('casegate-ckpt-'), 'a.db');
    const db = walDb(path);
    const failures: string[] = [];
    const ck = new BackgroundCheckpointer(db, path, (r) => failures.push(r));
    expect(autocheckpoint(db)).toBe(0);
    const before = statSync(path).size;
    const insert = db.prepare('insert into t (body) values (?)');
    // ~4 MB in 400 transactions: far past the 1,000-page threshold at which the connection would
    // have checkpointed by itself.
    for (let i = 0; i < 400; i++) {
      insert.run('x'.repeat(10_000));
      ck.committed();
    }
    await until(() => ck.stats().runs > 0 && ck.stats().lastCheckpointedFrames === ck.stats().lastLogFrames && statSync(path).size > before + 3_000_000, 5000);
    expect(ck.stats()).toMatchObject({ inBackground: true });
    expect(ck.stats().lastLogFrames).toBeGreaterThan(1000);
    // Nothing committed since: no further runs.
    const runs = ck.stats().runs;
    await sleep(CHECKPOINT_EVERY_MS * 3);
    expect(ck.stats().runs).toBe(runs);
    await ck.close();
    expect(failures).toEqual([]);
    db.close();
  });

  it('a worker that cannot work hands checkpointing back to the connection and says so once', async () => {
    const dir = tempDir('casegate-ckpt-');
    const path = join(dir, 'b.db');
    const db = walDb(path);
    const failures: string[] = [];
    // The worker opens a file that does not exist (fileMustExist): it fails at start.
    const ck = new BackgroundCheckpointer(db, join(dir, 'missing.db'), (r) => failures.push(r));
    await until(() => failures.length > 0, 5000);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/checkpoint worker (failed|exited).*checkpoints by itself again/);
    expect(autocheckpoint(db)).toBe(1000);
    expect(ck.stats().inBackground).toBe(false);
    ck.committed(); // no effect once failed
    await ck.close();
    expect(failures).toHaveLength(1);
    db.close();
  });

  it('openDatabase with backgroundCheckpoints: commits through Kysely reach the database file, and destroy() ends the worker', async () => {
    const path = join(tempDir('casegate-ckpt-'), 'c.db');
    const failures: string[] = [];
    const db = openDatabase({ path, backgroundCheckpoints: { onFailure: (r) => failures.push(r) } });
    await sql`create table t (id integer primary key, body text)`.execute(db);
    const size0 = statSync(path).size;
    for (let i = 0; i < 200; i++) {
      await db.transaction().execute(async (trx) => {
        await sql`insert into t (body) values (${'y'.repeat(8_000)})`.execute(trx);
      });
    }
    await until(() => statSync(path).size > size0 + 1_000_000, 5000);
    // The WAL is not what grows without bound: the next writer starts it over once it was copied.
    await db.destroy();
    expect(failures).toEqual([]);
    const check = new SQLite(path, { readonly: true });
    expect((check.prepare('select count(*) as n from t').get() as { n: number }).n).toBe(200);
    check.close();
  });

  it('a burst that grew the WAL far past WAL_SIZE_LIMIT_BYTES (an import, a large purge) does not keep that file size: it is cut back once the WAL starts over', async () => {
    const path = join(tempDir('casegate-ckpt-'), 'd.db');
    const failures: string[] = [];
    const db = openDatabase({ path, backgroundCheckpoints: { onFailure: (r) => failures.push(r) } });
    await sql`create table t (id integer primary key, body text)`.execute(db);
    // One transaction of ~40 MB: the WAL must hold all of it until the commit.
    await db.transaction().execute(async (trx) => {
      for (let i = 0; i < 400; i++) await sql`insert into t (body) values (${'z'.repeat(100_000)})`.execute(trx);
    });
    const wal = (): number => statSync(`${path}-wal`).size;
    expect(wal()).toBeGreaterThan(2 * WAL_SIZE_LIMIT_BYTES);
    // Ordinary small commits afterwards: the worker copies the burst into the database file, the
    // next writer starts the WAL over, and the file is truncated to the limit.
    for (let i = 0; i < 50 && wal() > WAL_SIZE_LIMIT_BYTES; i++) {
      await db.transaction().execute(async (trx) => {
        await sql`insert into t (body) values (${'small'})`.execute(trx);
      });
      await sleep(CHECKPOINT_EVERY_MS);
    }
    expect(wal()).toBeLessThanOrEqual(WAL_SIZE_LIMIT_BYTES);
    await db.destroy();
    expect(failures).toEqual([]);
  });
});
