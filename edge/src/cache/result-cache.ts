/**
 * The result cache: L1 `caches.default` (per PoP, free, fast) in front of L2 Upstash (shared by every PoP), with an
 * optional L0 in the isolate's memory (memory.ts) in front of both.
 *
 * - `get` reads L0, then L1, then L2 (an L2 hit is copied into L1 in the background, and into L0).
 * - `put` writes every tier, L1 and L2 in the background (`waitUntil`).
 * - Cache failures never fail a request: they count as a miss and are logged. An L2 read that takes longer than
 *   `l2TimeoutMs` is a miss.
 * - Keys come from shared/hash `cacheKey(model, version, input, scope)`: a new release never serves old answers.
 * - Entries are envelopes `{v, exp}` (exp: when the entry dies, ms since the epoch) in L1 and L2: a read checks the
 *   envelope and `validate`s the value (a malformed or invalid entry is a MISS, logged, never an error), and a
 *   backfill (L2 -> L1 -> L0) keeps the entry's remaining lifetime instead of starting a new one.
 */
import type { Redis } from '@upstash/redis/cloudflare';
import { withTimeout } from '../../../shared/timeout/index.ts';
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
  /** Checks a value read from L1/L2: the value, or undefined to treat it as a MISS. @default accepts anything */
  validate?: (value: unknown) => unknown;
  /** Clock, ms since the epoch. @default Date.now */
  now?: () => number;
}

/** What L1 and L2 hold. */
interface Envelope {
  v: unknown;
  exp: number;
}

export type CacheTier = 'l0' | 'l1' | 'l2';

/** The synthetic URL namespace L1 entries live under (never fetched). */
const L1_BASE = 'https://edge-result-cache.internal/v2/';
const L2_PREFIX = 'edge:cache:v2:';

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
      validate: options.validate ?? ((v) => v),
      now: options.now ?? Date.now,
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
      let raw: unknown;
      try {
        const hit = await l1.match(L1_BASE + key);
        raw = hit === undefined ? undefined : await hit.json();
      } catch (err) {
        this.#o.warn({ msg: 'L1 cache read failed', error: String(err) });
      }
      const entry = raw === undefined ? undefined : this.#open(raw, 'l1');
      if (entry !== undefined) {
        l0?.set(key, entry.value, entry.remainingMs / 1000);
        return { value: entry.value, tier: 'l1' };
      }
    }
    if (l2 !== undefined) {
      const raw = await this.#l2Get(l2, key);
      const entry = raw === undefined ? undefined : this.#open(raw, 'l2');
      if (entry !== undefined) {
        l0?.set(key, entry.value, entry.remainingMs / 1000);
        if (l1 !== undefined) this.#o.waitUntil(this.#l1Put(l1, key, entry.envelope));
        return { value: entry.value, tier: 'l2' };
      }
    }
    return undefined;
  }

  /** Writes every tier (L1 and L2 in the background). */
  put(key: string, value: T): void {
    if (!this.enabled) return;
    const { l0, l1, l2, ttlSeconds } = this.#o;
    const envelope: Envelope = { v: value, exp: this.#o.now() + ttlSeconds * 1000 };
    l0?.set(key, value, ttlSeconds);
    if (l1 !== undefined) this.#o.waitUntil(this.#l1Put(l1, key, envelope));
    if (l2 !== undefined) {
      this.#o.waitUntil(
        Promise.resolve()
          .then(() => l2.set(L2_PREFIX + key, envelope, { ex: ttlSeconds }))
          .catch((err: unknown) => this.#o.warn({ msg: 'L2 cache write failed', error: String(err) })),
      );
    }
  }

  /** The value of a stored envelope and its remaining lifetime; undefined (logged) when malformed, invalid or dead. */
  #open(raw: unknown, tier: CacheTier): { value: T; envelope: Envelope; remainingMs: number } | undefined {
    const e = raw as Partial<Envelope> | null;
    if (e === null || typeof e !== 'object' || typeof e.exp !== 'number' || !('v' in e)) {
      this.#o.warn({ msg: 'malformed cache entry ignored', tier });
      return undefined;
    }
    const remainingMs = e.exp - this.#o.now();
    if (!(remainingMs > 0)) return undefined;
    const value = this.#o.validate(e.v) as T | undefined;
    if (value === undefined) {
      this.#o.warn({ msg: 'invalid cache entry ignored', tier });
      return undefined;
    }
    return { value, envelope: { v: e.v, exp: e.exp }, remainingMs };
  }

  async #l2Get(l2: L2Store, key: string): Promise<unknown> {
    const read = await withTimeout(
      Promise.resolve().then(() => l2.get<unknown>(L2_PREFIX + key)),
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

  async #l1Put(l1: L1Cache, key: string, envelope: Envelope): Promise<void> {
    const maxAge = Math.floor((envelope.exp - this.#o.now()) / 1000);
    if (maxAge < 1) return;
    try {
      await l1.put(
        L1_BASE + key,
        new Response(JSON.stringify(envelope), {
          headers: { 'content-type': 'application/json', 'cache-control': `max-age=${maxAge}` },
        }),
      );
    } catch (err) {
      this.#o.warn({ msg: 'L1 cache write failed', error: String(err) });
    }
  }
}
