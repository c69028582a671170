/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), for tests that scrape
 * a running daemon: every sample must belong to a family declared with # TYPE before it, label
 * values are unescaped, values parsed (NaN, +Inf, -Inf included). Throws on anything malformed,
 * so a scrape that Prometheus would reject fails the test.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
  /** The value of the one sample with this name whose labels include `labels` (throws when none or several). */
  value(name: string, labels?: Readonly<Record<string, string>>): number;
  /** Every sample with this name whose labels include `labels`. */
  all(name: string, labels?: Readonly<Record<string, string>>): Sample[];
  /** Sum of the matching samples (0 when none). */
  sum(name: string, labels?: Readonly<Record<string, string>>): number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(v: string, line: string): number {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  if (v === 'NaN') return NaN;
  const n = Number(v);
  if (v === '' || Number.isNaN(n)) throw new Error(`bad sample value "${v}" in: ${line}`);
  return n;
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`bad labels in: ${line}`);
    const key = text.slice(i, eq).trim();
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(key)) throw new Error(`bad label name "${key}" in: ${line}`);
    if (text[eq + 1] !== '"') throw new Error(`label value not quoted in: ${line}`);
    let j = eq + 2;
    let value = '';
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j];
        value += next === 'n' ? '\n' : next;
      } else value += text[j];
    }
    if (j >= text.length) throw new Error(`unterminated label value in: ${line}`);
    if (key in labels) throw new Error(`label ${key} twice in: ${line}`);
    labels[key] = value;
    i = j + 1;
    if (text[i] === ',') i += 1;
  }
  return labels;
}

function familyOf(name: string, types: ReadonlyMap<string, string>): string | null {
  if (types.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count', '_created', '_total']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const t = types.get(base);
      if (t === 'histogram' || t === 'summary' || (suffix === '_total' && t === 'counter')) return base;
    }
  }
  return null;
}

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (m === null) continue; // a comment
      if (!NAME.test(m[2]!)) throw new Error(`bad metric name in: ${line}`);
      if (m[1] === 'TYPE') {
        if (!TYPES.has(m[3] ?? '')) throw new Error(`bad TYPE in: ${line}`);
        if (types.has(m[2]!)) throw new Error(`TYPE twice for ${m[2]}`);
        types.set(m[2]!, m[3]!);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (m === null) throw new Error(`malformed sample line: ${line}`);
    const name = m[1]!;
    if (familyOf(name, types) === null) throw new Error(`sample ${name} has no # TYPE before it`);
    samples.push({ name, labels: m[2] !== undefined ? parseLabels(m[2], line) : {}, value: parseValue(m[3]!, line) });
  }
  const matches = (s: Sample, name: string, labels: Readonly<Record<string, string>>): boolean => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v);
  const all = (name: string, labels: Readonly<Record<string, string>> = {}): Sample[] => samples.filter((s) => matches(s, name, labels));
  return {
    types,
    samples,
    all,
    sum: (name, labels = {}) => all(name, labels).reduce((n, s) => n + s.value, 0),
    value(name, labels = {}) {
      const found = all(name, labels);
      if (found.length !== 1) throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${found.length}`);
      return found[0]!.value;
    },
  };
}
