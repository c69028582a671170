import { InvalidArgumentError } from 'commander';
import { CaseCommandError } from '../cases/case-command-error.js';
import { ConfigError } from '../config/load.js';
import type { AppContext } from '../context.js';
import { TemplateCheckError } from '../mail-out/template-check-error.js';
import { withContext, type CommandContextOptions } from './shared.js';

/** Arguments and error handling shared by the `casegate cases` commands. */

export function positiveInt(option: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${option} must be a positive whole number.`);
    return n;
  };
}

/** Row ids as typed ("12", "#12"), or the one-line problem naming the first that is none. */
export function parseRowIds(ids: readonly string[], what: string): number[] | string {
  const out: number[] = [];
  for (const id of ids) {
    const m = /^#?(\d{1,12})$/.exec(id.trim());
    if (m?.[1] === undefined) return `not ${what}: "${id}"`;
    out.push(Number(m[1]));
  }
  return out;
}

export function caseNumberArg(value: string): number {
  const m = /^#?(\d{1,12})$/.exec(value.trim());
  if (m?.[1] === undefined) throw new CaseCommandError(`not a case number: "${value}"`);
  return Number(m[1]);
}

/**
 * Run a cases subcommand. Every problem is one line on stderr and exit 1 (never a stack trace;
 * CASEGATE_DEBUG=1 adds it); configuration and template problems keep their own exit code.
 */
export async function caseCommand(fn: (ctx: AppContext) => Promise<void>, opts: CommandContextOptions = {}): Promise<void> {
  try {
    await withContext(fn, opts);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof TemplateCheckError) throw err;
    const bare = err instanceof CaseCommandError && err.bare;
    const msg = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    process.stderr.write(bare ? `${msg}\n` : `casegate cases: ${msg}\n`);
    if (process.env['CASEGATE_DEBUG'] === '1' && err instanceof Error && !(err instanceof CaseCommandError)) process.stderr.write(`${err.stack ?? ''}\n`);
    process.exitCode = 1;
  }
}
