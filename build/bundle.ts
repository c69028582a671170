/**
 * Bundles the command line into dist/bin/casegate.js (the `casegate` binary, `npm start`), the
 * daemon's MIME thread into dist/bin/mime-worker.js, and `casegate ingest` and `casegate cases` into
 * dist/bin/ingest.cjs and cases.cjs (with V8 code caches, build/code-cache.ts).
 *
 * Why: every command is a new Node process, and an MTA runs `casegate ingest` once per message.
 * Unbundled, Node's ESM loader resolves, reads and links a few hundred files of casegate and its
 * dependencies before the first line of work (≈ 1 s on an idle machine, most of an ingest). One
 * bundle with one chunk per command group (the dynamic imports in src/cli/run.ts stay lazy) loads a
 * handful of files instead. `tsc` stays the type checker and builds dist/src for the tests and
 * the benchmark; esbuild only transpiles and joins.
 *
 * Left out of the bundle (loaded from node_modules at run time): better-sqlite3 (native addon),
 * the modules casegate itself loads on demand with createRequire (pg, pino-pretty, cli-progress,
 * mbox-reader, recheck, date-holidays, asn1js) so they cost nothing unless used, iconv-lite (its
 * tables load when a charset needs them) and the modules behind the stand-ins (build/stand-ins.ts).
 */
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { asciiRegexLiterals } from './ascii-regex.js';
import { writeCodeCaches } from './code-cache.js';
import { CODE_CACHED_COMMANDS } from '../src/cli/command-name.js';
import { LAZY, standIn, standInFor } from './stand-ins.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUT = join(ROOT, 'dist', 'bin');

/**
 * libmime ships an ESM and a CommonJS build; mailparser imports the one, mailsplit and imapflow
 * require the other, so a bundle held both (twice its 80 KB MIME-type table). Every import takes
 * the CommonJS build (whose module.exports is the same shared instance ESM's default export is).
 */
const oneLibmime: Plugin = {
  name: 'one-libmime',
  setup(b) {
    const cjs = createRequire(join(ROOT, 'package.json')).resolve('libmime');
    b.onResolve({ filter: /^libmime$/ }, () => ({ path: cjs }));
  },
};

/**
 * libmime's charset module builds iconv-lite's whole GBK codec (its decode and encode tables,
 * ≈ 15 ms) when it loads, only to hold the decoder class all double-byte codecs share. The same
 * class is taken from iconv-lite's DBCS module, which builds nothing. Should libmime change the
 * line, nothing matches: the bundle is as before, and the build says so.
 */
const DBCS_LINE = "const DBCS_DECODER = iconv_lite_1.default.getCodec('gbk').decoder;";
const cheapDbcsDecoder: Plugin = {
  name: 'cheap-dbcs-decoder',
  setup(b) {
    b.onLoad({ filter: /[\\/]libmime[\\/]dist[\\/]cjs[\\/]charset\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes(DBCS_LINE)) return { contents: source, loader: 'js', warnings: [{ text: 'libmime: the GBK decoder line changed; its codec is built at every start' }] };
      return { contents: source.replace(DBCS_LINE, "const DBCS_DECODER = require('iconv-lite/encodings/dbcs-codec.js')._dbcs.prototype.decoder;"), loader: 'js' };
    });
  },
};

/** The modules of LAZY resolve to their stand-ins (build/stand-ins.ts); the stand-ins' own require() of them stays outside. */
const lazyModules: Plugin = {
  name: 'lazy-modules',
  setup(b) {
    const filter = new RegExp(`^(${Object.keys(LAZY).join('|')})$`);
    b.onResolve({ filter }, (args) => (args.namespace === 'casegate-lazy' ? { path: args.path, external: true } : { path: args.path, namespace: 'casegate-lazy' }));
    b.onLoad({ filter: /.*/, namespace: 'casegate-lazy' }, (args) => ({
      contents: standInFor(args.path),
      loader: 'js',
      resolveDir: ROOT,
    }));
  },
};

/**
 * Node's child_process (with net and dgram behind it, ≈ 5 ms to load) is required at start by
 * commander (only for executable subcommands, which casegate has none of) and node-cron (only for
 * its background tasks, which casegate does not use): for those two importers a stand-in loads it
 * the first time something of it is used. Casegate's own imports and other packages get the real one.
 */
const LAZY_BUILTINS: Record<string, { readonly importers: RegExp; readonly names: readonly string[] }> = {
  'node:child_process': { importers: /[\\/]node_modules[\\/](commander|node-cron)[\\/]/, names: ['spawn', 'fork', 'exec', 'execFile', 'spawnSync', 'execSync', 'execFileSync'] },
};
const lazyBuiltins: Plugin = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) => {
      const path = args.path.startsWith('node:') ? args.path : `node:${args.path}`;
      const lazy = LAZY_BUILTINS[path];
      if (args.namespace === 'casegate-lazy-builtin') return { path, external: true };
      return lazy !== undefined && lazy.importers.test(args.importer) ? { path, namespace: 'casegate-lazy-builtin' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'casegate-lazy-builtin' }, (args) => ({
      contents: standIn(args.path, LAZY_BUILTINS[args.path]?.names ?? []),
      loader: 'js',
      resolveDir: ROOT,
    }));
  },
};

/**
 * Handlebars' code generator requires source-map (≈ 40 KB) for precompiling with source maps,
 * which casegate never asks for; without it Handlebars uses its own small stand-in.
 */
