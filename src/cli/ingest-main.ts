import { registerIngestCommands } from './ingest.js';
import { exitCodeFor, runProgram } from './program.js';

/**
 * The entry of dist/bin/ingest.cjs: `casegate ingest` on its own, a CommonJS bundle that the
 * `casegate` binary runs with V8's code cache (code-cache.ts, src/cli.ts). The same command line
 * as the whole CLI's (run.ts), with the ingest group only.
 */
runProgram(process.argv, [registerIngestCommands]).catch(async (err: unknown) => process.exit(await exitCodeFor(err)));
