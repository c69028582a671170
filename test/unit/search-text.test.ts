import { describe, expect, it } from 'vitest';
import { parseSearchText, searchExcerpt } from '../../src/cases/search-text.js';
import { ftsDocument, indexWords, tsvectorDocument } from '../../src/cases/search-terms.js';

describe('cases list --search: the words and the excerpt', () => {
  it('words are runs of letters and digits; a word with others in it and "quoted words" must follow each other', () => {
    const items = (q: string) => parseSearchText(q)?.items.map((i) => `${i.words.join(' ')}${i.prefix ? '*' : ''}`);
    expect(items('Printer  TONER printer')).toEqual(['printer*', 'toner*']);
    expect(items('INV-2024-0042 bob@customer.example')).toEqual(['inv 2024 0042*', 'bob customer example*']);
    expect(items('"room 4" "fire')).toEqual(['room 4', 'fire']);
    expect(items('Müller プリンター')).toEqual(['muller*', 'プリ リン ンタ ター']);
    expect(parseSearchText(' -- !! "" ')).toBeNull();
  });

  it('the excerpt starts a third of its width before the first word found (accents folded), on one line, with … where cut', () => {
    const text = `${'x '.repeat(100)}Die Rechnung von Jürgen\nMüller ist falsch ${'y '.repeat(100)}`;
    const e = searchExcerpt(text, parseSearchText('muller')!, 60);
    expect(e).toMatch(/^….*Jürgen Müller ist falsch.*…$/);
    expect(e.indexOf('Müller')).toBeGreaterThan(10);
    expect(e.length).toBeLessThanOrEqual(62);
    // A word found only as the end of a word does not count; the text's start instead.
    expect(searchExcerpt('Xmuller and more', parseSearchText('muller')!, 10)).toBe('Xmuller a…');
    expect(searchExcerpt('short text', parseSearchText('other')!)).toBe('short text');
  });
});

describe('cases list --search: the words the index holds (both backends alike)', () => {
  it('folds case in every script, ß, accents of Latin and Greek, full-width forms; bigrams for scripts without spaces', () => {
    expect(indexWords('Straße İSTANBUL ΣΦΆΛΜΑ Ёлка ПРИВЕТ Ärger ＩＮＶ１２３ が')).toEqual(['strasse', 'istanbul', 'σφαλμα', 'елка', 'привет', 'arger', 'inv123', 'が']);
    expect(indexWords('請求書の支払い')).toEqual(['請求', '求書', '書の', 'の支', '支払', '払い', 'い']);
    expect(indexWords('iPhone用のケース')).toEqual(['iphone', '用の', 'のケ', 'ケー', 'ース', 'ス']);
  });

  it('a word keeps at most 256 positions and the document at most 16,383 words, the same on both backends', () => {
    const fts = ftsDocument(['ab '.repeat(300)]).split(' ');
    expect(fts).toHaveLength(300);
    expect(fts.filter((w) => w === 'ab')).toHaveLength(256);
    expect(tsvectorDocument(['ab '.repeat(300)])).toBe(`'ab':${Array.from({ length: 256 }, (_, i) => i + 1).join(',')}`);
    expect(ftsDocument([Array.from({ length: 20_000 }, (_, i) => `w${i}`).join(' ')]).split(' ')).toHaveLength(16_383);
  });
});
