import type { Command } from 'commander';
import { resolved } from './shared.js';

export function registerConfigCommands(program: Command): void {
  program
    .command('config')
    .description('validate the configuration and print it resolved (secrets hidden)')
    .action(() => {
      const r = resolved('required');
      for (const w of r.warnings) process.stderr.write(`warning: ${w.path}: ${w.message}\n`);
      const shown = JSON.parse(JSON.stringify(r.config, (k, v: unknown) => (/(secret|password)$/i.test(k) && typeof v === 'string' ? '***' : v))) as unknown;
      process.stdout.write(JSON.stringify({ source: r.source ?? 'embedded default', paths: r.paths, config: shown }, null, 2) + '\n');
    });
}
