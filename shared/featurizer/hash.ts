/**
 * 32-bit string hashing for the featurizer: FNV-1a over UTF-16 code units, finished with murmur3's fmix32 so
 * that low bits are well mixed (ids are taken modulo the bucket count). Pure integer arithmetic via Math.imul:
 * identical in Node and workerd. No allocation: callers hash ranges of a string.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** murmur3 fmix32: a 32-bit avalanche. Returns an unsigned 32-bit integer. */
export function fmix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hashes `str.slice(start, end)` under `seed` without slicing. */
export function hashRange(str: string, start: number, end: number, seed: number): number {
  let h = (FNV_OFFSET ^ seed) | 0;
  for (let i = start; i < end; i++) {
    h ^= str.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  return fmix32(h);
}

/** Hashes a whole string under `seed`. */
export function hashString(str: string, seed: number): number {
  return hashRange(str, 0, str.length, seed);
}

/** Combines two hashes (order matters) under a namespace seed, e.g. for word bigrams. */
export function combine(a: number, b: number, seed: number): number {
  return fmix32((Math.imul(a, 0x9e3779b1) + b) ^ seed);
}
