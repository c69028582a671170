import { appendFileSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { afterAll, expect } from 'vitest';

/**
 * CASEGATE_TEST_CPU_REPORT=FILE appends one line per test file: `path TAB worker-CPU-s TAB
 * children-CPU-s TAB wall-s TAB pid` — the CPU the worker process spent on the file, and the CPU of
 * the child processes it reaped meanwhile (daemons, Dovecot with its imap and auth processes,
 * Chromium, spamassassin, psql, Postfix started in the foreground: each counts when it exits, with
 * everything it reaped itself). Not counted: processes that daemonize (the PostgreSQL cluster,
 * Postfix's master) and those left without their parent when a helper ends a server with SIGKILL
 * (Dovecot's session processes).
 * The suite's wall time on a 2-core machine is its CPU (issue 12 point 5); this says which files
 * spend it, from one ordinary run of a pass (`sort -t$'\t' -k2,2 -gr`).
 */
const report = process.env['CASEGATE_TEST_CPU_REPORT'];

/** utime, stime, cutime, cstime of this process, in seconds (Linux: /proc/self/stat, clock ticks of 1/100 s). */
function cpuTimes(): { self: number; children: number } | null {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // Fields after the command name (which may contain spaces) in parentheses: state is field 3.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const tick = (i: number): number => Number(f[i - 3]) / 100;
    return { self: tick(14) + tick(15), children: tick(16) + tick(17) };
  } catch {
    return null;
  }
}

if (report !== undefined && report !== '') {
  // Setup files run again before every test file (vitest.config.ts: isolate false), so this is the file's start.
  const start = cpuTimes();
  const startedAt = performance.now();
  afterAll(() => {
    const end = cpuTimes();
    const path = expect.getState().testPath;
    if (start === null || end === null || path === undefined) return;
    const s = (n: number): string => n.toFixed(2);
    appendFileSync(report, `${relative(process.cwd(), path)}\t${s(end.self - start.self)}\t${s(end.children - start.children)}\t${s((performance.now() - startedAt) / 1000)}\t${process.pid}\n`);
  });
}
