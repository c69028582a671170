/**
 * vitest wrappers around the private Dovecot server (dovecot-server.ts holds the server itself,
 * free of vitest so the benchmark can use it too).
 */
import { describe, it } from 'vitest';
import { dovecotAvailable, isCI, missingMessage } from './dovecot-server.js';

let warnedMissing = false;

export * from './dovecot-server.js';

/**
 * Applies the missing-Dovecot rule and returns whether the caller should SKIP its tests.
 * - dovecot found: returns false.
 * - not found and CI: throws (tests must fail in CI, never skip).
 * - not found outside CI: prints a warning once and returns true.
 *
 * Usage: `describe.skipIf(requireDovecotOrSkip())('imap tests', () => { ... })`
 */
export function requireDovecotOrSkip(): boolean {
  if (dovecotAvailable()) return false;
  if (isCI()) {
    throw new Error(`${missingMessage()} CI is set, so Dovecot tests fail instead of being skipped.`);
  }
  if (!warnedMissing) {
    warnedMissing = true;
    console.warn(`[dovecot] skipping Dovecot tests: ${missingMessage()}`);
  }
  return true;
}

/**
 * `describe()` for suites that need Dovecot. Runs normally when dovecot is installed. When it is
 * missing: under CI the suite gets a failing test saying so (and its own tests fail in
 * startDovecot()); outside CI the suite is skipped and its name says why.
 */
export function describeWithDovecot(name: string, fn: () => void): void {
  if (dovecotAvailable()) {
    describe(name, fn);
  } else if (isCI()) {
    describe(name, () => {
      it('needs the dovecot binary (CI is set: failing instead of skipping)', () => {
        throw new Error(missingMessage());
      });
      // Its own hooks fail too (startDovecot throws), in a nested suite so that they cannot
      // turn the explicit failure above into a skip.
      describe('(needs dovecot)', fn);
    });
  } else {
    requireDovecotOrSkip();
    describe.skip(`${name} [skipped: dovecot not installed]`, fn);
  }
}
