/**
 * The template folder as files: reading it, classifying every file (kind part, partial, layout;
 * base, language, queue or queue/language folder), the fallback chains that pick a file for a
 * case's language and queue, an admin's folder over the shipped set (what it lacks comes from
 * casegate's). Problems go into template-problems.ts. Shared by the engine (templates.ts), the
 * checker (template-checker.ts) and the compiled set (template-set.ts). Layout and rules: the
 * comment at the top of templates.ts.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, type Dirent } from 'node:fs';
import { join, resolve } from 'node:path';
import { Builds, RecentMemo } from '../memo.js';
import { hb, type Ast } from './template-helpers.js';
import { didYouMean, Problems, syntaxProblem } from './template-problems.js';
import { isTemplateName, templateLayouts, templateNames, type TemplateLayout, type TemplateName } from './template-data.js';

/** What decides how the folder is read: where it is and which languages and queues exist. */
export interface TemplateFolderOptions {
  readonly dir: string;
  readonly defaultLanguage: string;
  readonly languages: readonly string[];
  readonly queues: readonly string[];
  /**
   * The templates shipped with casegate. When `dir` is another folder, it holds only what an admin
   * changed: every file it lacks comes from here (files of a language that is not configured are
   * left out). Absent, or `dir` itself: `dir` is the whole set.
   */
  readonly shippedDir?: string | undefined;
}

export interface RenderTarget {
  readonly language?: string | undefined;
  readonly queue?: string | undefined;
  /**
   * IANA time zone that formatDate shows times in when a template names none (@zone): customer
   * mail gets its queue's (calendar's) zone, as the confirmation's promise. Absent: a time is
   * shown in its own offset.
   */
  readonly zone?: string | undefined;
}

// ---------------------------------------------------------------------------------------------
// Files and parts

export type Part = 'subject' | 'text' | 'html';
export type LayoutPart = 'text' | 'html';
export const PARTS: readonly Part[] = ['subject', 'text', 'html'];
export const LAYOUT_PARTS: readonly LayoutPart[] = ['text', 'html'];
export const layoutFile = (layout: TemplateLayout, part: LayoutPart): string => `layouts/${layout}.${part}.hbs`;
export const LAYOUT_LIST = templateLayouts.map((l) => `layouts/${l}.text.hbs, layouts/${l}.html.hbs`).join(', ');

// ---------------------------------------------------------------------------------------------
// Reading and classifying the folder

export interface Scan {
  /** Relative path (with "/") → source, for every .hbs file. */
  readonly sources: Map<string, string>;
  /** Every directory (absolute), for the watchers. */
  readonly dirs: string[];
}

