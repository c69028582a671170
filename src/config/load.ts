import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../clock.js';
import { MIN_SECRET_BYTES, secretProblem, threadSecret, type ThreadSecret } from '../cases/thread-token.js';
import { actAsDataDirOwner } from '../storage/data-dir-owner.js';
import { exposedSecrets } from './exposed-secrets.js';
import { uidsOf } from '../channels/peer-user.js';
import { ensurePrivateDir } from '../storage/private-files.js';
import { feedbackTemplateProblems, untranslatedLanguages } from './routing-checks.js';
import type { z } from 'zod';
import { formsWithKey, knownKeysAt, unknownKeyMessage } from './key-hints.js';
import { adminRegexFindings, FileRegexCache } from './regex-safety.js';
import { bareMinuteTargets, configWarnings } from './warnings.js';
import { readYaml, type ReadYaml } from './yaml-lines.js';
import { configSchema, type Config } from './schema.js';

/** Where the shipped templates live (next to src/ and dist/ in the package). */
export const PACKAGE_ROOT = findUp(dirname(fileURLToPath(import.meta.url)));
/** The templates shipped with casegate: the set under `templates.dir` (files it lacks come from here). */
export const SHIPPED_TEMPLATES = resolve(PACKAGE_ROOT, 'templates');

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
  /** Each problem as one line: its key path, what is wrong and the line of the file it is at. */
  readonly lines: readonly string[];
  constructor(
    readonly source: string,
    readonly problems: readonly ConfigProblem[],
    file: Pick<ReadYaml, 'lineOf'> | null = null,
  ) {
    const lines = problems.map((p) => problemLine(p, file !== null ? (path) => file.lineOf(path) : undefined));
    super(`${source}: ${problems.length} configuration problem(s):\n` + lines.map((l) => `  ${l}`).join('\n'));
    this.lines = lines;
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
  /** The HMAC keys (configured, or generated once into <dataDir>/secret; plus retired ones still accepted), judged by the system clock. */
  readonly secret: ThreadSecret;
  /** Legal but probably wrong or risky settings: logged loudly at start, shown by `casegate config`. */
  readonly warnings: readonly ConfigProblem[];
  /** The line of the file a key path is at (null: none, or the embedded default). */
  readonly lineOf?: (path: string) => number | null;
}

/** A warning (or problem) as one line: its key path, the message and the line of the file. */
export function problemLine(p: ConfigProblem, lineOf?: (path: string) => number | null): string {
  const at = lineOf?.(p.path) ?? null;
  return `${p.path || '(file)'}: ${p.message}${at !== null ? ` (line ${at})` : ''}`;
}

export interface LoadOptions {
  /** --config; falls back to env.CASEGATE_CONFIG; none → embedded default. */
  readonly path?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /**
   * 'required' (the daemon, `config`): a missing ${ENV} in a mailbox's imap.auth is a problem.
   * 'deferred' (commands that never log in to a mailbox): it is left unresolved, not reported.
   */
  readonly mailboxCredentials?: 'required' | 'deferred';
  /**
   * Write nothing into the data directory (`casegate restore`, which needs it empty): no generated
   * secret file (an ephemeral one is used when none exists), no regex-check cache.
   */
  readonly readOnly?: boolean;
  /**
   * Started as root on a data directory that belongs to another user (the service user): become that
   * user before anything is written there (storage/data-dir-owner.ts). Every CLI command and the daemon.
   */
  readonly actAsDataDirOwner?: boolean;
}

