import { describe, expect, it } from 'vitest';
import { memoize } from './memo.ts';

describe('memoize', () => {
  it('creates once per key and returns the stored value afterwards', () => {
    const table = new Map<string, { id: string }>();
    const created: string[] = [];
    const create = (key: string) => {
      created.push(key);
      return { id: key };
    };
    const a = memoize(table, 'a', create);
    expect(memoize(table, 'a', create)).toBe(a);
    expect(memoize(table, 'b', create)).toEqual({ id: 'b' });
    expect(created).toEqual(['a', 'b']);
  });

  it('works with a WeakMap keyed by objects', () => {
    const table = new WeakMap<object, number>();
    const key = {};
    let calls = 0;
    expect(memoize(table, key, () => ++calls)).toBe(1);
    expect(memoize(table, key, () => ++calls)).toBe(1);
    expect(memoize(table, {}, () => ++calls)).toBe(2);
  });
});
