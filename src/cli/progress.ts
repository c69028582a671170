import { createRequire } from 'node:module';

/**
 * Progress of long CLI work (a directory of .eml files, an mbox/Maildir import, a quarantine
 * retry, a backup): a bar on stderr when stderr is a terminal, nothing otherwise (scripts, cron,
 * CI). The command prints its summary at the end either way. cli-progress is loaded only for a
 * terminal.
 */
export interface Progress {
  /** Count n more items done. */
  tick(n?: number): void;
  /** The total is known (or changed). */
  setTotal(total: number): void;
  /** Remove the bar (before the summary is printed). */
  stop(): void;
}

interface Bar {
  start(total: number, value: number, payload?: Record<string, unknown>): void;
  increment(n?: number): void;
  setTotal(total: number): void;
  stop(): void;
}

const silent: Progress = { tick: () => undefined, setTotal: () => undefined, stop: () => undefined };

export function startProgress(label: string, total: number, enabled: boolean = process.stderr.isTTY === true): Progress {
  if (!enabled) return silent;
  const require = createRequire(import.meta.url);
  const cliProgress = require('cli-progress') as { SingleBar: new (opts: Record<string, unknown>) => Bar };
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: `${label} [{bar}] {value}/{total} {percentage}% · {eta_formatted} left`,
    barCompleteChar: '#',
    barIncompleteChar: '.',
    hideCursor: true,
    clearOnComplete: true,
    etaBuffer: 50,
  });
  bar.start(total, 0);
  let stopped = false;
  return {
    tick: (n = 1) => bar.increment(n),
    setTotal: (t) => bar.setTotal(t),
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
