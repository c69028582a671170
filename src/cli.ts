#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-old-space-size=192 --max-semi-space-size=2
import { fileURLToPath } from 'node:url';
import { commandName } from './cli/command-name.js';
import { runCodeCached } from './cli/code-cache.js';

/**
 * The `casegate` binary: one command line (src/cli/run.ts), then the exit code of a failure.
 * `ingest`, run by an MTA once per message, runs from its own bundle with V8's code cache
 * (src/cli/code-cache.ts) where the build made one (dist/bin/ingest.cjs beside this file).
 */
if (commandName(process.argv.slice(2)) !== 'ingest' || runCodeCached(fileURLToPath(new URL('./ingest.cjs', import.meta.url))) === null) {
  const { exitCodeFor, runCommandLine } = await import('./cli/run.js');
  runCommandLine(process.argv).catch(async (err: unknown) => process.exit(await exitCodeFor(err)));
}
