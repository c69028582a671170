import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, existsSync, fdatasync, fdatasyncSync, fsyncSync, mkdirSync, open, openSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './private-files.js';

const openFile = promisify(open);
const fdatasyncAsync = promisify(fdatasync);

export interface StoredBlob {
  readonly sha256: string;
  readonly size: number;
  readonly path: string;
  /** The bytes, when the blob was small enough to keep in memory while it is processed. */
  readonly data?: Buffer;
  /**
   * Set on a blob of `hold`: `written` is false until its bytes are in its file (the MIME thread's
   * parse or `settle` writes them). Nothing that names the blob in the database commits before.
   */
  readonly held?: { written: boolean };
}

/** Messages up to this size are kept in memory for parsing (and written once); larger ones stream. */
export const IN_MEMORY_MAX = 1024 * 1024;

export class SizeLimitError extends Error {
  constructor(readonly limit: number) {
    super(`message exceeds the size limit of ${limit} bytes`);
    this.name = 'SizeLimitError';
  }
}

/** Counts and hashes bytes flowing through; fails once more than `limit` bytes passed. */
class HashingCounter extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.limit) {
      cb(new SizeLimitError(this.limit));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }
}

/** Where a blob is written: <root>/<aa>/<sha256> (256 directories, made once each). */
export function blobFile(root: string, sha256: string): string {
  return join(root, sha256.slice(0, 2), sha256);
}

