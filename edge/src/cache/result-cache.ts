/**
 * The result cache: L1 `caches.default` (per PoP, free, fast) in front of L2 Upstash (shared by every PoP), with an
 * optional L0 in the isolate's memory (memory.ts) in front of both.
 *
 * - `get` reads L0, then L1, then L2 (an L2 hit is copied into L1 in the background, and into L0).
 * - `put` writes every tier, L1 and L2 in the background (`waitUntil`).
 * - Cache failures never fail a request: they count as a miss and are logged. An L2 read that takes longer than
 *   `l2TimeoutMs` is a miss.
 * - Keys come from shared/hash `cacheKey(model, version, input)`: a new release never serves old answers.
 */
import type { Redis } from '@upstash/redis/cloudflare';
import { withTimeout } from '../lib/timeout.ts';
import type { MemoryCache } from './memory.ts';

/** The L1 methods used (`caches.default`), so tests can pass a small fake. */
export type L1Cache = Pick<Cache, 'match' | 'put'>;
/** The L2 methods used (@upstash/redis), so tests can pass a small fake. */
export type L2Store = Pick<Redis, 'get' | 'set'>;

export interface ResultCacheOptions {
  /** Per-isolate memory tier; undefined skips L0. @default undefined */
  l0?: MemoryCache<unknown>;
  /** Per-PoP cache; undefined skips L1. */
  l1: L1Cache | undefined;
  /** Shared store; undefined skips L2. */
  l2: L2Store | undefined;
  /** Entry lifetime, seconds; 0 turns the cache off. */
  ttlSeconds: number;
  /** Background work (cache writes, L1 backfill). */
  waitUntil: (p: Promise<unknown>) => void;
  /** Longest wait for an L2 read before it counts as a miss, ms. @default 100 */
  l2TimeoutMs?: number;
  /** Receives cache failures. @default console.warn of a JSON line */
  warn?: (event: Record<string, unknown>) => void;
}

export type CacheTier = 'l0' | 'l1' | 'l2';

/** The synthetic URL namespace L1 entries live under (never fetched). */
const L1_BASE = 'https://edge-result-cache.internal/v1/';
const L2_PREFIX = 'edge:cache:';

export class ResultCache<T> {
  readonly #o: Required<Omit<ResultCacheOptions, 'l0' | 'l1' | 'l2'>> &
    Pick<ResultCacheOptions, 'l0' | 'l1' | 'l2'>;

  constructor(options: ResultCacheOptions) {
    const { ttlSeconds } = options;
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 0) {
      throw new TypeError(`ResultCache: ttlSeconds must be an integer >= 0, got ${ttlSeconds}`);
    }
    const l2TimeoutMs = options.l2TimeoutMs ?? 100;
    if (!Number.isFinite(l2TimeoutMs) || l2TimeoutMs <= 0) {
      throw new TypeError(`ResultCache: l2TimeoutMs must be a positive number, got ${l2TimeoutMs}`);
    }
    if (typeof options.waitUntil !== 'function')
      throw new TypeError('ResultCache: waitUntil must be a function');
    this.#o = {
      l0: options.l0,
      l1: options.l1,
      l2: options.l2,
      ttlSeconds,
      waitUntil: options.waitUntil,
      l2TimeoutMs,
      warn: options.warn ?? ((e) => console.warn(JSON.stringify({ level: 'warn', ...e }))),
    };
  }

  get enabled(): boolean {
    const { l0, l1, l2 } = this.#o;
    return this.#o.ttlSeconds > 0 && (l0 !== undefined || l1 !== undefined || l2 !== undefined);
  }

  async get(key: string): Promise<{ value: T; tier: CacheTier } | undefined> {
    if (!this.enabled) return undefined;
    const { l0, l1, l2 } = this.#o;
    const memory = l0?.get(key) as T | undefined;
    if (memory !== undefined) return { value: memory, tier: 'l0' };
    if (l1 !== undefined) {
      try {
        const hit = await l1.match(L1_BASE + key);
        if (hit !== undefined) {
          const value = (await hit.json()) as T;
          l0?.set(key, value, this.#o.ttlSeconds);
          return { value, tier: 'l1' };
        }
      } catch (err) {
        this.#o.warn({ msg: 'L1 cache read failed', error: String(err) });
      }
    }
    if (l2 !== undefined) {
      const value = await this.#l2Get(l2, key);
      if (value !== undefined) {
        l0?.set(key, value, this.#o.ttlSeconds);
        if (l1 !== undefined) this.#o.waitUntil(this.#l1Put(l1, key, value));
        return { value, tier: 'l2' };
      }
    }
    return undefined;
  }

  /** Writes both tiers in the background. */
  put(key: string, value: T): void {
    if (!this.enabled) return;
    const { l0, l1, l2, ttlSeconds } = this.#o;
    l0?.set(key, value, ttlSeconds);
    if (l1 !== undefined) this.#o.waitUntil(this.#l1Put(l1, key, value));
    if (l2 !== undefined) {
      this.#o.waitUntil(
        Promise.resolve()
          .then(() => l2.set(L2_PREFIX + key, value, { ex: ttlSeconds }))
          .catch((err: unknown) => this.#o.warn({ msg: 'L2 cache write failed', error: String(err) })),
      );
    }
  }

  async #l2Get(l2: L2Store, key: string): Promise<T | undefined> {
    const read = await withTimeout(
      Promise.resolve().then(() => l2.get<T>(L2_PREFIX + key)),
      this.#o.l2TimeoutMs,
    );
    if (read.kind === 'value') return read.value ?? undefined;
    if (read.kind === 'timeout') {
      this.#o.warn({ msg: 'L2 cache read timed out', timeout_ms: this.#o.l2TimeoutMs });
    } else {
      this.#o.warn({ msg: 'L2 cache read failed', error: String(read.error) });
    }
    return undefined;
  }

  async #l1Put(l1: L1Cache, key: string, value: T): Promise<void> {
    try {
      await l1.put(
        L1_BASE + key,
        new Response(JSON.stringify(value), {
          headers: { 'content-type': 'application/json', 'cache-control': `max-age=${this.#o.ttlSeconds}` },
        }),
      );
    } catch (err) {
      this.#o.warn({ msg: 'L1 cache write failed', error: String(err) });
    }
  }
}
