/**
 * What is remembered of template sets that passed the check (template-set.ts builds and checks):
 * their fingerprints in this process, and a cache file (<dataDir>/template-check.json) with the
 * fingerprint and, signed with an HMAC under the instance secret, Handlebars' compiled code of
 * every template. The fingerprint covers the checker's own code (this module and the
 * TEMPLATE_CHECKER_FILES beside it; in the bundles, build/bundle.ts hashes every
 * src/mail-out/template-*.ts), so that another casegate version checks again.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, tightenIfExists } from '../storage/private-files.js';
import { hb } from './template-helpers.js';

/** Handlebars' precompiled code per `raw:`/`html:` + file (what the check compiled). */
export type Specs = Map<string, string>;

/** Compiled code read from the cache file, verified at its first use. */
export interface CachedSpecs {
  /** The code of `key`, when its HMAC verifies; else null (the caller compiles the source). */
  get(key: string): string | null;
}

export const NO_SPECS: CachedSpecs = { get: () => null };

/** Fingerprints of sets that passed in this process. */
const passed = new Set<string>();
let codeVersion: string | null = null;

/** Whether the set with fingerprint `hash` passed the check in this process. */
export function passedBefore(hash: string): boolean {
  return passed.has(hash);
}

/** The modules whose code decides what the checks find (beside this one, in src/mail-out/). */
const TEMPLATE_CHECKER_FILES = ['template-checker', 'template-data', 'template-folder', 'template-helpers', 'template-set'] as const;

/**
 * The bundles' (dist/bin) fingerprint of the checker's source, every src/mail-out/template-*.ts
 * (build/bundle.ts): the same in every bundle, so that `casegate ingest` (dist/bin/ingest.cjs)
 * and the other commands trust each other's checked sets. Undefined in the tsc build, which
 * reads its own files.
 */
declare const CASEGATE_TEMPLATE_CHECKER_ID: string | undefined;

/** The checker's own code: a new casegate version with other checks does not trust old results. */
export function checkerCode(): string {
  if (codeVersion !== null) return codeVersion;
  const h = createHash('sha256');
  // Handlebars itself decides what compiles and renders: another version checks again.
  h.update(`handlebars ${hb.VERSION}\n`);
  if (typeof CASEGATE_TEMPLATE_CHECKER_ID === 'string') {
    codeVersion = h.update(CASEGATE_TEMPLATE_CHECKER_ID).digest('hex');
    return codeVersion;
  }
  const self = fileURLToPath(import.meta.url);
  h.update(readFileSync(self));
  for (const name of TEMPLATE_CHECKER_FILES) {
    try {
      h.update(readFileSync(join(dirname(self), name + extname(self))));
    } catch {
      h.update(name);
    }
  }
  codeVersion = h.digest('hex');
  return codeVersion;
}

/**
 * The cache file: a first line of JSON ({hash, files, checkedAt}), then, when written with a key,
 * one line per compiled template: `key TAB hmac TAB code as a JSON string`. A line is found,
 * parsed and verified only when its template is rendered (a command renders a handful of 200).
 */
export interface CacheRecord {
  readonly hash: string;
  /** The whole file, read as bytes: a template's line is looked up when it is rendered. */
  readonly bytes: Buffer;
  /** Whether lines of compiled templates follow the first one. */
  readonly hasCompiled: boolean;
}

export function readCache(file: string | null | undefined): CacheRecord | null {
  if (file == null) return null;
  try {
    // Bytes, not a string: decoding the whole megabyte as UTF-8 costs more than all the rest.
    const bytes = readFileSync(file);
    const nl = bytes.indexOf(0x0a);
    const parsed: unknown = JSON.parse(bytes.subarray(0, nl < 0 ? bytes.length : nl).toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || !('hash' in parsed) || typeof parsed.hash !== 'string') return null;
    return { hash: parsed.hash, bytes, hasCompiled: nl >= 0 && nl + 1 < bytes.length };
  } catch {
    return null;
  }
}

function specMac(key: string, hash: string, templateKey: string, code: string): string {
  return createHmac('sha256', `casegate-template-cache:${key}`).update(`${hash}\n${templateKey}\n`).update(code).digest('hex');
}

/** The compiled templates of a cache record for `hash`, each verified under `key` when first asked for. */
export function cachedSpecs(record: CacheRecord | null, hash: string, key: string | null | undefined): CachedSpecs {
  if (record === null || record.hash !== hash || key == null || key === '' || !record.hasCompiled) return NO_SPECS;
  const { bytes } = record;
  return {
    get(templateKey) {
      const needle = Buffer.from(`\n${templateKey}\t`, 'utf8');
      const at = bytes.indexOf(needle);
      if (at < 0) return null;
      const start = at + needle.length;
      const end = bytes.indexOf(0x0a, start);
      const entry = bytes.subarray(start, end < 0 ? bytes.length : end).toString('utf8');
      const tab = entry.indexOf('\t');
      try {
        const code: unknown = JSON.parse(entry.slice(tab + 1));
        if (typeof code !== 'string') return null;
        const want = Buffer.from(specMac(key, hash, templateKey, code), 'hex');
        const got = Buffer.from(entry.slice(0, tab), 'hex');
        return got.length === want.length && timingSafeEqual(got, want) ? code : null;
      } catch {
        return null;
      }
    },
  };
}

/** Remember that the set with `hash` passed (with its compiled templates when `specs` and a key are given). */
export function remember(file: string | null | undefined, hash: string, fileCount: number, specs: Specs | null, key: string | null | undefined, known?: CacheRecord | null): void {
  passed.add(hash);
  if (file == null) return;
  try {
    const signWith = specs !== null && specs.size > 0 && key != null && key !== '' ? key : null;
    const old = known !== undefined ? known : readCache(file);
    if (old?.hash === hash && (signWith === null || old.hasCompiled)) return tightenIfExists(file);
    // Inside the data directory: private like everything else there (storage/private-files.ts).
    mkdirSync(dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
    const tmp = `${file}.${process.pid}.tmp`;
    const lines = [JSON.stringify({ hash, files: fileCount, checkedAt: new Date().toISOString() })];
    if (signWith !== null && specs !== null) {
      // A key with a tab or a line break (an odd file name) gets no line: it is compiled when used.
      for (const [k, code] of specs) if (!/[\t\r\n]/.test(k)) lines.push(`${k}\t${specMac(signWith, hash, k, code)}\t${JSON.stringify(code)}`);
    }
    writeFileSync(tmp, lines.join('\n') + '\n', { mode: PRIVATE_FILE_MODE });
    renameSync(tmp, file);
  } catch {
    // A read-only data directory only costs the next command a full check.
  }
}
