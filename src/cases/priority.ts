import { PRIORITY_SCHEMES, PRIORITY_SCHEME_DEFAULTS, type Config, type PriorityConfig } from '../config/schema.js';

/**
 * Priority schemes (config `priorities`): the default urgent/high/normal/low, S1–S5 (S1 most
 * severe) or custom levels. Each level has a name (stored on the case, `cases.priority`) and an
 * order (smaller = more severe); every listing shows the most severe first. Names are matched
 * case-insensitively and stored as configured.
 */

export interface PriorityLevel {
  readonly name: string;
  readonly order: number;
}

export interface PriorityScheme {
  /** Most severe first. */
  readonly levels: readonly PriorityLevel[];
  /** Level of new cases. */
  readonly defaultLevel: string;
  /** Level an "Urgent – …" subject sets. */
  readonly urgentLevel: string;
  /** The configured name for any spelling ("URGENT" → "urgent"), or null. */
  resolve(name: string): string | null;
  /** Sort key: the level's order; unknown names (a level removed from the config) sort last. */
  orderOf(name: string): number;
}

/** The levels a priorities config describes (custom without levels: none; the schema reports it). */
export function schemeLevels(p: Pick<PriorityConfig, 'scheme' | 'levels'>): PriorityLevel[] {
  const levels = p.scheme === 'custom' ? (p.levels ?? []) : PRIORITY_SCHEMES[p.scheme];
  return [...levels].sort((a, b) => a.order - b.order);
}

const cache = new WeakMap<PriorityConfig, PriorityScheme>();

export function priorityScheme(config: Pick<Config, 'priorities'>): PriorityScheme {
  const p = config.priorities;
  const hit = cache.get(p);
  if (hit !== undefined) return hit;
  const levels = schemeLevels(p);
  const byLower = new Map(levels.map((l) => [l.name.toLowerCase(), l]));
  const resolve = (name: string): string | null => byLower.get(name.trim().toLowerCase())?.name ?? null;
  const fallbackDefault = p.scheme === 'custom' ? (levels[Math.floor(levels.length / 2)]?.name ?? 'normal') : PRIORITY_SCHEME_DEFAULTS[p.scheme];
  const scheme: PriorityScheme = {
    levels,
    defaultLevel: (p.default !== undefined ? resolve(p.default) : null) ?? fallbackDefault,
    urgentLevel: (p.urgent !== undefined ? resolve(p.urgent) : null) ?? levels[0]?.name ?? 'urgent',
    resolve,
    orderOf: (name) => byLower.get(name.toLowerCase())?.order ?? Number.MAX_SAFE_INTEGER,
  };
  cache.set(p, scheme);
  return scheme;
}

/** The default scheme's levels in the languages customers read (English: the names themselves). */
const PRIORITY_WORDS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  de: { urgent: 'dringend', high: 'hoch', normal: 'normal', low: 'niedrig' },
};

/**
 * A priority in words for customers, in the case's language: the default scheme's levels in
 * German ("high" → "hoch"); S1–S5 and custom levels as configured (a configured name is the
 * team's word, not translated here).
 */
export function priorityLabel(name: string, language: string): string {
  const primary = language.toLowerCase().split(/[-_]/)[0] ?? 'en';
  return PRIORITY_WORDS[primary]?.[name.toLowerCase()] ?? name;
}

/** Compare two priority names: negative when `a` is more severe. */
export function comparePriority(config: Pick<Config, 'priorities'>, a: string, b: string): number {
  const s = priorityScheme(config);
  return s.orderOf(a) - s.orderOf(b);
}
