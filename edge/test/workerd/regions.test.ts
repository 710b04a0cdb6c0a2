/**
 * Origin pools in several regions through the whole app (workerd, loopback origins as pools): the colo of the
 * request picks the nearest pool, answers say which pool served each item, a tenant pinned to a region is never
 * served outside it (degraded instead), and the admin route shows what this isolate learned.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  apiKey,
  behave,
  classifyRequest,
  keysJson,
  newOrigins,
  originLog,
  testApp,
  testEnv,
  tinyRelease,
  unique,
} from './harness.ts';

async function world() {
  const [eu, us] = (await newOrigins(2)) as [string, string];
  const k = await apiKey();
  const pinned = await apiKey({ regions: ['eu'] });
  const admin = await apiKey({ scopes: ['admin'] });
  const env = testEnv({
    API_KEYS: keysJson(k, pinned, admin),
    ORIGIN_URLS: '',
    ORIGIN_POOLS: JSON.stringify([
      { id: 'eu-1', region: 'eu', urls: [eu] },
      { id: 'us-1', region: 'us', urls: [us] },
    ]),
    ORIGIN_NEARBY: JSON.stringify({
      colos: {
        FRA: [
          ['eu', 5],
          ['us', 90],
        ],
        IAD: [
          ['us', 5],
          ['eu', 80],
        ],
      },
    }),
  });
  const release = await tinyRelease();
  const t = testApp({ releases: () => [release], pool: { errorPenaltyMs: 0 } });
  return { eu, us, k, pinned, admin, env, t };
}

/** A classify request entering at `colo` (request.cf, as Cloudflare sets it), escalated to the origin. */
function at(colo: string, key: string, texts: string[]): Request {
  const base = classifyRequest(key, { texts }, { 'x-escalate': 'always' });
  return new Request(base, { cf: { colo } } as RequestInit);
}

const posts = async (origin: string) => (await originLog(origin)).filter((r) => r.method === 'POST');

describe('origin pools and regions (whole app, loopback pools)', () => {
  it("serves escalations from the colo's nearest pool and says so per answer and per item", async () => {
    const w = await world();
    const res = await w.t.call(at('FRA', w.k.key, [`hello ${unique()}`, `spam ${unique()}`]), w.env);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-origin-pool')).toBe('eu-1');
    const body = (await res.json()) as { predictions: Array<{ origin_pool?: string; served_by: string }> };
    expect(body.predictions.map((p) => [p.served_by, p.origin_pool])).toEqual([
      ['origin', 'eu-1'],
      ['origin', 'eu-1'],
    ]);
    const [sent] = await posts(w.eu);
    expect(sent?.headers['x-edge-colo']).toBe('FRA');
    const fromIad = await w.t.call(at('IAD', w.k.key, [`hello ${unique()}`]), w.env);
    expect(fromIad.headers.get('x-origin-pool')).toBe('us-1');
    // The shared stats count items per pool too (edge_window_origin_pool_items in Prometheus).
    const stats = await w.t.call(
      new Request('https://edge.test/v1/admin/models/spam/stats?minutes=5', {
        headers: { authorization: `Bearer ${w.admin.key}` },
      }),
      w.env,
    );
    const { versions } = (await stats.json()) as {
      versions: Array<{ origin_pools: Record<string, number> }>;
    };
    const pools = versions.reduce<Record<string, number>>((acc, v) => {
      for (const [k, n] of Object.entries(v.origin_pools)) acc[k] = (acc[k] ?? 0) + n;
      return acc;
    }, {});
    expect(pools['eu-1']).toBeGreaterThanOrEqual(2);
    expect(pools['us-1']).toBeGreaterThanOrEqual(1);
  });

  it('residency: an eu-pinned key with its pool down gets degraded answers (no_pool_in_region), nothing leaves eu', async () => {
    const w = await world();
    await behave(w.eu, { default: { status: 503 } });
    for (let i = 0; i < 5; i++) {
      const res = await w.t.call(at('IAD', w.pinned.key, [`hello ${unique()}`]), w.env);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-served-by')).toBe('edge-degraded');
      expect(res.headers.get('x-degraded-reason')).toBe('no_pool_in_region');
    }
    expect(await posts(w.us)).toHaveLength(0);
    // An unpinned key from the same colo is served by us as usual.
    const res = await w.t.call(at('FRA', w.k.key, [`hello ${unique()}`]), w.env);
    expect(res.headers.get('x-origin-pool')).toBe('us-1');
  });

  it('GET /v1/admin/origins: per-pool counters and breaker state, JSON and Prometheus; admin scope only', async () => {
    const w = await world();
    await behave(w.eu, { default: { status: 503 } });
    for (let i = 0; i < 4; i++) await w.t.call(at('FRA', w.k.key, [`hello ${unique()}`]), w.env);
    const get = (key: string, query = '') =>
      w.t.call(
        new Request(`https://edge.test/v1/admin/origins${query}`, {
          headers: { authorization: `Bearer ${key}` },
        }),
        w.env,
      );
    expect((await get(w.k.key)).status).toBe(403);
    const json = (await (await get(w.admin.key)).json()) as {
      pools: Array<{ id: string; breaker: string; errors: number; failovers: number }>;
      first_attempts: number;
    };
    const eu = json.pools.find((p) => p.id === 'eu-1');
    const us = json.pools.find((p) => p.id === 'us-1');
    expect(eu?.breaker).toBe('open');
    expect(eu?.errors).toBe(3);
    expect(us?.failovers).toBeGreaterThanOrEqual(3);
    expect(json.first_attempts).toBeGreaterThanOrEqual(4);
    const prom = await get(w.admin.key, '?format=prometheus');
    expect(prom.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
    const text = await prom.text();
    expect(text).toMatch(/^edge_origin_pool_breaker_open\{pool="eu-1",region="eu"\} 1$/m);
    expect(text).toMatch(/^edge_origin_pool_errors_total\{pool="eu-1",region="eu"\} 3$/m);
    expect((await get(w.admin.key, '?format=xml')).status).toBe(400);
  });

  it('a bad ORIGIN_POOLS is a configuration error naming the fault, not a crash', async () => {
    const w = await world();
    const env = testEnv({
      API_KEYS: keysJson(w.k),
      ORIGIN_URLS: '',
      ORIGIN_POOLS: JSON.stringify([{ id: 'eu-1', region: 'eu', urls: [] }]),
    });
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const res = await w.t.call(at('FRA', w.k.key, ['hello']), env);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('30');
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('unavailable');
      expect(body.error.message).not.toMatch(/ORIGIN_POOLS|sk_test/);
      const logged = errors.mock.calls.map((args) => String(args[0])).join('\n');
      expect(logged).toMatch(/edge configuration error.*ORIGIN_POOLS\[0\]\[urls\] is empty/);
    } finally {
      errors.mockRestore();
    }
  });
});
