/**
 * The keys of the configuration schema, read from the zod schema itself (not written down), and the
 * keys an example YAML file shows — set or commented out — so tests can hold the two together:
 * every object strict (h9a: unknown keys get a "did you mean" hint), every key documented.
 */

interface ZodLike {
  readonly _zod: { readonly def: Record<string, unknown> & { readonly type: string } };
}

export interface SchemaObject {
  /** Dotted path; array items are transparent, map (record) keys are `*`. */
  readonly path: string;
  readonly strict: boolean;
  readonly keys: readonly string[];
}

function isZod(x: unknown): x is ZodLike {
  return typeof x === 'object' && x !== null && '_zod' in x;
}

/** Every object in the schema with its path, whether it is strict, and its keys. */
export function schemaObjects(schema: unknown): SchemaObject[] {
  const out: SchemaObject[] = [];
  const seen = new Set<unknown>();
  const walk = (s: unknown, path: string): void => {
    if (!isZod(s) || seen.has(s)) return;
    seen.add(s);
    const def = s._zod.def;
    switch (def.type) {
      case 'object': {
        const shape = def['shape'] as Record<string, unknown>;
        const catchall = def['catchall'];
        out.push({ path, strict: isZod(catchall) && catchall._zod.def.type === 'never', keys: Object.keys(shape) });
        for (const [k, v] of Object.entries(shape)) walk(v, path === '' ? k : `${path}.${k}`);
        return;
      }
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'catch':
      case 'readonly':
      case 'nonoptional':
        walk(def['innerType'], path);
        return;
      case 'pipe':
        walk(def['in'], path);
        walk(def['out'], path);
        return;
      case 'array':
        walk(def['element'], path);
        return;
      case 'record':
        walk(def['valueType'], path === '' ? '*' : `${path}.*`);
        return;
      case 'union':
        for (const o of def['options'] as unknown[]) walk(o, path);
        return;
      case 'intersection':
        walk(def['left'], path);
        walk(def['right'], path);
        return;
      case 'tuple':
        for (const i of def['items'] as unknown[]) walk(i, path);
        return;
      case 'lazy':
        walk((def['getter'] as () => unknown)(), path);
        return;
      default:
        return;
    }
  };
  walk(schema, '');
  return out;
}

/** Every key path of the schema ("security.senderAuth.mode", "queues.*.agents.name" …). */
export function schemaKeyPaths(schema: unknown): string[] {
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
