/**
 * What a template check reports: the problems of a template folder (file, line, message), kept
 * once each and named by the kinds they concern, with "did you mean" for misspelt names and the
 * wording of Handlebars' syntax errors. Shared by the folder reading (template-folder.ts), the
 * checker (template-checker.ts) and the compiled set (template-set.ts).
 */
import type { TemplateName } from './template-data.js';

export interface TemplateProblem {
  /** Path relative to the template folder ("de/confirmation.text.hbs"); "." for the folder itself. */
  readonly file: string;
  readonly line: number | null;
  readonly message: string;
}

export class Problems {
  private readonly entries = new Map<string, { problem: TemplateProblem; kinds: Set<TemplateName> }>();
  /** Shared files (partials, layouts) → the kinds they were checked for. */
  private readonly checkedFor = new Map<string, Set<TemplateName>>();
  /** Files that come from the shipped set under an admin's folder: named as such. */
  private shipped: ReadonlySet<string> = new Set();

  shippedFiles(files: ReadonlySet<string>): void {
    this.shipped = files;
  }

  /**
   * `kind` is given for problems in shared files that depend on the kind's data; the message
   * then names the kinds, unless the problem occurs for every kind the file is used with.
   */
  add(file: string, line: number | null, message: string, kind?: TemplateName): void {
    const key = `${file}\u0000${line ?? ''}\u0000${message}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { problem: { file, line, message }, kinds: new Set() };
      this.entries.set(key, entry);
    }
    if (kind !== undefined) entry.kinds.add(kind);
  }

  checked(file: string, kind: TemplateName): void {
    let kinds = this.checkedFor.get(file);
    if (kinds === undefined) this.checkedFor.set(file, (kinds = new Set()));
    kinds.add(kind);
  }

  get size(): number {
    return this.entries.size;
  }

  sorted(): TemplateProblem[] {
    const out: TemplateProblem[] = [];
    for (const { problem: found, kinds } of this.entries.values()) {
      const all = this.checkedFor.get(found.file)?.size ?? 0;
      const problem = this.shipped.has(found.file) ? { ...found, file: `${found.file} (shipped with casegate)` } : found;
      if (kinds.size === 0 || kinds.size >= all) out.push(problem);
      else {
        const names = [...kinds].map((k) => `"${k}"`).join(', ');
        out.push({ ...problem, message: `${problem.message} (when used by template${kinds.size > 1 ? 's' : ''} ${names})` });
      }
    }
    return out.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || (a.line ?? 0) - (b.line ?? 0));
  }
}

/** Edit distance counting a swap of two neighbours as one edit ("nmae" → "name"). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => d[i]?.[j] ?? Infinity;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] ?? [];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      row[j] = v;
    }
  }
  return at(a.length, b.length);
}

export function didYouMean(name: string, candidates: Iterable<string>, prefix = ''): string {
  let best: string | null = null;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best !== null && bestDist <= Math.max(1, Math.floor(name.length / 3))
    ? ` (did you mean "${prefix}${best}"?)`
    : '';
}

/** The innermost {{#block}} that is never closed, for "unexpected end of file" errors. */
function unclosedBlock(source: string): { name: string; line: number } | null {
  const stack: Array<{ name: string; line: number }> = [];
  const re = /\{\{~?\s*([#^/])\s*(?:>\s*|\*\s*)?([^\s}~()]+)/g;
  for (let m = re.exec(source); m !== null; m = re.exec(source)) {
    const name = m[2] ?? '';
    const line = source.slice(0, m.index).split('\n').length;
    if (m[1] === '/') {
      const i = stack.map((b) => b.name).lastIndexOf(name);
      if (i >= 0) stack.splice(i);
    } else if (m[1] === '#' || name !== '') {
      if (m[1] === '^' && stack.length > 0 && name === 'else') continue;
      stack.push({ name, line });
    }
  }
  return stack.at(-1) ?? null;
}

export function syntaxProblem(err: unknown, source = ''): { line: number | null; message: string } {
  const raw = err instanceof Error ? err.message : String(err);
  const lines = raw.split('\n');
  const head = lines[0] ?? '';
  let line: number | null = null;
  if (typeof err === 'object' && err !== null && 'lineNumber' in err && typeof err.lineNumber === 'number') {
    line = err.lineNumber;
  } else {
    const m = /on line (\d+)/.exec(head);
    if (m?.[1] !== undefined) line = Number(m[1]);
  }
  if (lines.length >= 3 && /^(Parse|Lexical) error/.test(head)) {
    // jison: "Parse error on line N:" / excerpt / "----^" / "Expecting …, got 'X'"
    const excerpt = (lines[1] ?? '').trim();
    const expecting = lines[3] ?? '';
    const got = /got '([^']+)'/.exec(expecting)?.[1];
    const open = got === 'EOF' ? unclosedBlock(source) : null;
    if (open !== null) {
      return { line: open.line, message: `Syntax error: {{#${open.name}}} is never closed ({{/${open.name}}} missing)` };
    }
    const what =
      got === 'EOF'
        ? 'unexpected end of file (is a {{#block}} not closed?)'
        : got === 'INVALID' || got === undefined
          ? 'malformed {{…}} (check the braces and the expression inside)'
          : `unexpected ${got.toLowerCase().replace(/_/g, ' ')}`;
    return { line, message: `Syntax error: ${what} near "${excerpt.slice(-60)}"` };
  }
  const text = head.replace(/ - \d+:\d+$/, '');
  const mismatch = /^(\S+) doesn't match (\S+)$/.exec(text);
  if (mismatch !== null) {
    return { line, message: `Syntax error: {{#${mismatch[1]}}} is closed with {{/${mismatch[2]}}}` };
  }
  return { line, message: `Syntax error: ${text}` };
}