/** Read, interpolate ${ENV} references, validate (every problem at once) and resolve paths. */
export function loadConfig(opts: LoadOptions = {}): ResolvedConfig {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const file = opts.path ?? env['CASEGATE_CONFIG'];
  let raw: unknown = {};
  let baseDir = cwd;
  let source: string | null = null;
  let yaml: ReadYaml | null = null;
  if (file !== undefined && file !== '') {
    source = resolve(cwd, file);
    baseDir = dirname(source);
    let text: string;
    try {
      text = readFileSync(source, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file (--config or CASEGATE_CONFIG names it; a relative path is taken from the working directory)' : code === 'EACCES' ? 'permission denied for the user running casegate (the service user needs read access: chgrp casegate, chmod 0640)' : code === 'EISDIR' ? 'a directory, not the configuration file' : String(err);
      throw new ConfigError(source, [{ path: '', message: `cannot read: ${code !== undefined ? `${code}, ` : ''}${why}` }]);
    }
    try {
      yaml = readYaml(text);
      raw = yaml.value ?? {};
    } catch (err) {
      throw new ConfigError(source, [{ path: '', message: err instanceof Error ? err.message : String(err) }]);
    }
  }
  const fail = (list: readonly ConfigProblem[]): ConfigError => new ConfigError(source ?? 'embedded default', list, yaml);
  const problems: ConfigProblem[] = [];
  const wholeRefs = new Set<string>();
  const secretFiles = new Map<string, string>();
  let interpolated = interpolateEnv(raw, { env, baseDir, files: secretFiles }, [], problems, opts.mailboxCredentials === 'deferred', wholeRefs);
  // jitless: one parse per process; zod's JIT would build and compile a fast path for every object schema first.
  let parsed = configSchema.safeParse(interpolated, { jitless: true });
  if (!parsed.success) {
    // "port: ${SMTP_PORT}": the environment holds text; where the key wants a number or a boolean
    // and the value was one whole reference, its text is read as one.
    const typed = typeWholeRefs(interpolated, parsed.error.issues, wholeRefs);
    if (typed !== null) {
      interpolated = typed;
      parsed = configSchema.safeParse(interpolated, { jitless: true });
    }
  }
  if (!parsed.success) {
    // A key whose ${VAR} is not set already has its problem: the empty text the schema then
    // refuses ("the secret is 0 bytes long", "Too small") would only say it again, less clearly.
    const unset = new Set(problems.map((p) => p.path));
    problems.push(
      ...[...issueProblems(parsed.error.issues, interpolated), ...crossFieldProblems(interpolated, parsed.error.issues)]
        .filter((p) => !unset.has(p.path))
        // "port: ${SMTP_PORT}" with SMTP_PORT=abc: the file says no string, so say where it came from.
        .map((p) => (wholeRefs.has(p.path) && /^Invalid input: expected (number|boolean)/.test(p.message) ? { ...p, message: `${p.message} (${rawRef(raw, p.path)} is ${JSON.stringify(valueAt(interpolated, p.path))})` } : p)),
    );
  }
  if (opts.actAsDataDirOwner === true) actAsDataDirOwner(rawDataDir(interpolated, baseDir));
  const regexCache = new FileRegexCache(opts.readOnly === true ? null : regexCacheFile(interpolated, baseDir));
  const regexes = adminRegexFindings(interpolated, regexCache);
  problems.push(...regexes.problems);
  regexCache.flush();
  if (problems.length > 0 || !parsed.success) {
    throw fail(problems);
  }
  const config = parsed.data;
  // A user name the machine does not know would refuse the MTA itself (421: its mail waits).
  const unknownUsers = config.listener.localUsers.flatMap((u, i) => (typeof u === 'string' && !/^\d+$/.test(u) && uidsOf([u]).size === 0 ? [{ path: `listener.localUsers.${i}`, message: `no user "${u}" in /etc/passwd (give the MTA's user, e.g. postfix, or a uid)` }] : []));
  if (unknownUsers.length > 0) throw fail(unknownUsers);
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const dataDir = abs(config.dataDir);
  const paths: ResolvedPaths = {
    dataDir,
    dbPath: config.database.path !== undefined ? abs(config.database.path) : resolve(dataDir, 'casegate.db'),
    blobDir: resolve(dataDir, 'blobs'),
    spoolDir: resolve(dataDir, 'spool'),
    outgoingDir: config.outgoing.fileDir !== undefined ? abs(config.outgoing.fileDir) : resolve(dataDir, 'outgoing'),
    templatesDir: config.templates.dir !== undefined ? abs(config.templates.dir) : SHIPPED_TEMPLATES,
  };
  const feedbackProblems = feedbackTemplateProblems(config, paths.templatesDir);
  if (feedbackProblems.length > 0) throw fail(feedbackProblems);
  for (const mb of config.mailboxes) {
    if (mb.imap?.caFile !== undefined) mb.imap.caFile = abs(mb.imap.caFile);
  }
  if (config.outgoing.smtp?.caFile !== undefined) config.outgoing.smtp.caFile = abs(config.outgoing.smtp.caFile);
  for (const r of Object.values(config.outgoing.relays)) if (r.caFile !== undefined) r.caFile = abs(r.caFile);
  for (const k of config.outgoing.dkim.keys) if (k.privateKeyFile !== undefined) k.privateKeyFile = abs(k.privateKeyFile);
  const current = config.instance.secret ?? (opts.readOnly === true && !existsSync(resolve(dataDir, 'secret')) ? randomBytes(32).toString('base64url') : readOrCreateSecret(dataDir, source ?? 'embedded default'));
  const retired = config.instance.previousSecrets.map((p) => ({ secret: p.secret, acceptUntil: new Date(/^\d{4}-\d{2}-\d{2}$/.test(p.acceptUntil) ? `${p.acceptUntil}T23:59:59.999Z` : p.acceptUntil) }));
  return { config, source, paths, lineOf: (path: string) => yaml?.lineOf(path) ?? null, secret: threadSecret(current, retired, systemClock), warnings: [...configWarnings(config), ...bareMinuteTargets(raw), ...untranslatedLanguages(config, paths.templatesDir, SHIPPED_TEMPLATES), ...regexes.warnings, ...exposedSecrets(raw, source, config, paths.templatesDir, secretFiles)] };
}

/** The value at a dotted path ("listener.port", "mailboxes.0.imap.port"), or undefined. */
function valueAt(root: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), root);
}

