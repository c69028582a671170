/**
 * Template engine for every outgoing email: load a template folder, render a kind for a case's
 * language and queue, hot reload. The work is split: template-folder.ts (files, fallback chains,
 * the admin's folder over the shipped set), template-problems.ts (what a check reports),
 * template-checker.ts (static check against the declared data), template-helpers.ts
 * (the Handlebars environment and helpers: the only importer of handlebars), template-set.ts
 * (compiled set, trial renders, the cache of checked sets).
 *
 * Files in the template folder (paths relative to it):
 *
 *   <kind>.subject.hbs, <kind>.text.hbs, <kind>.html.hbs   one set per kind (template-data.ts)
 *   layouts/default.text.hbs, layouts/default.html.hbs      wrap the body of customer mail: {{{body}}}
 *   layouts/staff.text.hbs, layouts/staff.html.hbs          wrap the body of mail to agents, leads, admins
 *   partials/<name>.hbs                                      {{> name}} in every part
 *   partials/<name>.text.hbs / .html.hbs / .subject.hbs      variant for that part only
 *
 * An admin's folder (templates.dir) lies over the shipped set: a file it has replaces the shipped
 * file of the same relative path, every other file is the shipped one (shipped language folders of
 * languages not configured are left out). Problems in a shipped file say so.
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
 *     example data: text and html must begin with the reply marker, and neither the subject nor
 *     the kind's own text or html part may render empty.
 * The checks run on every reload and in `templates check`; the daemon's start and one-shot
 * commands check a set whose content has not passed before and reuse one that has
 * (template-set.ts: the check cache).
 *
 * Helpers (templateHelpers documents them for admins): eq a b (→ boolean, for
 * {{#if (eq case.priority "high")}}), join list [separator] (default ", "), formatDate iso
 * [format="dd.MM.yyyy"] [zone="Europe/Berlin"] [locale="de"] (default: medium date and time in the
 * template language, in the render target's zone — customer mail: the queue's — else in the
 * timestamp's own offset), duration minutes [locale="de"] (words in
 * the template language), paragraphs text [style="…"] (html parts only: escaped text as <p>s
 * with <br> for line breaks; the one helper that returns markup, built from escaped text only).
 * Besides the declared data, templates can use @language: the language of the chosen templates
 * (the case's language if configured, else the default language); @dir its writing direction
 * ("rtl" for Arabic, Hebrew …, else "ltr"); @zone is the target's time
 * zone (formatDate's default).
 *
 * Hot reload (watch: true): every folder is watched with a non-recursive fs.watch (the set of
 * watched folders is re-synced after each reload, so new override folders are picked up); changes
 * are debounced by 100 ms, then everything is rebuilt and checked. A set with problems is logged
 * at error level, one line per problem, and the previous set stays in use.
 * Files and folders starting with "." and files not ending in .hbs are ignored.
 */
import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { SavedReplyData, TemplateDataMap, TemplateName } from './template-data.js';
import { chainFor, configOf, pickLanguage, type RenderTarget, type TemplateFolderOptions } from './template-folder.js';
import type { TemplateProblem } from './template-problems.js';
import { formatProblem, TemplateCheckError } from './template-check-error.js';
import { buildSet, renderKind, renderSavedReply, type BuildResult, type CheckMode, type RenderedEmail, type TemplateSet } from './template-set.js';

export type { TemplateDataMap, TemplateName } from './template-data.js';
export type { RenderTarget } from './template-folder.js';
export type { TemplateProblem } from './template-problems.js';
export { templateHelpers } from './template-helpers.js';
export { cleanSubject, cleanText, type RenderedEmail } from './template-set.js';
export { formatProblem, TemplateCheckError } from './template-check-error.js';

// ---------------------------------------------------------------------------------------------
// Public API

export interface TemplateEngineOptions extends TemplateFolderOptions {
  readonly watch: boolean;
  readonly log: Logger;
  /**
   * 'full' (default): check everything now. 'cached': reuse a set whose exact content already
   * passed (in this process or per `cacheFile`); one-shot commands start without trial renders.
   */
  readonly check?: CheckMode;
  /** Where the fingerprint of the last checked set is kept (<dataDir>/template-check.json). */
  readonly cacheFile?: string | null;
  /** The instance secret: signs the compiled templates kept in cacheFile (template-set.ts). */
  readonly cacheKey?: string | null;
}

export interface TemplateEngine {
  render<N extends TemplateName>(name: N, data: TemplateDataMap[N], target: RenderTarget): RenderedEmail;
  /** The names of the saved replies (replies/<name>.text.hbs) a case of this language and queue can use, sorted. */
  savedReplies(target: RenderTarget): string[];
  /** A saved reply's text for this target (trimmed), or null when it has none of that name. */
  renderSavedReply(name: string, data: SavedReplyData, target: RenderTarget): string | null;
  /** Re-read the folder from disk and check everything, without swapping it in. */
  check(): TemplateProblem[];
  /** Stop watching (idempotent). */
  close(): void;
}

/** Load, check (see `check`) and compile the folder; throws TemplateCheckError listing every problem. */
export function loadTemplates(opts: TemplateEngineOptions): TemplateEngine {
  const first = buildSet({ ...opts, check: opts.check ?? 'full' });
  if (first.set === null) throw new TemplateCheckError(first.problems);
  opts.log.info({ dir: opts.dir, files: first.set.fileCount, checked: first.checked }, 'email templates loaded');
  return new Engine(opts, first.set, first.dirs);
}

/**
 * The language whose templates a target gets: the requested one if configured (exact,
 * case-insensitive or by its primary subtag), else the default language.
 */
export function templateLanguage(requested: string | undefined, opts: Pick<TemplateEngineOptions, 'defaultLanguage' | 'languages'>): string {
  return pickLanguage(requested, configOf({ ...opts, dir: '', queues: [] }));
}

/** Where a data directory keeps the fingerprint of the last template set that passed the checks. */
export function templateCheckCache(dataDir: string): string {
  return join(dataDir, 'template-check.json');
}

/** Check the folder without loading it (for `casegate templates check` and tests). */
export { overlaySummary, type OverlaySummary } from './template-folder.js';

export function checkTemplateDir(opts: TemplateFolderOptions): TemplateProblem[] {
  return buildSet({ ...opts, check: 'full' }).problems;
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
    return renderKind(ks, cs.partials, data, language, target.zone);
  }

  check(): TemplateProblem[] {
    return buildSet({ ...this.opts, check: 'full' }).problems;
  }

  savedReplies(target: RenderTarget): string[] {
    return [...(this.chainSet(target)?.cs.replies.keys() ?? [])];
  }

  renderSavedReply(name: string, data: SavedReplyData, target: RenderTarget): string | null {
    const found = this.chainSet(target);
    const fn = found?.cs.replies.get(name);
    return found === null || fn === undefined ? null : renderSavedReply(fn, found.cs.partials, data, found.language, target.zone);
  }

  private chainSet(target: RenderTarget) {
    const set = this.current;
    const { chain, language } = chainFor(set.folder, target);
    const cs = set.chains.get(chain.join('|'));
    return cs === undefined ? null : { cs, language };
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
      result = buildSet({ ...this.opts, check: 'full' });
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
