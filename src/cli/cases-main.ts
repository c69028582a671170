import { registerCaseCommands } from './cases.js';
import { exitCodeFor, runProgram } from './program.js';

/**
 * The entry of dist/bin/cases.cjs: `casegate cases …`, the commands agents run all day, on its own:
 * a CommonJS bundle that the `casegate` binary runs with V8's code cache (code-cache.ts, src/cli.ts).
 */
runProgram(process.argv, [registerCaseCommands]).catch(async (err: unknown) => process.exit(await exitCodeFor(err)));
