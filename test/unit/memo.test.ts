import { describe, expect, it } from 'vitest';
import { Memo } from '../../src/memo.js';

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