const noSourceMapInHandlebars: Plugin = {
  name: 'no-source-map-in-handlebars',
  setup(b) {
    b.onResolve({ filter: /^source-map$/ }, (args) => (/[\\/]handlebars[\\/]/.test(args.importer) ? { path: 'source-map', namespace: 'casegate-empty' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'casegate-empty' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
  },
};

/**
 * The template checker's fingerprint in every bundle (checkerCode in src/mail-out/template-check-cache.ts): a hash of its
 * source files, the same in the ES module chunks and in dist/bin/ingest.cjs and cases.cjs, so each
 * trusts a set another checked.
 */
function templateCheckerId(): string {
  const dir = join(ROOT, 'src', 'mail-out');
  const h = createHash('sha256');
  for (const name of readdirSync(dir).filter((n) => /^template-.*\.ts$/.test(n)).sort()) h.update(`${name}\n`).update(readFileSync(join(dir, name)));
  return h.digest('hex');
}

const common = {
  absWorkingDir: ROOT,
  outdir: OUT,
  bundle: true,
  platform: 'node',
  target: 'node20.19',
  sourcemap: true,
  // Whitespace and syntax only (names stay readable in stack traces): a third less to read and
  // parse at every start.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  plugins: [oneLibmime, cheapDbcsDecoder, lazyModules, lazyBuiltins, noSourceMapInHandlebars],
  logLevel: 'warning',
  // iconv-lite: its index is small and loads its encodings (≈ 500 KB of tables) on first use only,
  // which a bundle would read and parse at every start.
  external: ['better-sqlite3', 'pg', 'pino-pretty', 'cli-progress', 'mbox-reader', 'recheck', 'date-holidays', 'asn1js', 'iconv-lite'],
  metafile: true,
} satisfies BuildOptions;
const checkerId = { CASEGATE_TEMPLATE_CHECKER_ID: JSON.stringify(templateCheckerId()) };

rmSync(OUT, { recursive: true, force: true });
const result = await build({
  ...common,
  // The daemon's MIME thread (src/mime/mime-thread.ts) is an entry of its own: dist/bin/mime-worker.js.
  // dist/bin/cli-run.js exports the command line the binary runs (the same chunk), for the tests
  // that run commands in their own process (test/helpers/cli-in-process.ts).
  entryPoints: { casegate: 'src/cli.ts', 'mime-worker': 'src/mime/mime-worker.ts', 'cli-run': 'src/cli/run.ts' },
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  format: 'esm',
  define: checkerId,
  // Bundled CommonJS dependencies call require() for Node's built-ins; ESM has no require.
  banner: { js: "import { createRequire as __casegateRequire } from 'node:module';\nconst require = __casegateRequire(import.meta.url);" },
});
/**
 * `casegate ingest` and `casegate cases` (src/cli/command-name.ts), each alone as one CommonJS file
 * that the binary runs with V8's code cache (src/cli/code-cache.ts): an MTA starts `ingest` once
 * per message, agents run `cases` all day. CommonJS because Node 20 keeps no code cache for ES
 * modules; one file each because esbuild splits ES modules only.
 */
const cached = await build({
  ...common,
  entryPoints: Object.fromEntries(CODE_CACHED_COMMANDS.map((name) => [name, `src/cli/${name}-main.ts`])),
  // mailauth (with undici, joi, BIMI's certificate parsers: 1.4 MB, half of ingest.cjs) only for
  // `senderAuth: verify`: required from node_modules when used, as the chunks import it then.
  external: [...common.external, 'mailauth'],
  // import() of such a module becomes require(): a vm.Script has no loader for import().
  supported: { 'dynamic-import': false },
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  define: { ...checkerId, 'import.meta.url': '__casegateImportMetaUrl' },
  banner: { js: "const __casegateImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
});
// ASCII, so that Node holds each as one byte a character (build/ascii-regex.ts). Node does not
// apply source maps to a vm.Script; in the map, columns after an escaped literal on its line shift.
for (const name of CODE_CACHED_COMMANDS) {
  const file = join(OUT, `${name}.cjs`);
  const ascii = asciiRegexLiterals(readFileSync(file, 'utf8'));
  writeFileSync(file, ascii.code);
  if (ascii.nonAsciiLeft > 0) process.stdout.write(`bundle: ${name}.cjs keeps ${ascii.nonAsciiLeft} non-ASCII characters outside regular expressions: Node reads it as a two-byte string\n`);
}
// esbuild's metafile (what each chunk holds, for https://esbuild.github.io/analyze/), on request.
const metaOut = process.env['CASEGATE_BUNDLE_META'];
if (metaOut !== undefined && metaOut !== '') writeFileSync(metaOut, JSON.stringify(result.metafile));
// An executable script (#! line): a symlink to it is the `casegate` command (docs/operating.md).
chmodSync(join(OUT, 'casegate.js'), 0o755);
const outputs = Object.entries(result.metafile.outputs).filter(([file]) => file.endsWith('.js'));
const bytes = outputs.reduce((sum, [, o]) => sum + o.bytes, 0);
const cjs = Object.entries(cached.metafile.outputs).filter(([file]) => file.endsWith('.cjs')).map(([file, o]) => `${file.split('/').pop() ?? file} ${(o.bytes / 1e6).toFixed(1)} MB`);
process.stdout.write(`bundle: dist/bin/casegate.js, mime-worker.js, cli-run.js and ${outputs.length - 3} chunks, ${(bytes / 1e6).toFixed(1)} MB; ${cjs.join(', ')}\n`);
process.stdout.write(`${writeCodeCaches(join(OUT, 'casegate.js'), join(ROOT, 'src', 'cli.ts'))}\n`);
