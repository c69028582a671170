/**
 * The compiled template set and the build that produces it: the folder read (template-folder.ts),
 * checked (template-checker.ts), compiled per fallback chain, and trial-rendered with every
 * kind's example data and a "blank" variant (flipped booleans, empty strings and lists, so else
 * branches run too); text and html must begin with the reply marker.
 *
 * Checking is the expensive part (parse trees of every file, every chain, two renders of every
 * kind per chain). A set that passed is remembered by a fingerprint of its content (file names
 * and sources, languages and queues, the checker's own code and Handlebars' version): in this
 * process, and in a cache file when one is given (<dataDir>/template-check.json; both in
 * template-check-cache.ts). `check:
 * 'cached'` (the daemon's start, one-shot commands) reuses such a set without checking again and
 * compiles each template at its first render; `check: 'full'` (hot reloads, `templates check`)
 * always checks. A set of other content — an edit, other queues or languages, another casegate or
 * Handlebars version — is checked in either mode, and one with problems is refused.
 *
 * The check compiles every file (Handlebars' precompile); the cache file keeps that output too,
 * signed with an HMAC under the instance secret (`cacheKey`). A one-shot command that renders —
 * `casegate ingest` confirming a new case — then runs the compiled code instead of running
 * Handlebars' compiler on the sources again (about 40 ms of a 0.5 s command). Output that does not
 * verify (no key, another key, edited by hand) is never run: the sources are compiled instead.
 */
import { cachedSpecs, checkerCode, NO_SPECS, passedBefore, readCache, remember, type CachedSpecs, type Specs } from './template-check-cache.js';
import { checkFolder } from './template-checker.js';
import { sampleSavedReplyData, savedReplyVariables, sampleTemplateData, templateLayout, templateNames, templateVariables, type TemplateName, type VarFields, type VarSpec } from './template-data.js';
import {
  distinctChains,
  folderHash,
  layoutFile,
  PARTS,
  readFolder,
  repliesOf,
  resolveFile,
  resolvePartial,
  TEMPLATE_BUILDS,
  TEMPLATE_BUILDS_KEPT,
  type Folder,
  type LayoutPart,
  type Part,
  type TemplateFolderOptions,
} from './template-folder.js';
import { Problems, syntaxProblem, type TemplateProblem } from './template-problems.js';
import { hb, type Delegate } from './template-helpers.js';
import { replyMarkerFor } from './reply-marker.js';
import { textDirection } from '../cases/language.js';
import { RecentMemo } from '../memo.js';

