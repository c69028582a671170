import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BlobStore, IN_MEMORY_MAX, SizeLimitError } from '../../src/storage/blob-store.js';
import { tempDir } from '../helpers/temp-dirs.js';

/**
 * The content-addressed store on a real directory: small blobs are created at their address and
 * written there, large ones stream to a temp file renamed to the address; both must give the same
 * address, private modes, no temp file left behind, refuse what is over the limit before storing
 * it, and never trust a file at an address whose bytes differ (a write cut short).
 */

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function chunked(b: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) parts.push(b.subarray(i, i + size));
  return Readable.from(parts);
}

describe('BlobStore', () => {
  it('stores small and large blobs at their SHA-256 address, 0600 in 0700 directories, and leaves no temp file', async () => {
    const store = new BlobStore(join(tempDir('casegate-blobs-'), 'blobs'));
    const small = randomBytes(3000);
    const large = randomBytes(IN_MEMORY_MAX + 70_000);
    const a = await store.putBuffer(small);
    const b = await store.put(chunked(large, 64 * 1024));
    const c = await store.put(chunked(small, 100));
    expect(a.sha256).toBe(sha(small));
    expect(a.size).toBe(3000);
    expect(a.data?.equals(small)).toBe(true);
    expect(c.sha256).toBe(a.sha256);
    expect(c.path).toBe(a.path);
    expect(b.sha256).toBe(sha(large));
    expect(b.size).toBe(large.length);
    expect(b.data).toBeUndefined(); // streamed, never whole in memory
    expect(readFileSync(a.path).equals(small)).toBe(true);
    expect(readFileSync(b.path).equals(large)).toBe(true);
    expect(a.path).toBe(store.pathFor(a.sha256));
    for (const p of [a.path, b.path]) expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(statSync(join(store.dir, a.sha256.slice(0, 2))).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(store.dir, 'tmp'))).toEqual([]);
  });

  it('hold() names a small blob without writing it, settle() writes it once, writeSmallSync() writes as putBuffer does', async () => {
    const store = new BlobStore(join(tempDir('casegate-blobs-'), 'blobs'));
    const bytes = randomBytes(2000);
    const held = await store.hold(bytes);
    expect(held).toMatchObject({ sha256: sha(bytes), size: 2000, path: join(store.dir, sha(bytes).slice(0, 2), sha(bytes)), held: { written: false } });
    expect(held.data).toBe(bytes);
    expect(existsSync(held.path)).toBe(false);
    await store.settle(held);
    expect(held.held).toEqual({ written: true });
    expect(readFileSync(held.path).equals(bytes)).toBe(true);
    expect(statSync(held.path).mode & 0o777).toBe(0o600);
    // Written once: a second settle does not touch the file.
    utimesSync(held.path, new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:00Z'));
    await store.settle(held);
    expect(statSync(held.path).mtime.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    // A blob not held has nothing to settle.
    const put = await store.putBuffer(randomBytes(10));
    await store.settle(put);
    expect(put.held).toBeUndefined();
    // Over IN_MEMORY_MAX: stored at once, not held; past the limit: refused, nothing stored.
    const large = randomBytes(IN_MEMORY_MAX + 10);
    const l = await store.hold(large);
    expect(l.held).toBeUndefined();
    expect(readFileSync(l.path).equals(large)).toBe(true);
    await expect(store.hold(randomBytes(200), 100)).rejects.toBeInstanceOf(SizeLimitError);
    // writeSmallSync (the MIME thread's write): putBuffer's address; an equal file is reused, one cut short replaced whole.
    const other = randomBytes(500);
    const path = store.writeSmallSync(other, sha(other));
    expect(path).toBe((await store.putBuffer(other)).path);
    writeFileSync(path, other.subarray(0, 100));
    expect(store.writeSmallSync(other, sha(other))).toBe(path);
    expect(readFileSync(path).equals(other)).toBe(true);
    expect(readdirSync(join(store.dir, 'tmp'))).toEqual([]);
  });

  it('prepare() makes the 256 <aa> directories (0700), and finds them there in a store that has them', async () => {
    const dir = join(tempDir('casegate-blobs-'), 'blobs');
    await new BlobStore(dir).prepare();
    const made = readdirSync(dir).sort();
    expect(made).toHaveLength(256);
    expect(made[0]).toBe('00');
    expect(made[255]).toBe('ff');
    for (const d of made) expect(statSync(join(dir, d)).mode & 0o777).toBe(0o700);
    writeFileSync(join(dir, '7f', 'x'), 'kept');
    await new BlobStore(dir).prepare();
    expect(readdirSync(dir)).toHaveLength(256);
    // A store with some of them (made by the writes that needed them): the rest are made.
    const partial = join(tempDir('casegate-blobs-'), 'blobs');
    const store = new BlobStore(partial);
    const one = await store.putBuffer(Buffer.from('written before prepare()'));
    expect(readdirSync(partial).filter((d) => d !== 'tmp')).toEqual([one.sha256.slice(0, 2)]);
    await store.prepare();
    expect(readdirSync(partial).filter((d) => d !== 'tmp')).toHaveLength(256);
    expect(readFileSync(one.path, 'utf8')).toBe('written before prepare()');
    expect(readFileSync(join(dir, '7f', 'x'), 'utf8')).toBe('kept');
  });

  it('refuses a blob past the limit (buffer or stream) and stores nothing', async () => {
    const store = new BlobStore(join(tempDir('casegate-blobs-'), 'blobs'));
    const bytes = randomBytes(5000);
    await expect(store.putBuffer(bytes, 4999)).rejects.toBeInstanceOf(SizeLimitError);
    await expect(store.put(chunked(bytes, 1000), 4999)).rejects.toBeInstanceOf(SizeLimitError);
    const big = randomBytes(IN_MEMORY_MAX + 10_000);
    await expect(store.put(chunked(big, 64 * 1024), IN_MEMORY_MAX + 5_000)).rejects.toBeInstanceOf(SizeLimitError);
    const left = readdirSync(store.dir).filter((e) => e !== 'tmp');
    expect(left.flatMap((d) => readdirSync(join(store.dir, d)))).toEqual([]);
    expect(readdirSync(join(store.dir, 'tmp'))).toEqual([]);
    // At the limit exactly: stored.
    expect((await store.putBuffer(bytes, 5000)).size).toBe(5000);
  });

  it('stores into a directory that is there, makes one that is not (also removed under a running store), and reports any other failure', async () => {
    const dir = join(tempDir('casegate-blobs-'), 'blobs');
    const first = new BlobStore(dir);
    const a = await first.putBuffer(Buffer.from('first'));
    expect(a.path).toBe(join(dir, a.sha256.slice(0, 2), a.sha256));
    // A restarted daemon: its <aa> directories exist, the same content is the same file.
    const restarted = new BlobStore(dir);
    const same = await restarted.putBuffer(Buffer.from('first'));
    expect(same.path).toBe(a.path);
    // The directory went away (an operator's cleanup): made again, not an error.
    rmSync(join(dir, a.sha256.slice(0, 2)), { recursive: true });
    const again = await restarted.putBuffer(Buffer.from('first'));
    expect(readFileSync(again.path, 'utf8')).toBe('first');
    expect(statSync(join(dir, a.sha256.slice(0, 2))).mode & 0o777).toBe(0o700);
    // Anything but a missing directory is the caller's error (here a file where the directory
    // belongs: ENOTDIR, even for root), for small and streamed blobs, and no temp file stays.
    const leaf = join(dir, a.sha256.slice(0, 2));
    rmSync(leaf, { recursive: true });
    writeFileSync(leaf, 'not a directory');
    await expect(restarted.putBuffer(Buffer.from('first'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    const big = Buffer.concat([Buffer.from('first'), randomBytes(IN_MEMORY_MAX)]);
    const bigLeaf = join(dir, sha(big).slice(0, 2));
    rmSync(bigLeaf, { recursive: true, force: true });
    writeFileSync(bigLeaf, 'not a directory');
    await expect(restarted.put(chunked(big, 64 * 1024))).rejects.toMatchObject({ code: 'ENOTDIR' });
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('a file at the address is trusted only with the same bytes: one cut short (a crash mid-write) is replaced whole, an equal one is kept as it is', async () => {
    const dir = join(tempDir('casegate-blobs-'), 'blobs');
    const store = new BlobStore(dir);
    const content = randomBytes(20_000);
    const path = join(dir, sha(content).slice(0, 2), sha(content));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content.subarray(0, 4096)); // what a write cut short leaves
    const stored = await store.putBuffer(content);
    expect(stored.path).toBe(path);
    expect(readFileSync(path).equals(content)).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    // An empty file (created, never written) and one of the right size with other bytes: replaced too.
    for (const left of [Buffer.alloc(0), Buffer.alloc(content.length)]) {
      writeFileSync(path, left);
      await store.put(chunked(content, 1000));
      expect(readFileSync(path).equals(content)).toBe(true);
    }
    // The same bytes: the file is the blob, not written again, but made recent (purge leaves files
    // written in the last minutes alone: the row about to name it is not committed yet).
    const inode = statSync(path).ino;
    const old = new Date('2023-03-01T10:00:00Z');
    utimesSync(path, old, old);
    await store.putBuffer(content);
    expect(statSync(path).ino).toBe(inode);
    expect(Date.now() - statSync(path).mtimeMs).toBeLessThan(60_000);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('reads a store written in the earlier two-level layout (<aa>/<bb>/<sha256>) where it is, and writes new blobs in the one-level one', async () => {
    const dir = join(tempDir('casegate-blobs-'), 'blobs');
    const old = Buffer.from('stored by an earlier version');
    const oldPath = join(dir, sha(old).slice(0, 2), sha(old).slice(2, 4), sha(old));
    mkdirSync(dirname(oldPath), { recursive: true });
    writeFileSync(oldPath, old);
    const store = new BlobStore(dir);
    expect(store.pathFor(sha(old))).toBe(oldPath);
    const read: Buffer[] = [];
    for await (const c of store.open(sha(old))) read.push(c as Buffer);
    expect(Buffer.concat(read).equals(old)).toBe(true);
    expect(store.locations(sha(old))).toEqual([join(dir, sha(old).slice(0, 2), sha(old)), oldPath]);
    const fresh = await store.putBuffer(Buffer.from('stored now'));
    expect(fresh.path).toBe(join(dir, fresh.sha256.slice(0, 2), fresh.sha256));
    expect(store.pathFor(fresh.sha256)).toBe(fresh.path);
    // The old content stored again lands in the new layout, and that copy is the one read from then on.
    const again = await store.putBuffer(old);
    expect(again.path).toBe(join(dir, sha(old).slice(0, 2), sha(old)));
    expect(store.pathFor(sha(old))).toBe(again.path);
  });

  it('many blobs stored at once, the same content from two stores at the same time included, each end complete at their address', async () => {
    const root = tempDir('casegate-blobs-');
    const one = new BlobStore(join(root, 'blobs'));
    const two = new BlobStore(join(root, 'blobs')); // a second store on the same directory (CLI next to the daemon)
    const blobs = Array.from({ length: 200 }, (_, i) => Buffer.from(`blob ${i % 100} ${'x'.repeat((i % 100) * 37)}`));
    const stored = await Promise.all(blobs.map((b, i) => (i % 2 === 0 ? one : two).putBuffer(b)));
    stored.forEach((s, i) => expect(readFileSync(s.path).equals(blobs[i]!)).toBe(true));
    expect(new Set(stored.map((s) => s.path)).size).toBe(100);
    const big = Array.from({ length: 6 }, (_, i) => Buffer.concat([Buffer.from(`big ${i % 3}`), Buffer.alloc(IN_MEMORY_MAX)]));
    const streamed = await Promise.all(big.map((b, i) => (i % 2 === 0 ? one : two).put(chunked(b, 64 * 1024))));
    streamed.forEach((s, i) => expect(readFileSync(s.path).equals(big[i]!)).toBe(true));
    expect(readdirSync(join(root, 'blobs', 'tmp'))).toEqual([]);
  });
});
