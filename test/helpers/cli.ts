import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConfigInput } from '../../src/config/schema.js';
import { runCliInProcess } from './cli-in-process.js';
import { writeConfig } from './context.js';
import { seedTemplateCheck } from './template-check-seed.js';

/**
 * Run the built CLI (dist/bin/casegate.js) as a real child process, the way an MTA or an admin does:
 * a temp directory as working directory and HOME, a config file in it, and the exit code,
 * stdout and stderr captured separately.
 */

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI_JS = join(REPO_ROOT, 'dist', 'bin', 'casegate.js');

let buildChecked = false;

/** Fail loudly (never skip) when the CLI has not been built; warn when src/ is newer than dist/. */
export function assertBuilt(): void {
  if (buildChecked) return;
  if (!existsSync(CLI_JS)) {
    throw new Error(`${CLI_JS} does not exist: build first with "npm run build" (the CLI tests run the bundled CLI)`);
  }
  const newest = (dir: string): number => {
    let t = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }
    return t;
  };
  const srcTime = newest(join(REPO_ROOT, 'src'));
  const distTime = newest(join(REPO_ROOT, 'dist', 'bin'));
  if (srcTime > distTime) {
    console.warn(`[cli tests] src/ has changes newer than dist/bin — these tests run dist/bin/casegate.js; rebuild with "npm run build"`);
  }
  buildChecked = true;
}

export interface CliResult {
  /** Exit code, or null when killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** For assertion messages. */
  readonly command: string;
}

export interface RunOptions {
  readonly cwd?: string;
  /** Merged over the test process's environment (without CASEGATE_CONFIG); undefined removes a variable. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** What the child reads on stdin (default: nothing, stdin is closed at once). */
  readonly stdin?: string | Buffer | { readonly file: string };
  /** Kill the child (SIGKILL) and fail after this long. Default 60 s. */
  readonly timeoutMs?: number;
  /** Run node under another program, e.g. ['/usr/bin/time', '-f', '%M']. */
  readonly prefix?: readonly string[];
  /** Node options before the script (e.g. --expose-gc). */
  readonly nodeArgs?: readonly string[];
  /** Script to run instead of dist/bin/casegate.js (a wrapper). */
  readonly script?: string;
  /**
   * CliSandbox.run only: a child process even where none of the options above asks for one (a
   * test of the process itself: its exit, its start, a hang).
   */
  readonly childProcess?: boolean;
}

/** The child's environment: the caller's, never an inherited CASEGATE_CONFIG. */
export function childEnv(extra: Readonly<Record<string, string | undefined>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['CASEGATE_CONFIG'];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

function commandLine(opts: RunOptions, args: readonly string[]): string[] {
  return [...(opts.prefix ?? []), process.execPath, ...(opts.nodeArgs ?? []), opts.script ?? CLI_JS, ...args];
}

function feedStdin(child: ChildProcess, stdin: RunOptions['stdin']): void {
  const sink = child.stdin;
  if (sink === null) return;
  // The child may stop reading early (size limit, config error): that's not the test's failure.
  sink.on('error', () => undefined);
  if (stdin === undefined) sink.end();
  else if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) sink.end(stdin);
  else {
    const src = createReadStream(stdin.file);
    src.on('error', (err) => sink.destroy(err));
    src.pipe(sink);
  }
}

/** Run `casegate <args>` to completion. Never rejects on a non-zero exit: assert on `code`. */
export function runCli(args: readonly string[], opts: RunOptions = {}): Promise<CliResult> {
  assertBuilt();
  const [cmd, ...rest] = commandLine(opts, args);
  const command = [cmd, ...rest].join(' ');
  return new Promise<CliResult>((resolvePromise, reject) => {
    const child = spawn(cmd!, rest, { cwd: opts.cwd ?? process.cwd(), env: childEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out after ${timeoutMs} ms: ${command}\nstdout: ${Buffer.concat(out).toString()}\nstderr: ${Buffer.concat(err).toString()}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), command });
    });
    feedStdin(child, opts.stdin);
  });
}

