import { describe, expect, it } from 'vitest';
import {
  bytesToHex,
  cacheKey,
  canonicalJson,
  EMPTY_SHA256,
  hashCanonical,
  hexToBytes,
  sha256Hex,
} from './index.ts';

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });
  it('drops undefined properties like JSON.stringify and writes undefined array items as null', () => {
    expect(canonicalJson({ a: undefined, b: [undefined, null, true] })).toBe('{"b":[null,null,true]}');
  });
  it('sorts by UTF-16 code units and escapes strings as JSON does', () => {
    expect(canonicalJson({ é: 1, z: 2, Z: 3, 'a"b': '\n' })).toBe('{"Z":3,"a\\"b":"\\n","z":2,"é":1}');
  });
  it('refuses values JSON cannot carry faithfully, naming the path', () => {
    expect(() => canonicalJson({ a: [1, Number.NaN] })).toThrow(/\$\.a\[1\]/);
    expect(() => canonicalJson({ a: Number.POSITIVE_INFINITY })).toThrow(TypeError);
    expect(() => canonicalJson({ a: 1n })).toThrow(/bigint/);
    expect(() => canonicalJson({ a: new Float32Array(2) })).toThrow(/typed array/);
  });
});

describe('sha256Hex', () => {
  it('matches the standard test vectors', async () => {
    expect(await sha256Hex('')).toBe(EMPTY_SHA256);
    expect(await sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(await sha256Hex(new Uint8Array([0x61, 0x62, 0x63]))).toBe(await sha256Hex('abc'));
    expect(await sha256Hex(new Uint8Array([0x61, 0x62, 0x63]).buffer)).toBe(await sha256Hex('abc'));
  });
  it('hashes a view over its own bytes only', async () => {
    const big = new TextEncoder().encode('xxabcxx');
    expect(await sha256Hex(big.subarray(2, 5))).toBe(await sha256Hex('abc'));
  });
});

describe('hashCanonical and cacheKey', () => {
  it('is equal for equal values in any key order and differs otherwise', async () => {
    expect(await hashCanonical({ a: 1, b: [1, 2] })).toBe(await hashCanonical({ b: [1, 2], a: 1 }));
    expect(await hashCanonical({ a: 1, b: [1, 2] })).not.toBe(await hashCanonical({ a: 1, b: [2, 1] }));
  });
  it('changes with the model and the release version', async () => {
    const k = await cacheKey('spam', '3', { text: 'hi' });
    expect(k).toMatch(/^[0-9a-f]{64}$/);
    expect(await cacheKey('spam', '4', { text: 'hi' })).not.toBe(k);
    expect(await cacheKey('ham', '3', { text: 'hi' })).not.toBe(k);
  });
});

describe('hex', () => {
  it('round-trips and refuses bad input', () => {
    const bytes = new Uint8Array([0, 1, 127, 128, 255]);
    expect(bytesToHex(bytes)).toBe('00017f80ff');
    expect(hexToBytes('00017F80ff')).toEqual(bytes);
    expect(() => hexToBytes('abc')).toThrow(TypeError);
    expect(() => hexToBytes('zz')).toThrow(TypeError);
  });
});
