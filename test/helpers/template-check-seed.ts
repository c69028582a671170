import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigInput } from '../../src/config/schema.js';

/**
 * A test data directory that starts the way it is after casegate's first start: the shipped
 * templates recorded as checked (data/template-check.json, its first line only: no compiled
 * templates, no instance key), so a sandbox's first command does not check and trial-render all
 * 216 templates again — each sandbox used to pay that, ~1 s of CPU.
 *
 * What was checked depends on the configuration's queues and languages, so the record is made per
 * such combination, once per test run: the built CLI (dist/) runs `templates preview` on a scratch
 * configuration with exactly those queues and languages and its record is kept in
 * CASEGATE_TEST_TEMPLATE_CHECKS (a directory test/global-setup.ts makes). Configurations with a
 * template folder of their own get nothing: their first command checks, as in production.
 */
export function seedTemplateCheck(config: ConfigInput, dataDir: string, cli: string): void {
  const store = process.env['CASEGATE_TEST_TEMPLATE_CHECKS'];
  if (store === undefined || store === '' || !existsSync(cli)) return;
  const what = checkedWhat(config);
  if (what === null) return;
  const record = join(store, `${createHash('sha256').update(JSON.stringify(what)).digest('hex').slice(0, 24)}.json`);
  if (!existsSync(record) && !makeRecord(what, record, cli)) return;
  copyRecord(record, dataDir);
}

type CheckedWhat = { queues: string[]; languages: string[] | null; defaultLanguage: string | null };

/** What a check of the shipped templates depends on in `config`; null: a template folder of its own (or no queue). */
function checkedWhat(config: ConfigInput): CheckedWhat | null {
  const c = config as { mailboxes?: { name: string; queue?: string }[]; queues?: Record<string, unknown>; templates?: { dir?: string; languages?: string[] }; cases?: { defaultLanguage?: string } };
  if (c.templates?.dir !== undefined) return null;
  const queues = [...new Set([...(c.mailboxes ?? []).map((m) => m.queue ?? m.name), ...Object.keys(c.queues ?? {})])].sort();
  if (queues.length === 0) return null;
  return { queues, languages: c.templates?.languages ?? null, defaultLanguage: c.cases?.defaultLanguage ?? null };
}

function copyRecord(record: string, dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  copyFileSync(record, join(dataDir, 'template-check.json'));
  chmodSync(join(dataDir, 'template-check.json'), 0o600);
}

/**
 * The same for the contexts tests build in process (testEnv in context.ts): the first one in the
 * run with a given configuration checks the shipped templates (the checker's code here is the
 * TypeScript sources, so its records are kept apart from the CLI's) and `keep` stores the record
 * it wrote; every later one — in any worker, and in the PostgreSQL pass — starts from that
 * record. Each worker used to check and trial-render all 216 templates itself at its first test
 * environment (~1.1 s of CPU per worker and configuration, 2026-12-07). The record names the
 * content that passed (templates, languages, queues, the checker's code): a set of other content
 * is checked in full, as in production. Returns what `keep` needs, or null (nothing to share).
 */
export function seedInProcessTemplateCheck(config: ConfigInput, dataDir: string): { readonly record: string; readonly dataDir: string; readonly seeded: boolean } | null {
  const store = process.env['CASEGATE_TEST_TEMPLATE_CHECKS'];
  if (store === undefined || store === '') return null;
  const what = checkedWhat(config);
  if (what === null) return null;
  const record = join(store, `in-process-${createHash('sha256').update(JSON.stringify(what)).digest('hex').slice(0, 24)}.json`);
  const seeded = existsSync(record);
  if (seeded) copyRecord(record, dataDir);
  return { record, dataDir, seeded };
}

/** After the context started: the record of the check it ran (its first line: no compiled templates, no instance key), for the next ones. */
export function keepInProcessTemplateCheck(seed: { readonly record: string; readonly dataDir: string; readonly seeded: boolean }): void {
  if (seed.seeded || existsSync(seed.record)) return;
  const written = join(seed.dataDir, 'template-check.json');
  if (!existsSync(written)) return;
  const tmp = `${seed.record}.${process.pid}.tmp`;
  writeFileSync(tmp, `${readFileSync(written, 'utf8').split('\n')[0]!}\n`);
  renameSync(tmp, seed.record);
}

function makeRecord(what: CheckedWhat, record: string, cli: string): boolean {
  const dir = mkdtempSync(`${record}.`);
  try {
    const lines = ['mailboxes:', ...what.queues.flatMap((q, i) => [`  - name: m${i}`, `    addresses: [m${i}@example.com]`, `    queue: ${JSON.stringify(q)}`])];
    if (what.languages !== null) lines.push('templates:', `  languages: ${JSON.stringify(what.languages)}`);
    if (what.defaultLanguage !== null) lines.push('cases:', `  defaultLanguage: ${JSON.stringify(what.defaultLanguage)}`);
    writeFileSync(join(dir, 'casegate.yaml'), lines.join('\n') + '\n');
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir };
    delete env['CASEGATE_CONFIG'];
    const r = spawnSync(process.execPath, [cli, '--config', join(dir, 'casegate.yaml'), 'templates', 'preview', 'confirmation'], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
    const written = join(dir, 'data', 'template-check.json');
    // A configuration the scratch one cannot mirror: no record, the sandbox checks on its own.
    if (r.status !== 0 || !existsSync(written)) return false;
    const tmp = `${record}.${process.pid}.tmp`;
    writeFileSync(tmp, `${readFileSync(written, 'utf8').split('\n')[0]!}\n`);
    renameSync(tmp, record);
    return true;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
