/**
 * The code cache loader (src/cli/code-cache.ts) on a bundle of its own: a missing bundle runs
 * nothing, a damaged cache is refused by V8 and the bundle still runs as plain CommonJS.
 * test/cli/startup.test.ts runs `casegate ingest` with the caches the build makes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { codeCacheFile, runCodeCached } from '../../src/cli/code-cache.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  delete (globalThis as { __codeCacheTest?: unknown }).__codeCacheTest;
});

function bundle(): string {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-code-cache-'));
  dirs.push(dir);
  const file = join(dir, 'b.cjs');
  // What a bundle needs from its wrapper: require (resolved from the bundle), module, __filename, __dirname.
  writeFileSync(file, "const { basename } = require('node:path');\nfunction twice(x) { return x * 2; }\nmodule.exports = twice;\nglobalThis.__codeCacheTest = { file: basename(__filename), dir: __dirname, twice: module.exports(21), self: this === exports };\n");
  return file;
}

describe('runCodeCached', () => {
  it('no bundle: null, nothing ran', () => {
    expect(runCodeCached(join(tmpdir(), 'casegate-no-such-bundle.cjs'))).toBeNull();
    expect((globalThis as { __codeCacheTest?: unknown }).__codeCacheTest).toBeUndefined();
  });

  it('no cache: runs the bundle as CommonJS', () => {
    const file = bundle();
    expect(runCodeCached(file)).toBe('none');
    expect((globalThis as { __codeCacheTest?: unknown }).__codeCacheTest).toEqual({ file: 'b.cjs', dir: join(file, '..'), twice: 42, self: true });
  });

  it('a damaged cache is refused and the bundle still runs', () => {
    const file = bundle();
    writeFileSync(codeCacheFile(file), Buffer.alloc(4096, 7));
    expect(runCodeCached(file)).toBe('refused');
    expect((globalThis as { __codeCacheTest?: { twice: number } }).__codeCacheTest?.twice).toBe(42);
  });

  it('a cache file per Node version, architecture and flag set', () => {
    const file = join(tmpdir(), 'x.cjs');
    const names = new Set([codeCacheFile(file, [], null), codeCacheFile(file, ['--max-old-space-size=192'], null), codeCacheFile(file, [], '--max-old-space-size=192'), codeCacheFile(file, ['--a', '--b'], null), codeCacheFile(file, ['--a --b'], null)]);
    expect(names.size).toBe(5);
    for (const n of names) expect(n).toMatch(/[\\/]x\.cjs\.[0-9a-f]{16}\.v8-cache$/);
    expect(codeCacheFile(file, ['--x'], null)).toBe(codeCacheFile(file, ['--x'], null));
  });
});
