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
  const c = config as { mailboxes?: { name: string; queue?: string }[]; queues?: Record<string, unknown>; templates?: { dir?: string; languages?: string[] }; cases?: { defaultLanguage?: string } };
  if (c.templates?.dir !== undefined) return;
  const queues = [...new Set([...(c.mailboxes ?? []).map((m) => m.queue ?? m.name), ...Object.keys(c.queues ?? {})])].sort();
  if (queues.length === 0) return;
  const what = { queues, languages: c.templates?.languages ?? null, defaultLanguage: c.cases?.defaultLanguage ?? null };
  const record = join(store, `${createHash('sha256').update(JSON.stringify(what)).digest('hex').slice(0, 24)}.json`);
  if (!existsSync(record) && !makeRecord(what, record, cli)) return;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  copyFileSync(record, join(dataDir, 'template-check.json'));
  chmodSync(join(dataDir, 'template-check.json'), 0o600);
}

function makeRecord(what: { queues: string[]; languages: string[] | null; defaultLanguage: string | null }, record: string, cli: string): boolean {
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
