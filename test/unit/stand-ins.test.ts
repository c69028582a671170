import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { htmlToTextStandIn, linkifyStandIn } from '../../build/stand-ins.js';

/**
 * The stand-ins the bundle has in place of some dependencies (build/stand-ins.ts), run as the
 * bundle runs them (CommonJS source with a require) against the real modules: they load the real
 * module only when it is used, and then behave exactly like it.
 */

const realRequire = createRequire(import.meta.url);

/** Evaluate a stand-in's source; `loads` lists every module it required. */
function evaluate(source: string, require: (id: string) => unknown = realRequire): { exports: unknown; loads: string[] } {
  const loads: string[] = [];
  const module = { exports: {} as unknown };
  const tracked = (id: string): unknown => {
    loads.push(id);
    return require(id);
  };
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  new Function('module', 'exports', 'require', source)(module, module.exports, tracked);
  return { exports: module.exports, loads };
}

interface Match {
  schema: string;
  index: number;
  lastIndex: number;
  raw: string;
  text: string;
  url: string;
}
interface Linkify {
  tlds(list: string | string[], keepOld?: boolean): Linkify;
  add(schema: string, definition: unknown): Linkify;
  set(options: Record<string, boolean>): Linkify;
  test(text: string): boolean;
  pretest(text: string): boolean;
  match(text: string): Match[] | null;
}
type LinkifyFactory = () => Linkify;

/** mailparser's configuration of its instance (node_modules/mailparser/dist/esm/mail-parser.js). */
function configure(linkify: Linkify): Linkify {
  linkify.tlds(['com', 'org', 'example', 'de']).tlds('onion', true).add('git:', 'http:').add('ftp:', null).set({ fuzzyIP: true, fuzzyLink: true, fuzzyEmail: true });
  linkify.add('@', {
    validate(text: string, pos: number, self: { re: Record<string, RegExp | string> }): number {
      const tail = text.slice(pos);
      self.re['twitter'] ??= new RegExp(`^([a-zA-Z0-9_]){1,15}(?!_)(?=$|${String(self.re['src_ZPCc'])})`);
      const m = (self.re['twitter'] as RegExp).exec(tail);
      return m === null || (pos >= 2 && text[pos - 2] === '@') ? 0 : m[0].length;
    },
    normalize(match: { url: string }): void {
      match.url = `https://twitter.com/${match.url.replace(/^@/, '')}`;
    },
  });
  return linkify;
}

describe('linkify-it stand-in', () => {
  const TEXT = 'See www.example.com, git://code.example.org/x, ftp://old.example.de, mail jane@example.com, 192.168.0.1/path, @casegate_hq and x.onion.';

  it('configuring the instance (as mailparser does when it loads) loads nothing; the first use makes the real one, configured the same', () => {
    const { exports, loads } = evaluate(linkifyStandIn());
    const linkify = configure((exports as LinkifyFactory)());
    expect(loads).toEqual([]);
    const real = configure((realRequire('linkify-it') as LinkifyFactory)());
    expect(linkify.pretest(TEXT)).toBe(true);
    expect(loads).toEqual(['linkify-it']);
    expect(linkify.test(TEXT)).toBe(real.test(TEXT));
    const matches = linkify.match(TEXT)!.map((m) => ({ schema: m.schema, text: m.text, url: m.url, index: m.index, lastIndex: m.lastIndex, raw: m.raw }));
    expect(matches).toEqual(real.match(TEXT)!.map((m) => ({ schema: m.schema, text: m.text, url: m.url, index: m.index, lastIndex: m.lastIndex, raw: m.raw })));
    expect(matches.map((m) => m.url)).toEqual(expect.arrayContaining(['http://www.example.com', 'git://code.example.org/x', 'mailto:jane@example.com', 'https://twitter.com/casegate_hq']));
    expect(matches.map((m) => m.url)).not.toContain('ftp://old.example.de');
    // Configuring after the first use goes to the real instance at once.
    linkify.add('@', null);
    real.add('@', null);
    expect(linkify.match(TEXT)!.map((m) => m.url)).toEqual(real.match(TEXT)!.map((m) => m.url));
    expect(loads).toEqual(['linkify-it']);
  });

  it('every instance is its own (two instances, two configurations)', () => {
    const { exports } = evaluate(linkifyStandIn());
    const plain = (exports as LinkifyFactory)();
    const fuzzyOff = (exports as LinkifyFactory)().set({ fuzzyLink: false });
    expect(plain.test('visit example.com')).toBe(true);
    expect(fuzzyOff.test('visit example.com')).toBe(false);
  });
});

describe('html-to-text stand-in', () => {
  it('loads html-to-text at the first conversion, compiles each option set once, and converts exactly as html-to-text does', () => {
    const real = realRequire('html-to-text') as { compile(o?: object): (html: string) => string; convert(html: string, o?: object): string };
    let compiles = 0;
    const counting = { ...real, compile: (o?: object) => ((compiles += 1), real.compile(o)) };
    const { exports, loads } = evaluate(htmlToTextStandIn(), (id) => (id === 'html-to-text' ? counting : realRequire(id)));
    expect(loads).toEqual([]);
    const stand = exports as { htmlToText(html: string, o?: object): string; convert(html: string, o?: object): string };
    const options = { limits: { maxDepth: 1000 } };
    const pages = ['<p>Hello <b>team</b>,</p><blockquote>old</blockquote>', '<ul><li>one</li><li>two</li></ul><table><tr><td>a</td><td>b</td></tr></table>'];
    for (const html of pages) {
      expect(stand.htmlToText(html, options)).toBe(real.convert(html, options));
      expect(stand.convert(html, { wordwrap: 20 })).toBe(real.convert(html, { wordwrap: 20 }));
    }
    expect(compiles).toBe(2);
    expect(loads).toEqual(['html-to-text']);
  });
});
