/**
 * The vocabulary template kinds are declared in (../template-data.ts explains the whole): a
 * variable is a string, number, boolean, object (named fields) or list (of one item type), each
 * with a description and an example; `DataOf` turns a declaration into the TypeScript type of the
 * data, `exampleOf` into sample data, `flattenVariables` into the rows of the reference page.
 */

export interface StringVar {
  readonly type: 'string';
  readonly description: string;
  readonly example: string;
}

export interface NumberVar {
  readonly type: 'number';
  readonly description: string;
  readonly example: number;
}

export interface BooleanVar {
  readonly type: 'boolean';
  readonly description: string;
  readonly example: boolean;
}

export interface ObjectVar<F extends VarFields = VarFields> {
  readonly type: 'object';
  readonly description: string;
  readonly fields: F;
}

export interface ListVar<I extends VarSpec = VarSpec> {
  readonly type: 'list';
  readonly description: string;
  /** Declaration of one item; inside `{{#each}}` the item is `this`. */
  readonly item: I;
  readonly example: readonly DataOf<I>[];
}

export type VarSpec = StringVar | NumberVar | BooleanVar | ObjectVar | ListVar;

export type VarFields = { readonly [name: string]: VarSpec };

/** The data type a declaration describes. */
export type DataOf<S extends VarSpec> = S extends StringVar
  ? string
  : S extends NumberVar
    ? number
    : S extends BooleanVar
      ? boolean
      : S extends ListVar<infer I extends VarSpec>
        ? readonly DataOf<I>[]
        : S extends ObjectVar<infer F extends VarFields>
          ? DataOfFields<F>
          : never;

export type DataOfFields<F extends VarFields> = { readonly [K in keyof F]: DataOf<F[K]> };

export const str = (description: string, example: string): StringVar => ({ type: 'string', description, example });
export const num = (description: string, example: number): NumberVar => ({ type: 'number', description, example });
export const bool = (description: string, example: boolean): BooleanVar => ({ type: 'boolean', description, example });
export const obj = <F extends VarFields>(description: string, fields: F): ObjectVar<F> => ({
  type: 'object',
  description,
  fields,
});
export const list = <I extends VarSpec>(description: string, item: I, example: readonly DataOf<I>[]): ListVar<I> => ({
  type: 'list',
  description,
  item,
  example,
});

export interface TemplateKindDeclaration {
  /** When it is sent (shown on the reference page, docs/templates.md). */
  readonly description: string;
  /** Who reads it: customers (layouts/default), agents, leads and admins (layouts/staff), or a web page (layouts/page). */
  readonly audience: TemplateAudience;
  /**
   * What it is about: one case (its variables start with the case base, `commonVariables`) or
   * the installation as a whole (the instance base, `instanceVariables`: no case fields).
   */
  readonly scope: 'case' | 'instance';
  readonly variables: VarFields;
}

export type TemplateAudience = 'customer' | 'staff' | 'web';

/** The example data a declaration describes (trial renders, send-test, documentation). */
export function exampleOf(spec: VarSpec): unknown {
  switch (spec.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(spec.fields)) out[key] = exampleOf(field);
      return out;
    }
    case 'list':
      return [...spec.example];
    default:
      return spec.example;
  }
}

export interface VariableInfo {
  /** Path as written in a template: `case.number`, `helpfulInfo` (list), `this` inside `#each`. */
  readonly path: string;
  readonly type: VarSpec['type'];
  readonly description: string;
  /** Example value (JSON-compatible); absent for objects. */
  readonly example?: unknown;
  /** For list items: the path of the list they belong to. */
  readonly itemOf?: string;
}

/** Every variable of a declaration tree, flattened, depth-first in declaration order (for a reference page). */
export function flattenVariables(fields: VarFields): VariableInfo[] {
  const out: VariableInfo[] = [];
  const visit = (path: string, spec: VarSpec, itemOf?: string): void => {
    const base = { path, type: spec.type, description: spec.description, ...(itemOf !== undefined ? { itemOf } : {}) };
    if (spec.type === 'object') {
      out.push(base);
      for (const [key, field] of Object.entries(spec.fields)) {
        visit(itemOf !== undefined && path === 'this' ? key : `${path}.${key}`, field, itemOf);
      }
    } else if (spec.type === 'list') {
      out.push({ ...base, example: spec.example });
      visit('this', spec.item, path);
    } else {
      out.push({ ...base, example: spec.example });
    }
  };
  for (const [key, spec] of Object.entries(fields)) visit(key, spec);
  return out;
}
