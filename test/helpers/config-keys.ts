/**
 * The keys of the configuration schema, read from the zod schema itself (not written down), and the
 * keys an example YAML file shows — set or commented out — so tests can hold the two together:
 * every object strict (h9a: unknown keys get a "did you mean" hint), every key documented. The
 * schema is walked with the same unwrapping as the did-you-mean hints (src/config/key-hints.ts).
 */
import type { z } from 'zod';
import { unwrap, type Def } from '../../src/config/key-hints.js';

export interface SchemaObject {
  /** Dotted path; array items are transparent, map (record) keys are `*`. */
  readonly path: string;
  readonly strict: boolean;
  readonly keys: readonly string[];
}

/** Every object in the schema with its path, whether it is strict, and its keys. */
export function schemaObjects(schema: z.ZodType): SchemaObject[] {
  const out: SchemaObject[] = [];
  const walk = (def: Def, path: string): void => {
    for (const d of unwrap(def)) {
      if (d.type === 'object' && d.shape !== undefined) {
        out.push({ path, strict: d.catchall?.def.type === 'never', keys: Object.keys(d.shape) });
        for (const [k, v] of Object.entries(d.shape)) walk(v.def, path === '' ? k : `${path}.${k}`);
      } else if (d.type === 'array' && d.element !== undefined) walk(d.element.def, path);
      else if (d.type === 'record' && d.valueType !== undefined) walk(d.valueType.def, path === '' ? '*' : `${path}.*`);
    }
  };
  walk((schema as unknown as { def: Def }).def, '');
  return out;
}

/** Every key path of the schema ("security.senderAuth.mode", "queues.*.agents.name" …). */
export function schemaKeyPaths(schema: z.ZodType): string[] {
  const paths = new Set<string>();
  for (const o of schemaObjects(schema)) for (const k of o.keys) paths.add(o.path === '' ? k : `${o.path}.${k}`);
  return [...paths].sort();
}

/**
 * The key paths an example YAML shows, set or commented out (`# key: …` at the indentation the
 * key would have). Array items are transparent. Prose comments may add stray paths; they do no
 * harm here (the question is only whether a schema key is shown).
 */
export function exampleKeyPaths(yamlText: string): string[][] {
  const stack: { indent: number; key: string }[] = [];
  const out: string[][] = [];
  for (const line of yamlText.split('\n')) {
    const m = /^(\s*)(#\s?)?(\s*)(-\s+)?(?:([A-Za-z0-9_][A-Za-z0-9_-]*|'[^']+'|"[^"]+"):(?=\s|$))?(.*)$/.exec(line)!;
    const indent = m[1]!.length + m[3]!.length + (m[4]?.length ?? 0);
    const rest = m[6]!;
    if (m[5] !== undefined) {
      while (stack.length > 0 && stack[stack.length - 1]!.indent >= indent) stack.pop();
      stack.push({ indent, key: m[5].replace(/^['"]|['"]$/g, '') });
      out.push(stack.map((s) => s.key));
    } else if (!rest.trimStart().startsWith('{')) {
      continue;
    } else {
      // A flow map as a list item ("- { name: …, address: … }"): its keys belong to the enclosing key.
      while (stack.length > 0 && stack[stack.length - 1]!.indent >= indent) stack.pop();
    }
    // Keys of a flow map on the line ("key: { a: 1, b: 2 }"): children of the line's key.
    const brace = rest.indexOf('{');
    if (brace < 0) continue;
    const parent = stack.map((s) => s.key);
    for (const k of rest.slice(brace).matchAll(/[{,]\s*([A-Za-z0-9_][A-Za-z0-9_-]*)\s*:/g)) out.push([...parent, k[1]!]);
  }
  return out;
}

/** Whether a schema path (with `*` for map keys) is shown by one of the example's paths. */
export function documented(schemaPath: string, example: readonly (readonly string[])[]): boolean {
  const want = schemaPath.split('.');
  return example.some((p) => p.length === want.length && want.every((seg, i) => seg === '*' || seg === p[i]));
}
