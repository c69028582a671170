#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-old-space-size=192 --max-semi-space-size=2
import { fileURLToPath } from 'node:url';
import { CODE_CACHED_COMMANDS, commandName } from './cli/command-name.js';
import { runCodeCached } from './cli/code-cache.js';

/**
 * The `casegate` binary: one command line (src/cli/run.ts), then the exit code of a failure.
 * `ingest` (run by an MTA once per message) and `cases` (run by agents all day) run from their own
 * bundles with V8's code cache (src/cli/code-cache.ts) where the build made them
 * (dist/bin/ingest.cjs and cases.cjs beside this file).
 */
const name = commandName(process.argv.slice(2));
if (name === null || !CODE_CACHED_COMMANDS.includes(name) || runCodeCached(fileURLToPath(new URL(`./${name}.cjs`, import.meta.url))) === null) {
  const { exitCodeFor, runCommandLine } = await import('./cli/run.js');
  runCommandLine(process.argv).catch(async (err: unknown) => process.exit(await exitCodeFor(err)));
}
