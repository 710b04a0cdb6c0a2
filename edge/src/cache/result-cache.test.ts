import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { Redis } from '@upstash/redis/cloudflare';
import { describe, expect, it } from 'vitest';
import { MemoryCache } from './memory.ts';
import { type L1Cache, type L2Store, ResultCache } from './result-cache.ts';

function realL2(): Redis {
  const e = env as Env;
  return new Redis({
    url: e.UPSTASH_REDIS_REST_URL,
    token: e.UPSTASH_REDIS_REST_TOKEN,
    enableTelemetry: false,
    retry: false,
  });
}

function cacheWith(
  l1: L1Cache | undefined,
  l2: L2Store | undefined,
  warnings: unknown[] = [],
  ttlSeconds = 60,
) {
  const ctx = createExecutionContext();
  const cache = new ResultCache<{ answer: string }>({
    l1,
    l2,
    ttlSeconds,
    waitUntil: (p) => ctx.waitUntil(p),
    warn: (e) => warnings.push(e),
    l2TimeoutMs: 50,
  });
  return { cache, settle: () => waitOnExecutionContext(ctx) };
}

const key = () => crypto.randomUUID().replaceAll('-', '');

describe('ResultCache on caches.default (L1) and the Upstash bridge (L2, real Redis)', () => {
  it('misses, then hits L1 after a background write; L2 holds the entry with its TTL', async () => {
    const l2 = realL2();
    const k = key();
    const first = cacheWith(caches.default, l2);
    expect(await first.cache.get(k)).toBeUndefined();
    first.cache.put(k, { answer: 'spam' });
    await first.settle();
    const second = cacheWith(caches.default, l2);
    expect(await second.cache.get(k)).toEqual({ value: { answer: 'spam' }, tier: 'l1' });
    expect(await l2.get(`edge:cache:v3:${k}`)).toMatchObject({
      v: { answer: 'spam' },
      exp: expect.any(Number),
    });
    const ttl = await l2.ttl(`edge:cache:v3:${k}`);
    expect(ttl).toBeGreaterThan(50);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it('an L2 hit (another PoP wrote it) is served and copied into L1', async () => {
    const l2 = realL2();
    const k = key();
    await l2.set(`edge:cache:v3:${k}`, { v: { answer: 'ham' }, exp: Date.now() + 60_000 }, { ex: 60 });
    const a = cacheWith(caches.default, l2);
    expect(await a.cache.get(k)).toEqual({ value: { answer: 'ham' }, tier: 'l2' });
    await a.settle();
    const b = cacheWith(caches.default, undefined);
    expect(await b.cache.get(k)).toEqual({ value: { answer: 'ham' }, tier: 'l1' });
  });

  it('a failing L2 (fake) counts as a miss and is logged; writes failures are logged, never thrown', async () => {
    const failing = {
      mget: async () => {
        throw new Error('L2 down');
      },
      pipeline: () => {
        throw new Error('L2 down');
      },
    } as unknown as L2Store;
    const warnings: Array<Record<string, unknown>> = [];
    const c = cacheWith(undefined, failing, warnings);
    expect(await c.cache.get(key())).toBeUndefined();
    c.cache.put(key(), { answer: 'x' });
    await c.settle();
    expect(warnings.map((w) => w.msg)).toEqual(['L2 cache read failed', 'L2 cache write failed']);
  });

  it('a slow L2 (fake) is cut off by the read timeout', async () => {
    const slow = { mget: () => new Promise(() => {}) } as unknown as L2Store;
    const warnings: Array<Record<string, unknown>> = [];
    const started = Date.now();
    expect(await cacheWith(undefined, slow, warnings).cache.get(key())).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(warnings[0]?.msg).toBe('L2 cache read timed out');
  });

  it('L0 (isolate memory) answers first; an L1 hit is copied into it', async () => {
    const k = key();
    const writer = cacheWith(caches.default, undefined);
    writer.cache.put(k, { answer: 'spam' });
    await writer.settle();
    const l0 = new MemoryCache<unknown>();
    const ctx = createExecutionContext();
    const reader = new ResultCache<{ answer: string }>({
      l0,
      l1: caches.default,
      l2: undefined,
      ttlSeconds: 60,
      waitUntil: (p) => ctx.waitUntil(p),
    });
    expect((await reader.get(k))?.tier).toBe('l1');
    expect(await reader.get(k)).toEqual({ value: { answer: 'spam' }, tier: 'l0' });
    reader.put(`${k}b`, { answer: 'ham' });
    expect(l0.get(`${k}b`)).toEqual({ answer: 'ham' });
    await waitOnExecutionContext(ctx);
  });

  it('ttl 0 turns the cache off', async () => {
    const c = cacheWith(caches.default, realL2(), [], 0);
    expect(c.cache.enabled).toBe(false);
    const k = key();
    c.cache.put(k, { answer: 'x' });
    await c.settle();
    expect(await cacheWith(caches.default, realL2()).cache.get(k)).toBeUndefined();
  });

  it('validates its options', () => {
    const base = { l1: undefined, l2: undefined, waitUntil: () => {} };
    expect(() => new ResultCache({ ...base, ttlSeconds: -1 })).toThrow(
      /ttlSeconds must be an integer >= 0, got -1/,
    );
    expect(() => new ResultCache({ ...base, ttlSeconds: 1, l2TimeoutMs: 0 })).toThrow(/l2TimeoutMs/);
  });

  it('a malformed L1 or L2 entry is a MISS (logged), never an error', async () => {
    const warnings: unknown[] = [];
    const k = key();
    const junkL1: L1Cache = {
      match: async () => new Response('{"not":"an envelope"'),
      put: async () => {},
    };
    const junkL2 = { mget: async () => [{ v: { answer: 'x' } }] } as unknown as L2Store;
    const { cache } = cacheWith(junkL1, junkL2, warnings);
    expect(await cache.get(k)).toBeUndefined();
    expect(warnings.length).toBeGreaterThanOrEqual(2);
  });

  it('an entry that fails validation is a MISS', async () => {
    const l2 = realL2();
    const k = key();
    const ctx = createExecutionContext();
    const cache = new ResultCache<{ answer: string }>({
      l1: undefined,
      l2,
      ttlSeconds: 60,
      waitUntil: (p) => ctx.waitUntil(p),
      warn: () => {},
      validate: (v) =>
        typeof (v as { answer?: unknown }).answer === 'string' ? (v as { answer: string }) : undefined,
    });
    await l2.set(`edge:cache:v3:${k}`, { v: { answer: 7 }, exp: Date.now() + 60_000 }, { ex: 60 });
    expect(await cache.get(k)).toBeUndefined();
  });

  it("an L2 hit backfills L1 with the entry's remaining lifetime, not a fresh one", async () => {
    const l2 = realL2();
    const k = key();
    const puts: Array<{ url: string; cacheControl: string | null }> = [];
    const l1: L1Cache = {
      match: async () => undefined,
      put: async (req, res) => {
        puts.push({ url: String(req), cacheControl: res.headers.get('cache-control') });
      },
    };
    await l2.set(`edge:cache:v3:${k}`, { v: { answer: 'ham' }, exp: Date.now() + 20_000 }, { ex: 20 });
    const { cache, settle } = cacheWith(l1, l2, [], 300);
    expect(await cache.get(k)).toEqual({ value: { answer: 'ham' }, tier: 'l2' });
    await settle();
    expect(puts).toHaveLength(1);
    const maxAge = Number(/max-age=(\d+)/.exec(puts[0]?.cacheControl ?? '')?.[1]);
    expect(maxAge).toBeGreaterThan(15);
    expect(maxAge).toBeLessThanOrEqual(20);
  });

  it('getMany answers per key in order from mixed tiers; putMany writes L2 in one pipeline', async () => {
    const l2 = realL2();
    const [a, b, c] = [key(), key(), key()];
    await l2.set(`edge:cache:v3:${b}`, { v: { answer: 'from-l2' }, exp: Date.now() + 60_000 }, { ex: 60 });
    const l0 = new MemoryCache<unknown>();
    l0.set(a, { answer: 'from-l0' }, 60);
    const ctx = createExecutionContext();
    const cache = new ResultCache<{ answer: string }>({
      l0,
      l1: caches.default,
      l2,
      ttlSeconds: 60,
      waitUntil: (p) => ctx.waitUntil(p),
    });
    expect(await cache.getMany([a, b, c, a])).toEqual([
      { value: { answer: 'from-l0' }, tier: 'l0' },
      { value: { answer: 'from-l2' }, tier: 'l2' },
      undefined,
      { value: { answer: 'from-l0' }, tier: 'l0' },
    ]);
    const many = Array.from({ length: 40 }, () => key());
    cache.putMany(many.map((k, i) => [k, { answer: `n${i}` }] as const));
    await waitOnExecutionContext(ctx);
    expect(await l2.mget(...many.map((k) => `edge:cache:v3:${k}`))).toHaveLength(40);
    const fresh = cacheWith(caches.default, l2);
    const read = await fresh.cache.getMany(many);
    expect(read.map((r) => r?.value.answer)).toEqual(many.map((_, i) => `n${i}`));
    // 40 > l1MaxKeys (32): written to L2 only, so they come back from L2.
    expect(new Set(read.map((r) => r?.tier))).toEqual(new Set(['l2']));
  });

  it('batches of at most l1MaxKeys keys use L1; larger ones skip it (Cache API calls per request are limited)', async () => {
    let calls = 0;
    const l1: L1Cache = {
      match: async () => {
        calls++;
        return undefined;
      },
      put: async () => {
        calls++;
      },
    };
    const ctx = createExecutionContext();
    const cache = new ResultCache<{ answer: string }>({
      l1,
      l2: undefined,
      ttlSeconds: 60,
      waitUntil: (p) => ctx.waitUntil(p),
      l1MaxKeys: 3,
    });
    await cache.getMany([key(), key(), key()]);
    expect(calls).toBe(3);
    await cache.getMany([key(), key(), key(), key()]);
    cache.putMany([key(), key(), key(), key()].map((k) => [k, { answer: 'x' }] as const));
    await waitOnExecutionContext(ctx);
    expect(calls).toBe(3);
  });
});
