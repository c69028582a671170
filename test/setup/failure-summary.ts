import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Reporter, SerializedError, TestModule } from 'vitest/node';

/**
 * `npm test` runs two passes, and a log that keeps only its tail (a CI page, a terminal's
 * scrollback) loses the first pass's failures under the second pass's output. This reporter writes
 * each pass's failures — file, test, first lines of the error — to data/test-failures/<pass>.txt
 * (empty when the pass is green); the test script prints both files last.
 */
export class FailureSummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): void {
    const pass = process.env['CASEGATE_TEST_DB'] === 'postgres' ? 'postgres' : 'sqlite';
    const lines: string[] = [];
    for (const mod of testModules) {
      for (const error of mod.errors()) lines.push(`${pass} ${mod.relativeModuleId}: ${firstLines(error)}`);
      for (const test of mod.children.allTests('failed')) {
        const errors = test.result().errors ?? [];
        lines.push(`${pass} ${mod.relativeModuleId} > ${test.fullName}: ${errors.map(firstLines).join(' | ') || 'failed'}`);
      }
    }
    for (const error of unhandledErrors) lines.push(`${pass} unhandled error${whereFrom(error)}: ${firstLines(error)}`);
    const dir = join(process.cwd(), 'data', 'test-failures');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${pass}.txt`), lines.map((line) => `FAILED ${line}\n`).join(''));
  }
}

/** Where vitest saw an error outside any test's result arise, when it knows: " in <file> (during <test>)". */
function whereFrom(error: SerializedError): string {
  const path = error['VITEST_TEST_PATH'];
  const name = error['VITEST_TEST_NAME'];
  const file = typeof path === 'string' ? ` in ${relative(process.cwd(), path)}` : '';
  return typeof name === 'string' ? `${file} (during "${name}")` : file;
}

function firstLines(error: SerializedError): string {
  const text = `${error.name ?? 'Error'}: ${error.message ?? ''}`.split('\n').slice(0, 4).join(' ⏎ ');
  return text.length > 600 ? `${text.slice(0, 600)}…` : text;
}
