import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig, type ResolvedConfig } from '../config/load.js';
import type { AppContext } from '../context.js';
import type { DestinationStream } from 'pino';
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
  const r = loadConfig({ path: rootProgram?.opts<{ config?: string }>().config, mailboxCredentials, actAsDataDirOwner: true, ...opts });
  // The daemon and `config` say which configuration they use in their own output.
  const note = mailboxCredentials === 'deferred' ? embeddedDefaultNote(r) : null;
  if (note !== null) process.stderr.write(note);
  return r;
}

/**
 * A command run without --config or CASEGATE_CONFIG where no database is yet: it is about to act
 * on a new, empty one in ./data — a `purge --requester` that "removed 0 case(s)", a `restore`
 * into the wrong directory, a `status` of nothing — while the real one is elsewhere. Said on
 * stderr before it runs; null otherwise (a configured file, or the README tour's existing ./data).
 */
export function embeddedDefaultNote(r: ResolvedConfig): string | null {
  if (r.source !== null || existsSync(r.paths.dbPath)) return null;
  return `casegate: note: no configuration given (--config FILE or CASEGATE_CONFIG) and no database at ${r.paths.dbPath}: this runs on the embedded default, with a new, empty database in ${r.paths.dataDir}\n`;
}

export function cliLogger(r: ResolvedConfig): Logger {
  return createLogger({ level: r.config.log.level === 'info' ? 'warn' : r.config.log.level, toStderr: true, format: r.config.log.format });
}

export interface CommandContextOptions {
  /** Log at the configured level (default: one level quieter, warnings and up). */
  readonly logLevel?: 'info';
  /** Where the log lines go instead of stderr (ingest under an MTA: after its result line). */
  readonly logDestination?: DestinationStream;
  /** 'none': the command renders no email, so no template set is loaded (src/context.ts). */
  readonly templates?: 'load' | 'none';
  /**
   * 'change' (the default): the command may change the database, queue or send mail, mint signed
   * references or links — on PostgreSQL it first checks that this host signs with the instance
   * secret of the database's daemons (ops/secret-agreement.ts) and refuses otherwise. 'look': it
   * only reads (list, show, status…): it runs whatever the secret, so an admin can always look.
   */
  readonly access?: 'change' | 'look';
}

export async function withContext<T>(fn: (ctx: AppContext) => Promise<T>, opts: CommandContextOptions = {}): Promise<T> {
  const r = resolved();
  const log = opts.logLevel !== undefined ? createLogger({ level: r.config.log.level, toStderr: true, format: r.config.log.format, ...(opts.logDestination !== undefined && r.config.log.format !== 'pretty' ? { destination: opts.logDestination } : {}) }) : cliLogger(r);
  // Loaded here: `casegate config` and --help need no database or templates.
  const { closeContext, createContext } = await import('../context.js');
  const ctx = await createContext({ resolved: r, log, shortMigrationWait: true, ...(opts.templates !== undefined ? { templates: opts.templates } : {}) });
  try {
    // One read once recorded; SQLite has one process (its instance lock), nothing to agree on.
    if (opts.access !== 'look' && ctx.config.database.driver === 'postgres') {
      const { checkSecretAgreement } = await import('../ops/secret-agreement.js');
      await checkSecretAgreement(ctx);
    }
    return await fn(ctx);
  } finally {
    await closeContext(ctx);
  }
}

/** withContext for a command that only looks: no template set is loaded, no secret check (it signs nothing). */
export function withReadContext<T>(fn: (ctx: AppContext) => Promise<T>): Promise<T> {
  return withContext(fn, LOOK);
}

/** The options of a command that only reads: no email rendered, nothing written or signed. */
export const LOOK = { templates: 'none', access: 'look' } as const satisfies CommandContextOptions;

export function print(value: unknown, json: boolean, text: () => string): void {
  process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : text());
}
