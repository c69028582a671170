import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that take longest (measured on a 2-core machine, either pass) start first, so that no
 * long file starts near the end of a run and leaves the other workers idle while it finishes.
 * vitest orders by the durations of the last run when it has them; a fresh clone (CI) has none and
 * would order by file size.
 */
const SLOW_FIRST = [
  'test/cluster/two-daemons.pg.test.ts',
  'test/deliverability/spam-score.test.ts',
  'test/deliverability/rendering.test.ts',
  'test/imap/imap-crash.test.ts',
  'test/faults/outage.test.ts',
  'test/e2e/jobs-kill.test.ts',
  'test/corpus/corpus-mutations.test.ts',
  'test/golden/golden.test.ts',
  'test/imap/imap-settler.test.ts',
  'test/faults/stop.test.ts',
  'test/cli/ingest.test.ts',
  'test/unit/pipeline.test.ts',
  'test/imap/imap-channel.test.ts',
  'test/corpus/corpus-pipeline.test.ts',
  'test/faults/outbox-lock.test.ts',
  'test/unit/jobs.test.ts',
  'test/cli/large-message.test.ts',
  'test/cli/startup.test.ts',
  'test/unit/escalation-pipeline.test.ts',
  'test/faults/db-lock.test.ts',
  'test/cli/in-process.test.ts',
  'test/unit/mime-thread.test.ts',
];

export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification): number => {
      const i = SLOW_FIRST.findIndex((p) => f.moduleId.endsWith(p));
      return i < 0 ? SLOW_FIRST.length : i;
    };
    // Stable: the listed files in the list's order, then the rest as vitest ordered them.
    return sorted.map((f, i) => ({ f, i, r: rank(f) })).sort((a, b) => a.r - b.r || a.i - b.i).map((x) => x.f);
  }
}