export function scanDir(dir: string): Scan {
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
  | { readonly role: 'reply'; readonly name: string }
  | { readonly role: 'layout' };

/** A saved reply's file: replies/<name>.text.hbs, the name in lower case (agents write "#saved <name>"). */
const REPLY_FILE = /^([a-z0-9][a-z0-9_-]{0,63})\.text\.hbs$/;
export const replyFile = (name: string): string => `replies/${name}.text.hbs`;

const PART_FILE = /^([A-Za-z0-9_-]+)\.(subject|text|html)\.hbs$/;
const PARTIAL_FILE = /^([A-Za-z0-9_-]+)(?:\.(subject|text|html))?\.hbs$/;

export interface Config {
  readonly languages: ReadonlySet<string>;
  readonly queues: ReadonlySet<string>;
  readonly defaultLanguage: string;
}

export function classify(rel: string, cfg: Config, problems: Problems): Role | null {
  const segs = rel.split('/');
  let i = 0;
  const folderish = (s: string | undefined, remaining: number): s is string =>
    s !== undefined && remaining > 1 && s !== 'partials' && s !== 'layouts' && s !== 'replies';
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
  if (rest.length === 2 && a === 'replies' && b !== undefined) {
    const m = REPLY_FILE.exec(b);
    if (m?.[1] === undefined) {
      problems.add(rel, null, 'Unexpected saved reply file name (expected replies/<name>.text.hbs; the name in lower-case letters, digits, - and _, at most 64)');
      return null;
    }
    return { role: 'reply', name: m[1] };
  }
  if (rest.length === 2 && a === 'layouts' && b !== undefined) {
    if (!templateLayouts.some((l) => LAYOUT_PARTS.some((part) => layoutFile(l, part) === `layouts/${b}`))) {
      problems.add(rel, null, `Unexpected layout file (only ${LAYOUT_LIST} are used)${didYouMean(b.replace(/\.(text|html)\.hbs$/, ''), templateLayouts, 'layouts/')}`);
      return null;
    }
    return { role: 'layout' };
  }
  problems.add(rel, null, 'Unexpected file location (templates, partials/, layouts/ and replies/ go at the top or in a <queue>, <language> or <queue>/<language> folder)');
  return null;
}

// ---------------------------------------------------------------------------------------------
// The loaded folder and its fallback chains

export interface Folder {
  readonly cfg: Config;
  readonly sources: ReadonlyMap<string, string>;
  /** Parsed files (only when read for checking); null when the file has a syntax error (already reported). */
  readonly asts: ReadonlyMap<string, Ast | null>;
  /** Folder prefixes ("de/", "billing/", "billing/de/") that hold at least one file. */
  readonly prefixes: ReadonlySet<string>;
  readonly partialNames: ReadonlySet<string>;
  /** Names of the saved replies (replies/<name>.text.hbs) in any folder. */
  readonly replyNames: ReadonlySet<string>;
  /** Files that come from the shipped set because `dir` has none of that name (empty without an overlay). */
  readonly shipped: ReadonlySet<string>;
}

export function pickLanguage(requested: string | undefined, cfg: Config): string {
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
export function chainFor(folder: Folder, target: RenderTarget): { chain: string[]; language: string } {
  const lang = pickLanguage(target.language, folder.cfg);
  const queue = target.queue !== undefined && folder.cfg.queues.has(target.queue) ? target.queue : null;
  const all = queue !== null ? [`${queue}/${lang}/`, `${queue}/`, `${lang}/`] : [`${lang}/`];
  const out: string[] = [];
  for (const p of all) if (folder.prefixes.has(p) && !out.includes(p)) out.push(p);
  out.push('');
  return { chain: out, language: lang };
}

export function resolveFile(folder: Folder, chain: readonly string[], local: string): string | null {
  for (const prefix of chain) if (folder.sources.has(prefix + local)) return prefix + local;
  return null;
}

/** The saved replies a chain offers: name → file (the most specific folder wins), sorted by name. */
export function repliesOf(folder: Folder, chain: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of [...folder.replyNames].sort()) {
    const rel = resolveFile(folder, chain, replyFile(name));
    if (rel !== null) out.set(name, rel);
  }
  return out;
}

export function resolvePartial(folder: Folder, chain: readonly string[], name: string, part: Part): string | null {
  for (const prefix of chain) {
    for (const local of [`partials/${name}.${part}.hbs`, `partials/${name}.hbs`]) {
      if (folder.sources.has(prefix + local)) return prefix + local;
    }
  }
  return null;
}

export function configOf(opts: TemplateFolderOptions): Config {
  return {
    languages: new Set([...opts.languages, opts.defaultLanguage]),
    queues: new Set(opts.queues),
    defaultLanguage: opts.defaultLanguage,
  };
}

export interface ReadFolder {
  /** null when the folder itself cannot be read (reported). */
  readonly folder: Folder | null;
  /** Every directory (absolute), for the watchers. */
  readonly dirs: string[];
}

/** The template sets this process builds (template-set.ts buildSet counts them). */
export const TEMPLATE_BUILDS = new Builds();

/**
 * How many of the last builds keep the parsed and compiled templates they used: a source (an edited
 * file's older version) none of them used is parsed and compiled again if it comes back.
 */
export const TEMPLATE_BUILDS_KEPT = 4;

/**
 * Parsed templates, shared by the checks this process runs: a reload parses only the files that
 * changed, and another context in the same process (the test suite builds hundreds) none. Keyed by
 * the source itself; a version no recent build used is forgotten (RecentMemo). The checker only
 * reads the trees it walks. A source that does not parse is not remembered and fails the same way
 * the next time.
 */
const PARSED = new RecentMemo<string, Ast>(TEMPLATE_BUILDS, TEMPLATE_BUILDS_KEPT, 1000);

function parsed(source: string): Ast {
  return PARSED.get(source, () => hb.parse(source));
}

/**
 * Read and classify every file; with `parse`, also parse each one (syntax errors reported) for
 * the checker. Rendering needs no parse tree: Handlebars compiles a template at its first use.
 */
export function readFolder(opts: TemplateFolderOptions, problems: Problems, parse: boolean): ReadFolder {
  const cfg = configOf(opts);
  let scan: Scan;
  try {
    scan = scanDir(opts.dir);
  } catch (err) {
    problems.add('.', null, `Cannot read the template folder ${opts.dir}: ${err instanceof Error ? err.message : String(err)}`);
    return { folder: null, dirs: [] };
  }
  const asts = new Map<string, Ast | null>();
  const prefixes = new Set<string>();
  const partialNames = new Set<string>();
  const replyNames = new Set<string>();
  const sources = new Map<string, string>();
  const shipped = new Set<string>();
  const take = (rel: string, source: string, role: Role): void => {
    sources.set(rel, source);
    if (role.role === 'partial') partialNames.add(role.name);
    if (role.role === 'reply') replyNames.add(role.name);
    const segs = rel.split('/');
    for (let i = 1; i < segs.length; i++) prefixes.add(segs.slice(0, i).join('/') + '/');
    if (!parse) return;
    try {
      asts.set(rel, parsed(source));
    } catch (err) {
      const { line, message } = syntaxProblem(err, source);
      problems.add(rel, line, message);
      asts.set(rel, null);
    }
  };
  const isShipped = opts.shippedDir !== undefined && resolve(opts.shippedDir) === resolve(opts.dir);
  if (!isShipped) {
    for (const [rel, source] of scan.sources) {
      const role = classify(rel, cfg, problems);
      if (role !== null) take(rel, source, role);
    }
  }
  if (opts.shippedDir !== undefined) {
    // The admin's folder over the shipped set: what it lacks comes from casegate. Shipped files it
    // cannot place (a language not configured) are not the admin's problem and are left out.
    const ignore = new Problems();
    for (const [rel, source] of isShipped ? scan.sources : scanShipped(opts.shippedDir)) {
      if (sources.has(rel)) continue;
      const role = classify(rel, cfg, ignore);
      // Saved replies are the organisation's own words: the shipped ones are examples, used only
      // when templates.dir is the shipped set. An admin's folder has the replies it has (none
      // offered to agents that the admin cannot take away).
      if (role === null || (role.role === 'reply' && !isShipped)) continue;
      shipped.add(rel);
      take(rel, source, role);
    }
  }
  problems.shippedFiles(shipped);
  return { folder: { cfg, sources, asts, prefixes, partialNames, replyNames, shipped }, dirs: scan.dirs };
}

/** The shipped set does not change while casegate runs: read once per process. */
const SHIPPED = new Map<string, ReadonlyMap<string, string>>();

function scanShipped(dir: string): ReadonlyMap<string, string> {
  let sources = SHIPPED.get(dir);
  if (sources === undefined) {
    try {
      sources = scanDir(dir).sources;
    } catch {
      // Not there (a partial install): the admin's folder must then be whole, as the checks say.
      sources = new Map();
    }
    SHIPPED.set(dir, sources);
  }
  return sources;
}

/** Every distinct fallback chain of the configured queues and languages, with the language it stands for. */
export function distinctChains(folder: Folder): Map<string, { chain: string[]; language: string }> {
  const chains = new Map<string, { chain: string[]; language: string }>();
  for (const queue of [undefined, ...folder.cfg.queues]) {
    for (const language of folder.cfg.languages) {
      const { chain } = chainFor(folder, { language, queue });
      const key = chain.join('|');
      if (!chains.has(key)) chains.set(key, { chain, language });
    }
  }
  return chains;
}

/**
 * A fingerprint of everything a check result depends on: the files (names and contents), the
 * configured languages, the queues that have a folder of their own, and `code` (the checker's own
 * version). A queue without a folder falls back to the base set and changes no fallback chain (see
 * chainFor), so configurations that differ only in such queues share one result.
 */
export function folderHash(folder: Folder, code: string): string {
  const h = createHash('sha256');
  h.update(code).update('\0');
  const queuesWithFolders = [...folder.cfg.queues].filter((q) => folder.prefixes.has(`${q}/`)).sort();
  h.update(JSON.stringify([folder.cfg.defaultLanguage, [...folder.cfg.languages].sort(), queuesWithFolders])).update('\0');
  for (const rel of [...folder.sources.keys()].sort()) h.update(rel).update('\0').update(folder.sources.get(rel) ?? '').update('\0');
  return h.digest('hex');
}

/** How an admin's template folder sits over the shipped set, for `casegate templates check`. */
export interface OverlaySummary {
  /** Files that replace a shipped file of the same name. */
  readonly replaced: string[];
  /** Of those, the ones identical to the shipped file: they would hide a later fix of casegate's. */
  readonly unchanged: string[];
  /** Files the shipped set has no counterpart of (queue folders, own partials, another language). */
  readonly added: string[];
  /** Kinds whose text and html part come one from each set ("confirmation": text yours, html shipped). */
  readonly mixed: ReadonlyArray<{ readonly kind: string; readonly yours: string; readonly shipped: string }>;
}

/** null when the folder is the shipped set itself (or there is none under it). */
export function overlaySummary(opts: TemplateFolderOptions): OverlaySummary | null {
  if (opts.shippedDir === undefined || resolve(opts.shippedDir) === resolve(opts.dir)) return null;
  const shipped = scanShipped(opts.shippedDir);
  let own: ReadonlyMap<string, string>;
  try {
    own = scanDir(opts.dir).sources;
  } catch {
    return null; // reported by the check
  }
  // A saved reply of the admin's is never one "over" a shipped one: those are examples (readFolder).
  const replaced = [...own.keys()].filter((rel) => shipped.has(rel) && !/(^|\/)replies\//.test(rel));
  const unchanged = replaced.filter((rel) => own.get(rel) === shipped.get(rel));
  const added = [...own.keys()].filter((rel) => !replaced.includes(rel));
  const mixed: Array<{ kind: string; yours: string; shipped: string }> = [];
  for (const rel of replaced) {
    const m = /^(.*?)([A-Za-z0-9_-]+)\.(text|html)\.hbs$/.exec(rel);
    if (m === null || m[1]?.includes('partials/') || m[1]?.includes('layouts/')) continue;
    const [, prefix = '', kind = '', part] = m;
    const other = `${prefix}${kind}.${part === 'text' ? 'html' : 'text'}.hbs`;
    if (shipped.has(other) && !own.has(other)) mixed.push({ kind: `${prefix}${kind}`, yours: rel, shipped: other });
  }
  return { replaced, unchanged, added, mixed };
}

/**
 * The file each part of a kind is rendered from for a target (`casegate config explain`): its
 * path in the folder and whether it comes from the shipped set under an admin's folder.
 */
export function kindFiles(opts: TemplateFolderOptions, kind: TemplateName, target: RenderTarget): { readonly language: string; readonly files: { readonly part: Part; readonly file: string | null; readonly shipped: boolean }[] } | null {
  const { folder } = readFolder(opts, new Problems(), false);
  if (folder === null) return null;
  const { chain, language } = chainFor(folder, target);
  return {
    language,
    files: PARTS.map((part) => {
      const file = resolveFile(folder, chain, `${kind}.${part}.hbs`);
      return { part, file, shipped: file !== null && (opts.shippedDir === undefined || opts.shippedDir === opts.dir || folder.shipped.has(file)) };
    }),
  };
}
