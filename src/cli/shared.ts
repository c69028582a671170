import type { Command } from 'commander';
import { loadConfig, type ResolvedConfig } from '../config/load.js';
import type { AppContext } from '../context.js';
import { createLogger, type Logger } from '../log.js';

/** Shared by every command group: the global --config option, contexts, output. */

let rootProgram: Command | null = null;

/** Called once per command line by runProgram (program.ts) with the root command (for the global --config option). */
export function setRootProgram(program: Command): void {
  rootProgram = program;
}

/**
 * The configuration for a command. Only the daemon (and `config`, which checks what the daemon
 * would load) needs the mailboxes' IMAP credentials; other commands work without their env vars.
 */
export function resolved(mailboxCredentials: 'required' | 'deferred' = 'deferred', opts: { readonly readOnly?: boolean } = {}): ResolvedConfig {
  return loadConfig({ path: rootProgram?.opts<{ config?: string }>().config, mailboxCredentials, actAsDataDirOwner: true, ...opts });
}

export function cliLogger(r: ResolvedConfig): Logger {
  return createLogger({ level: r.config.log.level === 'info' ? 'warn' : r.config.log.level, toStderr: true, format: r.config.log.format });
}

export interface CommandContextOptions {
  /** Log at the configured level (default: one level quieter, warnings and up). */
  readonly logLevel?: 'info';
  /** 'none': the command renders no email, so no template set is loaded (src/context.ts). */
  readonly templates?: 'load' | 'none';
}

export async function withContext<T>(fn: (ctx: AppContext) => Promise<T>, opts: CommandContextOptions = {}): Promise<T> {
  const r = resolved();
  const log = opts.logLevel !== undefined ? createLogger({ level: r.config.log.level, toStderr: true, format: r.config.log.format }) : cliLogger(r);
  // Loaded here: `casegate config` and --help need no database or templates.
  const { closeContext, createContext } = await import('../context.js');
  const ctx = await createContext({ resolved: r, log, ...(opts.templates !== undefined ? { templates: opts.templates } : {}) });
  try {
    return await fn(ctx);
  } finally {
    await closeContext(ctx);
  }
}

/** withContext for a command that renders no email: no template set is loaded. */
export function withReadContext<T>(fn: (ctx: AppContext) => Promise<T>): Promise<T> {
  return withContext(fn, { templates: 'none' });
}

export function print(value: unknown, json: boolean, text: () => string): void {
  process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : text());
}