/** The reference as the file wrote it ("${SMTP_PORT}"). */
function rawRef(raw: unknown, path: string): string {
  const v = valueAt(raw, path);
  return typeof v === 'string' ? v.trim() : 'its environment variable';
}

/** mailboxes.<i>.imap.auth.<key>: only the daemon logs in to mailboxes. */
function isMailboxCredential(path: readonly (string | number)[]): boolean {
  return path[0] === 'mailboxes' && path[2] === 'imap' && path[3] === 'auth';
}

/** Where ${…} references are read from: the environment, and files (${file:PATH}, relative to the config file's directory). */
interface RefSources {
  readonly env: NodeJS.ProcessEnv;
  readonly baseDir: string;
  /** Files read so far (absolute path → the key that named it first): exposed-secrets.ts checks their modes. */
  readonly files: Map<string, string>;
}

const REF = /\$\{(?:([A-Za-z_][A-Za-z0-9_]*)|file:([^}]+))\}/g;
const WHOLE_REF = /^\$\{(?:[A-Za-z_][A-Za-z0-9_]*|file:[^}]+)\}$/;

/**
 * Replace "${NAME}" in every string with env.NAME, and "${file:PATH}" with the content of that
 * file (without its final line break) — read at every load, so a reload (SIGHUP) takes a changed
 * file, which a changed environment file never is (the daemon's environment is the one it started
 * with). A missing variable or unreadable file is a problem at that key — except in a mailbox's
 * credentials when they are deferred: then the reference stays as written. The paths of values
 * that are one whole reference go into `wholeRefs` (typeWholeRefs).
 */