/** Where stores written before 2026-12-05 keep blobs: <root>/<aa>/<bb>/<sha256>. Still read. */
function twoLevelFile(root: string, sha256: string): string {
  return join(root, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
}

/** Create `path` exclusively (0600), synchronously; its <aa> directory is made when missing. */
function createSync(path: string): number {
  try {
    return openSync(path, 'wx', PRIVATE_FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    makeBlobDir(dirname(path));
    return openSync(path, 'wx', PRIVATE_FILE_MODE);
  }
}

/**
 * Make an <aa> directory (or tmp/) and sync its parent, so the new directory survives a power
 * loss with the files about to be written into it. Once per directory in a store's life.
 */
function makeBlobDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  syncDir(dirname(dir));
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Write `data` into the open file `fd`, put it on stable storage (fdatasync) and close it; returns
 * `path`. Every blob is synced before the database row that names it commits, and the channel
 * acknowledges (250, exit 0, MOVE) only after that commit: a power loss or an OS crash cannot
 * leave an acknowledged message whose raw file or attachment is empty (ext4's delayed allocation)
 * or missing. (The name of a new file in an existing directory is made durable by the
 * filesystem's journal with the file's sync on ext4 and XFS.) About 0.3 ms a file on this
 * machine's disk (2026-12-06); on the MIME thread's path it waits only that thread.
 */
function fill(fd: number, data: Buffer, path: string): string {
  try {
    writeFileSync(fd, data);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return path;
}

/**
 * Content-addressed files under <dir>/<aa>/<sha256>: raw messages and attachments. Stores written
 * by earlier versions have <dir>/<aa>/<bb>/<sha256>; those files are found and read where they are
 * (`pathFor`, `locations`), new ones are written in the one-level layout.
 *
 * Writing is idempotent (same bytes → same file), so storing before the database commit is safe:
 * a message that ends in `retry` leaves at most a file that the next attempt reuses. A file at an
 * address is only trusted once its bytes were compared (small blobs) or it was renamed there
 * complete (streamed ones), so a write cut short (a crash, a full disk) never stands for the
 * content: the next write of the same content finds the difference and replaces it.
 */
export class BlobStore {
  constructor(readonly dir: string) {}

  /**
   * The file of a blob: where it is (either layout), else where it would be written. Checks the
   * disk; for reading paths (a case's raw message, backup, purge), not for writing.
   */
  pathFor(sha256: string): string {
    const [current, older] = this.locations(sha256);
    return !existsSync(current) && existsSync(older) ? older : current;
  }

  /** Every place a blob may be: the current layout first, then the earlier one (purge removes both). */
  locations(sha256: string): [string, string] {
    return [blobFile(this.dir, sha256), twoLevelFile(this.dir, sha256)];
  }

  /**
   * Make the 256 <aa> directories; the daemon awaits this at its start. In a fresh store each would
   * otherwise be made by the first blob that needs it (a write still makes a missing one), with a
   * mkdir that waits for the ext4 journal — up to about a millisecond under load, on the event loop
   * while messages are in flight. Made on libuv's thread pool (a few ms in a store that has them).
   * One-shot commands do not call it: 256 directories take about 60 ms to make (and 40 to remove),
   * too much for a command that stores one message in a new store.
   */
  async prepare(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    await Promise.all(
      Array.from({ length: 256 }, (_, i) =>
        mkdir(join(this.dir, i.toString(16).padStart(2, '0')), { mode: PRIVATE_DIR_MODE }).catch((err: unknown) => {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }),
      ),
    );
  }

  #tmpDirMade = false;
  /** Temp names: this process, a random nonce of this store, a counter (unique without a syscall each). */
  readonly #tmpPrefix = `${process.pid}-${randomBytes(6).toString('hex')}-`;
  #tmpSeq = 0;

  #ensureTmpDir(): void {
    if (this.#tmpDirMade) return;
    mkdirSync(join(this.dir, 'tmp'), { recursive: true, mode: PRIVATE_DIR_MODE });
    this.#tmpDirMade = true;
  }

  #tmpPath(): string {
    return join(this.dir, 'tmp', `${this.#tmpPrefix}${(this.#tmpSeq++).toString(36)}`);
  }

  /**
   * Move a finished temp file to its content address (atomic; the same content may already be
   * there). The rename comes first: the <aa> directory is there but for a store's first blobs, and
   * only a missing directory (ENOENT) costs a mkdir.
   */
  #settle(tmp: string, sha256: string): string {
    const path = blobFile(this.dir, sha256);
    try {
      try {
        renameSync(tmp, path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        makeBlobDir(dirname(path));
        renameSync(tmp, path);
      }
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    return path;
  }

  /**
   * Write a small blob (≤ IN_MEMORY_MAX): created at its address with O_EXCL and written there, no
   * temp file and no rename. Creating a file and renaming one both wait while any thread fsyncs on
   * the same ext4 journal (SQLite's checkpoints, the mail server): 0.9 ms at the median for a
   * create under the e2e bench's load (`strace -T`), and in the heavy mix's CPU profile the rename
   * took as long as the create. Only the create runs on libuv's thread pool (on the event loop
   * that wait stalled every message in flight); the write and close stay synchronous: a few tens
   * of microseconds into the page cache, where the promise-based calls cost 3–5× the CPU.
   *
   * A file already at the address (EEXIST) is compared byte for byte with the content: equal, it
   * is the same blob (its modification time set to now); different, it is a write cut short (a crash, a full disk, or one still
   * running in a concurrent call) and is replaced whole through a temp file and a rename. A write
   * that fails here leaves its partial file: removing it could remove a complete one that a
   * concurrent call put there meanwhile, and the next write of that content replaces it anyway.
   */
  async #writeSmall(data: Buffer, sha256: string): Promise<string> {
    const path = blobFile(this.dir, sha256);
    let fd: number;
    try {
      fd = await this.#create(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return this.#sameOrReplace(path, data, sha256);
    }
    // As fill(), with the sync on libuv's thread pool: a disk's wait must not stall the event loop.
    try {
      writeFileSync(fd, data);
      await fdatasyncAsync(fd);
    } finally {
      closeSync(fd);
    }
    return path;
  }

  /**
   * #writeSmall with every call synchronous: for the MIME thread, which writes a held message
   * (`hold`) before parsing it. A wait for the journal there holds up only that thread's work.
   */
  writeSmallSync(data: Buffer, sha256: string): string {
    const path = blobFile(this.dir, sha256);
    let fd: number;
    try {
      fd = createSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return this.#sameOrReplace(path, data, sha256);
    }
    return fill(fd, data, path);
  }

  /** Create `path` exclusively (0600); its <aa> directory is made when missing. */
  async #create(path: string): Promise<number> {
    try {
      return await openFile(path, 'wx', PRIVATE_FILE_MODE);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      makeBlobDir(dirname(path));
      return await openFile(path, 'wx', PRIVATE_FILE_MODE);
    }
  }

  /**
   * A file already at the address: the same bytes are reused, others replaced (see #writeSmall).
   * Synchronous: it runs when the same content arrives twice or a write was cut short, not per message.
   */
  #sameOrReplace(path: string, data: Buffer, sha256: string): string {
    let there: Buffer | null = null;
    try {
      there = readFileSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (there?.equals(data) === true) {
      // Reused, and about to be named by a new row: new as far as `casegate purge` is concerned, which
      // leaves files written in the last minutes alone (as it did when a rename put a fresh copy here).
      const now = new Date();
      try {
        utimesSync(path, now, now);
        return path;
      } catch (err) {
        // Gone meanwhile (a purge): written again below.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    this.#ensureTmpDir();
    const tmp = this.#tmpPath();
    try {
      fill(openSync(tmp, 'w', PRIVATE_FILE_MODE), data, tmp);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    return this.#settle(tmp, sha256);
  }

  /**
   * Store a stream. Up to IN_MEMORY_MAX bytes are collected in memory (and returned as `data`
   * for parsing without reading the file back); beyond that the content streams to disk and is
   * never held in memory. Fails with SizeLimitError past `limit` bytes.
   */
  async put(source: Readable, limit = Number.MAX_SAFE_INTEGER): Promise<StoredBlob> {
    this.#ensureTmpDir();
    const chunks: Buffer[] = [];
    let size = 0;
    const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
    for (;;) {
      const { value, done } = await iterator.next();
      if (done === true) break;
      const chunk = typeof value === 'string' ? Buffer.from(value) : value;
      size += chunk.length;
      if (size > limit) {
        await iterator.return?.();
        throw new SizeLimitError(limit);
      }
      chunks.push(chunk);
      if (size > IN_MEMORY_MAX) return this.#spill(chunks, iterator, limit);
    }
    const data = Buffer.concat(chunks);
    const sha256 = createHash('sha256').update(data).digest('hex');
    return { sha256, size, path: await this.#writeSmall(data, sha256), data };
  }

  async #spill(head: Buffer[], rest: AsyncIterator<Buffer | string>, limit: number): Promise<StoredBlob> {
    const tmp = this.#tmpPath();
    const counter = new HashingCounter(limit);
    async function* all(): AsyncGenerator<Buffer> {
      yield* head;
      for (;;) {
        const { value, done } = await rest.next();
        if (done === true) return;
        yield typeof value === 'string' ? Buffer.from(value) : value;
      }
    }
    try {
      // flush: the file is synced before it is closed (see fill()).
      await pipeline(Readable.from(all()), counter, createWriteStream(tmp, { mode: PRIVATE_FILE_MODE, flush: true }));
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      await rest.return?.();
      throw err;
    }
    const sha256 = counter.hash.digest('hex');
    return { sha256, size: counter.size, path: this.#settle(tmp, sha256) };
  }

  /** Store bytes already in memory (no stream in between); fails with SizeLimitError past `limit` bytes. */
  async putBuffer(data: Buffer | string, limit = Number.MAX_SAFE_INTEGER): Promise<StoredBlob> {
    const { held, ...blob } = await this.hold(typeof data === 'string' ? Buffer.from(data) : data, limit);
    if (held !== undefined) await this.#writeSmall(blob.data!, blob.sha256);
    return blob;
  }

  /**
   * Bytes already in memory, named but not written yet: the blob `putBuffer` would store, with
   * `held.written` false. Whoever parses it writes it first — the daemon's MIME thread, with the
   * parse (`writeSmallSync`), or `settle` — so a message's file costs the main thread nothing when
   * the thread parses it. A message over IN_MEMORY_MAX is stored at once.
   */
  async hold(data: Buffer, limit = Number.MAX_SAFE_INTEGER): Promise<StoredBlob> {
    if (data.length > limit) throw new SizeLimitError(limit);
    if (data.length > IN_MEMORY_MAX) return this.put(Readable.from([data]), limit);
    const sha256 = createHash('sha256').update(data).digest('hex');
    return { sha256, size: data.length, path: blobFile(this.dir, sha256), data, held: { written: false } };
  }

  /** Write a held blob (`hold`) that is not written yet; nothing for any other. Idempotent. */
  async settle(blob: StoredBlob): Promise<void> {
    if (blob.held === undefined || blob.held.written) return;
    await this.#writeSmall(blob.data!, blob.sha256);
    blob.held.written = true;
  }

  open(sha256: string): Readable {
    return createReadStream(this.pathFor(sha256));
  }

  /**
   * A blob opened for sending, after its bytes were checked against its name: a stream over the
   * already open file, so nothing can fail later where no one listens (a ReadStream that cannot
   * open its file emits an `error` nobody handles yet: it took the daemon down). Throws
   * BlobUnreadableError when the file is missing or its content no longer matches.
   */
  async openVerified(sha256: string): Promise<Readable> {
    const path = this.pathFor(sha256);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobUnreadableError(sha256, path, 'missing');
      throw err;
    }
    const hash = createHash('sha256');
    try {
      for await (const chunk of createReadStream(path, { fd, autoClose: false, start: 0 })) hash.update(chunk as Buffer);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (hash.digest('hex') !== sha256) {
      closeSync(fd);
      throw new BlobUnreadableError(sha256, path, 'damaged');
    }
    return createReadStream(path, { fd, start: 0 });
  }
}

/** A blob a row names whose file is gone or whose bytes changed (a disk problem, a hand-made deletion). */
export class BlobUnreadableError extends Error {
  override readonly name = 'BlobUnreadableError';
  constructor(
    readonly sha256: string,
    readonly path: string,
    readonly problem: 'missing' | 'damaged',
  ) {
    super(problem === 'missing' ? `${path} is missing from the blob store` : `${path} does not hold the bytes it was stored with (damaged)`);
  }
}
