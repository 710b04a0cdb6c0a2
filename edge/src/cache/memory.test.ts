import { describe, expect, it } from 'vitest';
import { MemoryCache } from './memory.ts';

describe('MemoryCache (L0, injected clock)', () => {
  it('returns what was set until the TTL passes', () => {
    let t = 0;
    const m = new MemoryCache<string>({ now: () => t });
    m.set('a', 'x', 2);
    t = 1999;
    expect(m.get('a')).toBe('x');
    t = 2000;
    expect(m.get('a')).toBeUndefined();
    expect(m.size).toBe(0);
  });

  it('evicts the least recently used beyond maxEntries', () => {
    const m = new MemoryCache<number>({ maxEntries: 2 });
    m.set('a', 1, 60);
    m.set('b', 2, 60);
    expect(m.get('a')).toBe(1);
    m.set('c', 3, 60);
    expect(m.get('b')).toBeUndefined();
    expect([m.get('a'), m.get('c')]).toEqual([1, 3]);
  });

  it('maxEntries 0 or ttl 0 stores nothing', () => {
    const off = new MemoryCache<number>({ maxEntries: 0 });
    off.set('a', 1, 60);
    expect(off.get('a')).toBeUndefined();
    const m = new MemoryCache<number>();
    m.set('a', 1, 0);
    expect(m.get('a')).toBeUndefined();
  });

  it('validates its options', () => {
    expect(() => new MemoryCache({ maxEntries: -1 })).toThrow(/maxEntries must be an integer >= 0, got -1/);
  });
});
