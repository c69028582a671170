import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');

/** The compiled MIME thread files (`npm test` builds first): the tsc build's and the bundle's. */
export const TSC_MIME_WORKER = pathToFileURL(join(ROOT, 'dist', 'src', 'mime', 'mime-worker.js'));
export const BUNDLE_MIME_WORKER = pathToFileURL(join(ROOT, 'dist', 'bin', 'mime-worker.js'));

/** The tsc build's MIME thread file; an error that says how to make it when it is missing. */
export function compiledMimeWorker(): URL {
  if (!existsSync(fileURLToPath(TSC_MIME_WORKER))) throw new Error(`${fileURLToPath(TSC_MIME_WORKER)} is missing: run npm run build first (npm test does)`);
  return TSC_MIME_WORKER;
}
