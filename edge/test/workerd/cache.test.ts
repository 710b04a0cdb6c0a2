import { describe, expect, it } from 'vitest';
import {
  apiKey,
  behave,
  classifyRequest,
  keysJson,
  originLog,
  setup,
  testApp,
  tinyRelease,
  unique,
} from './harness.ts';

type Classify = {
  model: string;
  version: string;
  served_by: string;
  request_id: string;
  predictions: Array<{ label: string; score: number }>;
};

describe('edge result cache (whole app: caches.default + Upstash bridge, loopback origin)', () => {
  it('MISS then HIT for the same input: served_by cache, the new request id, L0 (isolate memory) tier', async () => {
    const { k, env, t } = await setup();
    const text = `spam ${unique()}`;
    expect((await t.call(classifyRequest(k.key, { text }), env)).headers.get('x-cache')).toBe('MISS');
    const second = await t.call(classifyRequest(k.key, { text }), env);
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(second.headers.get('x-cache-tier')).toBe('L0');
  });

  it('without L0, L1 caches.default hits: served_by cache, the new request id', async () => {
    const { k, env, t } = await setup({ app: { memoryCacheEntries: 0 } });
    const text = `spam ${unique()}`;
    const first = await t.call(classifyRequest(k.key, { text }), env);
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(first.headers.get('x-served-by')).toBe('edge');
    const second = await t.call(classifyRequest(k.key, { text }), env);
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(second.headers.get('x-cache-tier')).toBe('L1');
    expect(second.headers.get('x-served-by')).toBe('cache');
    expect(second.headers.get('x-model-version')).toBe('tiny-1');
    const a = (await first.json()) as Classify;
    const b = (await second.json()) as Classify;
    expect(b.served_by).toBe('cache');
    expect(b.predictions).toEqual(a.predictions.map((p) => ({ ...p, served_by: 'cache' })));
    expect(b.request_id).toBe(second.headers.get('x-request-id'));
    expect(b.request_id).not.toBe(a.request_id);
    expect(t.lines[1]).toMatchObject({ cache: 'HIT', served_by: 'cache' });
  });

  it('x-escalate: always is never answered by a cached edge answer, only by the origin or its cached answer', async () => {
    const { k, env, t, origin } = await setup();
    const text = `spam ${unique()}`;
    expect((await t.call(classifyRequest(k.key, { text }), env)).headers.get('x-served-by')).toBe('edge');
    const always = await t.call(classifyRequest(k.key, { text }, { 'x-escalate': 'always' }), env);
    expect(always.headers.get('x-served-by')).toBe('origin');
    expect(always.headers.get('x-cache')).toBe('MISS');
    expect(await originLog(origin)).toHaveLength(1);
    // The origin's answer is cached: a second "always" may use it.
    const again = await t.call(classifyRequest(k.key, { text }, { 'x-escalate': 'always' }), env);
    expect(again.headers.get('x-served-by')).toBe('cache');
    expect(await originLog(origin)).toHaveLength(1);
  });

  it('is per tenant by default: one key never gets a HIT from what another key asked (CACHE_SCOPE=shared shares)', async () => {
    for (const scope of ['tenant', 'shared'] as const) {
      const other = await apiKey();
      const { k, env, t } = await setup({ env: { CACHE_SCOPE: scope } });
      const both = { ...env, API_KEYS: keysJson(k, other) } as Env;
      const text = `spam ${unique()}`;
      expect((await t.call(classifyRequest(k.key, { text }), both)).headers.get('x-cache')).toBe('MISS');
      const theirs = await t.call(classifyRequest(other.key, { text }), both);
      expect(theirs.headers.get('x-cache'), scope).toBe(scope === 'tenant' ? 'MISS' : 'HIT');
    }
  });

  it('{"text"} and {"texts":[same]} share one entry (canonical input)', async () => {
    const { k, env, t } = await setup();
    const text = `spam ${unique()}`;
    await t.call(classifyRequest(k.key, { text }), env);
    expect((await t.call(classifyRequest(k.key, { texts: [text] }), env)).headers.get('x-cache')).toBe('HIT');
  });

  it('stores and finds answers per item: [A, B] then [A] is a HIT; [A, C] answers A from the cache and C fresh', async () => {
    const { k, env, t, origin } = await setup();
    const [a, b, c] = [`spam ${unique()}`, `hellospam ${unique()}`, `hello ${unique()}`];
    const first = await t.call(classifyRequest(k.key, { texts: [a, b] }), env);
    expect(first.headers.get('x-served-by-counts')).toBe('edge=1, origin=1');
    const hit = await t.call(classifyRequest(k.key, { texts: [a] }), env);
    expect(hit.headers.get('x-cache')).toBe('HIT');
    expect(hit.headers.get('x-served-by')).toBe('cache');
    // B was the origin's answer: cached too.
    const both = await t.call(classifyRequest(k.key, { texts: [b, a] }), env);
    expect(both.headers.get('x-cache')).toBe('HIT');
    expect(both.headers.get('x-served-by-counts')).toBe('cache=2');
    const mixed = await t.call(classifyRequest(k.key, { texts: [a, c] }), env);
    expect(mixed.headers.get('x-cache')).toBe('MISS');
    expect(mixed.headers.get('x-served-by')).toBe('origin');
    expect(mixed.headers.get('x-served-by-counts')).toBe('cache=1, origin=1');
    const body = (await mixed.json()) as { predictions: Array<{ label: string; served_by: string }> };
    expect(body.predictions.map((p) => [p.label, p.served_by])).toEqual([
      ['spam', 'cache'],
      ['ham', 'origin'],
    ]);
    const log = await originLog(origin);
    expect(log.map((r) => JSON.parse(r.body).texts)).toEqual([[b], [c]]);
  });

  it('L2 (shared by every PoP) answers when L1 is empty', async () => {
    const { k, env, t } = await setup({ app: { l1: () => undefined, memoryCacheEntries: 0 } });
    const text = `spam ${unique()}`;
    await t.call(classifyRequest(k.key, { text }), env);
    const res = await t.call(classifyRequest(k.key, { text }), env);
    expect(res.headers.get('x-cache')).toBe('HIT');
    expect(res.headers.get('x-cache-tier')).toBe('L2');
  });

  it('cache-control: no-cache skips the read (BYPASS) but still writes', async () => {
    const { k, env, t } = await setup();
    const text = `spam ${unique()}`;
    await t.call(classifyRequest(k.key, { text }), env);
    const bypass = await t.call(classifyRequest(k.key, { text }, { 'cache-control': 'no-cache' }), env);
    expect(bypass.headers.get('x-cache')).toBe('BYPASS');
    expect(bypass.headers.get('x-served-by')).toBe('edge');
    const fresh = `spam ${unique()}`;
    await t.call(classifyRequest(k.key, { text: fresh }, { 'cache-control': 'no-cache' }), env);
    expect((await t.call(classifyRequest(k.key, { text: fresh }), env)).headers.get('x-cache')).toBe('HIT');
  });

  it('cache-control: no-store skips the write', async () => {
    const { k, env, t } = await setup();
    const text = `spam ${unique()}`;
    const first = await t.call(classifyRequest(k.key, { text }, { 'cache-control': 'no-store' }), env);
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect((await t.call(classifyRequest(k.key, { text }), env)).headers.get('x-cache')).toBe('MISS');
  });

  it('origin answers are cached: the second request does not reach the origin', async () => {
    const { k, env, t, origin } = await setup();
    const text = `hello ${unique()}`;
    const first = await t.call(classifyRequest(k.key, { text }), env);
    expect(first.headers.get('x-served-by')).toBe('origin');
    const second = await t.call(classifyRequest(k.key, { text }), env);
    expect(second.headers.get('x-served-by')).toBe('cache');
    expect(second.headers.get('x-model-version')).toBe('origin-v1');
    expect((await originLog(origin)).length).toBe(1);
  });

  it('unconfident edge answers (x-escalate: never) and degraded answers are not cached', async () => {
    const { k, env, t, origin } = await setup();
    const text = `hello ${unique()}`;
    const never = await t.call(classifyRequest(k.key, { text }, { 'x-escalate': 'never' }), env);
    expect(never.headers.get('x-served-by')).toBe('edge');
    await behave(origin, { default: { status: 503 } });
    const degraded = await t.call(classifyRequest(k.key, { text }), env);
    expect(degraded.headers.get('x-served-by')).toBe('edge-degraded');
    expect(degraded.headers.get('x-cache')).toBe('MISS');
    await behave(origin, { default: {} });
    const third = await t.call(classifyRequest(k.key, { text }), env);
    expect(third.headers.get('x-cache')).toBe('MISS');
    expect(third.headers.get('x-served-by')).toBe('origin');
  });

  it('CACHE_TTL_SECONDS=0 turns the cache off: BYPASS', async () => {
    const { k, env, t } = await setup({ env: { CACHE_TTL_SECONDS: '0' } });
    const text = `spam ${unique()}`;
    await t.call(classifyRequest(k.key, { text }), env);
    expect((await t.call(classifyRequest(k.key, { text }), env)).headers.get('x-cache')).toBe('BYPASS');
  });

  it('a new release version never serves the old release answers', async () => {
    const { k, env } = await setup();
    const v1 = await tinyRelease({ version: 'v1' });
    const v2 = await tinyRelease({ version: 'v2' });
    const text = `spam ${unique()}`;
    await testApp({ releases: () => [v1] }).call(classifyRequest(k.key, { text }), env);
    const res = await testApp({ releases: () => [v2] }).call(classifyRequest(k.key, { text }), env);
    expect(res.headers.get('x-cache')).toBe('MISS');
    expect(res.headers.get('x-model-version')).toBe('v2');
  });
});
