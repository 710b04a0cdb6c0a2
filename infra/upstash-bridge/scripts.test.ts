import { describe, expect, it } from 'vitest';
import { rewriteShebang, ScriptShaMap, sha1Hex } from './scripts.ts';

describe('rewriteShebang', () => {
  it('drops a shebang whose only flag Redis does not know, keeping line numbers', () => {
    expect(rewriteShebang('#!lua flags=allow-key-locking\nreturn 1')).toBe('\nreturn 1');
  });

  it('keeps the flags Redis knows', () => {
    expect(rewriteShebang('#!lua flags=no-writes,allow-key-locking\nreturn 1')).toBe(
      '#!lua flags=no-writes\nreturn 1',
    );
  });

  it('leaves scripts without a shebang, or with known flags only, unchanged', () => {
    expect(rewriteShebang('return 1')).toBe('return 1');
    expect(rewriteShebang('#!lua flags=no-writes\nreturn 1')).toBe('#!lua flags=no-writes\nreturn 1');
    expect(rewriteShebang('#!lua\nreturn 1')).toBe('#!lua\nreturn 1');
  });

  it('handles CRLF and a shebang-only script', () => {
    expect(rewriteShebang('#!lua flags=allow-key-locking\r\nreturn 1')).toBe('\nreturn 1');
    expect(rewriteShebang('#!lua flags=allow-key-locking')).toBe('');
  });

  it('leaves a shebang it does not parse for Redis to report', () => {
    expect(rewriteShebang('#!python\nprint(1)')).toBe('#!python\nprint(1)');
  });
});

describe('ScriptShaMap', () => {
  it("maps the client's SHA1 of the original to the SHA1 of the rewritten script", () => {
    const map = new ScriptShaMap();
    const original = '#!lua flags=allow-key-locking\nreturn 1';
    expect(map.prepare(original)).toBe('\nreturn 1');
    expect(map.resolve(sha1Hex(original))).toBe(sha1Hex('\nreturn 1'));
    expect(map.resolve(sha1Hex(original).toUpperCase())).toBe(sha1Hex('\nreturn 1'));
  });

  it('passes unknown SHA1s and unchanged scripts through without recording them', () => {
    const map = new ScriptShaMap();
    expect(map.prepare('return 2')).toBe('return 2');
    expect(map.size).toBe(0);
    expect(map.resolve('abc')).toBe('abc');
  });

  it('forgets the oldest pair past maxEntries', () => {
    const map = new ScriptShaMap({ maxEntries: 2 });
    const scripts = [1, 2, 3].map((n) => `#!lua flags=allow-key-locking\nreturn ${n}`);
    for (const s of scripts) map.prepare(s);
    expect(map.size).toBe(2);
    expect(map.resolve(sha1Hex(scripts[0] as string))).toBe(sha1Hex(scripts[0] as string));
    expect(map.resolve(sha1Hex(scripts[2] as string))).toBe(sha1Hex('\nreturn 3'));
  });

  it('rejects a bad maxEntries with a TypeError naming it', () => {
    expect(() => new ScriptShaMap({ maxEntries: 0 })).toThrow(/maxEntries must be an integer >= 1, got 0/);
  });

  it('sha1Hex matches a known vector', () => {
    expect(sha1Hex('abc')).toBe('a9993e364706816aba3e25717850c26c9cd0d89d');
  });
});
