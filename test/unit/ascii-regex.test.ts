/**
 * build/ascii-regex.ts: the non-ASCII characters of regular expression literals become \uXXXX
 * escapes that match exactly what the characters matched; nothing outside the literals changes.
 */
import { describe, expect, it } from 'vitest';
import { asciiRegexLiterals, escapeRegexLiteral } from '../../build/ascii-regex.js';

const evalRegex = (literal: string): RegExp => (0, eval)(literal) as RegExp;

describe('escapeRegexLiteral', () => {
  const cases: Array<readonly [string, readonly string[]]> = [
    ['/[:：]\\s*$/', ['Von: ', 'Am 1. März schrieb Ann：', 'x;']],
    ['/^Envoyé de mon (?:\\s*.+)$/', ['Envoyé de mon iPhone', 'Envoye de mon iPhone']],
    ['/grüß gott|liebe grüße/i', ['LIEBE GRÜSSE', 'Liebe Grüße', 'Grüß Gott']],
    ['/^(在[\\s\\S]+写道：)$/m', ['在 2026年3月2日 写道：', 'x\n在某时写道：']],
    ['/[😀-😂]/u', ['😁', '😃', '\uD83D']],
    ['/[😀]/', ['😀', '\uD83D', '\uDE00']],
    ['/(?<nom>é+)/u', ['ééé', 'e']],
    ['/\\é/', ['é', 'e']],
    ['/[.!?…]["\')\\]]?\\s*$/', ['Thanks…', 'Thanks.']],
  ];
  for (const [literal, inputs] of cases) {
    it(`${literal}: ASCII, same flags, same matches`, () => {
      const escaped = escapeRegexLiteral(literal);
      expect(escaped).toMatch(/^[\x00-\x7f]*$/);
      const a = evalRegex(literal);
      const b = evalRegex(escaped);
      expect(b.flags).toBe(a.flags);
      for (const s of inputs) expect(JSON.stringify(s.match(b)), s).toBe(JSON.stringify(s.match(a)));
    });
  }
  it('ASCII escapes stay as they are', () => {
    expect(escapeRegexLiteral('/a\\/b\\\\c\\u00e9[\\]]/g')).toBe('/a\\/b\\\\c\\u00e9[\\]]/g');
  });
});

describe('asciiRegexLiterals', () => {
  it('changes regular expression literals only: strings, templates, comments and divisions stay', () => {
    const code = "const a = /café|：/u.test(x) / 2; const s = 'café'; const t = String.raw`é`; // é\nconst r = x / y / z;";
    const { code: out, nonAsciiLeft } = asciiRegexLiterals(code);
    expect(out).toBe("const a = /caf\\u00e9|\\uff1a/u.test(x) / 2; const s = 'café'; const t = String.raw`é`; // é\nconst r = x / y / z;");
    expect(nonAsciiLeft).toBe(3);
  });
  it('an ASCII file is returned as it is', () => {
    const code = 'const r = /abc/g;';
    expect(asciiRegexLiterals(code)).toEqual({ code, nonAsciiLeft: 0 });
  });
});
