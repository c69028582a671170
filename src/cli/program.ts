import { Command } from 'commander';
import { setRootProgram } from './shared.js';

/** A command group: adds its commands to the root program. */
export type Register = (program: Command) => void;

/**
 * Parse and run `argv` (process.argv's shape) with the commands of `registers`: the one command
 * line of both the whole CLI (run.ts) and the `ingest` bundle (ingest-main.ts).
 */
export async function runProgram(argv: readonly string[], registers: readonly Register[]): Promise<void> {
  const program = new Command();
  program
    .name('casegate')
    .description('Email-driven support-case gateway')
    .option('-c, --config <file>', 'configuration file (default: $CASEGATE_CONFIG, else the embedded default)')
    .showHelpAfterError();
  setRootProgram(program);
  for (const register of registers) register(program);
  await program.parseAsync([...argv]);
}

/**
 * What a failed command line says on stderr, and the exit code it ends with: one line for what a
 * user can fix (configuration 78, templates 78, a port 1), the stack for anything else (1).
 */
export async function exitCodeFor(err: unknown): Promise<number> {
  const { ConfigError } = await import('../config/load.js');
  const { TemplateCheckError } = await import('../mail-out/template-check-error.js');
  if (err instanceof ConfigError) {
    process.stderr.write(`casegate: ${err.message}\n`);
    return 78; // EX_CONFIG
  }
  if (err instanceof TemplateCheckError) {
    process.stderr.write(`casegate: templates have problems, not starting:\n${err.problems.map((p) => `  ${p.file}${p.line !== null ? `:${p.line}` : ''}: ${p.message}`).join('\n')}\n`);
    return 78;
  }
  const e = err as NodeJS.ErrnoException | null;
  const code = e?.code;
  // EACCES is a port only from listen/bind; from open, mkdir … it is a file of the data directory
  // another user owns (it used to say "cannot listen … see listener.port" for the secret file).
  const listening = e?.syscall === 'listen' || e?.syscall === 'bind' || e?.path === undefined;
  if ((code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') && listening) {
    // The server that failed names its keys (listener, web or ops); a bind without them is the listener's.
    const keys = (err as { configKeys?: unknown }).configKeys;
    process.stderr.write(`casegate: cannot listen: ${(err as Error).message} (see ${typeof keys === 'string' ? keys : 'listener.host / listener.port'})\n`);
    return 1;
  }
  if ((code === 'EACCES' || code === 'EPERM') && e?.path !== undefined) {
    const uid = typeof process.getuid === 'function' ? ` (running as uid ${process.getuid()})` : '';
    const { becameDataDirOwner } = await import('../storage/data-dir-owner.js');
    const advice =
      becameDataDirOwner() !== null
        ? 'Started as root, casegate runs as the owner of the data directory, who cannot reach this path: put the file (or directory) where that user can read or write it'
        : 'Run casegate as the owner of the data directory (the service user: sudo -u casegate casegate …, or as root, which becomes that user)';
    process.stderr.write(`casegate: permission denied: ${e.path}${uid}. ${advice}; see docs/security.md\n`);
    return 1;
  }
  process.stderr.write(`casegate: ${(err as Error).stack ?? String(err)}\n`);
  return 1;
}
