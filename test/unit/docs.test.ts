import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { configSchema } from '../../src/config/schema.js';
import { Metrics } from '../../src/ops/metrics.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { runCliInProcess } from '../helpers/cli-in-process.js';

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
  const out: string[] = [];
  const unwrap = (t: z.ZodType): z.ZodType => {
    for (;;) {
      const def = (t as unknown as { _zod: { def: { type: string; innerType?: z.ZodType; in?: z.ZodType } } })._zod.def;
      if (['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch'].includes(def.type)) t = def.innerType!;
      else if (def.type === 'pipe') t = def.in!;
      else return t;
    }
  };
  const walk = (s: z.ZodType, path: string[]): void => {
    const t = unwrap(s);
    const def = (t as unknown as { _zod: { def: { type: string; shape?: Record<string, z.ZodType>; element?: z.ZodType; valueType?: z.ZodType; options?: z.ZodType[] } } })._zod.def;
    if (def.type === 'object') {
      for (const [k, v] of Object.entries(def.shape!)) walk(v, [...path, k]);
      return;
    }
    if (def.type === 'array' && (unwrap(def.element!) as unknown as { _zod: { def: { type: string } } })._zod.def.type === 'object') {
      walk(def.element!, [...path.slice(0, -1), `${path.at(-1)}[]`]);
      return;
    }
    if (def.type === 'record') {
      walk(def.valueType!, [...path, '<name>']);
      return;
    }
    if (def.type === 'union') {
      const objects = def.options!.filter((o) => (unwrap(o) as unknown as { _zod: { def: { type: string } } })._zod.def.type === 'object');
      if (objects.length > 0) {
        for (const o of objects) walk(o, path);
        return;
      }
    }
    out.push(path.join('.'));
  };
  walk(configSchema, []);
  return [...new Set(out)];
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

  it('cli.md names every command of the CLI', async () => {
    const commandsOf = async (args: string[]): Promise<string[]> => {
      const r = await runCliInProcess([...args, '--help']);
      const section = r.stdout.split(/^Commands:$/m)[1] ?? '';
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

  it('operating.md names every casegate metric /metrics exposes', async () => {
    const names = (await new Metrics('test').registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('casegate_'));
    expect(names.length).toBeGreaterThan(15);
    const doc = read('docs/operating.md');
    expect(names.filter((n) => !doc.includes(`\`${n}`) && !doc.includes(`${n}\``) && !doc.includes(` ${n}`))).toEqual([]);
  });
});
