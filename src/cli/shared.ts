import type { Command } from 'commander';
import { loadConfig, type ResolvedConfig } from '../config/load.js';
import type { AppContext } from '../context.js';
import { createLogger, type Logger } from '../log.js';

/** Shared by every command group: the global --config option, contexts, output. */

let rootProgram: Command | null = null;

/** Called once by src/cli.ts with the root command (for the global --config option). */
export function setRootProgram(program: Command): void {
  rootProgram = program;
}

/**
 * The configuration for a command. Only the daemon (and `config`, which checks what the daemon
 * would load) needs the mailboxes' IMAP credentials; other commands work without their env vars.
 */
export function resolved(mailboxCredentials: 'required' | 'deferred' = 'deferred', opts: { readonly readOnly?: boolean } = {}): ResolvedConfig {
  return loadConfig({ path: rootProgram?.opts<{ config?: string }>().config, mailboxCredentials, ...opts });
}

export function cliLogger(r: ResolvedConfig): Logger {
  return createLogger({ level: r.config.log.level === 'info' ? 'warn' : r.config.log.level, toStderr: true, format: r.config.log.format });
}

export async function withContext<T>(fn: (ctx: AppContext) => Promise<T>, logLevel?: 'info'): Promise<T> {
  const r = resolved();
  const log = logLevel !== undefined ? createLogger({ level: r.config.log.level, toStderr: true, format: r.config.log.format }) : cliLogger(r);
  // Loaded here: `casegate config` and --help need no database or templates.
  const { closeContext, createContext } = await import('../context.js');
  const ctx = await createContext({ resolved: r, log });
  try {
    return await fn(ctx);
  } finally {
    await closeContext(ctx);
  }
}

export function print(value: unknown, json: boolean, text: () => string): void {
  process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : text());
}
