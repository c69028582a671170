/**
 * Template engine for every outgoing email. The only module that imports handlebars.
 *
 * Files in the template folder (paths relative to it):
 *
 *   <kind>.subject.hbs, <kind>.text.hbs, <kind>.html.hbs   one set per kind (template-data.ts)
 *   layouts/default.text.hbs, layouts/default.html.hbs      wrap the body of customer mail: {{{body}}}
 *   layouts/staff.text.hbs, layouts/staff.html.hbs          wrap the body of mail to agents, leads, admins
 *   partials/<name>.hbs                                      {{> name}} in every part
 *   partials/<name>.text.hbs / .html.hbs / .subject.hbs      variant for that part only
 *
 * Overrides live in folders with the same structure: `<lang>/…`, `<queue>/…` and `<queue>/<lang>/…`.
 * A top-level folder is a language folder if its name is a configured language (or the default
 * language), otherwise it must be a configured queue. Any other folder or file name is reported.
 *
 * Fallback chain for every file (kind parts, partials and layouts alike), most specific first:
 *
 *   1. <queue>/<lang>/X
 *   2. <queue>/X
 *   3. <lang>/X
 *   4. X                      (the base set: every kind needs all three parts here, plus every layout)
 *
 * where <lang> is the case's language if it is configured (exact, case-insensitive, or by its
 * primary subtag: "de-AT" → "de"), otherwise the default language; and <queue> is the case's
 * queue if it is configured (otherwise steps 1–2 are skipped). A partial is looked up along that
 * chain; within one folder the part variant wins over the plain file
 * (partials/<name>.<part>.hbs before partials/<name>.hbs), but a more specific folder always wins
 * over a variant in a less specific one.
 *
 * Rendering: subject and text parts are rendered without HTML escaping, the html part with
 * escaping. The subject is flattened to one line (control characters → spaces, collapsed,
 * trimmed, at most 250 characters); the text part gets \n line endings (also for U+2028/U+2029),
 * no other control characters but tabs, and at most two blank lines in a row. Text and html bodies are wrapped in the layout of the kind's audience (declared in
 * template-data.ts) for their part, which receives the kind's data plus `body`, and @subject (the
 * finished subject line).
 *
 * Checks (at load, on every reload and by check()), each reported with file and line:
 *   - syntax errors; misplaced or unknown files and folders; missing base parts or layouts;
 *   - every variable path is checked against the kind's declaration (template-data.ts), following
 *     #each (item type, @index/@first/@last/@key, block params), #with, #if/#unless, ../ and @root;
 *     partials are checked at each call site, in the caller's context;
 *   - printing a whole object or list; unknown helpers and wrong helper arity;
 *   - missing partials, partial recursion; partial blocks, inline partials and decorators are not
 *     supported (keeps templates simple to read for admins);
 *   - raw output ({{{x}}} or {{& x}}) in HTML is only allowed for {{{body}}} in the HTML layout;
 *   - a trial render of every kind for every queue/language combination with the declared
 *     example data: text and html must begin with the reply marker.
 *
 * Helpers (templateHelpers documents them for admins): eq a b (→ boolean, for
 * {{#if (eq case.priority "high")}}), join list [separator] (default ", "), formatDate iso
 * [format="dd.MM.yyyy"] [zone="Europe/Berlin"] [locale="de"] (default: medium date and time in the
 * template language, in the timestamp's own offset), duration minutes [locale="de"] (words in
 * the template language), paragraphs text [style="…"] (html parts only: escaped text as <p>s
 * with <br> for line breaks; the one helper that returns markup, built from escaped text only).
 * Besides the declared data, templates can use @language: the language of the chosen templates
 * (the case's language if configured, else the default language).
 *
 * Hot reload (watch: true): every folder is watched with a non-recursive fs.watch (the set of
 * watched folders is re-synced after each reload, so new override folders are picked up); changes
 * are debounced by 100 ms, then everything is rebuilt and checked. A set with problems is logged
 * at error level, one line per problem, and the previous set stays in use.
 * Files and folders starting with "." and files not ending in .hbs are ignored.
 */
