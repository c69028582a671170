import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CliResult } from './cli.js';

/**
 * Run a casegate command line inside the test's own process: the bundled command code the
 * `casegate` binary runs (dist/bin/cli-run.js, the same chunks as dist/bin/casegate.js), with the
 * process's stdout, stderr, exit, exit code, working directory, environment and terminal flags
 * borrowed for the duration, and given back after.
 *
 * Why: a CLI test used to start a new Node process per command, and each start (loading the
 * bundle, ICU, the config schemas) cost about 0.45 s of CPU: 326 commands, a third of the SQLite
 * pass's CPU. What a command does is the same code either way; what only a real process shows
 * (the binary's start, stdin, signals, exit codes of a real exit, a hang keeping it alive) stays
 * covered by the tests that spawn it (test/cli/startup.test.ts, test/cli/in-process.test.ts, …).
 *
 * Faithful where a test can tell: stdout and stderr are captured separately and nothing written
 * after the first process.exit() is kept (a real process would be gone); the exit code is that
 * first exit's, else process.exitCode, else 0; a thrown failure goes through the binary's own
 * exitCodeFor(). stdout and stderr are not terminals (as under spawn with pipes), whatever the test
 * runner's are. Runs are one at a time: they borrow process-wide state. `casegate start` is
 * refused (the daemon would take the process's signals until one came): spawnCli runs it.
 */

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI_JS = join(REPO_ROOT, 'dist', 'bin', 'casegate.js');
const CLI_RUN = join(REPO_ROOT, 'dist', 'bin', 'cli-run.js');

interface BundledCli {
  runCommandLine(argv: readonly string[]): Promise<void>;
  commandName(args: readonly string[]): string | null;
  exitCodeFor(err: unknown): Promise<number>;
}

let bundled: Promise<BundledCli> | null = null;

/** Thrown by the borrowed process.exit(): ends the command where a real exit would. */
class ProcessExit extends Error {
  constructor(readonly code: number) {
    super(`process.exit(${code})`);
  }
}

export interface InProcessOptions {
  readonly cwd?: string;
  /** Over the test process's environment, without CASEGATE_CONFIG (as childEnv); undefined removes. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

let queue: Promise<unknown> = Promise.resolve();

/** `casegate <args>` in this process; resolves when the command has finished (never rejects on a failing command). */
export function runCliInProcess(args: readonly string[], opts: InProcessOptions = {}): Promise<CliResult> {
  const run = queue.then(() => runNow(args, opts));
  queue = run.catch(() => undefined);
  return run;
}

type Write = typeof process.stdout.write;

async function runNow(args: readonly string[], opts: InProcessOptions): Promise<CliResult> {
  if (bundled === null && !existsSync(CLI_RUN)) throw new Error(`${CLI_RUN} does not exist: build first with "npm run build" (the CLI tests run the bundled CLI)`);
  // dist/bin is external to vitest (vitest.config.ts): Node loads the bundle itself, as in the binary.
  const cli = await (bundled ??= import(pathToFileURL(CLI_RUN).href) as Promise<BundledCli>);
  // The daemon takes the process's signals and runs until one comes: a process of its own (spawnCli).
  if (cli.commandName(args) === 'start' && !args.includes('--help') && !args.includes('-h')) throw new Error('casegate start runs as a process of its own: use spawnCli, or CliSandbox.run with a process option');
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let exited: number | null = null;
  const capture = (sink: Buffer[]): Write =>
    function write(chunk: string | Uint8Array, encoding?: BufferEncoding | ((e?: Error | null) => void), cb?: (e?: Error | null) => void): boolean {
      if (exited === null) sink.push(typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : Buffer.from(chunk));
      const done = typeof encoding === 'function' ? encoding : cb;
      if (done !== undefined) queueMicrotask(() => done(null));
      return true;
    } as Write;

  const env: Record<string, string | undefined> = { CASEGATE_CONFIG: undefined, ...opts.env };
  const savedEnv = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const savedCwd = process.cwd();
  const savedExitCode = process.exitCode;
  const savedExit = process.exit;
  const streams = [process.stdout, process.stderr] as const;
  const savedWrites = streams.map((s) => s.write);
  const savedTty = streams.map((s) => Object.getOwnPropertyDescriptor(s, 'isTTY'));
  const setEnv = (values: Record<string, string | undefined>): void => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  // A command started as root on a data directory another user owns becomes that user, for good
  // (storage/data-dir-owner.ts): in the test's process that would demote the whole worker and
  // every test file after this one. Such a run belongs in a child process (childProcess: true).
  type Ids = Pick<typeof process, 'setuid' | 'setgid' | 'setgroups'> & { initgroups?: unknown };
  const ids = process as unknown as Ids;
  const savedIds = { setuid: ids.setuid, setgid: ids.setgid, setgroups: ids.setgroups, initgroups: ids.initgroups };
  const refuse = (): never => {
    throw new Error(`casegate ${args.join(' ')} would switch the test's process to another user (its data directory belongs to someone else): run it with childProcess: true`);
  };
  try {
    Object.assign(ids, { setuid: refuse, setgid: refuse, setgroups: refuse, initgroups: refuse });
    setEnv(env);
    process.chdir(opts.cwd ?? savedCwd);
    process.exitCode = undefined;
    process.stdout.write = capture(out);
    process.stderr.write = capture(err);
    for (const s of streams) Object.defineProperty(s, 'isTTY', { value: false, configurable: true, writable: true });
    process.exit = ((code?: number | string | null) => {
      exited ??= Number(code ?? process.exitCode ?? 0);
      throw new ProcessExit(exited);
    }) as typeof process.exit;
    try {
      await cli.runCommandLine([process.execPath, CLI_JS, ...args]);
    } catch (e) {
      if (!(e instanceof ProcessExit) && exited === null) exited = await cli.exitCodeFor(e);
    }
    const code = exited ?? Number(process.exitCode ?? 0);
    return { code, signal: null, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), command: `casegate ${args.join(' ')} (in the test's process)` };
  } finally {
    Object.assign(ids, savedIds);
    process.exit = savedExit;
    streams.forEach((s, i) => {
      s.write = savedWrites[i]!;
      const tty = savedTty[i];
      if (tty !== undefined) Object.defineProperty(s, 'isTTY', tty);
      else delete (s as { isTTY?: boolean }).isTTY;
    });
    process.exitCode = savedExitCode;
    process.chdir(savedCwd);
    setEnv(savedEnv);
  }
}
