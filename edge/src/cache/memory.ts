/**
 * L0: a small LRU in the isolate's memory, in front of `caches.default`. Isolates serve many requests, so hot keys
 * are answered without a cache round trip; entries expire with the same TTL as the other tiers.
 */
import { Lru } from '../lib/lru.ts';

export interface MemoryCacheOptions {
  /** Most entries held; the least recently used go first. 0 disables the cache. @default 1000 */
  maxEntries?: number;
  /** Clock, ms. @default Date.now */
  now?: () => number;
}

export class MemoryCache<T> {
  readonly maxEntries: number;
  readonly #now: () => number;
  readonly #entries: Lru<{ value: T; expiresAt: number }>;

  constructor(options: MemoryCacheOptions = {}) {
    const maxEntries = options.maxEntries ?? 1000;
    if (!Number.isInteger(maxEntries) || maxEntries < 0) {
      throw new TypeError(`MemoryCache: maxEntries must be an integer >= 0, got ${maxEntries}`);
    }
    this.maxEntries = maxEntries;
    this.#entries = new Lru(maxEntries);
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): T | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: T, ttlSeconds: number): void {
    if (this.maxEntries === 0 || ttlSeconds <= 0) return;
    this.#entries.set(key, { value, expiresAt: this.#now() + ttlSeconds * 1000 });
  }
}