function interpolateEnv(value: unknown, refs: RefSources, path: (string | number)[], problems: ConfigProblem[], deferCredentials: boolean, wholeRefs: Set<string>): unknown {
  if (typeof value === 'string') {
    if (WHOLE_REF.test(value.trim())) wholeRefs.add(path.join('.'));
    return value.replace(REF, (whole, name: string | undefined, file: string | undefined) => {
      const deferred = deferCredentials && isMailboxCredential(path);
      if (file !== undefined) {
        const abs = resolve(refs.baseDir, file.trim());
        try {
          const text = readFileSync(abs, 'utf8').replace(/\r?\n$/, '');
          if (!refs.files.has(abs)) refs.files.set(abs, path.join('.'));
          return text;
        } catch (err) {
          if (deferred) return whole;
          const code = (err as NodeJS.ErrnoException).code;
          problems.push({ path: path.join('.'), message: `cannot read ${abs} (\${file:${file}}): ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied for the user running casegate' : code === 'EISDIR' ? 'a directory' : String(err)}` });
          return '';
        }
      }
      const v = refs.env[name ?? ''];
      if (v === undefined) {
        if (deferred) return whole;
        problems.push({ path: path.join('.'), message: `environment variable ${name ?? ''} is not set` });
        return '';
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, refs, [...path, i], problems, deferCredentials, wholeRefs));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, refs, [...path, k], problems, deferCredentials, wholeRefs)]));
  }
  return value;
}

/**
 * The interpolated configuration with the whole-reference values zod wanted as a number or a
 * boolean read as one ("2626" → 2626, "true" → true), or null when there is none to read. Only
 * where the schema asks for it: `password: ${PW}` stays text whatever PW holds.
 */
function typeWholeRefs(value: unknown, issues: readonly { readonly code: string; readonly path: readonly PropertyKey[]; readonly expected?: unknown }[], wholeRefs: ReadonlySet<string>): unknown {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let changed = false;
  for (const issue of issues) {
    if (issue.code !== 'invalid_type' || (issue.expected !== 'number' && issue.expected !== 'boolean')) continue;
    const path = issue.path.map((k) => (typeof k === 'symbol' ? '' : k));
    if (path.length === 0 || !wholeRefs.has(path.join('.'))) continue;
    const parent = path.slice(0, -1).reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string | number, unknown>)[k] : undefined), copy);
    const key = path[path.length - 1]!;
    if (parent === null || typeof parent !== 'object') continue;
    const text = (parent as Record<string | number, unknown>)[key];
    if (typeof text !== 'string') continue;
    const t = text.trim();
    const typed = issue.expected === 'number' ? (/^[+-]?\d+(?:\.\d+)?$/.test(t) ? Number(t) : undefined) : /^(?:true|false)$/i.test(t) ? t.toLowerCase() === 'true' : undefined;
    if (typed === undefined) continue;
    (parent as Record<string | number, unknown>)[key] = typed;
    changed = true;
  }
  return changed ? copy : null;
}

/** zod issues as problems; an unknown key is reported at its own path with the nearest known key. */
function issueProblems(issues: readonly z.core.$ZodIssue[], input: unknown): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(configSchema, issue.path, input);
      const here = valueAt(input, issue.path.map(String).join('.'));
      for (const key of issue.keys) {
        // A key of another form of this section (a password under method: xoauth2): say so, not "did you mean" itself.
        const forms = formsWithKey(configSchema, issue.path, key);
        const chosen = forms !== null && here !== null && typeof here === 'object' ? (here as Record<string, unknown>)[forms.discriminator] : undefined;
        out.push({ path: [...issue.path, key].map(String).join('.'), message: unknownKeyMessage(key, known, forms !== null && chosen !== undefined ? { ...forms, chosen } : null) });
      }
      continue;
    }
    out.push({ path: issue.path.map(String).join('.'), message: plainMessage(issue, input) });
  }
  return out;
}

const KIND_NAMES: Readonly<Record<string, string>> = { array: 'a list', string: 'a text', number: 'a number', boolean: 'true or false', object: 'a section of keys' };

/**
 * zod's words where a newcomer gets stuck on them: a key left out is "Invalid input: expected
 * string, received undefined"; one address where a list is wanted, "expected array, received string".
 */
function plainMessage(issue: z.core.$ZodIssue, input: unknown): string {
  if (issue.code !== 'invalid_type') return issue.message;
  const value = issue.path.reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<PropertyKey, unknown>)[k] : undefined), input);
  const kind = KIND_NAMES[String(issue.expected)];
  if (kind === undefined) return issue.message;
  if (value === undefined) return `required: ${kind} (this key is missing)`;
  if (issue.expected === 'array' && (typeof value === 'string' || typeof value === 'number')) return `must be a list: write [${String(value)}]`;
  return issue.message;
}

