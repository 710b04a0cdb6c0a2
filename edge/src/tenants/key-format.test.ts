import { describe, expect, it } from 'vitest';
import { crc32, generateKey, keyStart, parseKey } from './key-format.ts';

describe('API key format', () => {
  it("crc32 is zlib's (IEEE 802.3)", () => {
    expect(crc32('')).toBe(0);
    expect(crc32('123456789')).toBe(0xcbf43926);
    expect(crc32('The quick brown fox jumps over the lazy dog')).toBe(0x414fa339);
  });

  it('generates sk_<env>_ + 30 random + 6 checksum base62 characters, each parsing back', () => {
    const seen = new Set<string>();
    for (const env of ['live', 'test', 'dev'] as const) {
      for (let i = 0; i < 200; i++) {
        const key = generateKey(env);
        expect(key).toMatch(new RegExp(`^sk_${env}_[0-9A-Za-z]{36}$`));
        expect(parseKey(key)).toEqual({ env });
        seen.add(key);
      }
    }
    expect(seen.size).toBe(600);
    expect(() => generateKey('prod' as 'live')).toThrow(TypeError);
  });

  it('draws every base62 character about equally (no modulo bias)', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++)
      for (const ch of generateKey().slice(8, 38)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    expect(counts.size).toBe(62);
    const mean = (2000 * 30) / 62;
    for (const n of counts.values()) expect(Math.abs(n - mean) / mean).toBeLessThan(0.25);
  });

  it('refuses any single-character typo, truncation, extension or other prefix', () => {
    const key = generateKey('test');
    for (let i = 8; i < key.length; i++) {
      const ch = key[i] === 'a' ? 'b' : 'a';
      expect(parseKey(`${key.slice(0, i)}${ch}${key.slice(i + 1)}`)).toBeUndefined();
    }
    for (const bad of [
      key.slice(0, -1),
      `${key}0`,
      key.replace('sk_', 'pk_'),
      key.replace('_test_', '_prod_'),
      '',
      'sk_test_',
    ]) {
      expect(parseKey(bad)).toBeUndefined();
    }
  });

  it('shows the prefix and four characters only', () => {
    const key = generateKey('live');
    expect(keyStart(key)).toBe(key.slice(0, 12));
    expect(keyStart('not a key')).toBe('');
  });
});
