import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface StoredBlob {
  readonly sha256: string;
  readonly size: number;
  readonly path: string;
}

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

/**
 * Content-addressed files under <dir>/<aa>/<bb>/<sha256>: raw messages and attachments.
 * Writing is idempotent (same bytes → same file), so storing before the database commit is safe:
 * a message that ends in `retry` leaves at most a file that the next attempt reuses.
 */
export class BlobStore {
  constructor(readonly dir: string) {}

  pathFor(sha256: string): string {
    return join(this.dir, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  /** Stream into the store without holding the content in memory. */
  async put(source: Readable, limit = Number.MAX_SAFE_INTEGER): Promise<StoredBlob> {
    const tmpDir = join(this.dir, 'tmp');
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
    const counter = new HashingCounter(limit);
    try {
      await pipeline(source, counter, createWriteStream(tmp));
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    const sha256 = counter.hash.digest('hex');
    const path = this.pathFor(sha256);
    const exists = await stat(path).then(
      () => true,
      () => false,
    );
    if (exists) {
      await unlink(tmp);
    } else {
      await mkdir(join(this.dir, sha256.slice(0, 2), sha256.slice(2, 4)), { recursive: true });
      await rename(tmp, path);
    }
    return { sha256, size: counter.size, path };
  }

  async putBuffer(data: Buffer | string): Promise<StoredBlob> {
    return this.put(Readable.from([typeof data === 'string' ? Buffer.from(data) : data]));
  }

  open(sha256: string): Readable {
    return createReadStream(this.pathFor(sha256));
  }
}
