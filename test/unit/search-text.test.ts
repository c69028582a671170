import { describe, expect, it } from 'vitest';
import { parseSearchText, searchExcerpt } from '../../src/cases/search-text.js';

describe('cases list --search: the words and the excerpt', () => {
  it('words are runs of letters and digits; a word with others in it and "quoted words" must follow each other', () => {
    expect(parseSearchText('Printer  TONER printer')).toEqual({ words: ['printer', 'toner'], phrases: [] });
    expect(parseSearchText('INV-2024-0042 bob@customer.example')).toEqual({ words: [], phrases: [['inv', '2024', '0042'], ['bob', 'customer', 'example']] });
    expect(parseSearchText('"room 4" "fire')).toEqual({ words: ['fire'], phrases: [['room', '4']] });
    expect(parseSearchText('Müller プリンター')).toEqual({ words: ['müller', 'プリンター'], phrases: [] });
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
