import { open } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * Commits on stable storage before a message is acknowledged, at one sync for many commits.
 *
 * SQLite runs WAL with `synchronous = NORMAL`: a COMMIT returns once its frames are in the -wal
 * file's page cache, not on disk, so a power loss or an OS crash can take back a commit whose 250
 * (exit 0, IMAP MOVE) was already given. `synchronous = FULL` would sync the WAL in every COMMIT —
 * also the outbox's "sent" marks and every job's writes that nobody acknowledges — on the event loop
 * (better-sqlite3 is synchronous): measured 13–27 % of the in-process throughput. Instead each
 * acknowledging path waits for `commitsDurable` after its commit: an fdatasync of the -wal file on
 * libuv's thread pool, shared by every commit made before it started (group commit, as an MTA
 * syncs its queue). A commit that is no longer in the WAL was checkpointed into the database file,
 * which SQLite syncs before the WAL is reused; with no -wal file there is nothing unsynced.
 * PostgreSQL's COMMIT is durable by itself (synchronous_commit on): nothing to wait for.
 */

type Db = Kysely<Database>;

const syncs = new WeakMap<Db, GroupSync>();

/** Wait until every commit made on `db` so far is on stable storage. */
export function commitsDurable(db: Db): Promise<void> {
  return syncs.get(db)?.request() ?? Promise.resolve();
}

/** Register the WAL file of a SQLite database opened as `db`. */
export function syncWalOf(db: Db, walPath: string): void {
  syncs.set(db, new GroupSync(() => datasyncFile(walPath)));
}

async function datasyncFile(path: string): Promise<void> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/**
 * One sync at a time; a request made while one runs waits for the next (the running one may have
 * started before the caller's commit), and every request made meanwhile shares that next one.
 */
export class GroupSync {
  #running: Promise<void> | null = null;
  #next: Promise<void> | null = null;
  readonly #sync: () => Promise<void>;

  constructor(sync: () => Promise<void>) {
    this.#sync = sync;
  }

  request(): Promise<void> {
    if (this.#running === null) return this.#start();
    this.#next ??= this.#running
      .catch(() => undefined)
      .then(() => {
        this.#next = null;
        return this.#start();
      });
    return this.#next;
  }

  #start(): Promise<void> {
    const p = this.#sync().finally(() => {
      if (this.#running === p) this.#running = null;
    });
    this.#running = p;
    return p;
  }
}
