import { isAscii } from 'node:buffer';
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';

/**
 * Runs a CommonJS bundle with V8's code cache: the bytecode of the functions a previous run of it
 * compiled, kept in a file beside it. V8 then neither parses the bundle nor compiles those
 * functions again; what the cache lacks is compiled as usual.
 *
 * Why: `casegate ingest` is a new process per message (the MTA pipe); parsing and compiling its
 * code was about a fifth of its time. Node 20 keeps no code cache for ES modules (Node 22's
 * module.enableCompileCache does), so `ingest`, and `cases` (what agents run all day), each have a
 * CommonJS bundle of their own (dist/bin/ingest.cjs and cases.cjs, build/bundle.ts; the list is
 * CODE_CACHED_COMMANDS in command-name.ts) and the build writes their caches by running them.
 *
 * V8 accepts a cache only from the same V8 version and the same V8 flags (a heap-size flag is
 * enough to refuse it), so each cache file is named after Node's version, the architecture and
 * the process's flags (its command line's and NODE_OPTIONS). A missing or refused cache costs
 * nothing but the compile it would have saved. Only the build writes caches (beside the bundle it
 * wrote): a file that changes what code runs belongs with the code, never in a shared or writable
 * place.
 */

/** The cache file of `bundle` for this process (or for the flags given; null: no NODE_OPTIONS): Node's version, architecture and flags. */
export function codeCacheFile(bundle: string, execArgv: readonly string[] = process.execArgv, nodeOptions: string | null = process.env['NODE_OPTIONS'] ?? null): string {
  const key = createHash('sha256')
    .update([process.version, process.arch, ...execArgv, '\0', nodeOptions ?? ''].join('\n'))
    .digest('hex')
    .slice(0, 16);
  return join(dirname(bundle), `${basename(bundle)}.${key}.v8-cache`);
}

/** What became of the cache (CASEGATE_CODE_CACHE_REPORT=1 prints it on stderr). */
export type CodeCacheUse = 'used' | 'refused' | 'none';

/**
 * Run the CommonJS bundle `bundle` in this process with its code cache; returns what became of
 * the cache. Null when there is no such bundle (the tsc build, dist/src): nothing ran.
 * CASEGATE_CODE_CACHE_WRITE=1 (the build): when the process exits, write the cache of what ran.
 */
export function runCodeCached(bundle: string): CodeCacheUse | null {
  let source: string;
  try {
    const bytes = readFileSync(bundle);
    // The build makes the bundle ASCII (build/ascii-regex.ts): then it needs no decoding.
    source = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  } catch {
    return null;
  }
  const cacheFile = codeCacheFile(bundle);
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  // The same wrapper Node gives a CommonJS module.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: bundle, cachedData });
  const use: CodeCacheUse = cachedData === undefined ? 'none' : script.cachedDataRejected === true ? 'refused' : 'used';
  if (process.env['CASEGATE_CODE_CACHE_REPORT'] === '1') process.stderr.write(`casegate: code cache ${use}: ${cacheFile}\n`);
  if (process.env['CASEGATE_CODE_CACHE_WRITE'] === '1') {
    process.once('exit', () => {
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
    });
  }
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: { exports: unknown }, filename: string, dirname: string) => void;
  const module = { exports: {} };
  wrapper.call(module.exports, module.exports, createRequire(bundle), module, bundle, dirname(bundle));
  return use;
}
