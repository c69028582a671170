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
  /** A discriminated union's key (loginAuth: `method`). */
  readonly discriminator?: string;
  /** A literal's values. */
  readonly values?: readonly unknown[];
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

/**
 * Like unwrap, but of a discriminated union only the alternative `value` names (`method: xoauth2`
 * → the xoauth2 login's keys), when it names one.
 */
function unwrapFor(def: Def, value: unknown): Def[] {
  const disc = def.discriminator;
  if (def.type === 'union' && disc !== undefined && value !== null && typeof value === 'object') {
    const named = (value as Record<string, unknown>)[disc];
    const chosen = (def.options ?? []).filter((o) => unwrap(o.def).some((d) => d.shape?.[disc]?.def.values?.includes(named) === true));
    if (chosen.length > 0) return chosen.flatMap((o) => unwrap(o.def));
  }
  if (def.innerType !== undefined && ['optional', 'nullable', 'default', 'prefault', 'catch', 'readonly'].includes(def.type)) return unwrapFor(def.innerType.def, value);
  if (def.type === 'pipe' && def.in !== undefined) return unwrapFor(def.in.def, value);
  return unwrap(def);
}

/**
 * The keys an object at `path` may have, or [] when unknown: of every alternative, or — given the
 * configuration (`input`) — of the one its value chooses where a discriminator chooses one.
 */
export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[], input?: unknown): string[] {
  const at = (v: unknown, k: PropertyKey): unknown => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined);
  let value = input;
  let defs = unwrapFor((schema as unknown as { def: Def }).def, value);
  for (const step of path) {
    value = at(value, step);
    const next: Def[] = [];
    for (const d of defs) {
      if (d.type === 'object' && typeof step === 'string' && d.shape !== undefined && Object.hasOwn(d.shape, step)) next.push(...unwrapFor(d.shape[step]!.def, value));
      else if (d.type === 'array' && typeof step === 'number' && d.element !== undefined) next.push(...unwrapFor(d.element.def, value));
      else if (d.type === 'record' && d.valueType !== undefined) next.push(...unwrapFor(d.valueType.def, value));
    }
    defs = next;
  }
  return [...new Set(defs.flatMap((d) => (d.type === 'object' && d.shape !== undefined ? Object.keys(d.shape) : [])))];
}

/**
 * The values of a discriminated union's key that admit `key` at `path` (["password"] for a
 * `password:` under `method: xoauth2`), or [] when no alternative there has it.
 */
export function formsWithKey(schema: z.ZodType, path: readonly PropertyKey[], key: string): { discriminator: string; values: unknown[] } | null {
  let defs = [(schema as unknown as { def: Def }).def];
  const expand = (ds: Def[]): Def[] => ds.flatMap((d) => (d.type === 'union' && d.discriminator !== undefined ? [d] : unwrapKeepUnion(d)));
  defs = expand(defs);
  for (const step of path) {
    const next: Def[] = [];
    for (const d0 of defs) {
      for (const d of d0.type === 'union' && d0.discriminator !== undefined ? (d0.options ?? []).flatMap((o) => unwrap(o.def)) : [d0]) {
        if (d.type === 'object' && typeof step === 'string' && d.shape !== undefined && Object.hasOwn(d.shape, step)) next.push(d.shape[step]!.def);
        else if (d.type === 'array' && typeof step === 'number' && d.element !== undefined) next.push(d.element.def);
        else if (d.type === 'record' && d.valueType !== undefined) next.push(d.valueType.def);
      }
    }
    defs = expand(next);
  }
  for (const u of defs) {
    const disc = u.discriminator;
    if (u.type !== 'union' || disc === undefined) continue;
    const values = (u.options ?? []).flatMap((o) => unwrap(o.def)).filter((d) => d.shape !== undefined && Object.hasOwn(d.shape, key)).flatMap((d) => [...(d.shape![disc]?.def.values ?? [])]);
    if (values.length > 0) return { discriminator: disc, values };
  }
  return null;
}

/** unwrap, stopping at a discriminated union (kept whole). */
function unwrapKeepUnion(def: Def): Def[] {
  if (def.type === 'union' && def.discriminator !== undefined) return [def];
  if (def.innerType !== undefined && ['optional', 'nullable', 'default', 'prefault', 'catch', 'readonly'].includes(def.type)) return unwrapKeepUnion(def.innerType.def);
  if (def.type === 'pipe' && def.in !== undefined) return unwrapKeepUnion(def.in.def);
  if (def.type === 'union') return (def.options ?? []).flatMap((o) => unwrapKeepUnion(o.def));
  return [def];
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

/**
 * "unknown key "listner" — did you mean "listener"?" (or the list of keys allowed there). `form`:
 * the key belongs to another form of this section (`password` beside `method: xoauth2`).
 */
export function unknownKeyMessage(key: string, known: readonly string[], form?: { discriminator: string; values: readonly unknown[]; chosen: unknown } | null): string {
  if (form !== undefined && form !== null) return `"${key}" does not go with ${form.discriminator}: ${String(form.chosen)} (it is a key of ${form.values.map((v) => `${form.discriminator}: ${String(v)}`).join(' or ')}; allowed here: ${known.join(', ')})`;
  const guess = didYouMean(key, known);
  if (guess !== null) return `unknown key "${key}": did you mean "${guess}"?`;
  return known.length > 0 ? `unknown key "${key}" (allowed here: ${known.join(', ')})` : `unknown key "${key}"`;
}
