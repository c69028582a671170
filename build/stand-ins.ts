/**
 * The CommonJS stand-ins build/bundle.ts puts in the bundle in place of some dependencies (as
 * source text, one module each): apart from the build so that test/unit/stand-ins.test.ts can run
 * them against the real modules.
 */

/** A CommonJS stand-in for `path` that requires the real module the first time something of it is used. */
export function standIn(path: string, names: readonly string[]): string {
  return `let real = null;
const load = () => (real ??= require(${JSON.stringify(path)}));
const names = ${JSON.stringify(names)};
module.exports = new Proxy({}, {
  get: (_, key) => (key === '__esModule' ? undefined : load()[key]),
  has: (_, key) => key in load(),
  ownKeys: () => names,
  getOwnPropertyDescriptor: (_, key) => (names.includes(key) ? { configurable: true, enumerable: true, get: () => load()[key] } : undefined),
});`;
}

/**
 * Modules most commands never call, yet their importers load them at start: a stand-in loads the
 * real module (from node_modules, outside the bundle) the first time something of it is used.
 * The names are what importers take by name (`import { compile } from …`); default imports and
 * require() get the stand-in itself.
 *  - encoding-japanese (≈ 250 KB, tables built at load): libmime and imapflow, Japanese charsets only;
 *  - html-to-text with htmlparser2, entities, selderee … (≈ 230 KB): mailparser and visible-text,
 *    for HTML mail only;
 *  - linkify-it with uc.micro (≈ 15 KB and ≈ 10 ms of compiling its patterns): mailparser, never
 *    used by casegate (linkifyStandIn below).
 */
export const LAZY: Record<string, readonly string[]> = {
  'encoding-japanese': [],
  'html-to-text': ['compile', 'convert', 'htmlToText'],
  'linkify-it': [],
};
/**
 * html-to-text's convert (mailparser's htmlToText) compiles its options into a converter on every
 * call, and mailparser calls it with the same options for every HTML-only part: on the benchmark's
 * heavy mix (30 KB HTML with a quoted chain) the compiling was half of the conversion's time (0.49
 * of 0.92 s a 2,000-message backlog). The stand-in keeps the converter of each option set that is
 * plain data (no formatter functions) and converts with it: the same text, compiled once.
 */
export function htmlToTextStandIn(): string {
  return `${standIn('html-to-text', LAZY['html-to-text'] ?? [])}
const compiled = new Map();
const plainKey = (options) => {
  let plain = true;
  const key = JSON.stringify(options, (_, v) => {
    if (typeof v === 'function') plain = false;
    return v;
  });
  return plain ? key : null;
};
function convert(html, options = {}, metadata = undefined) {
  const key = plainKey(options);
  if (key === null) return load().convert(html, options, metadata);
  let converter = compiled.get(key);
  if (converter === undefined) {
    converter = load().compile(options);
    if (compiled.size < 16) compiled.set(key, converter);
  }
  return converter(html, metadata);
}
const lazy = module.exports;
module.exports = new Proxy(lazy, { get: (t, key) => (key === 'convert' || key === 'htmlToText' ? convert : Reflect.get(t, key)) });`;
}

/**
 * mailparser makes its linkify-it instance when it loads and configures it with the full list of
 * top-level domains, which compiles linkify's patterns (≈ 10 ms in every process that loads
 * mailparser: `ingest`, the daemon, its MIME thread). It uses the instance only to turn links
 * into anchors in textAsHtml, which casegate switches off (skipTextToHtml, skipTextLinks). The
 * stand-in's instance notes the configuring calls (tlds, add, set) and makes the real one — and
 * replays them — the first time anything else of it is used.
 */
export function linkifyStandIn(): string {
  return `let real = null;
const load = () => (real ??= require('linkify-it'));
const CONFIGURING = new Set(['tlds', 'add', 'set']);
function LinkifyIt(...args) {
  const calls = [];
  let instance = null;
  const made = () => {
    if (instance === null) {
      instance = load()(...args);
      for (const [method, params] of calls) instance[method](...params);
    }
    return instance;
  };
  const proxy = new Proxy({}, {
    get: (_, key) => {
      if (instance === null && CONFIGURING.has(key)) return (...params) => (calls.push([key, params]), proxy);
      const value = made()[key];
      return typeof value === 'function' ? value.bind(instance) : value;
    },
    set: (_, key, value) => ((made()[key] = value), true),
    has: (_, key) => key in made(),
  });
  return proxy;
}
module.exports = LinkifyIt;`;
}

/** The stand-in's source for a module of LAZY. */
export function standInFor(path: string): string {
  if (path === 'html-to-text') return htmlToTextStandIn();
  if (path === 'linkify-it') return linkifyStandIn();
  return standIn(path, LAZY[path] ?? []);
}
