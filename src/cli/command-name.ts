/** The command named on the command line (skipping the global options), or null. */
export function commandName(argv: readonly string[]): string | null {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-c' || arg === '--config') i += 1;
    else if (!arg.startsWith('-')) return arg;
  }
  return null;
}

/**
 * The commands that run from a CommonJS bundle of their own, dist/bin/<command>.cjs built from
 * src/cli/<command>-main.ts, with V8's code cache (code-cache.ts; build/bundle.ts): `ingest`, which
 * an MTA starts once per message, and `cases`, what agents run all day. Every other command runs
 * from the ES module chunks.
 */
export const CODE_CACHED_COMMANDS: readonly string[] = ['ingest', 'cases'];