import { readdirSync, readFileSync, watch, type Dirent, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { DateTime, Duration } from 'luxon';
import type { Logger } from '../log.js';
import {
  isTemplateName,
  sampleTemplateData,
  templateLayout,
  templateLayouts,
  templateNames,
  templateVariables,
  type TemplateDataMap,
  type TemplateLayout,
  type TemplateName,
  type VarFields,
  type VarSpec,
} from './template-data.js';

export type { TemplateDataMap, TemplateName } from './template-data.js';

// ---------------------------------------------------------------------------------------------
// Public API

export interface RenderedEmail {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

export interface TemplateProblem {
  /** Path relative to the template folder ("de/confirmation.text.hbs"); "." for the folder itself. */
  readonly file: string;
  readonly line: number | null;
  readonly message: string;
}

export interface TemplateEngineOptions {
  readonly dir: string;
  readonly defaultLanguage: string;
  readonly languages: readonly string[];
  readonly queues: readonly string[];
  readonly watch: boolean;
  readonly log: Logger;
}

export interface RenderTarget {
  readonly language?: string | undefined;
  readonly queue?: string | undefined;
}

export interface TemplateEngine {
  render<N extends TemplateName>(name: N, data: TemplateDataMap[N], target: RenderTarget): RenderedEmail;
  /** Re-read the folder from disk and check everything, without swapping it in. */
  check(): TemplateProblem[];
  /** Stop watching (idempotent). */
  close(): void;
}

export class TemplateCheckError extends Error {
  readonly problems: TemplateProblem[];

  constructor(problems: TemplateProblem[]) {
    super(
      `email templates have ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n` +
        problems.map((p) => `  ${formatProblem(p)}`).join('\n'),
    );
    this.name = 'TemplateCheckError';
    this.problems = problems;
  }
}

/** "de/confirmation.text.hbs:12 Unknown variable …" */
export function formatProblem(p: TemplateProblem): string {
  return `${p.file}${p.line !== null ? `:${p.line}` : ''} ${p.message}`;
}

/** Load, check and compile the folder; throws TemplateCheckError listing every problem. */
export function loadTemplates(opts: TemplateEngineOptions): TemplateEngine {
  const first = build(opts);
  if (first.set === null) throw new TemplateCheckError(first.problems);
  opts.log.info({ dir: opts.dir, files: first.set.fileCount }, 'email templates loaded');
  return new Engine(opts, first.set, first.dirs);
}

/**
 * The language whose templates a target gets: the requested one if configured (exact,
 * case-insensitive or by its primary subtag), else the default language.
 */
export function templateLanguage(requested: string | undefined, opts: Pick<TemplateEngineOptions, 'defaultLanguage' | 'languages'>): string {
  return pickLanguage(requested, configOf({ ...opts, dir: '', queues: [] }));
}

/** Check the folder without loading it (for `casegate check` and tests). */
export function checkTemplateDir(opts: Omit<TemplateEngineOptions, 'watch' | 'log'>): TemplateProblem[] {
  return build(opts).problems;
}

// ---------------------------------------------------------------------------------------------
// Output normalisation

const SUBJECT_MAX = 250;

export function cleanSubject(raw: string): string {
  const flat = raw
    .replace(/[\p{Cc}\u2028\u2029]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const chars = Array.from(flat);
  return chars.length <= SUBJECT_MAX ? flat : chars.slice(0, SUBJECT_MAX).join('').trimEnd();
}

export function cleanText(raw: string): string {
  return (
    raw
      .replace(/\r\n?|[\u2028\u2029]/g, '\n')
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '')
      .replace(/\n(?:[ \t]*\n){3,}/g, '\n\n\n')
      .replace(/^(?:[ \t]*\n)+/, '')
      .trimEnd() + '\n'
  );
}

// ---------------------------------------------------------------------------------------------
// Handlebars environment and helpers

type Part = 'subject' | 'text' | 'html';
type LayoutPart = 'text' | 'html';
const PARTS: readonly Part[] = ['subject', 'text', 'html'];
const LAYOUT_PARTS: readonly LayoutPart[] = ['text', 'html'];
const layoutFile = (layout: TemplateLayout, part: LayoutPart): string => `layouts/${layout}.${part}.hbs`;
const LAYOUT_LIST = templateLayouts.map((l) => `layouts/${l}.text.hbs, layouts/${l}.html.hbs`).join(', ');

type Delegate = Handlebars.TemplateDelegate<object>;
type Ast = hbs.AST.Program;

const hb = Handlebars.create();

function caseLanguage(root: unknown): string | undefined {
  if (typeof root !== 'object' || root === null || !('case' in root)) return undefined;
  const c: unknown = root.case;
  if (typeof c !== 'object' || c === null || !('language' in c)) return undefined;
  return typeof c.language === 'string' && c.language !== '' ? c.language : undefined;
}

function hashOf(options: unknown): Record<string, unknown> {
  if (typeof options === 'object' && options !== null && 'hash' in options) {
    const h: unknown = options.hash;
    if (typeof h === 'object' && h !== null) return h as Record<string, unknown>;
  }
  return {};
}

hb.registerHelper('eq', (a: unknown, b: unknown): boolean => a === b);

hb.registerHelper('join', (list: unknown, separator: unknown): string => {
  if (!Array.isArray(list)) return '';
  return list.map((v) => String(v)).join(typeof separator === 'string' ? separator : ', ');
});

/** Locale for a helper: its locale="…" option, else @language, else the case's language, else en. */
function helperLocale(options: Handlebars.HelperOptions, hash: Record<string, unknown>): string {
  if (typeof hash.locale === 'string') return hash.locale;
  const data: unknown = options.data;
  if (typeof data === 'object' && data !== null) {
    if ('language' in data && typeof data.language === 'string') return data.language;
    if ('root' in data) return caseLanguage(data.root) ?? 'en';
  }
  return 'en';
}

hb.registerHelper('formatDate', (value: unknown, options: Handlebars.HelperOptions): string => {
  if (typeof value !== 'string' || value === '') return '';
  const hash = hashOf(options);
  const locale = helperLocale(options, hash);
  let dt = DateTime.fromISO(value, { setZone: true });
  if (typeof hash.zone === 'string') dt = dt.setZone(hash.zone);
  if (!dt.isValid) return value;
  dt = dt.setLocale(locale);
  return typeof hash.format === 'string'
    ? dt.toFormat(hash.format)
    : dt.toLocaleString({ ...DateTime.DATETIME_MED, timeZoneName: 'short' });
});

/** Minutes as words in the template language: 95 → "1 hour, 35 minutes" / "1 Stunde und 35 Minuten". */
hb.registerHelper('duration', (value: unknown, options: Handlebars.HelperOptions): string => {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '';
  const total = Math.round(Math.abs(value));
  const parts: Record<string, number> = {};
  const days = Math.floor(total / 1440);
  const hours = Math.floor((total % 1440) / 60);
  const minutes = total % 60;
  if (days > 0) parts.days = days;
  if (hours > 0) parts.hours = hours;
  if (minutes > 0 || total === 0) parts.minutes = minutes;
  return Duration.fromObject(parts, { locale: helperLocale(options, hashOf(options)) }).toHuman({ listStyle: 'long' });
});

const PARAGRAPH_STYLE = 'margin:0 0 16px 0;';

/**
 * Plain text → HTML paragraphs, for the html part: every line is escaped, blank lines separate
 * <p>s, single line breaks become <br>. The only helper that returns markup, and it is built from
 * escaped text only.
 */
hb.registerHelper('paragraphs', (value: unknown, options: Handlebars.HelperOptions): Handlebars.SafeString => {
  if (typeof value !== 'string') return new hb.SafeString('');
  const text = value.replace(/\r\n?/g, '\n').replace(/[\u2028\u2029]/g, '\n').trim();
  if (text === '') return new hb.SafeString('');
  const style = hashOf(options).style;
  const attr = hb.escapeExpression(typeof style === 'string' ? style : PARAGRAPH_STYLE);
  const html = text
    .split(/\n[ \t]*\n\s*/)
    .map((p) => `<p style="${attr}">${p.split('\n').map((line) => hb.escapeExpression(line)).join('<br>\n')}</p>`)
    .join('\n');
  return new hb.SafeString(html);
});

// ---------------------------------------------------------------------------------------------
// Static types of template data

type Ty =
  | { readonly t: 'string' | 'number' | 'boolean' | 'null' | 'unknown' }
  | { readonly t: 'object'; readonly fields: ReadonlyMap<string, Ty> }
  | { readonly t: 'list'; readonly item: Ty };

const T_STRING: Ty = { t: 'string' };
const T_NUMBER: Ty = { t: 'number' };
const T_BOOLEAN: Ty = { t: 'boolean' };
const T_NULL: Ty = { t: 'null' };
const T_UNKNOWN: Ty = { t: 'unknown' };

function tyOf(spec: VarSpec): Ty {
  switch (spec.type) {
    case 'object':
      return tyOfFields(spec.fields);
    case 'list':
      return { t: 'list', item: tyOf(spec.item) };
    case 'string':
      return T_STRING;
    case 'number':
      return T_NUMBER;
    case 'boolean':
      return T_BOOLEAN;
  }
}

function tyOfFields(fields: VarFields, extra?: ReadonlyMap<string, Ty>): Ty {
  const map = new Map<string, Ty>();
  for (const [k, v] of Object.entries(fields)) map.set(k, tyOf(v));
  if (extra) for (const [k, v] of extra) map.set(k, v);
  return { t: 'object', fields: map };
}

interface HelperSig {
  readonly min: number;
  readonly max: number;
  readonly hash: readonly string[];
  readonly returns: Ty;
  /** Expected type of the first parameter, checked when known. */
  readonly first?: 'list' | 'string' | 'number';
  /** Only allowed in html parts (it returns markup). */
  readonly htmlOnly?: boolean;
}

const HELPERS: ReadonlyMap<string, HelperSig> = new Map<string, HelperSig>([
  ['eq', { min: 2, max: 2, hash: [], returns: T_BOOLEAN }],
  ['join', { min: 1, max: 2, hash: [], returns: T_STRING, first: 'list' }],
  ['formatDate', { min: 1, max: 1, hash: ['format', 'zone', 'locale'], returns: T_STRING, first: 'string' }],
  ['duration', { min: 1, max: 1, hash: ['locale'], returns: T_STRING, first: 'number' }],
  ['paragraphs', { min: 1, max: 1, hash: ['style'], returns: T_STRING, first: 'string', htmlOnly: true }],
]);

/** The helpers as documented for admins (templates/README.md, docs/templates.md). */
export const templateHelpers: ReadonlyArray<{ readonly name: string; readonly usage: string; readonly description: string }> = [
  { name: 'eq', usage: '{{#if (eq status.to "pending")}}…{{/if}}', description: 'True when both values are equal; for #if and #unless.' },
  { name: 'join', usage: '{{join helpfulInfo ", "}}', description: 'A list as one string, with the separator (default ", ").' },
  {
    name: 'formatDate',
    usage: '{{formatDate case.createdAt}} or {{formatDate sla.dueAt format="dd.MM.yyyy HH:mm" zone="Europe/Berlin"}}',
    description:
      'An ISO 8601 time as medium date and time in the template language, in the timestamp’s own offset; format (Luxon tokens), zone and locale change that.',
  },
  {
    name: 'duration',
    usage: '{{duration sla.remaining}}',
    description: 'A number of minutes in words in the template language: 95 → "1 hour and 35 minutes" / "1 Stunde und 35 Minuten".',
  },
  {
    name: 'paragraphs',
    usage: '{{paragraphs reply.text}}',
    description:
      'HTML parts only: plain text as escaped HTML paragraphs, line breaks kept (<br>). The way to show multi-line text such as a reply in HTML; text parts print {{reply.text}} directly.',
  },
];
const BLOCK_HELPERS: ReadonlySet<string> = new Set(['if', 'unless', 'each', 'with']);

// ---------------------------------------------------------------------------------------------
// Problems

class Problems {
  private readonly entries = new Map<string, { problem: TemplateProblem; kinds: Set<TemplateName> }>();
  /** Shared files (partials, layouts) → the kinds they were checked for. */
  private readonly checkedFor = new Map<string, Set<TemplateName>>();

  /**
   * `kind` is given for problems in shared files that depend on the kind's data; the message
   * then names the kinds, unless the problem occurs for every kind the file is used with.
   */
  add(file: string, line: number | null, message: string, kind?: TemplateName): void {
    const key = `${file}\u0000${line ?? ''}\u0000${message}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { problem: { file, line, message }, kinds: new Set() };
      this.entries.set(key, entry);
    }
    if (kind !== undefined) entry.kinds.add(kind);
  }

  checked(file: string, kind: TemplateName): void {
    let kinds = this.checkedFor.get(file);
    if (kinds === undefined) this.checkedFor.set(file, (kinds = new Set()));
    kinds.add(kind);
  }

  get size(): number {
    return this.entries.size;
  }

  sorted(): TemplateProblem[] {
    const out: TemplateProblem[] = [];
    for (const { problem, kinds } of this.entries.values()) {
      const all = this.checkedFor.get(problem.file)?.size ?? 0;
      if (kinds.size === 0 || kinds.size >= all) out.push(problem);
      else {
        const names = [...kinds].map((k) => `"${k}"`).join(', ');
        out.push({ ...problem, message: `${problem.message} (when used by template${kinds.size > 1 ? 's' : ''} ${names})` });
      }
    }
    return out.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || (a.line ?? 0) - (b.line ?? 0));
  }
}

/** Edit distance counting a swap of two neighbours as one edit ("nmae" → "name"). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => d[i]?.[j] ?? Infinity;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] ?? [];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      row[j] = v;
    }
  }
  return at(a.length, b.length);
}

function didYouMean(name: string, candidates: Iterable<string>, prefix = ''): string {
  let best: string | null = null;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best !== null && bestDist <= Math.max(1, Math.floor(name.length / 3))
    ? ` (did you mean "${prefix}${best}"?)`
    : '';
}

/** The innermost {{#block}} that is never closed, for "unexpected end of file" errors. */
function unclosedBlock(source: string): { name: string; line: number } | null {
  const stack: Array<{ name: string; line: number }> = [];
  const re = /\{\{~?\s*([#^/])\s*(?:>\s*|\*\s*)?([^\s}~()]+)/g;
  for (let m = re.exec(source); m !== null; m = re.exec(source)) {
    const name = m[2] ?? '';
    const line = source.slice(0, m.index).split('\n').length;
    if (m[1] === '/') {
      const i = stack.map((b) => b.name).lastIndexOf(name);
      if (i >= 0) stack.splice(i);
    } else if (m[1] === '#' || name !== '') {
      if (m[1] === '^' && stack.length > 0 && name === 'else') continue;
      stack.push({ name, line });
    }
  }
  return stack.at(-1) ?? null;
}

function syntaxProblem(err: unknown, source = ''): { line: number | null; message: string } {
  const raw = err instanceof Error ? err.message : String(err);
  const lines = raw.split('\n');
  const head = lines[0] ?? '';
  let line: number | null = null;
  if (typeof err === 'object' && err !== null && 'lineNumber' in err && typeof err.lineNumber === 'number') {
    line = err.lineNumber;
  } else {
    const m = /on line (\d+)/.exec(head);
    if (m?.[1] !== undefined) line = Number(m[1]);
  }
  if (lines.length >= 3 && /^(Parse|Lexical) error/.test(head)) {
    // jison: "Parse error on line N:" / excerpt / "----^" / "Expecting …, got 'X'"
    const excerpt = (lines[1] ?? '').trim();
    const expecting = lines[3] ?? '';
    const got = /got '([^']+)'/.exec(expecting)?.[1];
    const open = got === 'EOF' ? unclosedBlock(source) : null;
    if (open !== null) {
      return { line: open.line, message: `Syntax error: {{#${open.name}}} is never closed ({{/${open.name}}} missing)` };
    }
    const what =
      got === 'EOF'
        ? 'unexpected end of file (is a {{#block}} not closed?)'
        : got === 'INVALID' || got === undefined
          ? 'malformed {{…}} (check the braces and the expression inside)'
          : `unexpected ${got.toLowerCase().replace(/_/g, ' ')}`;
    return { line, message: `Syntax error: ${what} near "${excerpt.slice(-60)}"` };
  }
  const text = head.replace(/ - \d+:\d+$/, '');
  const mismatch = /^(\S+) doesn't match (\S+)$/.exec(text);
  if (mismatch !== null) {
    return { line, message: `Syntax error: {{#${mismatch[1]}}} is closed with {{/${mismatch[2]}}}` };
  }
  return { line, message: `Syntax error: ${text}` };
}

// ---------------------------------------------------------------------------------------------
// Reading and classifying the folder

interface Scan {
  /** Relative path (with "/") → source, for every .hbs file. */
  readonly sources: Map<string, string>;
  /** Every directory (absolute), for the watchers. */
  readonly dirs: string[];
}

function scanDir(dir: string): Scan {
  const sources = new Map<string, string>();
  const dirs: string[] = [];
  const walk = (abs: string, rel: string): void => {
    dirs.push(abs);
    let entries: Dirent[];
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch (err) {
      // A subfolder removed while we read: the watcher will trigger another reload.
      if (rel !== '') return;
      throw err;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const childAbs = join(abs, e.name);
      const childRel = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(childAbs, childRel);
      else if (e.isFile() && e.name.endsWith('.hbs')) {
        try {
          sources.set(childRel, readFileSync(childAbs, 'utf8'));
        } catch {
          // Removed between listing and reading.
        }
      }
    }
  };
  walk(dir, '');
  return { sources, dirs };
}

type Role =
  | { readonly role: 'part'; readonly kind: TemplateName; readonly part: Part }
  | { readonly role: 'partial'; readonly name: string }
  | { readonly role: 'layout' };

const PART_FILE = /^([A-Za-z0-9_-]+)\.(subject|text|html)\.hbs$/;
const PARTIAL_FILE = /^([A-Za-z0-9_-]+)(?:\.(subject|text|html))?\.hbs$/;

interface Config {
  readonly languages: ReadonlySet<string>;
  readonly queues: ReadonlySet<string>;
  readonly defaultLanguage: string;
}

function classify(rel: string, cfg: Config, problems: Problems): Role | null {
  const segs = rel.split('/');
  let i = 0;
  const folderish = (s: string | undefined, remaining: number): s is string =>
    s !== undefined && remaining > 1 && s !== 'partials' && s !== 'layouts';
  const first = segs[0];
  if (folderish(first, segs.length)) {
    if (cfg.languages.has(first)) {
      i = 1;
    } else if (cfg.queues.has(first)) {
      i = 1;
      const second = segs[1];
      if (folderish(second, segs.length - 1)) {
        if (!cfg.languages.has(second)) {
          problems.add(
            `${first}/${second}/`,
            null,
            `Folder "${second}" in queue folder "${first}" is not a configured language (languages: ${[...cfg.languages].join(', ')})${didYouMean(second, cfg.languages)}`,
          );
          return null;
        }
        i = 2;
      }
    } else {
      problems.add(
        `${first}/`,
        null,
        `Folder "${first}" is neither a configured queue nor a configured language ` +
          `(queues: ${[...cfg.queues].join(', ') || 'none'}; languages: ${[...cfg.languages].join(', ')})` +
          didYouMean(first, [...cfg.queues, ...cfg.languages]),
      );
      return null;
    }
  }
  const rest = segs.slice(i);
  const [a, b] = rest;
  if (rest.length === 1 && a !== undefined) {
    const m = PART_FILE.exec(a);
    const kind = m?.[1];
    const part = m?.[2] as Part | undefined;
    if (kind === undefined || part === undefined) {
      problems.add(rel, null, `Unexpected file name (expected <template>.subject.hbs, <template>.text.hbs or <template>.html.hbs)`);
      return null;
    }
    if (!isTemplateName(kind)) {
      problems.add(rel, null, `Unknown template "${kind}" (known: ${templateNames.join(', ')})${didYouMean(kind, templateNames)}`);
      return null;
    }
    return { role: 'part', kind, part };
  }
  if (rest.length === 2 && a === 'partials' && b !== undefined) {
    const m = PARTIAL_FILE.exec(b);
    if (m?.[1] === undefined) {
      problems.add(rel, null, 'Unexpected partial file name (expected <name>.hbs or <name>.text.hbs / .html.hbs / .subject.hbs; letters, digits, - and _)');
      return null;
    }
    return { role: 'partial', name: m[1] };
  }
  if (rest.length === 2 && a === 'layouts' && b !== undefined) {
    if (!templateLayouts.some((l) => LAYOUT_PARTS.some((part) => layoutFile(l, part) === `layouts/${b}`))) {
      problems.add(rel, null, `Unexpected layout file (only ${LAYOUT_LIST} are used)${didYouMean(b.replace(/\.(text|html)\.hbs$/, ''), templateLayouts, 'layouts/')}`);
      return null;
    }
    return { role: 'layout' };
  }
  problems.add(rel, null, 'Unexpected file location (templates, partials/ and layouts/ go at the top or in a <queue>, <language> or <queue>/<language> folder)');
  return null;
}

// ---------------------------------------------------------------------------------------------
// The loaded folder and its fallback chains

interface Folder {
  readonly cfg: Config;
  readonly sources: ReadonlyMap<string, string>;
  /** Parsed files; null when the file has a syntax error (already reported). */
  readonly asts: ReadonlyMap<string, Ast | null>;
  /** Folder prefixes ("de/", "billing/", "billing/de/") that hold at least one file. */
  readonly prefixes: ReadonlySet<string>;
  readonly partialNames: ReadonlySet<string>;
}

function pickLanguage(requested: string | undefined, cfg: Config): string {
  if (requested !== undefined && requested !== '') {
    if (cfg.languages.has(requested)) return requested;
    const lower = requested.toLowerCase();
    const primary = lower.split(/[-_]/)[0] ?? lower;
    for (const candidate of [lower, primary]) {
      for (const l of cfg.languages) if (l.toLowerCase() === candidate) return l;
    }
  }
  return cfg.defaultLanguage;
}

/** Folder prefixes to search, most specific first; always ends with "" (the base set). */
function chainFor(folder: Folder, target: RenderTarget): { chain: string[]; language: string } {
  const lang = pickLanguage(target.language, folder.cfg);
  const queue = target.queue !== undefined && folder.cfg.queues.has(target.queue) ? target.queue : null;
  const all = queue !== null ? [`${queue}/${lang}/`, `${queue}/`, `${lang}/`] : [`${lang}/`];
  const out: string[] = [];
  for (const p of all) if (folder.prefixes.has(p) && !out.includes(p)) out.push(p);
  out.push('');
  return { chain: out, language: lang };
}

function resolveFile(folder: Folder, chain: readonly string[], local: string): string | null {
  for (const prefix of chain) if (folder.sources.has(prefix + local)) return prefix + local;
  return null;
}

function resolvePartial(folder: Folder, chain: readonly string[], name: string, part: Part): string | null {
  for (const prefix of chain) {
    for (const local of [`partials/${name}.${part}.hbs`, `partials/${name}.hbs`]) {
      if (folder.sources.has(prefix + local)) return prefix + local;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Static check of one template (and the partials it uses) against a kind's data

interface Scope {
  /** Context stack; the last entry is `this`. Only #each, #with and partial contexts push. */
  readonly frames: readonly Ty[];
  readonly blockParams: ReadonlyMap<string, Ty>;
  readonly data: ReadonlyMap<string, Ty>;
  readonly root: Ty;
}

interface Walk {
  readonly kind: TemplateName;
  readonly part: Part;
  readonly chain: readonly string[];
  /** File being walked (relative path). */
  readonly file: string;
  readonly isLayout: boolean;
  /** Partial files on the current include path (recursion check). */
  readonly stack: readonly string[];
  /**
   * Whether the walk started in a layout (shared by every kind): problems then name the kind
   * unless they occur for all kinds.
   */
  readonly shared: boolean;
  /** For partials: where this one was included ("confirmation.text.hbs:7"). */
  readonly site: string | null;
  readonly body: { raw: boolean; escaped: boolean };
}

/** @-variables available everywhere: @language is the language of the templates being rendered. */
const TOP_DATA: ReadonlyMap<string, Ty> = new Map([['language', T_STRING]]);
/** Layouts also get @subject: the rendered subject line (for <title>). */
const LAYOUT_DATA: ReadonlyMap<string, Ty> = new Map([...TOP_DATA, ['subject', T_STRING]]);

const EACH_DATA: ReadonlyMap<string, Ty> = new Map([
  ['index', T_NUMBER],
  ['key', T_NUMBER],
  ['first', T_BOOLEAN],
  ['last', T_BOOLEAN],
]);

class Checker {
  constructor(
    private readonly folder: Folder,
    private readonly problems: Problems,
  ) {}

  /** Check a kind's part file, or a layout, for one chain. */
  checkTop(file: string, w: Omit<Walk, 'file' | 'stack' | 'body' | 'site'>, root: Ty): Walk['body'] {
    const body = { raw: false, escaped: false };
    const ast = this.folder.asts.get(file);
    if (ast == null) return body;
    const walk: Walk = { ...w, file, stack: [], body, site: null };
    if (w.shared) this.problems.checked(file, w.kind);
    this.program(ast, walk, { frames: [root], blockParams: new Map(), data: w.isLayout ? LAYOUT_DATA : TOP_DATA, root });
    return body;
  }

  private report(w: Walk, node: hbs.AST.Node | undefined, message: string): void {
    const site = w.site !== null ? ` (included from ${w.site})` : '';
    this.problems.add(w.file, node?.loc?.start.line ?? null, message + site, w.shared ? w.kind : undefined);
  }

  private program(p: Ast | undefined, w: Walk, s: Scope): void {
    if (p === undefined || p === null) return;
    for (const st of p.body) this.statement(st, w, s);
  }

  private statement(node: hbs.AST.Statement, w: Walk, s: Scope): void {
    switch (node.type) {
      case 'ContentStatement':
      case 'CommentStatement':
        return;
      case 'MustacheStatement':
        return this.mustache(node as hbs.AST.MustacheStatement, w, s);
      case 'BlockStatement':
        return this.block(node as hbs.AST.BlockStatement, w, s);
      case 'PartialStatement':
        return this.partial(node as hbs.AST.PartialStatement, w, s);
      case 'PartialBlockStatement':
        return this.report(w, node, 'Partial blocks ({{#> name}}…{{/name}}) are not supported; use {{> name}}');
      case 'DecoratorBlock':
      case 'Decorator':
        return this.report(w, node, 'Inline partials and decorators ({{#*…}}, {{*…}}) are not supported; put partials in partials/');
      default:
        return this.report(w, node, `Unsupported template construct (${node.type})`);
    }
  }

  private isBody(path: hbs.AST.PathExpression, w: Walk): boolean {
    return w.isLayout && !path.data && path.depth === 0 && path.parts.length === 1 && path.parts[0] === 'body';
  }

  private mustache(node: hbs.AST.MustacheStatement, w: Walk, s: Scope): void {
    if (node.path.type !== 'PathExpression') {
      this.report(w, node, 'A literal cannot be used as a helper or variable name');
      return;
    }
    const path = node.path as hbs.AST.PathExpression;
    if (!node.escaped && w.part === 'html' && !this.isBody(path, w)) {
      this.report(
        w,
        node,
        `Raw output {{{${path.original}}}} is not allowed in HTML templates (only {{{body}}} in the HTML layout); use {{${path.original}}}`,
      );
    }
    if (this.isBody(path, w)) {
      if (node.escaped) w.body.escaped = true;
      else w.body.raw = true;
    }
    const name = simpleName(path);
    const hasArgs = node.params.length > 0 || (node.hash?.pairs.length ?? 0) > 0;
    if (name !== null && BLOCK_HELPERS.has(name)) {
      this.report(w, node, `"${name}" must be used as a block: {{#${name} …}}…{{/${name}}}`);
      this.args(node, w, s);
      return;
    }
    if (name !== null && HELPERS.has(name)) {
      this.helperCall(name, node, w, s);
      return;
    }
    if (hasArgs) {
      this.report(w, node, `Unknown helper "${path.original}" (helpers: ${[...HELPERS.keys()].join(', ')})${didYouMean(path.original, HELPERS.keys())}`);
      this.args(node, w, s);
      return;
    }
    const ty = this.path(path, node, w, s);
    if (ty?.t === 'object') {
      const fields = [...ty.fields.keys()].slice(0, 4).map((f) => `${path.original === 'this' ? '' : `${path.original}.`}${f}`);
      this.report(w, node, `"${path.original}" is an object and cannot be printed; use one of its fields (${fields.join(', ')}, …)`);
    } else if (ty?.t === 'list') {
      this.report(w, node, `"${path.original}" is a list and cannot be printed directly; use {{#each ${path.original}}}…{{/each}} or {{join ${path.original} ", "}}`);
    }
  }

  private args(node: { params: hbs.AST.Expression[]; hash: hbs.AST.Hash }, w: Walk, s: Scope): Ty[] {
    const tys = node.params.map((p) => this.expr(p, w, s));
    for (const pair of node.hash?.pairs ?? []) this.expr(pair.value, w, s);
    return tys;
  }

  private helperCall(
    name: string,
    node: hbs.AST.Node & { params: hbs.AST.Expression[]; hash: hbs.AST.Hash },
    w: Walk,
    s: Scope,
  ): Ty {
    const sig = HELPERS.get(name);
    const tys = this.args(node, w, s);
    if (sig === undefined) return T_UNKNOWN;
    const n = node.params.length;
    if (n < sig.min || n > sig.max) {
      const want = sig.min === sig.max ? `${sig.min}` : `${sig.min}–${sig.max}`;
      this.report(w, node, `Helper "${name}" takes ${want} argument${sig.max === 1 ? '' : 's'}, got ${n}`);
    }
    for (const pair of node.hash?.pairs ?? []) {
      if (!sig.hash.includes(pair.key)) {
        this.report(w, pair, `Helper "${name}" has no option "${pair.key}"${sig.hash.length > 0 ? ` (options: ${sig.hash.join(', ')})` : ''}`);
      } else if (name === 'formatDate' && pair.key === 'zone' && pair.value.type === 'StringLiteral') {
        const zone = (pair.value as hbs.AST.StringLiteral).value;
        if (!DateTime.now().setZone(zone).isValid) this.report(w, pair, `Unknown time zone "${zone}"`);
      }
    }
    if (sig.htmlOnly === true && w.part !== 'html') {
      this.report(w, node, `Helper "${name}" is for HTML parts only (it returns HTML); in ${w.part} parts print the value directly`);
    }
    const first = tys[0];
    if (sig.first !== undefined && first !== undefined && first.t !== 'unknown' && first.t !== sig.first) {
      this.report(w, node, `Helper "${name}" expects a ${sig.first} as first argument, got a ${first.t}`);
    }
    return sig.returns;
  }

  private expr(e: hbs.AST.Expression, w: Walk, s: Scope): Ty {
    switch (e.type) {
      case 'PathExpression':
        return this.path(e as hbs.AST.PathExpression, e, w, s) ?? T_UNKNOWN;
      case 'SubExpression': {
        const sub = e as hbs.AST.SubExpression;
        const name = simpleName(sub.path);
        if (name === null || !HELPERS.has(name)) {
          this.report(w, e, `Unknown helper "${sub.path.original}" (helpers: ${[...HELPERS.keys()].join(', ')})`);
          this.args(sub, w, s);
          return T_UNKNOWN;
        }
        return this.helperCall(name, sub, w, s);
      }
      case 'StringLiteral':
        return T_STRING;
      case 'NumberLiteral':
        return T_NUMBER;
      case 'BooleanLiteral':
        return T_BOOLEAN;
      case 'NullLiteral':
      case 'UndefinedLiteral':
        return T_NULL;
      default:
        this.report(w, e, `Unsupported expression (${e.type})`);
        return T_UNKNOWN;
    }
  }

  /** Resolve a variable path; reports and returns null when it does not exist. */
  private path(p: hbs.AST.PathExpression, at: hbs.AST.Node, w: Walk, s: Scope): Ty | null {
    const label = p.data ? `@${p.original.replace(/^@/, '')}` : p.original;
    if (p.data) {
      const [head, ...rest] = p.parts;
      if (head === 'root') return this.walkParts(s.root, rest, label, '@root.', at, w);
      const ty = head !== undefined ? s.data.get(head) : undefined;
      if (ty === undefined) {
        const known = ['root', ...s.data.keys()];
        this.report(w, at, `Unknown data variable "@${head ?? ''}" (here: ${known.map((k) => `@${k}`).join(', ')})${didYouMean(head ?? '', known, '@')}`);
        return null;
      }
      return this.walkParts(ty, rest, label, `@${head}.`, at, w);
    }
    if (p.depth > 0) {
      const frame = s.frames[s.frames.length - 1 - p.depth];
      if (frame === undefined) {
        this.report(w, at, `"${p.original}" goes above the top of the template`);
        return null;
      }
      return this.walkParts(frame, p.parts, label, '../'.repeat(p.depth), at, w);
    }
    const head = p.parts[0];
    const scoped = /^\.|this\b/.test(p.original);
    if (!scoped && head !== undefined) {
      const bp = s.blockParams.get(head);
      if (bp !== undefined) return this.walkParts(bp, p.parts.slice(1), label, `${head}.`, at, w);
    }
    const self = s.frames[s.frames.length - 1] ?? T_UNKNOWN;
    return this.walkParts(self, p.parts, label, p.original.startsWith('this.') ? 'this.' : '', at, w, s);
  }

  private walkParts(
    start: Ty,
    parts: readonly string[],
    label: string,
    base: string,
    at: hbs.AST.Node,
    w: Walk,
    s?: Scope,
  ): Ty | null {
    let ty = start;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] ?? '';
      const next = member(ty, part);
      if (next === undefined) {
        const sofar = parts.slice(0, i).join('.');
        let candidates: string[] = ty.t === 'object' ? [...ty.fields.keys()] : [];
        if (i === 0 && s !== undefined) candidates = [...candidates, ...s.blockParams.keys()];
        const hint = didYouMean(part, candidates, base + (sofar === '' ? '' : `${sofar}.`));
        const owner = (base + sofar).replace(/\.$/, '') || 'this';
        const where = ty.t === 'object' ? '' : ` ("${owner}" is a${ty.t === 'unknown' ? 'n' : ''} ${ty.t})`;
        this.report(w, at, `Unknown variable "${label}"${where}${hint}`);
        return null;
      }
      ty = next;
    }
    return ty;
  }

  private block(node: hbs.AST.BlockStatement, w: Walk, s: Scope): void {
    const name = simpleName(node.path);
    const inverse = (node.inverse as Ast | undefined) ?? undefined;
    if (name === null || !BLOCK_HELPERS.has(name)) {
      const hint = HELPERS.has(node.path.original)
        ? `"${node.path.original}" is not a block helper; use {{${node.path.original} …}}`
        : `Unknown block helper "#${node.path.original}" (blocks: #if, #unless, #each, #with)${didYouMean(node.path.original, BLOCK_HELPERS, '#')}`;
      this.report(w, node, hint);
      this.args(node, w, s);
      this.program(node.program, w, s);
      this.program(inverse, w, s);
      return;
    }
    if (node.params.length !== 1) {
      this.report(w, node, `{{#${name}}} takes exactly one argument, got ${node.params.length}`);
    }
    for (const pair of node.hash?.pairs ?? []) {
      if (!((name === 'if' || name === 'unless') && pair.key === 'includeZero')) {
        this.report(w, pair, `{{#${name}}} has no option "${pair.key}"`);
      }
    }
    const param = node.params[0];
    const ty = param !== undefined ? this.expr(param, w, s) : T_UNKNOWN;
    const declared = node.program?.blockParams ?? [];
    if (name === 'if' || name === 'unless') {
      if (declared.length > 0) this.report(w, node, `{{#${name}}} has no block parameters`);
      this.program(node.program, w, s);
      this.program(inverse, w, s);
      return;
    }
    let inner: Ty;
    let params: Ty[];
    let data = s.data;
    if (name === 'each') {
      if (ty.t === 'list') inner = ty.item;
      else if (ty.t === 'unknown') inner = T_UNKNOWN;
      else {
        this.report(w, node, `{{#each}} needs a list, but "${exprLabel(param)}" is a${ty.t === 'object' ? 'n' : ''} ${ty.t}`);
        inner = T_UNKNOWN;
      }
      params = [inner, T_NUMBER];
      data = new Map([...s.data, ...EACH_DATA]);
    } else {
      if (ty.t !== 'object' && ty.t !== 'unknown') {
        this.report(w, node, `{{#with}} needs an object, but "${exprLabel(param)}" is a ${ty.t}`);
      }
      inner = ty;
      params = [ty];
    }
    if (declared.length > params.length) {
      this.report(w, node, `{{#${name}}} provides at most ${params.length} block parameter${params.length === 1 ? '' : 's'}`);
    }
    const blockParams = new Map(s.blockParams);
    declared.forEach((bp, i) => blockParams.set(bp, params[i] ?? T_UNKNOWN));
    this.program(node.program, w, { frames: [...s.frames, inner], blockParams, data, root: s.root });
    this.program(inverse, w, s);
  }

  private partial(node: hbs.AST.PartialStatement, w: Walk, s: Scope): void {
    if (node.name.type === 'SubExpression') {
      this.report(w, node, 'Dynamic partial names ({{> (…)}}) are not supported');
      return;
    }
    const nameNode = node.name as hbs.AST.PathExpression | hbs.AST.StringLiteral;
    const name = String(nameNode.original);
    if (name.startsWith('@')) {
      this.report(w, node, `{{> ${name}}} is not supported`);
      return;
    }
    if (node.params.length > 1) {
      this.report(w, node, `A partial takes at most one context argument, got ${node.params.length}`);
    }
    const tys = this.args(node, w, s);
    let ctx: Ty = tys[0] ?? s.frames[s.frames.length - 1] ?? T_UNKNOWN;
    const pairs = node.hash?.pairs ?? [];
    if (pairs.length > 0) {
      const fields = new Map<string, Ty>(ctx.t === 'object' ? ctx.fields : []);
      for (const pair of pairs) fields.set(pair.key, this.expr(pair.value, w, s));
      ctx = { t: 'object', fields };
    }
    const file = resolvePartial(this.folder, w.chain, name, w.part);
    if (file === null) {
      this.report(w, node, `Partial "${name}" not found${didYouMean(name, this.folder.partialNames)}`);
      return;
    }
    if (w.stack.includes(file)) {
      this.report(w, node, `Partial "${name}" includes itself (${[...w.stack, file].join(' → ')})`);
      return;
    }
    const ast = this.folder.asts.get(file);
    if (ast == null) return; // syntax error, reported already
    const inner: Walk = {
      ...w,
      file,
      isLayout: false,
      stack: [...w.stack, w.file],
      body: { raw: false, escaped: false },
      site: `${w.file}:${node.loc?.start.line ?? '?'}`,
    };
    if (w.shared) this.problems.checked(file, w.kind);
    // Partials start a new context stack (no ../ into the caller) and see no block params,
    // but @index & co. and @root pass through.
    this.program(ast, inner, { frames: [ctx], blockParams: new Map(), data: s.data, root: s.root });
  }
}

function simpleName(p: hbs.AST.PathExpression): string | null {
  if (p.data || p.depth > 0 || p.parts.length !== 1 || /^\.|this\b/.test(p.original)) return null;
  return p.parts[0] ?? null;
}

function exprLabel(e: hbs.AST.Expression | undefined): string {
  if (e === undefined) return '';
  if (e.type === 'PathExpression') return (e as hbs.AST.PathExpression).original;
  if (e.type === 'SubExpression') return `(${(e as hbs.AST.SubExpression).path.original} …)`;
  return String((e as hbs.AST.StringLiteral).original);
}

function member(ty: Ty, part: string): Ty | undefined {
  switch (ty.t) {
    case 'unknown':
      return T_UNKNOWN;
    case 'object':
      return ty.fields.get(part);
    case 'list':
      if (part === 'length') return T_NUMBER;
      return /^\d+$/.test(part) ? ty.item : undefined;
    case 'string':
      return part === 'length' ? T_NUMBER : undefined;
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Building a template set

interface KindSet {
  readonly subject: Delegate;
  readonly text: Delegate;
  readonly html: Delegate;
  readonly layout: Readonly<Record<LayoutPart, Delegate>>;
}

interface ChainSet {
  readonly partials: Readonly<Record<Part, Readonly<Record<string, Delegate>>>>;
  readonly kinds: ReadonlyMap<TemplateName, KindSet>;
  /** Files used per kind and part (for error attribution). */
  readonly files: ReadonlyMap<string, string>;
}

interface TemplateSet {
  readonly folder: Folder;
  readonly chains: ReadonlyMap<string, ChainSet>;
  readonly fileCount: number;
}

interface BuildResult {
  readonly problems: TemplateProblem[];
  readonly set: TemplateSet | null;
  readonly dirs: string[];
}

function configOf(opts: Omit<TemplateEngineOptions, 'watch' | 'log'>): Config {
  return {
    languages: new Set([...opts.languages, opts.defaultLanguage]),
    queues: new Set(opts.queues),
    defaultLanguage: opts.defaultLanguage,
  };
}

function build(opts: Omit<TemplateEngineOptions, 'watch' | 'log'>): BuildResult {
  const problems = new Problems();
  const cfg = configOf(opts);
  let scan: Scan;
  try {
    scan = scanDir(opts.dir);
  } catch (err) {
    problems.add('.', null, `Cannot read the template folder ${opts.dir}: ${err instanceof Error ? err.message : String(err)}`);
    return { problems: problems.sorted(), set: null, dirs: [] };
  }

  // Classify and parse every file.
  const asts = new Map<string, Ast | null>();
  const prefixes = new Set<string>();
  const partialNames = new Set<string>();
  for (const [rel, source] of scan.sources) {
    const role = classify(rel, cfg, problems);
    if (role === null) continue;
    if (role.role === 'partial') partialNames.add(role.name);
    const segs = rel.split('/');
    for (let i = 1; i < segs.length; i++) prefixes.add(segs.slice(0, i).join('/') + '/');
    try {
      asts.set(rel, hb.parse(source));
    } catch (err) {
      const { line, message } = syntaxProblem(err, source);
      problems.add(rel, line, message);
      asts.set(rel, null);
    }
  }
  const sources = new Map([...scan.sources].filter(([rel]) => asts.has(rel)));
  const folder: Folder = { cfg, sources, asts, prefixes, partialNames };

  // The base set must be complete.
  for (const kind of templateNames) {
    for (const part of PARTS) {
      const rel = `${kind}.${part}.hbs`;
      if (!sources.has(rel)) problems.add(rel, null, `Missing template file (every template needs ${kind}.subject.hbs, ${kind}.text.hbs and ${kind}.html.hbs in the base folder)`);
    }
  }
  for (const layout of templateLayouts) {
    for (const part of LAYOUT_PARTS) {
      const rel = layoutFile(layout, part);
      if (!sources.has(rel)) problems.add(rel, null, `Missing layout file (the base folder needs ${LAYOUT_LIST})`);
    }
  }

  // Every distinct fallback chain, with the language it stands for.
  const chains = new Map<string, { chain: string[]; language: string }>();
  for (const queue of [undefined, ...cfg.queues]) {
    for (const language of cfg.languages) {
      const { chain } = chainFor(folder, { language, queue });
      const key = chain.join('|');
      if (!chains.has(key)) chains.set(key, { chain, language });
    }
  }

  // Static checks.
  const checker = new Checker(folder, problems);
  for (const { chain } of chains.values()) {
    for (const kind of templateNames) {
      const vars = templateVariables(kind);
      const root = tyOfFields(vars);
      for (const part of PARTS) {
        const file = resolveFile(folder, chain, `${kind}.${part}.hbs`);
        if (file !== null) checker.checkTop(file, { kind, part, chain, isLayout: false, shared: false }, root);
      }
      const layoutRoot = tyOfFields(vars, new Map([['body', T_STRING]]));
      for (const part of LAYOUT_PARTS) {
        const file = resolveFile(folder, chain, layoutFile(templateLayout(kind), part));
        if (file === null) continue;
        const body = checker.checkTop(file, { kind, part, chain, isLayout: true, shared: true }, layoutRoot);
        if (!folder.asts.get(file)) continue;
        if (part === 'html' && body.escaped) {
          problems.add(file, null, 'The HTML layout must insert the body with {{{body}}} (triple braces); {{body}} would escape the HTML');
        } else if (!body.raw && !body.escaped) {
          problems.add(file, null, 'The layout does not insert the body ({{{body}}})');
        }
      }
    }
  }
  if (problems.size > 0) return { problems: problems.sorted(), set: null, dirs: scan.dirs };

  // Compile. precompile() runs the whole compiler now, so compile errors surface here and not at
  // the first render; compile() then gives the runtime function.
  const compiled = new Map<string, Delegate>();
  const compile = (rel: string, part: Part): Delegate => {
    const noEscape = part !== 'html';
    const key = `${noEscape ? 'raw' : 'html'}:${rel}`;
    const hit = compiled.get(key);
    if (hit !== undefined) return hit;
    const source = sources.get(rel) ?? '';
    try {
      hb.precompile(source, { noEscape });
    } catch (err) {
      const { line, message } = syntaxProblem(err);
      problems.add(rel, line, message.replace(/^Syntax error/, 'Compile error'));
    }
    const fn = hb.compile<object>(source, { noEscape });
    compiled.set(key, fn);
    return fn;
  };

  const chainSets = new Map<string, ChainSet>();
  for (const [key, { chain }] of chains) {
    const partials: Record<Part, Record<string, Delegate>> = { subject: {}, text: {}, html: {} };
    for (const part of PARTS) {
      for (const name of partialNames) {
        const rel = resolvePartial(folder, chain, name, part);
        if (rel !== null) partials[part][name] = compile(rel, part);
      }
    }
    const kinds = new Map<TemplateName, KindSet>();
    const files = new Map<string, string>();
    for (const kind of templateNames) {
      const get = (local: string, part: Part): Delegate => {
        const rel = resolveFile(folder, chain, local);
        if (rel === null) throw new Error(`template file ${local} vanished during the build`);
        files.set(`${kind}.${local}`, rel);
        return compile(rel, part);
      };
      kinds.set(kind, {
        subject: get(`${kind}.subject.hbs`, 'subject'),
        text: get(`${kind}.text.hbs`, 'text'),
        html: get(`${kind}.html.hbs`, 'html'),
        layout: {
          text: get(layoutFile(templateLayout(kind), 'text'), 'text'),
          html: get(layoutFile(templateLayout(kind), 'html'), 'html'),
        },
      });
    }
    chainSets.set(key, { partials, kinds, files });
  }
  if (problems.size > 0) return { problems: problems.sorted(), set: null, dirs: scan.dirs };

  // Trial renders: example data and a "blank" variant (flipped booleans, empty strings and lists)
  // so the else branches run too. Text and html must begin with the reply marker.
  for (const [key, { language }] of chains) {
    const cs = chainSets.get(key);
    if (cs === undefined) continue;
    for (const kind of templateNames) {
      const ks = cs.kinds.get(kind);
      if (ks === undefined) continue;
      const sample = withLanguage(sampleTemplateData(kind), language);
      const blank = withLanguage(blankData(templateVariables(kind)), language);
      const fileOf = (local: string): string => cs.files.get(`${kind}.${local}`) ?? local;
      for (const [variant, data] of [['example', sample], ['blank', blank]] as const) {
        let out: RenderedEmail;
        try {
          out = renderKind(ks, cs.partials, data, language);
        } catch (err) {
          const line =
            typeof err === 'object' && err !== null && 'lineNumber' in err && typeof err.lineNumber === 'number'
              ? err.lineNumber
              : null;
          problems.add(fileOf(`${kind}.text.hbs`), line, `Rendering "${kind}" with ${variant} data failed: ${err instanceof Error ? err.message : String(err)}`);
          continue;
        }
        if (variant !== 'example') continue;
        const marker = sample.replyMarker;
        if (!out.text.startsWith(marker)) {
          problems.add(fileOf(layoutFile(templateLayout(kind), 'text')), null, `The text part of "${kind}" does not begin with the reply marker ({{> reply-marker}} or {{replyMarker}}); replies could not be cut`);
        }
        if (!visibleText(out.html).startsWith(hb.escapeExpression(marker))) {
          problems.add(fileOf(layoutFile(templateLayout(kind), 'html')), null, `The html part of "${kind}" does not begin with the reply marker ({{> reply-marker}} or {{replyMarker}}); replies could not be cut`);
        }
      }
    }
  }
  if (problems.size > 0) return { problems: problems.sorted(), set: null, dirs: scan.dirs };

  return { problems: [], set: { folder, chains: chainSets, fileCount: sources.size }, dirs: scan.dirs };
}

function withLanguage<T extends object>(data: T, language: string): T {
  const c: unknown = 'case' in data ? data.case : undefined;
  if (typeof c !== 'object' || c === null) return data;
  return { ...data, case: { ...c, language } };
}

function blankOf(spec: VarSpec): unknown {
  switch (spec.type) {
    case 'object':
      return blankData(spec.fields);
    case 'list':
      return [];
    case 'string':
      return '';
    case 'number':
      return 0;
    case 'boolean':
      return !spec.example;
  }
}

function blankData(fields: VarFields): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = blankOf(v);
  return out;
}

/** Text a reader sees first: no head, no tags, whitespace collapsed. */
function visibleText(html: string): string {
  return html
    .replace(/<head[\s\S]*?<\/head>/gi, ' ')
    .replace(/<(style|script)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function renderKind(ks: KindSet, partials: ChainSet['partials'], data: object, language: string): RenderedEmail {
  // The last argument is Handlebars' @-data: @language is the language of the chosen templates;
  // layouts also get @subject, the finished subject line.
  const run = (fn: Delegate, context: object, part: Part, extra: object = {}): string =>
    fn(context, { partials: partials[part], data: { language, ...extra } });
  const subject = cleanSubject(run(ks.subject, data, 'subject'));
  const textBody = run(ks.text, data, 'text').replace(/^(?:[ \t]*\r?\n)+/, '').trimEnd();
  const text = cleanText(run(ks.layout.text, { ...data, body: textBody }, 'text', { subject }));
  const htmlBody = run(ks.html, data, 'html');
  const html = run(ks.layout.html, { ...data, body: htmlBody }, 'html', { subject });
  return { subject, text, html };
}

// ---------------------------------------------------------------------------------------------
// The engine: current set, render, hot reload

const DEBOUNCE_MS = 100;

class Engine implements TemplateEngine {
  private current: TemplateSet;
  private readonly watchers = new Map<string, FSWatcher>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly opts: TemplateEngineOptions,
    set: TemplateSet,
    dirs: string[],
  ) {
    this.current = set;
    if (opts.watch) this.syncWatchers(dirs);
  }

  render<N extends TemplateName>(name: N, data: TemplateDataMap[N], target: RenderTarget): RenderedEmail {
    const set = this.current;
    const { chain, language } = chainFor(set.folder, target);
    const cs = set.chains.get(chain.join('|'));
    const ks = cs?.kinds.get(name);
    if (cs === undefined || ks === undefined) throw new Error(`no templates for "${name}" (${chain.join(', ')})`);
    return renderKind(ks, cs.partials, data, language);
  }

  check(): TemplateProblem[] {
    return build(this.opts).problems;
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  /** Watch every folder (non-recursive watchers, re-synced after each reload: new folders are picked up). */
  private syncWatchers(dirs: readonly string[]): void {
    if (this.closed) return;
    const wanted = new Set(dirs.length > 0 ? dirs : [this.opts.dir]);
    for (const [dir, w] of this.watchers) {
      if (!wanted.has(dir)) {
        w.close();
        this.watchers.delete(dir);
      }
    }
    for (const dir of wanted) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.schedule());
        w.on('error', () => {
          w.close();
          this.watchers.delete(dir);
          this.schedule();
        });
        this.watchers.set(dir, w);
      } catch (err) {
        this.opts.log.warn({ dir, err }, 'cannot watch template folder');
      }
    }
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.reload();
    }, DEBOUNCE_MS);
    this.timer.unref();
  }

  private reload(): void {
    if (this.closed) return;
    const log = this.opts.log;
    let result: BuildResult;
    try {
      result = build(this.opts);
    } catch (err) {
      log.error({ err }, 'email template reload failed; keeping the previous templates');
      return;
    }
    this.syncWatchers(result.dirs);
    if (result.set === null) {
      for (const p of result.problems) log.error({ file: p.file, line: p.line }, formatProblem(p));
      log.error(
        { problems: result.problems.length },
        'email templates have problems; keeping the previous templates',
      );
      return;
    }
    this.current = result.set;
    log.info({ dir: this.opts.dir, files: result.set.fileCount }, 'email templates reloaded');
  }
}
