import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Recheck from 'recheck';
import { RULE_INPUT_LIMITS } from '../cases/rules.js';
import { PRIVATE_FILE_MODE } from '../storage/private-files.js';

/**
 * Admin regular expressions (rules' subject/body/header patterns, autoReply.neverTo) run on text a
 * stranger writes. JavaScript's engine backtracks, so a pattern like (a+)+$ or .*x.*y can take
 * minutes on a crafted subject and block every mailbox. Each pattern is vetted when the
 * configuration is loaded, with recheck (automata-based ReDoS analysis), against the longest input
 * it will ever see there (the caller cuts the input to that length):
 *   - exponential backtracking: refused;
 *   - polynomial (degree d): refused when maxInput^d exceeds STEP_BUDGET (≈10 ms of matching);
 *   - not decided within CHECK_TIMEOUT_MS (a busy machine): accepted with a warning, not cached.
 * A pattern without unbounded repetition (*, +, {n,}) and backreferences matches in linear time and
 * is not analysed at all. Results are cached (in memory, and in <dataDir>/regex-checks.json when
 * the loader gives a file) because the analysis costs ~0.3 s per process.
 */

const STEP_BUDGET = 1e7;
const CHECK_TIMEOUT_MS = 3000;
/** Bump when the policy changes: cached verdicts of another policy are not reused. */
const POLICY = `1:${STEP_BUDGET}`;

export interface RegexVetCache {
  get(key: string): string | null | undefined;
  set(key: string, problem: string | null): void;
}