/** Explain a CliResult in an assertion message. */
export function describeResult(r: CliResult): string {
  return `${r.command}\nexit ${r.code ?? r.signal}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

/** A long-running child (the daemon) whose output can be awaited line by line. */
export interface CliProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line (current or future) that matches; rejects on exit or timeout. */
  waitForLine(match: RegExp, timeoutMs?: number): Promise<string>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Kill it if it is still running (cleanup). */
  kill(signal?: NodeJS.Signals): void;
}

export function spawnCli(args: readonly string[], opts: RunOptions = {}): CliProcess {
  assertBuilt();
  const [cmd, ...rest] = commandLine(opts, args);
  const child = spawn(cmd!, rest, { cwd: opts.cwd ?? process.cwd(), env: childEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let running = true;
  const listeners = new Set<() => void>();
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString('utf8');
    for (const l of [...listeners]) l();
  });
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.on('close', (code, signal) => {
      running = false;
      for (const l of [...listeners]) l();
      res({ code, signal });
    });
  });
  feedStdin(child, opts.stdin);
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForLine(match, timeoutMs = 15_000) {
      return new Promise<string>((res, rej) => {
        const check = (): void => {
          const line = out.split('\n').find((l) => match.test(l));
          if (line !== undefined) {
            done();
            res(line);
          } else if (!running) {
            done();
            rej(new Error(`process exited (code ${child.exitCode}) before printing ${match}\nstdout:\n${out}\nstderr:\n${err}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          rej(new Error(`no line matching ${match} within ${timeoutMs} ms\nstdout:\n${out}\nstderr:\n${err}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    kill(signal = 'SIGKILL') {
      if (running) child.kill(signal);
    },
  };
}

/** Default test config: two mailboxes (billing → queue "finance"), no template watcher. */
export const DEFAULT_TEST_CONFIG: ConfigInput = {
  mailboxes: [
    { name: 'support', addresses: ['support@example.com'] },
    { name: 'billing', addresses: ['billing@example.com'], queue: 'finance' },
  ],
  templates: { watch: false },
};

/**
 * A temp directory with a casegate.yaml (validated by writeConfig, dataDir "data" next to it):
 * `run()` passes --config and uses the directory as cwd and HOME.
 */
export class CliSandbox {
  readonly configPath: string;

  private constructor(readonly dir: string) {
    this.configPath = join(dir, 'casegate.yaml');
  }

  /**
   * `config` is merged over DEFAULT_TEST_CONFIG (top-level keys replace). The data directory starts
   * the way it is after casegate's first start, the shipped templates recorded as checked
   * (template-check-seed.ts); `{ firstStart: true }` leaves it empty, for tests of that first check.
   */
  static create(config: ConfigInput = {}, opts: { readonly firstStart?: boolean } = {}): CliSandbox {
    const dir = mkdtempSync(join(tmpdir(), 'casegate-cli-'));
    const box = new CliSandbox(dir);
    const full = { ...DEFAULT_TEST_CONFIG, ...config };
    writeConfig(dir, full);
    if (opts.firstStart !== true) seedTemplateCheck(full, box.dataDir, CLI_JS);
    return box;
  }

  /** A sandbox whose casegate.yaml is exactly `text` (not validated: for broken configs). */
  static withRawConfig(text: string): CliSandbox {
    const dir = mkdtempSync(join(tmpdir(), 'casegate-cli-'));
    const box = new CliSandbox(dir);
    writeFileSync(box.configPath, text);
    return box;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  get dbPath(): string {
    return join(this.dataDir, 'casegate.db');
  }

  /** Write a file into the sandbox; returns its absolute path. */
  write(name: string, content: string | Buffer): string {
    const p = join(this.dir, name);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
    return p;
  }

  /**
   * `casegate --config casegate.yaml <args>` in the sandbox: in the test's process
   * (cli-in-process.ts) unless an option needs a child process (stdin, a prefix, node options, a
   * wrapper script, a timeout, childProcess).
   */
  run(args: readonly string[], opts: RunOptions = {}): Promise<CliResult> {
    const full = ['--config', this.configPath, ...args];
    const env = { HOME: this.dir, ...opts.env };
    const child = opts.childProcess === true || opts.stdin !== undefined || opts.prefix !== undefined || opts.nodeArgs !== undefined || opts.script !== undefined || opts.timeoutMs !== undefined;
    if (!child) {
      assertBuilt();
      return runCliInProcess(full, { cwd: opts.cwd ?? this.dir, env });
    }
    return runCli(full, { cwd: this.dir, ...opts, env });
  }

  /** Run a command that must exit 0 and print JSON; returns the parsed value. */
  async json<T = unknown>(args: readonly string[], opts: RunOptions = {}): Promise<T> {
    const r = await this.run(args, opts);
    if (r.code !== 0) throw new Error(`expected exit 0:\n${describeResult(r)}`);
    try {
      return JSON.parse(r.stdout) as T;
    } catch {
      throw new Error(`stdout is not JSON:\n${describeResult(r)}`);
    }
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Every regular file under a directory (relative paths); [] when it does not exist. */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), join(rel, e.name));
      else out.push(join(rel, e.name));
    }
  };
  walk(dir, '');
  return out;
}

/** JSON log lines (pino) in a stream's text; non-JSON lines are skipped. */
export function jsonLines(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      out.push(JSON.parse(t) as Record<string, unknown>);
    } catch {
      // not a log line
    }
  }
  return out;
}

/** Poll `probe` (every `intervalMs`) until it gives a value other than undefined/false; a hang guard, not a speed target. */
export async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | false | Promise<T | undefined | false>, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
