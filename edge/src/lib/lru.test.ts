import { describe, expect, it } from 'vitest';
import { Lru } from './lru.ts';

describe('Lru', () => {
  it('evicts the least recently used beyond max; a hit keeps an entry', () => {
    const l = new Lru<number>(2);
    l.set('a', 1);
    l.set('b', 2);
    expect(l.get('a')).toBe(1);
    l.set('c', 3);
    expect([l.get('a'), l.get('b'), l.get('c')]).toEqual([1, undefined, 3]);
    expect(l.size).toBe(2);
  });

  it('a hot key among 10,000 is not moved on every hit (lookups stay constant-cost)', () => {
    const l = new Lru<number>(10_000);
    for (let i = 0; i < 10_000; i++) l.set(`k${i}`, i);
    for (let i = 0; i < 100_000; i++) expect(l.get('k9999')).toBe(9999);
    expect(l.moves).toBe(0);
    // Once half the capacity was inserted since, its next hit moves it, once.
    for (let i = 0; i < 5_000; i++) l.set(`n${i}`, i);
    for (let i = 0; i < 1_000; i++) l.get('k9999');
    expect(l.moves).toBe(1);
  });

  it('never evicts an entry hit at least once per half turnover', () => {
    const l = new Lru<number>(100);
    l.set('hot', 1);
    for (let i = 0; i < 10_000; i++) {
      l.set(`k${i}`, i);
      if (i % 50 === 0) expect(l.get('hot')).toBe(1);
    }
    expect(l.size).toBe(100);
  });

  it('max 0 holds nothing; delete; validates max', () => {
    const off = new Lru<number>(0);
    off.set('a', 1);
    expect(off.get('a')).toBeUndefined();
    const l = new Lru<number>(3);
    l.set('a', 1);
    l.delete('a');
    expect(l.get('a')).toBeUndefined();
    expect(() => new Lru(-1)).toThrow(/max must be an integer >= 0, got -1/);
  });
});
