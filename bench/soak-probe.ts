/**
 * What the soak (bench/soak.ts) samples of the daemon: /proc (RSS, fds by kind, threads, CPU),
 * its /metrics (V8 heap, handles, timers, event-loop delay), the database's size and the data
 * directory's; and percentiles of what it measured in between.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcSample {
  readonly rssMb: number;
  readonly fds: number;
  readonly sockets: number;
  readonly files: number;
  readonly threads: number;
  /** utime + stime of all threads, ms. */
  readonly cpuMs: number;
}

export function procSample(pid: number): ProcSample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let fds = 0;
    let sockets = 0;
    let files = 0;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      fds += 1;
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith('socket:')) sockets += 1;
        else if (target.startsWith('/')) files += 1;
      } catch {
        // closed meanwhile
      }
    }
    return {
      rssMb: round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024, 1),
      threads: Number(/Threads:\s+(\d+)/.exec(status)?.[1] ?? 0),
      fds,
      sockets,
      files,
      cpuMs: (Number(fields[11]) + Number(fields[12])) * 10,
    };
  } catch {
    return null;
  }
}

/** One value of a Prometheus text exposition (the first series of that name with all the given labels). */
export function metricValue(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number | null {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = m[3] ?? '';
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) return Number(m[4]);
  }
  return null;
}

export async function fetchMetrics(url: string): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    return await res.text();
  } catch {
    return '';
  }
}

export function fileSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

export function dirSize(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  const walk = (d: string): void => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        try {
          bytes += statSync(p).size;
          files += 1;
        } catch {
          // removed meanwhile
        }
      }
    }
  };
  walk(dir);
  return { bytes, files };
}

export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const round = (x: number, digits = 0): number => Number(x.toFixed(digits));

/**
 * Start → end of each figure over the load phase: the median of the first `n` samples after the
 * first (start-up) and of the last `n`, with the whole range — what grew shows at a glance.
 */
export function trends(points: readonly Record<string, unknown>[], keys: readonly string[], n = 4): Record<string, { start: number | null; end: number | null; min: number | null; max: number | null }> {
  const load = points.filter((p) => p['phase'] === 'load').slice(1);
  const out: Record<string, { start: number | null; end: number | null; min: number | null; max: number | null }> = {};
  for (const key of keys) {
    const values = load.map((p) => p[key]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    out[key] = { start: percentile(values.slice(0, n), 50), end: percentile(values.slice(-n), 50), min: percentile(values, 0), max: percentile(values, 100) };
  }
  return out;
}
