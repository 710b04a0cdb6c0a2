/**
 * The result cache: L1 `caches.default` (per PoP, free, fast) in front of L2 Upstash (shared by every PoP), with an
 * optional L0 in the isolate's memory (memory.ts) in front of both.
 *
 * - Entries are per item (one text's answer), so `getMany`/`putMany` take a request's keys at once: L0 and L1 per
 *   key, L2 in one MGET / one pipeline. An L2 hit is copied into L1 in the background, and into L0.
 * - `put`/`putMany` write every tier, L1 and L2 in the background (`waitUntil`).
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
/** The L2 methods used (@upstash/redis: MGET, and a pipeline of SET EX), so tests can pass a small fake. */
export type L2Store = Pick<Redis, 'mget' | 'pipeline'>;

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
  /**
   * Most keys one call reads from or writes to L1: each is a Cache API call, and a Worker's calls per request are
   * limited, so larger batches skip L1 and use L0 and L2 (one MGET / one pipeline). @default 32
   */
  l1MaxKeys?: number;
}

/** What L1 and L2 hold. */
interface Envelope {
  v: unknown;
  exp: number;
}

export type CacheTier = 'l0' | 'l1' | 'l2';

/** The synthetic URL namespace L1 entries live under (never fetched). */
const L1_BASE = 'https://edge-result-cache.internal/v3/';
const L2_PREFIX = 'edge:cache:v3:';

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
    const l1MaxKeys = options.l1MaxKeys ?? 32;
    if (!Number.isInteger(l1MaxKeys) || l1MaxKeys < 0) {
      throw new TypeError(`ResultCache: l1MaxKeys must be an integer >= 0, got ${l1MaxKeys}`);
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
      l1MaxKeys,
    };
  }

  get enabled(): boolean {
    const { l0, l1, l2 } = this.#o;
    return this.#o.ttlSeconds > 0 && (l0 !== undefined || l1 !== undefined || l2 !== undefined);
  }

  async get(key: string): Promise<{ value: T; tier: CacheTier } | undefined> {
    return (await this.getMany([key]))[0];
  }

  /**
   * Looks up many keys at once (one answer per key, in order): L0, then L1 for at most `l1MaxKeys` keys, then one
   * L2 MGET for what is left. L2 hits are copied into L1 (background) and L0 with their remaining lifetime.
   */
  async getMany(keys: readonly string[]): Promise<Array<{ value: T; tier: CacheTier } | undefined>> {
    const out: Array<{ value: T; tier: CacheTier } | undefined> = keys.map(() => undefined);
    if (!this.enabled || keys.length === 0) return out;
    const { l0, l1, l2 } = this.#o;
    let missing: number[] = [];
    for (const [i, key] of keys.entries()) {
      const memory = l0?.get(key) as T | undefined;
      if (memory !== undefined) out[i] = { value: memory, tier: 'l0' };
      else missing.push(i);
    }
    if (l1 !== undefined && missing.length > 0 && missing.length <= this.#o.l1MaxKeys) {
      const found = await Promise.all(missing.map((i) => this.#l1Get(l1, keys[i] as string)));
      missing = missing.filter((i, j) => {
        const entry = found[j];
        if (entry === undefined) return true;
        l0?.set(keys[i] as string, entry.value, entry.remainingMs / 1000);
        out[i] = { value: entry.value, tier: 'l1' };
        return false;
      });
    }
    if (l2 !== undefined && missing.length > 0) {
      const raws = await this.#l2Get(
        l2,
        missing.map((i) => keys[i] as string),
      );
      const backfill: Array<[string, Envelope]> = [];
      for (const [j, i] of missing.entries()) {
        const raw = raws[j];
        const entry = raw === undefined || raw === null ? undefined : this.#open(raw, 'l2');
        if (entry === undefined) continue;
        const key = keys[i] as string;
        l0?.set(key, entry.value, entry.remainingMs / 1000);
        backfill.push([key, entry.envelope]);
        out[i] = { value: entry.value, tier: 'l2' };
      }
      if (l1 !== undefined && backfill.length > 0 && backfill.length <= this.#o.l1MaxKeys) {
        this.#o.waitUntil(Promise.all(backfill.map(([key, e]) => this.#l1Put(l1, key, e))));
      }
    }
    return out;
  }

  /** Writes every tier (L1 and L2 in the background). */
  put(key: string, value: T): void {
    this.putMany([[key, value]]);
  }

  /**
   * Writes many entries: L0 at once, L1 (at most `l1MaxKeys` entries) and L2 (one pipeline of SET EX) in the
   * background.
   */
  putMany(entries: ReadonlyArray<readonly [string, T]>): void {
    if (!this.enabled || entries.length === 0) return;
    const { l0, l1, l2, ttlSeconds } = this.#o;
    const exp = this.#o.now() + ttlSeconds * 1000;
    for (const [key, value] of entries) l0?.set(key, value, ttlSeconds);
    if (l1 !== undefined && entries.length <= this.#o.l1MaxKeys) {
      this.#o.waitUntil(Promise.all(entries.map(([key, v]) => this.#l1Put(l1, key, { v, exp }))));
    }
    if (l2 !== undefined) {
      this.#o.waitUntil(
        Promise.resolve()
          .then(() => {
            const p = l2.pipeline();
            for (const [key, v] of entries) p.set(L2_PREFIX + key, { v, exp }, { ex: ttlSeconds });
            return p.exec();
          })
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

  /** One MGET for the keys: their raw values in order (all undefined on failure or timeout, logged). */
  async #l2Get(l2: L2Store, keys: readonly string[]): Promise<unknown[]> {
    const read = await withTimeout(
      Promise.resolve().then(() => l2.mget<unknown[]>(...keys.map((k) => L2_PREFIX + k))),
      this.#o.l2TimeoutMs,
    );
    if (read.kind === 'value') return Array.isArray(read.value) ? read.value : [];
    if (read.kind === 'timeout') {
      this.#o.warn({ msg: 'L2 cache read timed out', timeout_ms: this.#o.l2TimeoutMs });
    } else {
      this.#o.warn({ msg: 'L2 cache read failed', error: String(read.error) });
    }
    return [];
  }

  async #l1Get(
    l1: L1Cache,
    key: string,
  ): Promise<{ value: T; envelope: Envelope; remainingMs: number } | undefined> {
    let raw: unknown;
    try {
      const hit = await l1.match(L1_BASE + key);
      raw = hit === undefined ? undefined : await hit.json();
    } catch (err) {
      this.#o.warn({ msg: 'L1 cache read failed', error: String(err) });
    }
    return raw === undefined ? undefined : this.#open(raw, 'l1');
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
