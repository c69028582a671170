import type { z } from 'zod';

/**
 * Unknown configuration keys (every object of the schema is strict) are reported one by one with
 * the nearest known key at that place: `listner` → "did you mean listener?".
 */

/** The parts of a zod 4 schema definition the configuration's schema uses. */
export interface Def {
  readonly type: string;
  readonly shape?: Record<string, { def: Def }>;
  /** `never` for a strict object. */
  readonly catchall?: { def: Def };
  readonly innerType?: { def: Def };
  readonly element?: { def: Def };
  readonly valueType?: { def: Def };
  readonly options?: readonly { def: Def }[];
  readonly in?: { def: Def };
  readonly out?: { def: Def };
}

/** The object/array/record/… definitions behind optional, default, pipe and union wrappers. */
export function unwrap(def: Def): Def[] {
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'catch':
    case 'readonly':
      return def.innerType !== undefined ? unwrap(def.innerType.def) : [];
    case 'pipe':
      return def.in !== undefined ? unwrap(def.in.def) : [];
    case 'union':
      return (def.options ?? []).flatMap((o) => unwrap(o.def));
    default:
      return [def];
  }
}

/** The keys an object at `path` may have (union of every alternative), or [] when unknown. */
export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let defs = unwrap((schema as unknown as { def: Def }).def);
  for (const step of path) {
    const next: Def[] = [];
    for (const d of defs) {
      if (d.type === 'object' && typeof step === 'string' && d.shape !== undefined && Object.hasOwn(d.shape, step)) next.push(...unwrap(d.shape[step]!.def));
      else if (d.type === 'array' && typeof step === 'number' && d.element !== undefined) next.push(...unwrap(d.element.def));
      else if (d.type === 'record' && d.valueType !== undefined) next.push(...unwrap(d.valueType.def));
    }
    defs = next;
  }
  return [...new Set(defs.flatMap((d) => (d.type === 'object' && d.shape !== undefined ? Object.keys(d.shape) : [])))];
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known key closest to a typo, or null when none is close enough to be a likely intent. */
export function didYouMean(word: string, known: readonly string[]): string | null {
  const w = word.toLowerCase();
  let best: string | null = null;
  let bestDist = Infinity;
  for (const k of known) {
    const dist = k.toLowerCase() === w ? 0 : distance(w, k.toLowerCase());
    if (dist < bestDist) {
      best = k;
      bestDist = dist;
    }
  }
  const allowed = w.length <= 4 ? 1 : w.length <= 8 ? 2 : 3;
  return best !== null && bestDist <= allowed ? best : null;
}

/** "unknown key "listner" — did you mean "listener"?" (or the list of keys allowed there). */
export function unknownKeyMessage(key: string, known: readonly string[]): string {
  const guess = didYouMean(key, known);
  if (guess !== null) return `unknown key "${key}": did you mean "${guess}"?`;
  return known.length > 0 ? `unknown key "${key}" (allowed here: ${known.join(', ')})` : `unknown key "${key}"`;
}
