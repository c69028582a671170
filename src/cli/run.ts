import { Command } from 'commander';
import { setRootProgram } from './shared.js';

type Register = (program: Command) => void;

/**
 * The command groups, one file each under src/cli/, loaded only when used: `casegate ingest` (the
 * MTA pipe, run once per message) must not pay for the modules of every other command.
 */
const GROUPS: Readonly<Record<string, () => Promise<Register>>> = {
  daemon: async () => (await import('./daemon.js')).registerDaemonCommands,
  ingest: async () => (await import('./ingest.js')).registerIngestCommands,
  cases: async () => (await import('./cases.js')).registerCaseCommands,
  quarantine: async () => (await import('./quarantine.js')).registerQuarantineCommands,
  outbox: async () => (await import('./outbox.js')).registerOutboxCommands,
  status: async () => (await import('./status.js')).registerStatusCommands,
  templates: async () => (await import('./templates.js')).registerTemplateCommands,
  config: async () => (await import('./config.js')).registerConfigCommands,
  report: async () => (await import('./report.js')).registerReportCommands,
  jobs: async () => (await import('./jobs.js')).registerJobCommands,
  links: async () => (await import('./links.js')).registerLinkCommands,
  backup: async () => (await import('./backup.js')).registerBackupCommands,
  import: async () => (await import('./import.js')).registerImportCommands,
  dkim: async () => (await import('./dkim.js')).registerDkimCommands,
  'migrate-data': async () => (await import('./migrate-data.js')).registerMigrateDataCommands,
};

/** Top-level command → its group (the order of GROUPS is the order of the help). */
const COMMANDS: Readonly<Record<string, string>> = {
  start: 'daemon',
  migrate: 'daemon',
  ingest: 'ingest',
  cases: 'cases',
  quarantine: 'quarantine',
  outbox: 'outbox',
  status: 'status',
  templates: 'templates',
  config: 'config',
  report: 'report',
  jobs: 'jobs',
  links: 'links',
  backup: 'backup',
  restore: 'backup',
  purge: 'backup',
  import: 'import',
  dkim: 'dkim',
  'migrate-data': 'migrate-data',
};

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
 * Run the casegate command line `argv` (process.argv's shape: node, script, arguments) in this
 * process: the `casegate` binary (src/cli.ts) runs it once; the tests run many in one process
 * (test/helpers/cli-in-process.ts). A failure is thrown, for exitCodeFor().
 */
export async function runCommandLine(argv: readonly string[]): Promise<void> {
  /** The casegate command line: the work lives in the modules the command groups call. */
  const program = new Command();
  program
    .name('casegate')
    .description('Email-driven support-case gateway')
    .option('-c, --config <file>', 'configuration file (default: $CASEGATE_CONFIG, else the embedded default)')
    .showHelpAfterError();
  setRootProgram(program);
  const group = COMMANDS[commandName(argv.slice(2)) ?? ''];
  // A known command loads its group; help, an unknown command or none load them all (for the listing).
  for (const name of group !== undefined ? [group] : Object.keys(GROUPS)) (await GROUPS[name]!())(program);
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
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    process.stderr.write(`casegate: cannot listen: ${(err as Error).message} (see listener.host / listener.port)\n`);
    return 1;
  }
  process.stderr.write(`casegate: ${(err as Error).stack ?? String(err)}\n`);
  return 1;
}
