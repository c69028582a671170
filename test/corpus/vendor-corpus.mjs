#!/usr/bin/env node
/**
 * Copy the parts of the shared real-world corpus that the tests read into test/corpus/vendor/,
 * byte-exact, so `npm test` needs nothing beside the repository.
 *
 *   node test/corpus/vendor-corpus.mjs [/path/to/shared/corpus]
 *
 * What is copied per source (everything else of the shared corpus stays out of the repository):
 *  - its SOURCE.txt (origin: repository, commit, original path, licence) and licence files;
 *  - the raw messages the corpus tests walk (test/helpers/corpus.ts RAW_SETS), and for
 *    sisimai-set-of-emails also the .expected.json files;
 *  - for the reply-body sets: every .txt (bodies and .expected.txt assertions).
 * The folder's .gitattributes keeps git from touching line endings (CRLF, CR-only, 8-bit bytes).
 * Re-running replaces test/corpus/vendor/ completely (except its VENDOR.md).
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const SOURCE = path.resolve(process.argv[2] ?? path.join(REPO, '..', 'shared', 'corpus'));
const TARGET = path.join(HERE, 'vendor');

const LICENCE = /(?:^|\/)(?:SOURCE\.txt|COPYING|LICEN[CS]E[^/]*|ARTISTIC-LICENSE\.txt|README\.txt)$/;

/** Which files of each source the tests read (kept in step with test/helpers/corpus.ts RAW_SETS). */
const SETS = {
  'sisimai-set-of-emails': /.*/,
  'stalwart-mail-parser': /\.eml$/,
  'james-mime4j': /\.msg$/,
  enmime: /\.raw$/,
  'ruby-mail': /(?:\.eml|\/sample_output_multipart)$/,
  mailparser: /\.eml$/,
  'django-helpdesk': /\.eml$/,
  'crisp-email-reply-parser': /\.txt$/,
  'willdurand-emailreplyparser': /\.txt$/,
  'github-email_reply_parser': /\.txt$/,
};

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    .sort();
}

if (!existsSync(path.join(SOURCE, 'INDEX.md'))) {
  console.error(`no corpus at ${SOURCE} (INDEX.md missing)`);
  process.exit(1);
}
mkdirSync(TARGET, { recursive: true });
// VENDOR.md (the origin note of this folder) is kept; everything else is copied anew.
for (const entry of readdirSync(TARGET)) if (entry !== 'VENDOR.md') rmSync(path.join(TARGET, entry), { recursive: true, force: true });
let files = 0;
let bytes = 0;
for (const [set, pattern] of Object.entries(SETS)) {
  const from = path.join(SOURCE, set);
  for (const file of walk(from)) {
    const rel = path.relative(from, file);
    if (!pattern.test(`${set}/${rel}`) && !LICENCE.test(rel)) continue;
    const to = path.join(TARGET, set, rel);
    mkdirSync(path.dirname(to), { recursive: true });
    copyFileSync(file, to);
    chmodSync(to, 0o644);
    files++;
    bytes += statSync(file).size;
  }
}
copyFileSync(path.join(SOURCE, 'INDEX.md'), path.join(TARGET, 'INDEX.md'));
chmodSync(path.join(TARGET, 'INDEX.md'), 0o644);
// Byte-exact: no end-of-line conversion, no diffs of 8-bit files as text.
writeFileSync(path.join(TARGET, '.gitattributes'), '# Raw mail and reply bodies: keep CRLF / CR-only / 8-bit bytes exactly as they are\n* -text\n');
console.log(`vendored ${files} files, ${(bytes / 1024 / 1024).toFixed(1)} MiB, into ${path.relative(REPO, TARGET)}`);
