import { afterAll } from 'vitest';
import { removeTempDirs } from '../helpers/temp-dirs.js';

/**
 * After each test file: the directories test/helpers/temp-dirs.ts made for it are removed. A setup
 * file, not a hook in the helper: files share their worker's modules (vitest.config.ts: isolate
 * false), so a hook the helper registered when first imported would belong to the first file only.
 */
afterAll(() => removeTempDirs());
