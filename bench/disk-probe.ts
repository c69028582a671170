/**
 * What creating a file costs where the bench's stores live (the OS temp directory): the daemon and
 * both floors write one file a message there (the raw message), and Dovecot one or two (its
 * Maildir). On the machine this bench was written on (ext4) that cost depended on the directory
 * more than on the load: 15–20 µs in directories without churn, 300–700 µs where many files had
 * been created and deleted (every test run and bench round leaves such churn in /tmp), with the
 * same disk and the same idle machine. Printed with the figures so that two runs
 * can be compared: the figures of a run on a slow disk are not those of a run on a fast one.
 *
 * Measured like the blob store writes a small message: create exclusively (0600), write 3 KB,
 * close, in one new directory; the median of PROBE_FILES, all removed afterwards.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile } from './e2e.js';

const PROBE_FILES = 300;

/** Median microseconds to create, write (3 KB) and close one new file in a new directory under the OS temp directory. */
export function fileCreateMicros(): number {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-bench-disk-'));
  const data = Buffer.alloc(3_000, 0x61);
  const times: number[] = [];
  try {
    for (let i = 0; i < PROBE_FILES; i += 1) {
      const start = process.hrtime.bigint();
      const fd = openSync(join(dir, `f${i}`), 'wx', 0o600);
      try {
        writeSync(fd, data);
      } finally {
        closeSync(fd);
      }
      times.push(Number(process.hrtime.bigint() - start) / 1_000);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return percentile(times.sort((a, b) => a - b), 50);
}
