import { describe, expect, it } from 'vitest';
import { Builds, Memo, RecentMemo } from '../../src/memo.js';

/** The bounded memo behind the compiled patterns, prepared statements and formatted dates. */
describe('Memo', () => {
  it('works a value out once per key, null included; forgets everything once full; never remembers a failure', () => {
    const memo = new Memo<string, string | null>(3);
    let made = 0;
    const make = (v: string | null) => (): string | null => {
      made += 1;
      return v;
    };
    expect(memo.get('a', make('A'))).toBe('A');
    expect(memo.get('a', make('other'))).toBe('A');
    expect(memo.get('n', make(null))).toBeNull();
    expect(memo.get('n', make('other'))).toBeNull();
    expect(made).toBe(2);
    expect(() =>
      memo.get('x', () => {
        throw new Error('no');
      }),
    ).toThrow('no');
    expect(memo.get('x', make('X'))).toBe('X');
    // Full (a, n, x): the next new key clears the rest.
    expect(memo.get('y', make('Y'))).toBe('Y');
    expect(memo.get('a', make('A again'))).toBe('A again');
    expect(made).toBe(5);
  });
});

/** The memo behind the parsed and compiled templates: what the last builds used, not every version ever built. */
describe('RecentMemo', () => {
  it('keeps what one of the last `keep` builds looked up and forgets the rest at the next look-up', () => {
    const builds = new Builds();
    const memo = new RecentMemo<string, string>(builds, 2, 1000);
    let made = 0;
    const make = (v: string) => (): string => {
      made += 1;
      return v;
    };
    // Build 1 uses a and b; build 2 uses a and c; build 3 uses a.
    builds.next();
    memo.get('a', make('A'));
    memo.get('b', make('B'));
    builds.next();
    memo.get('a', make('A'));
    memo.get('c', make('C'));
    expect(memo.size).toBe(3);
    builds.next();
    expect(memo.get('a', make('other'))).toBe('A');
    // b was last used two builds ago: gone. c (last build) stays.
    expect(memo.size).toBe(2);
    expect(memo.get('c', make('other'))).toBe('C');
    expect(made).toBe(3);
    // A value used by every build is never forgotten; 100 builds that each use a new key keep at most `keep` of them.
    for (let i = 0; i < 100; i++) {
      builds.next();
      memo.get('a', make('other'));
      memo.get(`edit ${i}`, make(`E${i}`));
    }
    expect(memo.size).toBeLessThanOrEqual(3);
    expect(memo.get('a', make('other'))).toBe('A');
    expect(() =>
      memo.get('x', () => {
        throw new Error('no');
      }),
    ).toThrow('no');
    expect(memo.get('x', make('X'))).toBe('X');
  });
});
