#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-old-space-size=192 --max-semi-space-size=2
import { exitCodeFor, runCommandLine } from './cli/run.js';

/** The `casegate` binary: one command line (src/cli/run.ts), then the exit code of a failure. */
runCommandLine(process.argv).catch(async (err: unknown) => process.exit(await exitCodeFor(err)));
