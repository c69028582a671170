import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { Metrics } from '../../src/ops/metrics.js';
import type { AppContext } from '../../src/context.js';
import { defaultRoutes } from '../../src/web/server.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { runCliInProcess } from '../helpers/cli-in-process.js';
import { tempDir } from '../helpers/temp-dirs.js';

/**
 * The documentation stays true (issue 13, point 10): the README's first screen is two commands and
 * a tour, every page in docs/ is linked from it, every relative link and anchor resolves, every
 * configuration key of the schema is in docs/configuration.md, every command of the CLI in
 * docs/cli.md, every metric in docs/operating.md.
 */

const read = (rel: string): string => readFileSync(join(REPO_ROOT, rel), 'utf8');
const DOCS = readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md'));

/** GitHub's anchor of a heading. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N} -]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(text: string): Set<string> {
  const out = new Set<string>();
  let inCode = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) inCode = !inCode;
    if (inCode) continue;
    const h = /^#{1,6} (.+)$/.exec(line);
    if (h !== null) out.add(slug(h[1]!));
    for (const m of line.matchAll(/<a id="([^"]+)"><\/a>/g)) out.add(m[1]!);
  }
  return out;
}

/** Every key path of the schema: a.b, list[].c, map.<name>.d. */
function schemaKeys(): string[] {
  return [...schemaDefaults().keys()];
}

/**
 * Every key path of the schema with its embedded default, as zod applies it: the default
 * nearest the key, undefined when the key has none of its own (a default computed elsewhere or none).
 */
function schemaDefaults(): Map<string, unknown> {
  type AnyDef = { type: string; innerType?: z.ZodType; in?: z.ZodType; defaultValue?: unknown; shape?: Record<string, z.ZodType>; element?: z.ZodType; valueType?: z.ZodType; options?: z.ZodType[] };
  const defOf = (t: z.ZodType): AnyDef => (t as unknown as { _zod: { def: AnyDef } })._zod.def;
  /** The type behind the wrappers, and the first default on the way. */
  const unwrap = (t: z.ZodType): { t: z.ZodType; dflt: unknown } => {
    let dflt: unknown;
    for (;;) {
      const def = defOf(t);
      if ((def.type === 'default' || def.type === 'prefault') && dflt === undefined) dflt = def.defaultValue;
      if (['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch'].includes(def.type)) t = def.innerType!;
      else if (def.type === 'pipe') t = def.in!;
      else return { t, dflt };
    }
  };
  const out = new Map<string, unknown>();
  const walk = (s: z.ZodType, path: string[]): void => {
    const { t, dflt } = unwrap(s);
    const def = defOf(t);
    if (def.type === 'object') {
      for (const [k, v] of Object.entries(def.shape!)) walk(v, [...path, k]);
      return;
    }
    if (def.type === 'array' && defOf(unwrap(def.element!).t).type === 'object') {
      walk(def.element!, [...path.slice(0, -1), `${path.at(-1)}[]`]);
      return;
    }
    if (def.type === 'record') {
      walk(def.valueType!, [...path, '<name>']);
      return;
    }
    if (def.type === 'union') {
      const objects = def.options!.filter((o) => defOf(unwrap(o).t).type === 'object');
      if (objects.length > 0) {
        for (const o of objects) walk(o, path);
        return;
      }
    }
    const key = path.join('.');
    if (out.get(key) === undefined) out.set(key, dflt);
  };
  walk(configSchema, []);
  return out;
}

/** `casegate <args> --help`, run once per file (in-process) for the tests that read it. */
const helpTexts = new Map<string, Promise<string>>();
function cliHelp(args: readonly string[]): Promise<string> {
  const key = args.join(' ');
  let text = helpTexts.get(key);
  if (text === undefined) helpTexts.set(key, (text = runCliInProcess([...args, '--help']).then((r) => r.stdout)));
  return text;
}