/** <dataDir>/regex-checks.json, when the data directory exists already (the cache never creates it). */
function regexCacheFile(input: unknown, baseDir: string): string | null {
  const dataDir = rawDataDir(input, baseDir);
  return existsSync(dataDir) ? resolve(dataDir, 'regex-checks.json') : null;
}

/** The data directory the (not yet validated) configuration names. */
function rawDataDir(input: unknown, baseDir: string): string {
  const dir = (input as { dataDir?: unknown } | null)?.dataDir;
  return resolve(baseDir, typeof dir === 'string' && dir !== '' ? dir : 'data');
}

/** <dataDir>/secret: created once with 32 random bytes; one that is too short is refused, never used. */
function readOrCreateSecret(dataDir: string, source: string): string {
  const file = resolve(dataDir, 'secret');
  const read = (): string => {
    const secret = readFileSync(file, 'utf8').trim();
    const problem = secretProblem(secret);
    if (problem !== null) {
      throw new ConfigError(source, [
        {
          path: 'instance.secret',
          message: `${file} ${problem}. Signed references in mail already sent stop threading when the secret changes: put a new secret of at least ${MIN_SECRET_BYTES} bytes there (see docs/configuration.md, "Rotating the secret")`,
        },
      ]);
    }
    return secret;
  };
  if (existsSync(file)) return read();
  ensurePrivateDir(dataDir);
  const secret = randomBytes(32).toString('base64url');
  // Written under a name of its own and then linked into place, so the file appears whole or not
  // at all: written in place, it existed empty for a moment, and a second process starting on the
  // same new data directory (the daemon and an MTA's `casegate ingest`, say) read an empty secret
  // and refused to start. A link fails when the name exists: then another process won, and its
  // secret is the one.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, secret + '\n', { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, file);
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return read();
    // A file system without hard links: create it in place, as before.
    try {
      writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
      return secret;
    } catch {
      return read();
    }
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Sections other sections refer to: when one of them is broken, cross-checks would mislead. */
const REFERENCED_SECTIONS = new Set(['mailboxes', 'queues', 'priorities', 'rules']);

/**
 * Keys that name something in another section: left at its defaults, that section has none of
 * the names, and the check would call every one of them unknown (a queue's calendar "no calendar
 * "berlin" (calendars: none configured …)" because a policy target had a typo).
 */
const REFERS_TO: Readonly<Record<string, RegExp>> = { sla: /^queues\.[^.]+\.(calendar|slaPolicy)$/ };

/**
 * zod skips the cross-field checks (duplicate addresses, missing outgoing.smtp, routing
 * references …) while any field is invalid. To still report every problem at once, validate again
 * with the broken sections left at their defaults, and keep what that finds in the other sections
 * — unless a section others refer to is broken, when those findings could be wrong.
 */
function crossFieldProblems(input: unknown, issues: readonly z.core.$ZodIssue[]): ConfigProblem[] {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return [];
  // Unknown top-level keys are left out like broken sections.
  const failed = new Set(issues.flatMap((i) => (i.code === 'unrecognized_keys' && i.path.length === 0 ? i.keys : [String(i.path[0] ?? '')])));
  if (failed.has('') || [...failed].some((k) => REFERENCED_SECTIONS.has(k))) return [];
  const rest = Object.fromEntries(Object.entries(input).filter(([k]) => !failed.has(k)));
  const again = configSchema.safeParse(rest, { jitless: true });
  if (again.success) return [];
  const dropped = [...failed].flatMap((k) => (REFERS_TO[k] !== undefined ? [REFERS_TO[k]] : []));
  return again.error.issues
    .filter((i) => !failed.has(String(i.path[0] ?? '')))
    .map((i) => ({ path: i.path.map(String).join('.'), message: plainMessage(i, rest) }))
    .filter((p) => !dropped.some((re) => re.test(p.path)));
}
