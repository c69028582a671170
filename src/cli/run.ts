import { commandName } from './command-name.js';
import { runProgram, type Register } from './program.js';

export { commandName } from './command-name.js';
export { exitCodeFor } from './program.js';

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

/**
 * Run the casegate command line `argv` (process.argv's shape: node, script, arguments) in this
 * process: the `casegate` binary (src/cli.ts) runs it once; the tests run many in one process
 * (test/helpers/cli-in-process.ts). A failure is thrown, for exitCodeFor().
 */
export async function runCommandLine(argv: readonly string[]): Promise<void> {
  const group = COMMANDS[commandName(argv.slice(2)) ?? ''];
  // A known command loads its group; help, an unknown command or none load them all (for the listing).
  const registers: Register[] = [];
  for (const name of group !== undefined ? [group] : Object.keys(GROUPS)) registers.push(await GROUPS[name]!());
  await runProgram(argv, registers);
}
