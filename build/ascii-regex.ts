/**
 * Makes a bundle ASCII by writing the non-ASCII characters of its regular expression literals as
 * \uXXXX escapes (esbuild escapes them in strings, templates and identifiers, not in regular
 * expressions: `/[:：]/`, `/Envoyé de mon/` in the reply parsers).
 *
 * Why: V8 keeps an ASCII source as one byte a character; one non-ASCII character makes the whole
 * of dist/bin/ingest.cjs (3.1 MB when measured) a two-byte string, which cost `casegate ingest`
 * about 20 ms at every run (decoding, copying and holding twice the bytes). The loader (src/cli/code-cache.ts) reads
 * an ASCII file as Latin-1, without decoding.
 *
 * A \uXXXX escape means the same character as the character itself, in and out of classes, with
 * and without the u flag (a surrogate pair written as two escapes is one code point under u, two
 * code units without, as the literal character is). An identity escape of a non-ASCII character
 * (`\é`, only valid without u) means the character: it is written as its \uXXXX escape. TypeScript's
 * parser finds the literals, so nothing that only looks like one (a division, a comment) is touched.
 */
import ts from 'typescript';

/** `code` with every regular expression literal made ASCII, and how many non-ASCII characters are left elsewhere. */
export function asciiRegexLiterals(code: string): { readonly code: string; readonly nonAsciiLeft: number } {
  if (!/[^\x00-\x7f]/.test(code)) return { code, nonAsciiLeft: 0 };
  const source = ts.createSourceFile('bundle.js', code, ts.ScriptTarget.Latest, false, ts.ScriptKind.JS);
  const literals: Array<readonly [number, number]> = [];
  const visit = (node: ts.Node): void => {
    if (node.kind === ts.SyntaxKind.RegularExpressionLiteral) literals.push([node.getStart(source), node.end]);
    else ts.forEachChild(node, visit);
  };
  visit(source);
  const parts: string[] = [];
  let at = 0;
  for (const [start, end] of literals.sort((a, b) => a[0] - b[0])) {
    const text = code.slice(start, end);
    if (!/[^\x00-\x7f]/.test(text)) continue;
    parts.push(code.slice(at, start), escapeRegexLiteral(text));
    at = end;
  }
  parts.push(code.slice(at));
  const out = parts.join('');
  return { code: out, nonAsciiLeft: out.match(/[^\x00-\x7f]/g)?.length ?? 0 };
}

const hex4 = (unit: number): string => `\\u${unit.toString(16).padStart(4, '0')}`;

/** One literal (`/…/flags`), its non-ASCII code units as \uXXXX escapes. */
export function escapeRegexLiteral(literal: string): string {
  let out = '';
  for (let i = 0; i < literal.length; i++) {
    const ch = literal[i]!;
    if (ch === '\\' && i + 1 < literal.length) {
      const next = literal.charCodeAt(i + 1);
      // `\é` (an identity escape): the character itself, escaped.
      out += next > 0x7f ? hex4(next) : ch + literal[i + 1]!;
      i += 1;
    } else {
      const unit = literal.charCodeAt(i);
      out += unit > 0x7f ? hex4(unit) : ch;
    }
  }
  return out;
}