/** The rows of cli.md's table: the syntax cell (first column) of each command. */
function cliRows(doc: string): string[] {
  return [...doc.matchAll(/^\| `(casegate [^`]+)` \|/gm)].map((m) => m[1]!.replace(/\\\|/g, '|'));
}

/** Whether a syntax cell of cli.md is the row of `command` ("cases resolve", "status"). */
function rowIsFor(row: string, command: string): boolean {
  const [top, sub] = command.split(' ') as [string, string | undefined];
  const words = row.slice('casegate '.length).split(' ');
  if (words[0] !== top) return false;
  if (sub === undefined) return words.length === 1 || !/^[a-z][a-z-]*(\|[a-z-]+)*$/.test(words[1]!) || words[1] === words[1]!.toUpperCase();
  return words[1] !== undefined && words[1].split('|').includes(sub);
}

/** Every ```yaml block of README.md and docs/*.md: where it is and its text (dedented). */
function yamlBlocks(): { at: string; text: string; indent: number }[] {
  const out: { at: string; text: string; indent: number }[] = [];
  for (const page of ['README.md', ...DOCS.map((d) => `docs/${d}`)]) {
    const lines = read(page).split('\n');
    for (let i = 0; i < lines.length; i++) {
      const open = /^(\s*)```yaml\s*$/.exec(lines[i]!);
      if (open === null) continue;
      const body: string[] = [];
      let j = i + 1;
      for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]!); j++) body.push(lines[j]!.slice(open[1]!.length));
      const indent = Math.min(...body.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length));
      out.push({ at: `${page}:${i + 1}`, text: body.map((l) => l.slice(indent)).join('\n'), indent });
      i = j;
    }
  }
  return out;
}

/** `over` on top of `base`: maps merged key by key, anything else (lists too) replaced. */
function merged(base: unknown, over: unknown): unknown {
  if (base === null || over === null || typeof base !== 'object' || typeof over !== 'object' || Array.isArray(base) || Array.isArray(over)) return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) out[k] = merged(out[k], v);
  return out;
}

describe('README', () => {
  const readme = read('README.md');

  it('opens with two commands and a one-minute tour, and stays short', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(firstBlock.trim().split('\n')).toHaveLength(2);
    expect(firstBlock).toMatch(/^npm install && npm start/m);
    expect(firstBlock).toMatch(/^npm ci && npm test/m);
    expect(readme.split('\n').length).toBeLessThan(80);
    expect(readme).toMatch(/casegate cases list/);
  });

  it('links every page in docs/, and every link it has resolves', () => {
    const linked = [...readme.matchAll(/\]\(docs\/([^)#]+)\)/g)].map((m) => m[1]!);
    expect(new Set(linked)).toEqual(new Set(DOCS));
  });
});

describe('docs/', () => {
  it.each(['README.md', ...DOCS.map((d) => `docs/${d}`)])('every relative link and anchor in %s resolves', (page) => {
    const text = read(page);
    const broken: string[] = [];
    let inCode = false;
    for (const line of text.split('\n')) {
      if (line.startsWith('```')) inCode = !inCode;
      if (inCode) continue;
      for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) {
        const href = m[1]!;
        if (/^[a-z]+:/.test(href)) continue;
        const [file, anchor] = href.split('#') as [string, string | undefined];
        const target = file === '' ? join(REPO_ROOT, page) : resolve(dirname(join(REPO_ROOT, page)), file);
        if (!existsSync(target)) {
          broken.push(href);
          continue;
        }
        if (anchor !== undefined && target.endsWith('.md') && !anchorsOf(readFileSync(target, 'utf8')).has(anchor)) broken.push(href);
      }
    }
    expect(broken).toEqual([]);
  });

  it('configuration.md lists every key of the schema (and no key the schema lacks)', () => {
    const doc = read('docs/configuration.md');
    const table = new Set([...doc.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!));
    const keys = schemaKeys();
    expect(keys.length).toBeGreaterThan(150);
    expect(keys.filter((k) => !table.has(k))).toEqual([]);
    expect([...table].filter((k) => !keys.includes(k))).toEqual([]);
  });

  it('configuration.md gives each key the default the schema applies', () => {
    const doc = read('docs/configuration.md');
    const documented = new Map([...doc.matchAll(/^\| `([^`]+)` \| ([^|]*) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]));
    /** Keys whose default is worked out from other keys, not written in the schema (the table says what it comes to). */
    const derived: Record<string, string> = { 'database.driver': '"sqlite"' };
    const defaults = schemaDefaults();
    expect(defaults.size).toBeGreaterThan(150);
    const wrong = [...defaults]
      .map(([key, dflt]) => ({ key, table: documented.get(key), schema: derived[key] ?? (dflt === undefined ? '—' : JSON.stringify(dflt)) }))
      .filter((r) => r.table !== undefined && r.table !== r.schema);
    expect(wrong).toEqual([]);
  });

  it('cli.md shows every option of every command, and no option a command lacks', async () => {
    const help = cliHelp;
    const sectionLines = (text: string, title: string): string[] => (text.split(new RegExp(`^${title}:$`, 'm'))[1] ?? '').split(/\n(?=\S)/)[0]!.split('\n');
    const commandsIn = (text: string): string[] => sectionLines(text, 'Commands').map((l) => /^ {2}([a-z][a-z-]*)/.exec(l)?.[1]).filter((c): c is string => c !== undefined && c !== 'help');
    const optionsIn = (text: string): string[] => sectionLines(text, 'Options').map((l) => /^ {2}(?:-[a-zA-Z], )?(--[a-z][a-z-]*)/.exec(l)?.[1]).filter((o): o is string => o !== undefined && o !== '--help');
    const options = new Map<string, string[]>();
    const top = await help([]);
    for (const name of commandsIn(top)) {
      const text = await help([name]);
      options.set(name, optionsIn(text));
      for (const sub of commandsIn(text)) options.set(`${name} ${sub}`, optionsIn(await help([name, sub])));
    }
    expect(options.size).toBeGreaterThan(50);
    const rows = cliRows(read('docs/cli.md'));
    const problems: string[] = [];
    for (const [command, opts] of options) {
      const mine = rows.filter((r) => rowIsFor(r, command));
      // A group with commands of its own and no row (cases, outbox …) has no options of its own either.
      if (mine.length === 0) {
        if (opts.length > 0 || ![...options.keys()].some((c) => c.startsWith(`${command} `))) problems.push(`${command}: no row`);
        continue;
      }
      const shown = new Set(mine.flatMap((r) => [...r.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0])));
      for (const o of opts) if (!shown.has(o)) problems.push(`${command}: ${o} not in cli.md`);
      for (const o of shown) if (!opts.includes(o)) problems.push(`${command}: cli.md shows ${o}, which the command does not take`);
    }
    expect(problems).toEqual([]);
  }, 120_000);

  it('cli.md names every command of the CLI', async () => {
    const commandsOf = async (args: string[]): Promise<string[]> => {
      const section = (await cliHelp(args)).split(/^Commands:$/m)[1] ?? '';
      return section
        .split('\n')
        .map((l) => /^ {2}(\S+)/.exec(l)?.[1])
        .filter((c): c is string => c !== undefined && c !== 'help');
    };
    const all: string[] = [];
    for (const top of await commandsOf([])) {
      const subs = await commandsOf([top]);
      if (subs.length === 0) all.push(top);
      else all.push(...subs.map((s) => `${top} ${s}`));
    }
    expect(all).toEqual(expect.arrayContaining(['start', 'ingest', 'status', 'backup', 'restore', 'purge', 'import', 'cases list', 'outbox retry']));
    const doc = read('docs/cli.md');
    expect(all.filter((c) => !doc.includes(`\`casegate ${c}`) && !doc.includes(`\`casegate ${c.split(' ')[0]} ${c.split(' ')[1]}\\|`) && !new RegExp(`\`casegate ${c.split(' ')[0]} [a-z|\\\\]*${c.split(' ')[1] ?? ''}`).test(doc))).toEqual([]);
  }, 120_000);

  it('every configuration example in the docs is valid: each block, put into the shipped example as an admin would, loads', () => {
    const example = parseYaml(read('config/casegate.example.yaml')) as Record<string, unknown>;
    const topKeys = new Set(Object.keys((configSchema as unknown as { shape: Record<string, unknown> }).shape));
    const env = { CASEGATE_SECRET: 'x'.repeat(32), SMTP_PASSWORD: 'pw', IMAP_PASSWORD: 'pw', SUPPORT_IMAP_PASSWORD: 'pw', CASEGATE_DB_PASSWORD: 'pw', IMAP_PW: 'pw' };
    const checked: string[] = [];
    const other: string[] = [];
    const problems: string[] = [];
    // One data directory for all: the regular expressions' verdicts are cached there, checked once.
    const dataDir = join(tempDir('casegate-docs-yaml-'), 'data');
    for (const block of yamlBlocks()) {
      let value: unknown;
      try {
        // A secret the admin keeps in a file of their own machine: stood in for by a variable.
        value = parseYaml(block.text.replace(/\$\{file:([^}]+)\}/g, '$${SMTP_PASSWORD}'));
      } catch (e) {
        problems.push(`${block.at}: ${(e as Error).message.split('\n')[0]!}`);
        continue;
      }
      // A mailbox's imap block shown on its own (indented as inside a mailbox): the first mailbox's.
      if (block.indent > 0 && value !== null && typeof value === 'object' && 'imap' in value) value = { mailboxes: [{ ...((example['mailboxes'] as object[])[0]), ...value }] };
      const keys = value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : [];
      if (!keys.some((k) => topKeys.has(k))) {
        other.push(block.at);
        continue;
      }
      checked.push(block.at);
      const dir = tempDir('casegate-docs-yaml-');
      const f = join(dir, 'casegate.yaml');
      writeFileSync(f, stringifyYaml(merged(merged(example, value), { dataDir })));
      try {
        loadConfig({ path: f, env });
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        problems.push(`${block.at}: ${e.message}`);
      }
    }
    expect(checked.length).toBeGreaterThan(8);
    expect(problems).toEqual([]);
    // What is not a casegate configuration is Prometheus's (a scrape job, alert rules).
    for (const at of other) expect(yamlBlocks().find((b) => b.at === at)!.text, at).toMatch(/^(scrape_configs:|- alert:)/);
  });

  it('business-time.md lists every address the web server answers (and none it does not)', () => {
    // Building the routes asks the context for a logger only.
    const ctx = { log: { child: () => ({}) } } as unknown as AppContext;
    // ^\/s\/(?<token>[^/]+)\/unsubscribe$ → /s/<>/unsubscribe
    const served = new Set(defaultRoutes(ctx).map((r) => r.pattern.source.replace(/^\^|\$$/g, '').replace(/\(\?<\w+>\[\^\/\]\+\)/g, '<>').replace(/\\\//g, '/')));
    expect([...served].every((p) => /^\/[\w/<>-]*$/.test(p)), [...served].join(' ')).toBe(true);
    const section = read('docs/business-time.md').split("## The customer's case page")[1]!.split('\n## ')[0]!;
    // The list items: - `/c/<signed link>`: …
    const documented = new Set([...section.matchAll(/^- `(\/[^`]*)`/gm)].map((m) => m[1]!.replace(/<[^>]*>/g, '<>')));
    expect([...served].filter((p) => !documented.has(p)), 'served, not in business-time.md').toEqual([]);
    expect([...documented].filter((p) => !served.has(p)), 'in business-time.md, not served').toEqual([]);
  });

  it('no PostgreSQL URL of the docs or the example asks for an sslmode casegate\'s driver does not do as written', () => {
    // node-postgres verifies the certificate and the host name for require, prefer and verify-ca
    // too (and Node warns on every start): a private CA then stopped casegate. The docs write
    // verify-full (with sslrootcert for a private CA), or disable.
    const texts = ['README.md', 'config/casegate.example.yaml', ...DOCS.map((d) => `docs/${d}`)];
    const found = texts.flatMap((f) => [...read(f).matchAll(/sslmode=(require|prefer|verify-ca|allow)\b/g)].map((m) => `${f}: ${m[0]}`));
    expect(found).toEqual([]);
  });

  it('operating.md names every casegate metric /metrics exposes', async () => {
    const names = (await new Metrics('test').registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('casegate_'));
    expect(names.length).toBeGreaterThan(15);
    const doc = read('docs/operating.md');
    expect(names.filter((n) => !doc.includes(`\`${n}`) && !doc.includes(`${n}\``) && !doc.includes(` ${n}`))).toEqual([]);
  });
});
