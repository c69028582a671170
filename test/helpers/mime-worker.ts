import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');

/** The compiled MIME thread files (`npm test` builds first): the tsc build's and the bundle's. */
export const TSC_MIME_WORKER = pathToFileURL(join(ROOT, 'dist', 'src', 'mime', 'mime-worker.js'));
export const BUNDLE_MIME_WORKER = pathToFileURL(join(ROOT, 'dist', 'bin', 'mime-worker.js'));

/**
 * The MIME thread file the daemon runs (the casegate binary is the bundle: dist/bin/casegate.js
 * starts dist/bin/mime-worker.js); an error that says how to make it when it is missing. The tsc
 * build's thread file is the same source; test/unit/mime-thread.test.ts runs both and compares
 * them. The bundle's also starts faster: ~330 ms of CPU to its first parse against ~840 ms for the
 * tsc build's, whose thread loads every module as a file of its own (2026-12-08, load ~18).
 */
export function compiledMimeWorker(): URL {
  if (!existsSync(fileURLToPath(BUNDLE_MIME_WORKER))) throw new Error(`${fileURLToPath(BUNDLE_MIME_WORKER)} is missing: run npm run build first (npm test does)`);
  return BUNDLE_MIME_WORKER;
}
