/**
 * The daemon's log as the soak (bench/soak.ts) reads it: every line goes to a file; in memory
 * only counts — lines and bytes by level and message, the outcome lines by Message-ID (for each
 * message's latency from the moment it was handed over to its outcome line), the job runs — per
 * sample window and in total.
 */
import type { WriteStream } from 'node:fs';
import { percentile, round } from './soak-probe.js';
import type { Handed } from './soak-traffic.js';

interface JobRun {
  readonly job: string;
  readonly ms: number;
  readonly processed: number;
}

export class DaemonLog {
  readonly started: Promise<void>;
  #resolveStarted: () => void = () => undefined;
  #lines = 0;
  #bytes = 0;
  readonly #byLevel = new Map<string, number>();
  readonly #warnings = new Map<string, number>();
  /** Outcome-line time (ms) by Message-ID; the count of outcome lines by Message-ID. */
  readonly #outcomeAt = new Map<string, number>();
  readonly #outcomeLines = new Map<string, number>();
  readonly #matched = new Set<string>();
  readonly #latencies: number[] = [];
  #window = { lines: 0, bytes: 0, warn: 0, latencies: [] as number[], imap: [] as number[], jobs: [] as JobRun[] };
  readonly #idle: { at: number; msg: string; bytes: number }[] = [];
  #idleFrom = Number.POSITIVE_INFINITY;

  constructor(private readonly out: WriteStream) {
    this.started = new Promise((r) => {
      this.#resolveStarted = r;
    });
  }

  line(text: string): void {
    this.out.write(`${text}\n`);
    const bytes = Buffer.byteLength(text) + 1;
    this.#lines += 1;
    this.#bytes += bytes;
    this.#window.lines += 1;
    this.#window.bytes += bytes;
    let l: Record<string, unknown>;
    try {
      l = JSON.parse(text) as Record<string, unknown>;
    } catch {
      l = { level: 'raw', msg: text.slice(0, 120) };
    }
    const level = String(l['level']);
    const msg = String(l['msg']).slice(0, 100);
    this.#byLevel.set(level, (this.#byLevel.get(level) ?? 0) + 1);
    if (level !== 'info' && level !== 'debug') {
      this.#warnings.set(`${level}: ${msg}`, (this.#warnings.get(`${level}: ${msg}`) ?? 0) + 1);
      this.#window.warn += 1;
    }
    if (msg === 'casegate started') this.#resolveStarted();
    const at = Date.parse(String(l['time']));
    if (at >= this.#idleFrom) this.#idle.push({ at, msg, bytes });
    const id = l['messageId'];
    if (typeof id === 'string' && typeof l['outcome'] === 'string' && l['outcome'] !== 'retry') {
      this.#outcomeLines.set(id, (this.#outcomeLines.get(id) ?? 0) + 1);
      if (!this.#outcomeAt.has(id)) this.#outcomeAt.set(id, at);
    }
    if (msg === 'job finished' && typeof l['ms'] === 'number') this.#window.jobs.push({ job: String(l['job'] ?? l['component'] ?? '?'), ms: l['ms'], processed: Number(l['processed'] ?? 0) });
  }

  /** The figures since the last call: log volume, latencies of the messages whose outcome came (all; IMAP alone), the job runs. */
  takeWindow(accepted: ReadonlyMap<string, Handed>): Record<string, unknown> {
    for (const [id, handed] of accepted) {
      if (this.#matched.has(id)) continue;
      const at = this.#outcomeAt.get(id);
      if (at === undefined) continue;
      this.#matched.add(id);
      this.#window.latencies.push(at - handed.at);
      if (handed.via === 'imap') this.#window.imap.push(at - handed.at);
      this.#latencies.push(at - handed.at);
    }
    const w = this.#window;
    this.#window = { lines: 0, bytes: 0, warn: 0, latencies: [], imap: [], jobs: [] };
    const jobs: Record<string, { runs: number; maxMs: number; items: number; msPerItem: number | null }> = {};
    for (const r of w.jobs) {
      const j = (jobs[r.job] ??= { runs: 0, maxMs: 0, items: 0, msPerItem: null });
      j.runs += 1;
      j.maxMs = Math.max(j.maxMs, r.ms);
      j.items += r.processed;
    }
    for (const [name, j] of Object.entries(jobs)) {
      const ms = w.jobs.filter((r) => r.job === name).reduce((a, r) => a + r.ms, 0);
      j.msPerItem = j.items > 0 ? round(ms / j.items, 1) : null;
    }
    return {
      logLines: w.lines,
      logKb: round(w.bytes / 1024),
      warnLines: w.warn,
      handled: w.latencies.length,
      latencyP50Ms: percentile(w.latencies, 50),
      latencyP99Ms: percentile(w.latencies, 99),
      /** IMAP alone: Dovecot announces new mail up to ~0.5 s after the APPEND. */
      imapLatencyP50Ms: percentile(w.imap, 50),
      jobs,
    };
  }

  latencyOverall(): Record<string, number | null> {
    return { n: this.#latencies.length, p50: percentile(this.#latencies, 50), p90: percentile(this.#latencies, 90), p99: percentile(this.#latencies, 99), max: percentile(this.#latencies, 100) };
  }

  /** Messages with more than one outcome line (each message gets exactly one). */
  moreThanOneOutcomeLine(): string[] {
    return [...this.#outcomeLines].filter(([, n]) => n > 1).map(([id]) => id);
  }

  markIdle(from: number): void {
    this.#idleFrom = from;
  }

  idleSummary(): { lines: number; bytes: number; byMsg: Record<string, number> } {
    const byMsg: Record<string, number> = {};
    for (const l of this.#idle) byMsg[l.msg] = (byMsg[l.msg] ?? 0) + 1;
    return { lines: this.#idle.length, bytes: this.#idle.reduce((a, l) => a + l.bytes, 0), byMsg };
  }

  summary(): Record<string, unknown> {
    return {
      lines: this.#lines,
      mb: round(this.#bytes / 1048576, 1),
      byLevel: Object.fromEntries(this.#byLevel),
      warnings: Object.fromEntries([...this.#warnings].sort((a, b) => b[1] - a[1]).slice(0, 40)),
      moreThanOneOutcomeLine: this.moreThanOneOutcomeLine().slice(0, 20),
    };
  }
}
