import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BlobStore, IN_MEMORY_MAX, SizeLimitError } from '../../src/storage/blob-store.js';
import { tempDir } from '../helpers/temp-dirs.js';

/**
 * The content-addressed store on a real directory: small blobs are written with synchronous calls
 * (temp file, then rename to the address), large ones stream; both must give the same address,
 * private modes, no temp file left behind, and refuse what is over the limit before storing it.
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

  it('refuses a blob past the limit (buffer or stream) and stores nothing', async () => {
    const store = new BlobStore(join(tempDir('casegate-blobs-'), 'blobs'));
    const bytes = randomBytes(5000);
    await expect(store.putBuffer(bytes, 4999)).rejects.toBeInstanceOf(SizeLimitError);
    await expect(store.put(chunked(bytes, 1000), 4999)).rejects.toBeInstanceOf(SizeLimitError);
    const big = randomBytes(IN_MEMORY_MAX + 10_000);
    await expect(store.put(chunked(big, 64 * 1024), IN_MEMORY_MAX + 5_000)).rejects.toBeInstanceOf(SizeLimitError);
    const left = readdirSync(store.dir).filter((e) => e !== 'tmp');
    expect(left).toEqual([]);
    expect(readdirSync(join(store.dir, 'tmp'))).toEqual([]);
    // At the limit exactly: stored.
    expect((await store.putBuffer(bytes, 5000)).size).toBe(5000);
  });

  it('stores into a directory that is there, makes one that is not (also removed under a running store), and reports any other failure', async () => {
    const dir = join(tempDir('casegate-blobs-'), 'blobs');
    const first = new BlobStore(dir);
    const a = await first.putBuffer(Buffer.from('first'));
    // A restarted daemon: its <aa>/<bb> directories exist, a blob with the same prefix lands beside.
    const restarted = new BlobStore(dir);
    const same = await restarted.putBuffer(Buffer.from('first'));
    expect(same.path).toBe(a.path);
    // The directory went away (an operator's cleanup): made again, not an error.
    rmSync(join(dir, a.sha256.slice(0, 2)), { recursive: true });
    const again = await restarted.putBuffer(Buffer.from('first'));
    expect(readFileSync(again.path, 'utf8')).toBe('first');
    expect(statSync(join(dir, a.sha256.slice(0, 2), a.sha256.slice(2, 4))).mode & 0o777).toBe(0o700);
    // Anything but a missing directory is the caller's error (here a file where the directory
    // belongs: ENOTDIR, even for root), and the temp file goes.
    const leaf = join(dir, a.sha256.slice(0, 2), a.sha256.slice(2, 4));
    rmSync(leaf, { recursive: true });
    writeFileSync(leaf, 'not a directory');
    await expect(restarted.putBuffer(Buffer.from('first'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('many blobs stored at once get distinct temp files (no two writes share one)', async () => {
    const root = tempDir('casegate-blobs-');
    const one = new BlobStore(join(root, 'blobs'));
    const two = new BlobStore(join(root, 'blobs')); // a second store on the same directory (CLI next to the daemon)
    const blobs = Array.from({ length: 200 }, (_, i) => Buffer.from(`blob ${i} ${'x'.repeat(i * 37)}`));
    const stored = await Promise.all(blobs.map((b, i) => (i % 2 === 0 ? one : two).putBuffer(b)));
    stored.forEach((s, i) => expect(readFileSync(s.path).equals(blobs[i]!)).toBe(true));
    expect(new Set(stored.map((s) => s.path)).size).toBe(200);
    expect(readdirSync(join(root, 'blobs', 'tmp'))).toEqual([]);
  });
});
