import type { Command } from 'commander';
import { redactUrl } from '../db/dialect-postgres.js';
import { resolved } from './shared.js';

export function registerConfigCommands(program: Command): void {
  program
    .command('config')
    .description('validate the configuration and print it resolved (secrets hidden)')
    .action(() => {
      const r = resolved('required');
      for (const w of r.warnings) process.stderr.write(`warning: ${w.path}: ${w.message}\n`);
      // A database URL may carry a password too (postgres://user:pw@host/db).
      const hide = (k: string, v: unknown): unknown => (/(secret|password)$/i.test(k) && typeof v === 'string' ? '***' : k === 'url' && typeof v === 'string' && /^postgres/.test(v) ? redactUrl(v) : v);
      const shown = JSON.parse(JSON.stringify(r.config, hide)) as unknown;
      process.stdout.write(JSON.stringify({ source: r.source ?? 'embedded default', paths: r.paths, config: shown }, null, 2) + '\n');
    });
}
