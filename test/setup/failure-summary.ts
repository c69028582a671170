import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Reporter, SerializedError, TestModule, TestRunEndReason } from 'vitest/node';

/**
 * `npm test` runs two passes, and a log that keeps only its tail (a CI page, a terminal's
 * scrollback) loses the first pass's failures under the second pass's output. This reporter writes
 * each pass's failures — file, test or suite, first lines of the error — to
 * data/test-failures/<pass>.txt (empty when the pass is green); the test script prints both files
 * last.
 *
 * Every way a pass can end red leaves a line there: a failed test, a failed hook of a describe block
 * (an afterAll that threw or timed out fails the file though every test passed), an error of the
 * file itself, an error outside any test, a cancelled run — and a pass that exits non-zero with
 * none of those (the vitest process itself failed: a crash, an unhandled rejection in it, a run
 * that never reached its end) gets the exit code and the last lines it wrote to stderr.
 */
export class FailureSummaryReporter implements Reporter {
  private readonly pass = process.env['CASEGATE_TEST_DB'] === 'postgres' ? 'postgres' : 'sqlite';
  private readonly file = join(process.cwd(), 'data', 'test-failures', `${this.pass}.txt`);
  private recorded = 0;
  private ended = false;
  private readonly stderrTail: string[] = [];

  onInit(): void {
    mkdirSync(join(process.cwd(), 'data', 'test-failures'), { recursive: true });
    writeFileSync(this.file, '');
    // Keep what the run writes to stderr last (vitest prints its errors there), for a run that
    // exits red without reaching onTestRunEnd or with nothing in it to say why.
    const write = process.stderr.write.bind(process.stderr) as (...args: unknown[]) => boolean;
    process.stderr.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
      this.keep(typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : '');
      return write(chunk, ...rest);
    }) as typeof process.stderr.write;
    process.on('uncaughtExceptionMonitor', (error) => this.record(`${this.pass} vitest itself: uncaught ${error.stack ?? String(error)}`.split('\n').slice(0, 6).join(' ⏎ ')));
    process.once('exit', (code) => {
      if (code === 0 || this.recorded > 0) return;
      const where = this.ended ? 'after its end was reported' : 'before its end was reported';
      this.record(`${this.pass} the pass exited with code ${code} ${where}, with no failed test, hook or file; the last lines it wrote to stderr: ${this.stderrTail.join(' ⏎ ') || '(none)'}`);
    });
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>, reason: TestRunEndReason): void {
    this.ended = true;
    const pass = this.pass;
    for (const mod of testModules) {
      const at = mod.relativeModuleId;
      for (const error of mod.errors()) this.record(`${pass} ${at}: ${firstLines(error)}`);
      for (const suite of mod.children.allSuites()) {
        for (const error of suite.errors()) this.record(`${pass} ${at} > ${suite.fullName} (a hook of the block): ${firstLines(error)}`);
      }
      let failedTests = 0;
      for (const test of mod.children.allTests('failed')) {
        failedTests += 1;
        const errors = test.result().errors ?? [];
        this.record(`${pass} ${at} > ${test.fullName}: ${errors.map(firstLines).join(' | ') || 'failed'}`);
      }
      if (!mod.ok() && failedTests === 0 && mod.errors().length === 0 && ![...mod.children.allSuites()].some((s) => s.errors().length > 0)) {
        this.record(`${pass} ${at}: the file failed (state ${mod.state()}) with no error recorded for it`);
      }
    }
    for (const error of unhandledErrors) this.record(`${pass} unhandled error${whereFrom(error)}: ${firstLines(error)}`);
    if (reason === 'interrupted') this.record(`${pass} the run was interrupted (cancelled before every file ran)`);
  }

  private record(line: string): void {
    this.recorded += 1;
    appendFileSync(this.file, `FAILED ${line}\n`);
  }

  private keep(text: string): void {
    for (const raw of text.split('\n')) {
      // eslint-disable-next-line no-control-regex
      const line = raw.replace(/\x1b\[[0-9;]*m/g, '').trimEnd();
      if (line === '') continue;
      this.stderrTail.push(line.length > 300 ? `${line.slice(0, 300)}…` : line);
      if (this.stderrTail.length > 40) this.stderrTail.shift();
    }
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
