import { describe, expect, it } from 'vitest';
import { signedLinksIn, withoutSignedLinks } from '../../src/web/signed-link.js';

/**
 * A signed link broken over two lines by a mail client that hard-wraps (web/signed-link.ts BREAK):
 * read whole, cut whole; and what is not a broken token is left as it is. The whole-pipeline cases
 * (a reply-all, our notification) are in test/web/links-in-files.test.ts.
 */

const TOKEN = '10001.c.p12.tb9l00.tct500.1f9bc19778e8528f2ca2894c';
const URL = `https://help.example.com/cg/c/${TOKEN}`;
const OTHER = '10002.c.tb9l01.tct501.0123456789abcdef01234567';

describe('a signed link broken over lines', () => {
  it('is found whole wherever the break falls, after "> ", "> > " or ">>" quote markers, and in our HTML (<br>, &gt;)', () => {
    for (let at = 31; at < URL.length; at++) {
      for (const marker of ['', '> ', '> > ', '>> ', '>']) {
        const text = `${marker}Follow your case: ${URL.slice(0, at)}\n${marker}${URL.slice(at)} thanks`;
        expect(signedLinksIn(text), `${at} ${JSON.stringify(marker)}`).toEqual([TOKEN]);
        expect(withoutSignedLinks(text)).toBe(`${marker}Follow your case: https://help.example.com/cg/c/…\n${marker} thanks`);
      }
    }
    const html = `<p>Follow your case: ${URL.slice(0, 60)}<br>\n&gt; &gt; ${URL.slice(60)}</p>`;
    expect(signedLinksIn(html)).toEqual([TOKEN]);
    expect(withoutSignedLinks(html)).toBe('<p>Follow your case: https://help.example.com/cg/c/…<br>\n&gt; &gt; </p>');
    // RFC 5545 folding (CRLF and a space) in a calendar file.
    expect(signedLinksIn(`DESCRIPTION:Rate us at ${URL.slice(0, 50)}\r\n ${URL.slice(50)}\r\n`)).toEqual([TOKEN]);
  });

  it('a reader’s own link stays, broken or not; every other one goes', () => {
    const text = `${URL.slice(0, 50)}\n${URL.slice(50)}\nand https://help.example.com/cg/c/${OTHER.slice(0, 20)}\n> ${OTHER.slice(20)}`;
    expect(signedLinksIn(text)).toEqual([TOKEN, OTHER]);
    expect(withoutSignedLinks(text, [URL])).toBe(`${URL.slice(0, 50)}\n${URL.slice(50)}\nand https://help.example.com/cg/c/…\n> `);
  });

  it('is never joined with what follows a whole token, nor made of lines that are no token', () => {
    // A whole token at the end of a line, the next line going on with hex digits or a word.
    for (const next of ['abc', 'deadbeef done', '0123', '.5 more', 'Thanks']) {
      const text = `${URL}\n${next}`;
      expect(signedLinksIn(text), next).toEqual([TOKEN]);
      expect(withoutSignedLinks(text)).toBe(`https://help.example.com/cg/c/…\n${next}`);
    }
    // Two whole tokens on two lines stay two.
    expect(signedLinksIn(`${TOKEN}\n${OTHER}`)).toEqual([TOKEN, OTHER]);
    // Version numbers, dates and hex ids across lines are no token.
    for (const text of ['release 10001.c.\n2\nnotes', 'id 1.c.abc.def.\n0123456789abcdef0123456\nok', 'build 10001.c.tb9l00.tct500.1f9bc19778e8528f2ca2894\n\nnext', 'x 10001.c.tb9l00.tct500.1f9bc19778e8528f2ca2894c0\ny']) {
      expect(signedLinksIn(text), text).toEqual([]);
      expect(withoutSignedLinks(text)).toBe(text);
    }
  });
});
