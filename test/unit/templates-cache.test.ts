/**
 * The daemon's start and one-shot commands reuse a template set whose exact content already
 * passed the checks (issue 12: no trial renders outside `templates check` and reloads). A changed
 * file, language or queue is checked again — a broken edit is never trusted because an older
 * version passed. The daemon's start itself: test/cli/startup.test.ts.
 */
import { createHmac } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sampleTemplateData } from '../../src/mail-out/template-data.js';
import { hb } from '../../src/mail-out/template-helpers.js';
import { TEMPLATE_BUILDS_KEPT } from '../../src/mail-out/template-folder.js';
import { loadTemplates, TemplateCheckError, templateCheckCache, type TemplateEngineOptions } from '../../src/mail-out/templates.js';

const SHIPPED = fileURLToPath(new URL('../../templates', import.meta.url));
const dirs: string[] = [];

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fresh(): { templates: string; data: string } {
  const root = mkdtempSync(join(tmpdir(), 'casegate-template-cache-'));
  dirs.push(root);
  cpSync(SHIPPED, join(root, 'templates'), { recursive: true });
  // Content of its own: sets checked by other tests in this process are not this one.
  const footer = join(root, 'templates', 'partials', 'footer.text.hbs');
  writeFileSync(footer, `${readFileSync(footer, 'utf8')}{{!-- ${root} --}}`);
  return { templates: join(root, 'templates'), data: join(root, 'data') };
}

/** Load and report whether the checks ran (from the "email templates loaded" log line). */
function load(templates: string, data: string, more: Partial<TemplateEngineOptions> = {}): { checked: boolean; subject: string } {
  const lines: { msg: string; checked?: boolean }[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string; checked?: boolean }) });
  const engine = loadTemplates({ dir: templates, defaultLanguage: 'en', languages: ['en', 'de'], queues: ['billing'], watch: false, log, check: 'cached', cacheFile: templateCheckCache(data), ...more });
  try {
    const loaded = lines.find((l) => l.msg === 'email templates loaded');
    return { checked: loaded?.checked === true, subject: engine.render('confirmation', sampleTemplateData('confirmation'), { language: 'en' }).subject };
  } finally {
    engine.close();
  }
}

