#!/usr/bin/env -S node --max-old-space-size=192
import { Command } from 'commander';
import { ConfigError } from './config/load.js';
import { TemplateCheckError } from './mail-out/templates.js';
import { registerCaseCommands } from './cli/cases.js';
import { registerConfigCommands } from './cli/config.js';
import { registerDaemonCommands } from './cli/daemon.js';
import { registerIngestCommands } from './cli/ingest.js';
import { registerOutboxCommands } from './cli/outbox.js';
import { registerJobCommands } from './cli/jobs.js';
import { registerLinkCommands } from './cli/links.js';
import { registerQuarantineCommands } from './cli/quarantine.js';
import { registerReportCommands } from './cli/report.js';
import { setRootProgram } from './cli/shared.js';
import { registerStatusCommands } from './cli/status.js';
import { registerTemplateCommands } from './cli/templates.js';

/** The casegate command line: one file per command group under src/cli/; the work lives in the modules they call. */
const program = new Command();
program
  .name('casegate')
  .description('Email-driven support-case gateway')
  .option('-c, --config <file>', 'configuration file (default: $CASEGATE_CONFIG, else the embedded default)')
  .showHelpAfterError();
setRootProgram(program);
registerDaemonCommands(program);
registerIngestCommands(program);
registerCaseCommands(program);
registerQuarantineCommands(program);
registerOutboxCommands(program);
registerStatusCommands(program);
registerTemplateCommands(program);
registerConfigCommands(program);
registerReportCommands(program);
registerJobCommands(program);
registerLinkCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
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
