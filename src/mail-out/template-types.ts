import type { VarFields, VarSpec } from './template-data.js';

/**
 * The static types the template checker reasons with: what a declared variable (template-data.ts)
 * is, as a type — string, number, boolean, null, unknown, an object of named fields or a list of
 * one item type — and what a path step (`case.number`, `list.length`, `list.0`) leads to.
 */

/** The type of a value in template data. */
export type Ty =
  | { readonly t: 'string' | 'number' | 'boolean' | 'null' | 'unknown' }
  | { readonly t: 'object'; readonly fields: ReadonlyMap<string, Ty> }
  | { readonly t: 'list'; readonly item: Ty };

export const T_STRING: Ty = { t: 'string' };
export const T_NUMBER: Ty = { t: 'number' };
export const T_BOOLEAN: Ty = { t: 'boolean' };
export const T_NULL: Ty = { t: 'null' };
export const T_UNKNOWN: Ty = { t: 'unknown' };

function tyOf(spec: VarSpec): Ty {
  switch (spec.type) {
    case 'object':
      return tyOfFields(spec.fields);
    case 'list':
      return { t: 'list', item: tyOf(spec.item) };
    case 'string':
      return T_STRING;
    case 'number':
      return T_NUMBER;
    case 'boolean':
      return T_BOOLEAN;
  }
}

export function tyOfFields(fields: VarFields, extra?: ReadonlyMap<string, Ty>): Ty {
  const map = new Map<string, Ty>();
  for (const [k, v] of Object.entries(fields)) map.set(k, tyOf(v));
  if (extra) for (const [k, v] of extra) map.set(k, v);
  return { t: 'object', fields: map };
}

/** The type one path step leads to (`.field`, `.length`, `.0`); undefined when there is no such member. */
export function member(ty: Ty, part: string): Ty | undefined {
  switch (ty.t) {
    case 'unknown':
      return T_UNKNOWN;
    case 'object':
      return ty.fields.get(part);
    case 'list':
      if (part === 'length') return T_NUMBER;
      return /^\d+$/.test(part) ? ty.item : undefined;
    case 'string':
      return part === 'length' ? T_NUMBER : undefined;
    default:
      return undefined;
  }
}
