/**
 * Raw RFC 822 bytes → ParsedMail through the product's own streaming parser (parseMailFile),
 * so tests that feed corpus files to later stages exercise the real parse stage.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMailFile } from '../../src/mail-in/parse-mail.js';
import type { ParsedMail } from '../../src/mail-in/parsed-mail.js';
import { BlobStore } from '../../src/storage/blob-store.js';
import { tempDir } from './temp-dirs.js';

let dir: string | null = null;
let counter = 0;

function workDir(): string {
  // Removed after each test file (test/setup/temp-dirs.ts); the next file that parses makes another.
  if (dir === null || !existsSync(dir)) dir = tempDir('casegate-parse-');
  return dir;
}

export async function parseForTest(raw: Buffer | string): Promise<ParsedMail> {
  const d = workDir();
  const file = join(d, `msg-${process.pid}-${counter++}.eml`);
  writeFileSync(file, typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw);
  return parseMailFile(file, new BlobStore(join(d, 'blobs')));
}
