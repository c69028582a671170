#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-old-space-size=192 --max-semi-space-size=2
import { Command } from 'commander';
import { setRootProgram } from './cli/shared.js';

type Register = (program: Command) => void;

/**
 * The command groups, one file each under src/cli/, loaded only when used: `casegate ingest` (the
 * MTA pipe, run once per message) must not pay for the modules of every other command.
 */
const GROUPS: Readonly<Record<string, () => Promise<Register>>> = {
  daemon: async () => (await import('./cli/daemon.js')).registerDaemonCommands,
  ingest: async () => (await import('./cli/ingest.js')).registerIngestCommands,
  cases: async () => (await import('./cli/cases.js')).registerCaseCommands,
  quarantine: async () => (await import('./cli/quarantine.js')).registerQuarantineCommands,
  outbox: async () => (await import('./cli/outbox.js')).registerOutboxCommands,
  status: async () => (await import('./cli/status.js')).registerStatusCommands,
  templates: async () => (await import('./cli/templates.js')).registerTemplateCommands,
  config: async () => (await import('./cli/config.js')).registerConfigCommands,
  report: async () => (await import('./cli/report.js')).registerReportCommands,
  jobs: async () => (await import('./cli/jobs.js')).registerJobCommands,
  links: async () => (await import('./cli/links.js')).registerLinkCommands,
  backup: async () => (await import('./cli/backup.js')).registerBackupCommands,
  import: async () => (await import('./cli/import.js')).registerImportCommands,
  dkim: async () => (await import('./cli/dkim.js')).registerDkimCommands,
  'migrate-data': async () => (await import('./cli/migrate-data.js')).registerMigrateDataCommands,
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
function commandName(argv: readonly string[]): string | null {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-c' || arg === '--config') i += 1;
    else if (!arg.startsWith('-')) return arg;
  }
  return null;
}

async function main(): Promise<void> {
  /** The casegate command line: the work lives in the modules the command groups call. */
  const program = new Command();
  program
    .name('casegate')
    .description('Email-driven support-case gateway')
    .option('-c, --config <file>', 'configuration file (default: $CASEGATE_CONFIG, else the embedded default)')
    .showHelpAfterError();
  setRootProgram(program);
  const group = COMMANDS[commandName(process.argv.slice(2)) ?? ''];
  // A known command loads its group; help, an unknown command or none load them all (for the listing).
  for (const name of group !== undefined ? [group] : Object.keys(GROUPS)) (await GROUPS[name]!())(program);
  await program.parseAsync(process.argv);
}

main().catch(async (err: unknown) => {
  const { ConfigError } = await import('./config/load.js');
  const { TemplateCheckError } = await import('./mail-out/template-check-error.js');
  if (err instanceof ConfigError) {
    process.stderr.write(`casegate: ${err.message}\n`);
    process.exit(78); // EX_CONFIG
  }
  if (err instanceof TemplateCheckError) {
    process.stderr.write(`casegate: templates have problems, not starting:\n${err.problems.map((p) => `  ${p.file}${p.line !== null ? `:${p.line}` : ''}: ${p.message}`).join('\n')}\n`);
    process.exit(78);
  }
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    process.stderr.write(`casegate: cannot listen: ${(err as Error).message} (see listener.host / listener.port)\n`);
    process.exit(1);
  }
  process.stderr.write(`casegate: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
