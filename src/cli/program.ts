import { userInfo } from 'node:os';
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
 * user can fix (configuration 78, templates 78, a port 1, the database refusing or away 1), the stack for anything else (1).
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
  const { DatabaseOpenError } = await import('../db/open-error.js');
  if (err instanceof DatabaseOpenError) {
    process.stderr.write(`casegate: ${err.message}\n`);
    return 1;
  }
  const e = err as NodeJS.ErrnoException | null;
  const code = e?.code;
  const { becameDataDirOwner } = await import('../storage/data-dir-owner.js');
  const fileProblem = fileProblemLine(e, becameDataDirOwner() !== null);
  if (fileProblem !== null) {
    process.stderr.write(`casegate: ${fileProblem}\n`);
    return 1;
  }
  if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || (code === 'EACCES' && (e?.syscall === 'listen' || e?.syscall === 'bind'))) {
    // The server that failed names its keys (listener, web or ops); a bind without them is the listener's.
    const keys = (err as { configKeys?: unknown }).configKeys;
    process.stderr.write(`casegate: cannot listen: ${(err as Error).message} (see ${typeof keys === 'string' ? keys : 'listener.host / listener.port'})\n`);
    return 1;
  }
  process.stderr.write(`casegate: ${(err as Error).stack ?? String(err)}\n`);
  return 1;
}

const FILE_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST', 'EISDIR', 'ENOENT']);

/**
 * A file or directory casegate could not create, open or write (the data directory, the database,
 * the secret): one line naming the path and what to do, not a stack — most often the data
 * directory belongs to another user (a first `casegate` run as root) or lies outside the
 * service's writable paths. Null for anything else.
 */
function fileProblemLine(e: NodeJS.ErrnoException | null, becameOwner: boolean): string | null {
  if (e === null || typeof e.code !== 'string' || !FILE_CODES.has(e.code) || typeof e.path !== 'string') return null;
  if (e.syscall === 'listen' || e.syscall === 'bind' || e.syscall === 'connect') return null;
  const what = `cannot ${e.syscall ?? 'use'} ${e.path}: ${e.code}`;
  const ours = 'if it is one of casegate\'s own paths (dataDir, database.path, outgoing.fileDir: `casegate config` prints them), check those keys';
  switch (e.code) {
    case 'EACCES':
    case 'EPERM': {
      const uid = process.getuid?.() ?? '?';
      let user = `uid ${uid}`;
      try {
        user = `${userInfo().username}, uid ${uid}`;
      } catch {
        // No passwd entry: the uid says it.
      }
      // Started as root, the command became the data directory's owner (storage/data-dir-owner.ts): that user cannot reach a path root could.
      const advice = becameOwner
        ? 'Started as root, casegate runs as the owner of the data directory, who cannot reach this path: put the file (or directory) where that user can read or write it'
        : 'A file named on the command line must be readable by that user; the data directory (dataDir, database.path) and everything in it must belong to the user casegate runs as: run every casegate command as that user (sudo -u casegate …, or as root, which becomes that user), or give it the files (chown -R casegate: /var/lib/casegate)';
      return `${what} (permission denied for user ${user}). ${advice}; see docs/security.md`;
    }
    case 'EROFS':
      return `${what} (read-only file system). Under the shipped systemd unit only /var/lib/casegate is writable (ReadWritePaths): keep dataDir, database.path and outgoing.fileDir there`;
    case 'EEXIST':
    case 'ENOTDIR':
      return `${what} (a file stands where a directory is needed); ${ours}`;
    case 'ENOENT':
      return `${what} (no such file or directory); ${ours}`;
    default:
      return `${what}; ${ours}`;
  }
}
