/**
 * The static checker: every template file is checked against the data its kind declares
 * (template-data.ts), for every fallback chain (queue × language) it is used in — variable paths
 * through #each/#with/#if, ../ and @root, helper names, arity and argument types, partials at
 * each call site, raw output in HTML, misplaced constructs — and the base set must be complete.
 * Reports into Problems with file and line; knows nothing about rendering (trial renders:
 * template-set.ts).
 */
import { DateTime } from 'luxon';
import { savedReplyVariables, templateLayout, templateLayouts, templateNames, templateVariables, type TemplateName } from './template-data.js';
import {
  distinctChains,
  layoutFile,
  LAYOUT_LIST,
  LAYOUT_PARTS,
  PARTS,
  repliesOf,
  resolveFile,
  resolvePartial,
  type Folder,
  type Part,
} from './template-folder.js';
import { didYouMean, type Problems } from './template-problems.js';
import type { Ast } from './template-helpers.js';
import { member, T_BOOLEAN, T_NULL, T_NUMBER, T_STRING, T_UNKNOWN, tyOfFields, type Ty } from './template-types.js';

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
  ['endpoint', { min: 1, max: 1, hash: ['locale'], returns: T_STRING, first: 'string' }],
  ['paragraphs', { min: 1, max: 1, hash: ['style'], returns: T_STRING, first: 'string', htmlOnly: true }],
]);

const BLOCK_HELPERS: ReadonlySet<string> = new Set(['if', 'unless', 'each', 'with']);

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

/** @-variables available everywhere: @language is the language of the templates being rendered, @dir its direction ("ltr"/"rtl"). */
const TOP_DATA: ReadonlyMap<string, Ty> = new Map([
  ['language', T_STRING],
  ['dir', T_STRING],
]);
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

// ---------------------------------------------------------------------------------------------
// The whole folder

/** Check the folder (read with parse trees): completeness of the base set and every file on every chain. */
export function checkFolder(folder: Folder, problems: Problems): void {
  // The base set must be complete.
  for (const kind of templateNames) {
    for (const part of PARTS) {
      const rel = `${kind}.${part}.hbs`;
      if (!folder.sources.has(rel)) problems.add(rel, null, `Missing template file (every template needs ${kind}.subject.hbs, ${kind}.text.hbs and ${kind}.html.hbs in the base folder)`);
    }
  }
  for (const layout of templateLayouts) {
    for (const part of LAYOUT_PARTS) {
      const rel = layoutFile(layout, part);
      if (!folder.sources.has(rel)) problems.add(rel, null, `Missing layout file (the base folder needs ${LAYOUT_LIST})`);
    }
  }

  const chains = distinctChains(folder);

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
    // Saved replies: text parts of an agent-reply, with the variables declared for them.
    const replyRoot = tyOfFields(savedReplyVariables);
    for (const file of repliesOf(folder, chain).values()) checker.checkTop(file, { kind: 'agent-reply', part: 'text', chain, isLayout: false, shared: false }, replyRoot);
  }
}