export interface RenderedEmail {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

export type CheckMode = 'full' | 'cached';

export interface BuildOptions extends TemplateFolderOptions {
  readonly check: CheckMode;
  /** File remembering the fingerprint of the last set that passed (skipped when null). */
  readonly cacheFile?: string | null;
  /** Key of the HMAC over the compiled templates kept in cacheFile (the instance secret); without one none are kept or run. */
  readonly cacheKey?: string | null;
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

export interface KindSet {
  readonly subject: Delegate;
  readonly text: Delegate;
  readonly html: Delegate;
  readonly layout: Readonly<Record<LayoutPart, Delegate>>;
}

export interface ChainSet {
  readonly partials: Readonly<Record<Part, Readonly<Record<string, Delegate>>>>;
  readonly kinds: ReadonlyMap<TemplateName, KindSet>;
  /** Saved replies (replies/<name>.text.hbs) by name, sorted by name. */
  readonly replies: ReadonlyMap<string, Delegate>;
  /** Files used per kind and part, and per saved reply ("replies/<name>") (for error attribution). */
  readonly files: ReadonlyMap<string, string>;
}

export interface TemplateSet {
  readonly folder: Folder;
  readonly chains: ReadonlyMap<string, ChainSet>;
  readonly fileCount: number;
}

export interface BuildResult {
  readonly problems: TemplateProblem[];
  readonly set: TemplateSet | null;
  readonly dirs: string[];
  /** Whether the checks ran now (false: a set already checked with this content was reused). */
  readonly checked: boolean;
}

// ---------------------------------------------------------------------------------------------
// Compiling and rendering


/**
 * The template of Handlebars' precompile output: a JavaScript object literal, which is what its own
 * precompiled templates load.
 */
function fromSpec(spec: string): Delegate {
  return hb.template(new Function(`return (${spec});`)() as TemplateSpecification) as Delegate;
}

/**
 * Templates compiled from their source, shared by every set this process builds. A template's
 * function depends on nothing but its source and its escaping: the helpers are those of the one
 * `hb` environment, the partials are passed at each render. So a reloaded set reuses what the set
 * before it compiled for every file that did not change, and so does another context in the same
 * process (the test suite builds hundreds). Keyed by the source itself; a version no recent build
 * used is forgotten (RecentMemo: an edited file's older versions are not kept). A source that does
 * not compile is not remembered and fails the same way the next time.
 */
const COMPILED = new RecentMemo<string, Delegate>(TEMPLATE_BUILDS, TEMPLATE_BUILDS_KEPT, 1000);
const PRECOMPILED = new RecentMemo<string, { readonly spec: string; readonly fn: Delegate }>(TEMPLATE_BUILDS, TEMPLATE_BUILDS_KEPT, 1000);

function sourceKey(source: string, noEscape: boolean): string {
  return `${noEscape ? 'raw' : 'html'}\n${source}`;
}

/** The template of `source`, compiled at its first render (Handlebars' compile). */
function compiledSource(source: string, noEscape: boolean): Delegate {
  return COMPILED.get(sourceKey(source, noEscape), () => hb.compile<object>(source, { noEscape }));
}

/**
 * The template of `source` compiled now (Handlebars' precompile: compile errors throw here), with
 * its code for the cache file. The function is made from that code, as a later command makes it
 * from the cache: compile() would run Handlebars' whole compiler a second time at the first render
 * (the trial render), about a third of a full check's time.
 */
function precompiledSource(source: string, noEscape: boolean): { readonly spec: string; readonly fn: Delegate } {
  return PRECOMPILED.get(sourceKey(source, noEscape), () => {
    const spec = hb.precompile(source, { noEscape }) as string;
    try {
      return { spec, fn: fromSpec(spec) };
    } catch {
      // Not expected (the code is Handlebars' own output): compile() makes it from the source.
      return { spec, fn: compiledSource(source, noEscape) };
    }
  });
}

/** A template from precompiled code when it verifies, else compiled from its source; both at the first render. */
function lazyTemplate(key: string, source: string, noEscape: boolean, cached: CachedSpecs): Delegate {
  let fn: Delegate | null = null;
  return (context, options) => {
    if (fn === null) {
      const spec = cached.get(key);
      if (spec !== null) {
        try {
          // Only code whose HMAC verified under the instance secret is run.
          fn = fromSpec(spec);
        } catch {
          // Code of another Handlebars version (it checks its compiler revision): the source serves.
        }
      }
      fn ??= compiledSource(source, noEscape);
    }
    return fn(context, options);
  };
}

/**
 * Compile every file of every chain. `eager` (a full check): precompile() runs the whole compiler
 * now, so compile errors surface here and not at the first render, and its output is collected in
 * `specs` for the cache. Otherwise each template is made at its first render — from the cache's
 * compiled code when it verifies, else from its source: only what is rendered.
 */
function compileSet(folder: Folder, problems: Problems, eager: boolean, specs: Specs, cached: CachedSpecs = NO_SPECS): TemplateSet {
  const chains = distinctChains(folder);
  const compiled = new Map<string, Delegate>();
  const compile = (rel: string, part: Part): Delegate => {
    const noEscape = part !== 'html';
    const key = `${noEscape ? 'raw' : 'html'}:${rel}`;
    const hit = compiled.get(key);
    if (hit !== undefined) return hit;
    const source = folder.sources.get(rel) ?? '';
    let fn: Delegate | null = null;
    if (eager) {
      try {
        const made = precompiledSource(source, noEscape);
        specs.set(key, made.spec);
        fn = made.fn;
      } catch (err) {
        const { line, message } = syntaxProblem(err);
        problems.add(rel, line, message.replace(/^Syntax error/, 'Compile error'));
      }
    }
    fn ??= eager ? compiledSource(source, noEscape) : lazyTemplate(key, source, noEscape, cached);
    compiled.set(key, fn);
    return fn;
  };

  const chainSets = new Map<string, ChainSet>();
  for (const [key, { chain }] of chains) {
    const partials: Record<Part, Record<string, Delegate>> = { subject: {}, text: {}, html: {} };
    for (const part of PARTS) {
      for (const name of folder.partialNames) {
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
    const replies = new Map<string, Delegate>();
    for (const [name, rel] of repliesOf(folder, chain)) {
      files.set(`replies/${name}`, rel);
      replies.set(name, compile(rel, 'text'));
    }
    chainSets.set(key, { partials, kinds, replies, files });
  }
  return { folder, chains: chainSets, fileCount: folder.sources.size };
}

/** Render every kind on every chain with example and blank data; report failures and missing reply markers. */
function trialRender(set: TemplateSet, problems: Problems): void {
  for (const [key, { language }] of distinctChains(set.folder)) {
    const cs = set.chains.get(key);
    if (cs === undefined) continue;
    for (const kind of templateNames) {
      const ks = cs.kinds.get(kind);
      if (ks === undefined) continue;
      const sample = withLanguage(sampleTemplateData(kind), language);
      const blank = withLanguage(blankData(templateVariables(kind)), language);
      const fileOf = (local: string): string => cs.files.get(`${kind}.${local}`) ?? local;
      for (const [variant, data] of [['example', sample], ['blank', blank]] as const) {
        let out: RenderedParts;
        try {
          out = renderParts(ks, cs.partials, data, language);
        } catch (err) {
          const line =
            typeof err === 'object' && err !== null && 'lineNumber' in err && typeof err.lineNumber === 'number'
              ? err.lineNumber
              : null;
          problems.add(fileOf(`${kind}.text.hbs`), line, `Rendering "${kind}" with ${variant} data failed: ${err instanceof Error ? err.message : String(err)}`);
          continue;
        }
        if (variant !== 'example') continue;
        // A part that renders to nothing (a truncated file, an override left empty) would send
        // every email of the kind without a subject (no case tag) or without a message.
        for (const [part, empty] of [['subject', out.subject === ''], ['text', out.textBody === ''], ['html', visibleText(out.htmlBody) === '']] as const) {
          if (empty) problems.add(fileOf(`${kind}.${part}.hbs`), null, `The ${part === 'subject' ? 'subject' : `${part} part`} of "${kind}" is empty with the example data: every such email would go out without it`);
        }
        const marker = replyMarkerFor(language);
        if (!out.text.startsWith(marker)) {
          problems.add(fileOf(layoutFile(templateLayout(kind), 'text')), null, `The text part of "${kind}" does not begin with the reply marker ({{> reply-marker}} or {{replyMarker}}); replies could not be cut`);
        }
        if (!visibleText(out.html).startsWith(hb.escapeExpression(marker))) {
          problems.add(fileOf(layoutFile(templateLayout(kind), 'html')), null, `The html part of "${kind}" does not begin with the reply marker ({{> reply-marker}} or {{replyMarker}}); replies could not be cut`);
        }
      }
    }
  }
}

/** Render every saved reply on every chain with example and blank data; one that fails or is empty is a problem. */
function trialRenderReplies(set: TemplateSet, problems: Problems): void {
  const sample = sampleSavedReplyData();
  const blank = blankData(savedReplyVariables);
  for (const [key, { language }] of distinctChains(set.folder)) {
    const cs = set.chains.get(key);
    if (cs === undefined) continue;
    for (const [name, fn] of cs.replies) {
      const file = cs.files.get(`replies/${name}`) ?? `replies/${name}.text.hbs`;
      for (const [variant, data] of [['example', withLanguage(sample, language)], ['blank', withLanguage(blank, language)]] as const) {
        try {
          const text = renderSavedReply(fn, cs.partials, data, language);
          if (variant === 'example' && text === '') problems.add(file, null, `The saved reply "${name}" is empty with the example data: "#saved ${name}" would add nothing`);
        } catch (err) {
          const line = typeof err === 'object' && err !== null && 'lineNumber' in err && typeof err.lineNumber === 'number' ? err.lineNumber : null;
          problems.add(file, line, `Rendering the saved reply "${name}" with ${variant} data failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
  }
}

/** A saved reply's text: as a text part (no escaping, \n line endings, no control characters), trimmed. */
export function renderSavedReply(fn: Delegate, partials: ChainSet['partials'], data: object, language: string, zone?: string): string {
  const raw = fn(data, { partials: partials.text, data: { language, dir: textDirection(language), ...(zone !== undefined ? { zone } : {}) } });
  return cleanText(raw).trim();
}

function withLanguage<T extends object>(data: T, language: string): T {
  const c: unknown = 'case' in data ? data.case : undefined;
  if (typeof c !== 'object' || c === null) return data;
  return { ...data, case: { ...c, language } };
}

/** The blank variant of a value: flipped booleans, empty strings and lists, zero. */
function blankOf(spec: VarSpec): unknown {
  if (spec.type === 'object') return blankData(spec.fields);
  if (spec.type === 'boolean') return !spec.example;
  return { list: [], string: '', number: 0 }[spec.type];
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

/** With the kind's own text and html bodies (before their layouts), for the checks. */
type RenderedParts = RenderedEmail & { readonly textBody: string; readonly htmlBody: string };

export function renderKind(ks: KindSet, partials: ChainSet['partials'], data: object, language: string, zone?: string): RenderedEmail {
  const { subject, text, html } = renderParts(ks, partials, data, language, zone);
  return { subject, text, html };
}

function renderParts(ks: KindSet, partials: ChainSet['partials'], data: object, language: string, zone?: string): RenderedParts {
  // The last argument is Handlebars' @-data: @language is the language of the chosen templates,
  // @dir its writing direction ("rtl" for Arabic, Hebrew …, else "ltr"), @zone the time zone
  // formatDate shows times in (when the target has one); layouts also get @subject, the finished
  // subject line.
  const dir = textDirection(language);
  const run = (fn: Delegate, context: object, part: Part, extra: object = {}): string =>
    fn(context, { partials: partials[part], data: { language, dir, ...(zone !== undefined ? { zone } : {}), ...extra } });
  // The reply marker is written in the language of the chosen templates (visible-text cuts at any of them).
  if ('replyMarker' in data) data = { ...data, replyMarker: replyMarkerFor(language) };
  const subject = cleanSubject(run(ks.subject, data, 'subject'));
  const textBody = run(ks.text, data, 'text').replace(/^(?:[ \t]*\r?\n)+/, '').trimEnd();
  const text = cleanText(run(ks.layout.text, { ...data, body: textBody }, 'text', { subject }));
  const htmlBody = run(ks.html, data, 'html');
  const html = run(ks.layout.html, { ...data, body: htmlBody }, 'html', { subject });
  return { subject, text, html, textBody, htmlBody };
}

// ---------------------------------------------------------------------------------------------
// The build

/** Read, check (unless this content passed before and `check` is 'cached') and compile the folder. */
export function buildSet(opts: BuildOptions): BuildResult {
  TEMPLATE_BUILDS.next();
  if (opts.check === 'cached') {
    const quick = new Problems();
    const { folder, dirs } = readFolder(opts, quick, false);
    if (folder !== null && quick.size === 0) {
      const hash = folderHash(folder, checkerCode());
      const record = readCache(opts.cacheFile);
      if (passedBefore(hash) || record?.hash === hash) {
        remember(opts.cacheFile, hash, folder.sources.size, null, null, record);
        return { problems: [], set: compileSet(folder, quick, false, new Map(), cachedSpecs(record, hash, opts.cacheKey)), dirs, checked: false };
      }
    }
  }
  const problems = new Problems();
  const { folder, dirs } = readFolder(opts, problems, true);
  if (folder === null) return { problems: problems.sorted(), set: null, dirs, checked: true };
  checkFolder(folder, problems);
  if (problems.size > 0) return { problems: problems.sorted(), set: null, dirs, checked: true };
  const specs: Specs = new Map();
  const set = compileSet(folder, problems, true, specs);
  if (problems.size > 0) return { problems: problems.sorted(), set: null, dirs, checked: true };
  trialRender(set, problems);
  trialRenderReplies(set, problems);
  if (problems.size > 0) return { problems: problems.sorted(), set: null, dirs, checked: true };
  remember(opts.cacheFile, folderHash(folder, checkerCode()), set.fileCount, specs, opts.cacheKey);
  return { problems: [], set, dirs, checked: true };
}
