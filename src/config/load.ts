import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { feedbackTemplateProblems } from './routing-checks.js';
import { configSchema, type Config } from './schema.js';

/** Where the shipped templates live (next to src/ and dist/ in the package). */
export const PACKAGE_ROOT = findUp(dirname(fileURLToPath(import.meta.url)));

function findUp(from: string): string {
  let dir = from;
  for (let i = 0; i < 5; i++) {
    if (existsSync(resolve(dir, 'package.json'))) return dir;
    dir = resolve(dir, '..');
  }
  return resolve(from, '..', '..');
}

export interface ConfigProblem {
  /** Dotted key path, e.g. "mailboxes.0.addresses.1"; "" for the file itself. */
  readonly path: string;
  readonly message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(`${source}: ${problems.length} configuration problem(s):\n` + problems.map((p) => `  ${p.path || '(file)'}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
  }
}

export interface ResolvedPaths {
  readonly dataDir: string;
  readonly dbPath: string;
  readonly blobDir: string;
  readonly spoolDir: string;
  readonly outgoingDir: string;
  readonly templatesDir: string;
}

export interface ResolvedConfig {
  readonly config: Config;
  /** The file it came from, or null for the embedded default. */
  readonly source: string | null;
  readonly paths: ResolvedPaths;
  /** The HMAC secret (configured, or generated once into <dataDir>/secret). */
  readonly secret: string;
}

export interface LoadOptions {
  /** --config; falls back to env.CASEGATE_CONFIG; none → embedded default. */
  readonly path?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Read, interpolate ${ENV} references, validate (every problem at once) and resolve paths. */
export function loadConfig(opts: LoadOptions = {}): ResolvedConfig {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const file = opts.path ?? env['CASEGATE_CONFIG'];
  let raw: unknown = {};
  let baseDir = cwd;
  let source: string | null = null;
  if (file !== undefined && file !== '') {
    source = resolve(cwd, file);
    baseDir = dirname(source);
    let text: string;
    try {
      text = readFileSync(source, 'utf8');
    } catch (err) {
      throw new ConfigError(source, [{ path: '', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }]);
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (err) {
      const msg = err instanceof YAMLParseError ? `YAML syntax error at line ${err.linePos?.[0]?.line ?? '?'}: ${err.message}` : String(err);
      throw new ConfigError(source, [{ path: '', message: msg }]);
    }
  }
  const problems: ConfigProblem[] = [];
  const interpolated = interpolateEnv(raw, env, [], problems);
  const parsed = configSchema.safeParse(interpolated);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push({ path: issue.path.map(String).join('.'), message: issue.message });
    }
    problems.push(...crossFieldProblems(interpolated, parsed.error.issues));
  }
  if (problems.length > 0 || !parsed.success) {
    throw new ConfigError(source ?? 'embedded default', problems);
  }
  const config = parsed.data;
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const dataDir = abs(config.dataDir);
  const paths: ResolvedPaths = {
    dataDir,
    dbPath: config.database.path !== undefined ? abs(config.database.path) : resolve(dataDir, 'casegate.db'),
    blobDir: resolve(dataDir, 'blobs'),
    spoolDir: resolve(dataDir, 'spool'),
    outgoingDir: config.outgoing.fileDir !== undefined ? abs(config.outgoing.fileDir) : resolve(dataDir, 'outgoing'),
    templatesDir: config.templates.dir !== undefined ? abs(config.templates.dir) : resolve(PACKAGE_ROOT, 'templates'),
  };
  const feedbackProblems = feedbackTemplateProblems(config, paths.templatesDir);
  if (feedbackProblems.length > 0) throw new ConfigError(source ?? 'embedded default', feedbackProblems);
  for (const mb of config.mailboxes) {
    if (mb.imap?.caFile !== undefined) mb.imap.caFile = abs(mb.imap.caFile);
  }
  if (config.outgoing.smtp?.caFile !== undefined) config.outgoing.smtp.caFile = abs(config.outgoing.smtp.caFile);
  return { config, source, paths, secret: config.instance.secret ?? readOrCreateSecret(dataDir) };
}

/** Replace "${NAME}" in every string with env.NAME; a missing variable is a problem at that key. */
function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, path: (string | number)[], problems: ConfigProblem[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = env[name];
      if (v === undefined) {
        problems.push({ path: path.join('.'), message: `environment variable ${name} is not set` });
        return '';
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, [...path, i], problems));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env, [...path, k], problems)]));
  }
  return value;
}

function readOrCreateSecret(dataDir: string): string {
  const file = resolve(dataDir, 'secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  try {
    writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
    return secret;
  } catch {
    // Another process created it first: use theirs.
    return readFileSync(file, 'utf8').trim();
  }
}

/** Sections other sections refer to: when one of them is broken, cross-checks would mislead. */
const REFERENCED_SECTIONS = new Set(['mailboxes', 'queues', 'priorities', 'rules']);

/**
 * zod skips the cross-field checks (duplicate addresses, missing outgoing.smtp, routing
 * references …) while any field is invalid. To still report every problem at once, validate again
 * with the broken sections left at their defaults, and keep what that finds in the other sections
 * — unless a section others refer to is broken, when those findings could be wrong.
 */
function crossFieldProblems(input: unknown, issues: readonly { path: readonly PropertyKey[] }[]): ConfigProblem[] {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return [];
  const failed = new Set(issues.map((i) => String(i.path[0] ?? '')));
  if (failed.has('') || [...failed].some((k) => REFERENCED_SECTIONS.has(k))) return [];
  const rest = Object.fromEntries(Object.entries(input).filter(([k]) => !failed.has(k)));
  const again = configSchema.safeParse(rest);
  if (again.success) return [];
  return again.error.issues
    .filter((i) => !failed.has(String(i.path[0] ?? '')))
    .map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}