describe('checked template sets are reused by content', () => {
  it('checks a new folder once, remembers it in the data directory, then reuses it', () => {
    const { templates, data } = fresh();
    expect(existsSync(templateCheckCache(data))).toBe(false);
    const first = load(templates, data);
    expect(first.checked).toBe(true);
    const cache = JSON.parse(readFileSync(templateCheckCache(data), 'utf8')) as { hash: string; files: number };
    expect(cache.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(cache.files).toBeGreaterThan(100);
    const second = load(templates, data);
    expect(second).toEqual({ checked: false, subject: first.subject });
  });

  it('checks again when a file changes, and refuses a broken edit although the old content passed', () => {
    const { templates, data } = fresh();
    expect(load(templates, data).checked).toBe(true);
    const file = join(templates, 'confirmation.subject.hbs');
    writeFileSync(file, '{{case.tag}} Received: {{case.subjet}}');
    expect(() => load(templates, data)).toThrow(TemplateCheckError);
    try {
      load(templates, data);
    } catch (err) {
      expect((err as TemplateCheckError).problems.map((p) => `${p.file} ${p.message}`)).toEqual([
        'confirmation.subject.hbs Unknown variable "case.subjet" (did you mean "case.subject"?)',
      ]);
    }
    writeFileSync(file, '{{case.tag}} Received: {{case.subject}}');
    const fixed = load(templates, data);
    expect(fixed.checked).toBe(true);
    expect(fixed.subject).toBe('[Case #10042] Received: Cannot log in since this morning');
    expect(load(templates, data).checked).toBe(false);
  });

  it('a template compiled once is not compiled again in this process: a reload or another set reuses it, a changed file is compiled', () => {
    const { templates, data } = fresh();
    const precompile = vi.spyOn(hb, 'precompile');
    const compile = vi.spyOn(hb, 'compile');
    try {
      // Full checks (a reload, `templates check`): each file precompiled once in this process (the
      // shipped files may have been by an earlier test; this folder's footer is its own), then none again.
      expect(load(templates, data, { check: 'full', cacheFile: null }).checked).toBe(true);
      const files = precompile.mock.calls.length;
      expect(files).toBeGreaterThanOrEqual(1);
      expect(precompile.mock.calls.some(([source]) => String(source).includes(dirname(templates)))).toBe(true);
      expect(load(templates, data, { check: 'full', cacheFile: null }).checked).toBe(true);
      expect(precompile.mock.calls.length).toBe(files);
      // One file edited: that file alone is compiled again.
      const footer = join(templates, 'partials', 'footer.text.hbs');
      writeFileSync(footer, `${readFileSync(footer, 'utf8')}{{!-- edited --}}`);
      const edited = load(templates, data, { check: 'full', cacheFile: null });
      expect(precompile.mock.calls.length).toBe(files + 1);
      // Sets reused without a check compile what they render at the first render (no cached code
      // without a key): the first such set compiles what this process has not (the edited footer
      // at least), the next none.
      compile.mockClear();
      expect(load(templates, data, { cacheKey: null })).toEqual({ checked: false, subject: edited.subject });
      const rendered = compile.mock.calls.length;
      expect(compile.mock.calls.some(([source]) => String(source).includes('{{!-- edited --}}'))).toBe(true);
      expect(load(templates, data, { cacheKey: null })).toEqual({ checked: false, subject: edited.subject });
      expect(compile.mock.calls.length).toBe(rendered);
    } finally {
      precompile.mockRestore();
      compile.mockRestore();
    }
  });

  it('checks again when the fallback chains change (a language, a queue with a folder of its own), not for a queue that has none', () => {
    const { templates, data } = fresh();
    expect(load(templates, data).checked).toBe(true);
    // Neither billing nor sales has a folder: both fall back to the base set, as before.
    expect(load(templates, data, { queues: ['billing', 'sales'] }).checked).toBe(false);
    expect(load(templates, data, { languages: ['en', 'de', 'fr'] }).checked).toBe(true);
    // A folder of its own for sales: checked with sales configured …
    mkdirSync(join(templates, 'sales'));
    writeFileSync(join(templates, 'sales', 'confirmation.subject.hbs'), '{{case.tag}} Sales got it: {{case.subject}}');
    const sales = load(templates, data, { queues: ['billing', 'sales'] });
    expect(sales.checked).toBe(true);
    expect(load(templates, data, { queues: ['billing', 'sales', 'support'] }).checked).toBe(false);
    // … and refused without it, although the same files passed a moment ago.
    expect(() => load(templates, data, { queues: ['billing'] })).toThrow(/"sales"/);
  });

  it('a template parsed once is not parsed again in this process: a reload parses only the file that changed', () => {
    const { templates, data } = fresh();
    const parse = vi.spyOn(hb, 'parse');
    try {
      expect(load(templates, data, { check: 'full', cacheFile: null }).checked).toBe(true);
      parse.mockClear();
      expect(load(templates, data, { check: 'full', cacheFile: null }).checked).toBe(true);
      expect(parse.mock.calls.length).toBe(0);
      const footer = join(templates, 'partials', 'footer.text.hbs');
      writeFileSync(footer, `${readFileSync(footer, 'utf8')}{{!-- parsed again --}}`);
      expect(load(templates, data, { check: 'full', cacheFile: null }).checked).toBe(true);
      // The edited footer and nothing else: by the checker, and by Handlebars' precompile, which parses for itself.
      const sources = parse.mock.calls.map(([source]) => String(source));
      expect(sources.length).toBeGreaterThan(0);
      expect(sources.filter((source) => !source.includes('parsed again'))).toEqual([]);
    } finally {
      parse.mockRestore();
    }
  });

  it('an edited template is not kept in every version: one no recent build used is parsed and compiled again when it comes back', () => {
    // An admin edits the footer and reloads, again and again. Every version stayed parsed and
    // compiled in the process (~150 KB of heap per edit of a shipped file) until 1,000 were kept.
    const { templates, data } = fresh();
    const footer = join(templates, 'partials', 'footer.text.hbs');
    const original = readFileSync(footer, 'utf8');
    const version = (i: number): string => `${original}{{!-- edit ${i} --}}`;
    const precompile = vi.spyOn(hb, 'precompile');
    const parse = vi.spyOn(hb, 'parse');
    const full = { check: 'full', cacheFile: null } as const;
    try {
      expect(load(templates, data, full).checked).toBe(true);
      for (let i = 1; i <= TEMPLATE_BUILDS_KEPT; i++) {
        writeFileSync(footer, version(i));
        expect(load(templates, data, full).checked).toBe(true);
      }
      const made = (source: string): { parsed: number; compiled: number } => ({
        parsed: parse.mock.calls.filter(([s]) => s === source).length,
        compiled: precompile.mock.calls.filter(([s]) => s === source).length,
      });
      parse.mockClear();
      precompile.mockClear();
      // The original: last used TEMPLATE_BUILDS_KEPT + 1 builds ago — forgotten, made again.
      writeFileSync(footer, original);
      expect(load(templates, data, full).checked).toBe(true);
      expect(made(original).compiled).toBe(1);
      expect(made(original).parsed).toBeGreaterThanOrEqual(1);
      // A version one of the last builds used is still shared (as every unchanged file is).
      writeFileSync(footer, version(TEMPLATE_BUILDS_KEPT - 1));
      expect(load(templates, data, full).checked).toBe(true);
      expect(made(version(TEMPLATE_BUILDS_KEPT - 1))).toEqual({ parsed: 0, compiled: 0 });
    } finally {
      precompile.mockRestore();
      parse.mockRestore();
    }
  });

  it("'full' (template reloads, templates check) always checks", () => {
    const { templates, data } = fresh();
    expect(load(templates, data).checked).toBe(true);
    expect(load(templates, data, { check: 'full' }).checked).toBe(true);
    expect(load(templates, data).checked).toBe(false);
  });

  it('a cache file from another content or a corrupt one only costs a full check', () => {
    const { templates, data } = fresh();
    load(templates, data);
    writeFileSync(templateCheckCache(data), '{"hash":"0000"}');
    const other = fresh();
    expect(load(other.templates, other.data).checked).toBe(true);
    writeFileSync(templateCheckCache(other.data), 'not json');
    expect(load(other.templates, other.data).checked).toBe(false); // checked in this process: the file is rewritten
    expect(JSON.parse(readFileSync(templateCheckCache(other.data), 'utf8'))).toMatchObject({ hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });
});

describe('the compiled templates kept in the cache, signed with the instance secret', () => {
  const KEY = 'instance-secret-0123456789abcdef-0123456789';
  const SUBJECT = 'raw:confirmation.subject.hbs';
  const lines = (data: string): string[] => readFileSync(templateCheckCache(data), 'utf8').trimEnd().split('\n');
  const mac = (key: string, hash: string, templateKey: string, code: string): string =>
    createHmac('sha256', `casegate-template-cache:${key}`).update(`${hash}\n${templateKey}\n`).update(code).digest('hex');
  /** Rewrite the compiled code of one template in the cache file (signed with `signWith`, or keeping the old signature). */
  function edit(data: string, templateKey: string, change: (code: string) => string, signWith: string | null): void {
    const all = lines(data);
    const hash = (JSON.parse(all[0]!) as { hash: string }).hash;
    const i = all.findIndex((l) => l.startsWith(`${templateKey}\t`));
    expect(i).toBeGreaterThan(0);
    const [k, oldMac, json] = all[i]!.split('\t') as [string, string, string];
    const code = change(JSON.parse(json) as string);
    all[i] = `${k}\t${signWith === null ? oldMac : mac(signWith, hash, k, code)}\t${JSON.stringify(code)}`;
    writeFileSync(templateCheckCache(data), all.join('\n') + '\n');
  }

  it('the check keeps every compiled template; a one-shot command runs that code — only where its HMAC verifies', () => {
    const { templates, data } = fresh();
    const first = load(templates, data, { cacheKey: KEY });
    expect(first.checked).toBe(true);
    const kept = lines(data).slice(1);
    expect(kept.length).toBeGreaterThan(100);
    expect(kept.every((l) => /^(raw|html):[^\t]+\t[0-9a-f]{64}\t"/.test(l))).toBe(true);

    // The same output from the kept code as from the sources.
    expect(load(templates, data, { cacheKey: KEY })).toEqual({ checked: false, subject: first.subject });

    // The kept code is what runs: a change signed with the key shows in the subject…
    edit(data, SUBJECT, (code) => code.replace(' Re: ', ' Signed change: '), KEY);
    expect(load(templates, data, { cacheKey: KEY }).subject).toContain('Signed change');
    // …but not for an instance with another secret, nor without one: the sources are compiled.
    expect(load(templates, data, { cacheKey: 'another-secret-0123456789abcdef-0123456789' }).subject).toBe(first.subject);
    expect(load(templates, data).subject).toBe(first.subject);

    // A change without a valid signature is never run.
    edit(data, SUBJECT, (code) => code.replace('Signed change', 'Unsigned change'), null);
    const tampered = load(templates, data, { cacheKey: KEY });
    expect(tampered).toEqual({ checked: false, subject: first.subject });
  });

  it('a check without the key keeps no code, and leaves code kept with the key in place', () => {
    const { templates, data } = fresh();
    load(templates, data);
    expect(lines(data)).toHaveLength(1);
    // The next check with the key adds the code; one without it does not drop it.
    expect(load(templates, data, { check: 'full', cacheKey: KEY }).checked).toBe(true);
    const withCode = lines(data).length;
    expect(withCode).toBeGreaterThan(100);
    expect(load(templates, data, { check: 'full' }).checked).toBe(true);
    expect(lines(data)).toHaveLength(withCode);
  });
});
