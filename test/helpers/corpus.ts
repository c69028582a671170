import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The real-world corpus: the subset of the shared corpus the tests read, vendored byte-exact into
 * test/corpus/vendor (test/corpus/vendor-corpus.mjs, VENDOR.md), so a fresh clone needs nothing
 * beside it. CASEGATE_CORPUS points the tests at another copy (e.g. the full ../shared/corpus).
 */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CORPUS = process.env['CASEGATE_CORPUS'] ?? path.resolve(REPO, 'test', 'corpus', 'vendor');

/**
 * Whether the corpus is here (always, unless CASEGATE_CORPUS names a missing folder). Under
 * CI=true a missing corpus is a failure, never a skip; elsewhere the corpus tests skip with this
 * message.
 */
export function corpusAvailable(): boolean {
  if (existsSync(CORPUS)) return true;
  if (process.env['CI'] === 'true') throw new Error(`corpus not found at ${CORPUS} (set CASEGATE_CORPUS)`);
  console.warn(`corpus not found at ${CORPUS}: corpus tests skipped`);
  return false;
}

export function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    .sort();
}

/** Raw-message files of each corpus folder (INDEX.md). */
export const RAW_SETS: Readonly<Record<string, RegExp>> = {
  'sisimai-set-of-emails': /^(?!.*(?:SOURCE\.txt|\.expected\.json)$).*$/,
  'stalwart-mail-parser': /\.eml$/,
  'james-mime4j': /\.msg$/,
  enmime: /\.raw$/,
  'ruby-mail': /(?:\.eml|\/sample_output_multipart)$/,
  mailparser: /\.eml$/,
  'django-helpdesk': /\.eml$/,
};

export interface CorpusFile {
  readonly set: string;
  /** Path relative to the corpus root. */
  readonly rel: string;
  readonly file: string;
}

export function rawCorpusFiles(): CorpusFile[] {
  const out: CorpusFile[] = [];
  for (const [set, pattern] of Object.entries(RAW_SETS)) {
    const dir = path.join(CORPUS, set);
    if (!existsSync(dir)) continue;
    for (const file of walk(dir)) {
      const rel = path.relative(CORPUS, file);
      if (pattern.test(rel)) out.push({ set, rel, file });
    }
  }
  return out;
}