/** An in-memory cache, optionally backed by a JSON file (written when it changed: call flush()). */
export class FileRegexCache implements RegexVetCache {
  readonly #entries = new Map<string, string | null>();
  #dirty = false;
  constructor(private readonly file: string | null) {
    if (file === null) return;
    try {
      const json = JSON.parse(readFileSync(file, 'utf8')) as { policy?: unknown; entries?: Record<string, string | null> };
      if (json.policy === POLICY && json.entries !== undefined && typeof json.entries === 'object') {
        for (const [k, v] of Object.entries(json.entries)) if (typeof v === 'string' || v === null) this.#entries.set(k, v);
      }
    } catch {
      // No cache yet (or unreadable): analyse again.
    }
  }
  get(key: string): string | null | undefined {
    return this.#entries.get(key);
  }
  set(key: string, problem: string | null): void {
    this.#entries.set(key, problem);
    this.#dirty = true;
  }
  flush(): void {
    if (this.file === null || !this.#dirty) return;
    try {
      const tmp = `${this.file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify({ policy: POLICY, entries: Object.fromEntries(this.#entries) }), { mode: PRIVATE_FILE_MODE });
      renameSync(tmp, this.file);
      this.#dirty = false;
    } catch {
      // A cache that cannot be written only costs time next start.
    }
  }
}

const memory = new FileRegexCache(null);

/** recheck is ~3 MB of JavaScript: loaded only when a pattern actually needs analysing. */
let recheck: typeof Recheck | null = null;
function analyser(): typeof Recheck {
  recheck ??= createRequire(import.meta.url)('recheck') as typeof Recheck;
  return recheck;
}

/** True when the pattern has an unbounded repetition or a backreference (the only ways to backtrack badly). */
export function canBacktrack(source: string): boolean {
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      const n = source[i + 1] ?? '';
      if (!inClass && (/[1-9]/.test(n) || n === 'k')) return true;
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '*' || c === '+') return true;
    else if (c === '{' && /^\{\d*,\}/.test(source.slice(i))) return true;
  }
  return false;
}

export interface RegexVerdict {
  /** Why the pattern must not be used (a configuration error), else null. */
  readonly problem: string | null;
  /** The analysis could not finish (a busy machine, an analyser failure): accepted, said loudly. */
  readonly unchecked: string | null;
}

/**
 * Whether this pattern may run on input of up to maxInput characters. A pattern that does not
 * compile is not judged here (the schema reports it). Only definite verdicts are cached.
 */
export function vetRegex(source: string, flags: string, maxInput: number, what: string, cache: RegexVetCache = memory): RegexVerdict {
  try {
    new RegExp(source, flags);
  } catch {
    return { problem: null, unchecked: null };
  }
  if (!canBacktrack(source)) return { problem: null, unchecked: null };
  const key = `${flags}:${maxInput}:${source}`;
  const hit = cache.get(key) ?? memory.get(key);
  if (hit !== undefined) return { problem: hit === null ? null : hit.replace('{what}', what), unchecked: null };
  const v = analyse(source, flags, maxInput);
  if ('unchecked' in v) return { problem: null, unchecked: v.unchecked };
  cache.set(key, v.problem);
  if (cache !== memory) memory.set(key, v.problem);
  return { problem: v.problem === null ? null : v.problem.replace('{what}', what), unchecked: null };
}

/** The problem alone (null when safe or not decidable). */
export function regexProblem(source: string, flags: string, maxInput: number, what: string, cache: RegexVetCache = memory): string | null {
  return vetRegex(source, flags, maxInput, what, cache).problem;
}

function analyse(source: string, flags: string, maxInput: number): { problem: string | null } | { unchecked: string } {
  const hint = 'rewrite it without nested or adjacent repetitions of the same characters (like (a+)+, (a|a)*, .*x.*y, \\s*\\s*), anchor it, or use a keyword list';
  let d: ReturnType<typeof Recheck.checkSync>;
  try {
    d = analyser().checkSync(source, flags, { timeout: CHECK_TIMEOUT_MS });
  } catch (err) {
    return { unchecked: `could not be checked for catastrophic backtracking (${(err as Error).message})` };
  }
  if (d.status === 'safe') return { problem: null };
  if (d.status === 'unknown') return { unchecked: `could not be checked for catastrophic backtracking within ${CHECK_TIMEOUT_MS / 1000} s (a busy machine?)` };
  const c = d.complexity;
  const attack = d.attack?.pattern !== undefined ? ` (e.g. ${d.attack.pattern.slice(0, 80)})` : '';
  if (c.type === 'polynomial') {
    if (Math.pow(maxInput, c.degree) <= STEP_BUDGET) return { problem: null };
    return { problem: `backtracks in ${c.summary} time: a crafted {what} of ${maxInput} characters${attack} would stall mail processing; ${hint}` };
  }
  return { problem: `backtracks in exponential time: a crafted {what}${attack} would stall mail processing for minutes; ${hint}` };
}

/** Longest address a neverTo pattern meets (RFC 5321: 64 + 1 + 255; the parser drops longer ones). */
export const ADDRESS_LIMIT = 320;

interface AdminPattern {
  readonly path: string;
  readonly source: string;
  readonly maxInput: number;
  readonly what: string;
}

/** Every admin regular expression in the (interpolated, not yet validated) configuration. */
function adminPatterns(input: unknown): AdminPattern[] {
  const out: AdminPattern[] = [];
  const obj = (v: unknown): Record<string, unknown> | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null);
  const rules = (obj(input)?.['rules'] ?? []) as unknown;
  if (Array.isArray(rules)) {
    rules.forEach((r, i) => {
      const match = obj(obj(r)?.['match']);
      if (match === null) return;
      for (const [field, maxInput] of [
        ['subject', RULE_INPUT_LIMITS.subject],
        ['body', RULE_INPUT_LIMITS.body],
      ] as const) {
        const v = match[field];
        if (typeof v === 'string') out.push({ path: `rules.${i}.match.${field}`, source: v, maxInput, what: field });
      }
      const header = match['header'];
      const list = Array.isArray(header) ? header : header !== undefined ? [header] : [];
      list.forEach((h, j) => {
        const pattern = obj(h)?.['pattern'];
        const path = Array.isArray(header) ? `rules.${i}.match.header.${j}.pattern` : `rules.${i}.match.header.pattern`;
        if (typeof pattern === 'string') out.push({ path, source: pattern, maxInput: RULE_INPUT_LIMITS.header, what: 'header value' });
      });
    });
  }
  const neverTo = obj(obj(input)?.['autoReply'])?.['neverTo'];
  if (Array.isArray(neverTo)) {
    neverTo.forEach((v, i) => {
      if (typeof v === 'string') out.push({ path: `autoReply.neverTo.${i}`, source: v, maxInput: ADDRESS_LIMIT, what: 'sender address' });
    });
  }
  return out;
}

type Finding = { path: string; message: string };

/**
 * Admin patterns that could backtrack catastrophically on the input they meet (configuration
 * errors), and those the analysis could not finish (warnings: accepted, run on bounded input).
 */
export function adminRegexFindings(input: unknown, cache: RegexVetCache = memory): { problems: Finding[]; warnings: Finding[] } {
  const problems: Finding[] = [];
  const warnings: Finding[] = [];
  for (const p of adminPatterns(input)) {
    const v = vetRegex(p.source, 'i', p.maxInput, p.what, cache);
    if (v.problem !== null) problems.push({ path: p.path, message: `regular expression ${JSON.stringify(p.source)} ${v.problem}` });
    if (v.unchecked !== null) warnings.push({ path: p.path, message: `regular expression ${JSON.stringify(p.source)} ${v.unchecked}: accepted for now; it runs on at most ${p.maxInput} characters` });
  }
  return { problems, warnings };
}
