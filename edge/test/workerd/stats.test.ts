import { describe, expect, it } from 'vitest';
import type { Series, VersionStats } from '../../src/stats/report.ts';
import { apiKey, classifyRequest, keysJson, setup, unique } from './harness.ts';

/** The admin route's body: the report's per-version stats plus the release's planned edge share. */
type Stats = {
  model: string;
  minutes: number;
  versions: Array<
    VersionStats & { expected_edge_share: number | null; model_edge_share: number | null; series?: Series }
  >;
};

describe('edge traffic and drift stats (whole app, real Upstash bridge over Redis)', () => {
  it('counts every answer per version and serves them to admin keys at /v1/admin/models/{m}/stats', async () => {
    const version = `tiny-${unique()}`;
    const admin = await apiKey({ scopes: ['admin'], models: ['*'] });
    const { k, env, t } = await setup({ release: { version }, app: { stats: { flushMs: 0 } } });
    const both = { ...env, API_KEYS: keysJson(k, admin) } as Env;
    const spam = `spam ${unique()}`;
    await t.call(classifyRequest(k.key, { texts: [spam, `ham ${unique()}`, `hello ${unique()}`] }), both);
    await t.call(classifyRequest(k.key, { text: spam }), both);
    const get = (key: string, query = '') =>
      t.call(
        new Request(`https://edge.test/v1/admin/models/spam/stats${query}`, {
          headers: { authorization: `Bearer ${key}` },
        }),
        both,
      );
    const res = await get(admin.key, '?minutes=5');
    expect(res.status).toBe(200);
    const body = (await res.json()) as Stats;
    const v = body.versions.find((x) => x.version === version);
    // Per version: the edge's release answered (or cached) three items; the origin's (origin-v1) the unsure one.
    expect(v).toMatchObject({
      requests: 2,
      items: 3,
      served_by: { edge: 2, cache: 1 },
      labels: { spam: 2, ham: 1 },
    });
    expect(v?.score_histogram.reduce((a, b) => a + b, 0)).toBe(3);
    expect(body.versions.find((x) => x.version === 'origin-v1')).toMatchObject({
      served_by: { origin: expect.any(Number) },
      escalation_reasons: { low_confidence: expect.any(Number) },
    });
    // The tiny release has no baseline (no PSI) and no planned edge share.
    expect(v?.psi.score).toBeNull();
    expect(v?.expected_edge_share).toBeNull();

    // The plan's share counts no cache hits: of the 2 model-answered items the edge answered 2.
    expect(v?.model_edge_share).toBe(1);

    // The same window for a Prometheus scrape job: text format, one gauge per series, labels per version.
    const prom = await get(admin.key, '?minutes=5&format=prometheus');
    expect(prom.status).toBe(200);
    expect(prom.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await prom.text();
    expect(text).toContain('edge_stats_window_seconds{model="spam"} 300');
    expect(text).toContain(`edge_window_items{model="spam",version="${version}",served_by="edge"} 2`);
    expect(text).toContain(`edge_window_items{model="spam",version="${version}",served_by="cache"} 1`);
    expect(text).toContain(`edge_model_edge_share{model="spam",version="${version}"} 1`);
    expect(text).toMatch(/^# TYPE edge_window_escalations gauge$/m);
    expect(text).toMatch(
      /^edge_window_escalations\{model="spam",version="origin-v1",reason="low_confidence"\} \d+$/m,
    );
    expect((await get(admin.key, '?format=xml')).status).toBe(400);
    expect((await get(k.key, '?format=prometheus')).status).toBe(403);

    // Only admin keys; the window is checked.
    expect((await get(k.key)).status).toBe(403);
    expect((await get(admin.key, '?minutes=0')).status).toBe(400);
    expect((await get(admin.key, '?minutes=abc')).status).toBe(400);
  });

  it('?points=N adds a series per version over the same window (JSON only), its buckets summing to the totals', async () => {
    const version = `tiny-${unique()}`;
    const admin = await apiKey({ scopes: ['admin'], models: ['*'] });
    const { k, env, t } = await setup({ release: { version }, app: { stats: { flushMs: 0 } } });
    const both = { ...env, API_KEYS: keysJson(k, admin) } as Env;
    await t.call(classifyRequest(k.key, { texts: [`spam ${unique()}`, `ham ${unique()}`] }), both);
    await t.call(classifyRequest(k.key, { text: `spam ${unique()}` }), both);
    const get = (query: string) =>
      t.call(
        new Request(`https://edge.test/v1/admin/models/spam/stats${query}`, {
          headers: { authorization: `Bearer ${admin.key}` },
        }),
        both,
      );
    const res = await get('?minutes=10&points=4');
    expect(res.status).toBe(200);
    const body = (await res.json()) as Stats;
    expect(body.versions.length).toBeGreaterThan(0);
    for (const v of body.versions) {
      // 10 minutes in 4 points: buckets of ceil(10 / 4) = 3 minutes, the last one of 1, oldest first.
      expect(v.series?.bucket_minutes).toBe(3);
      const points = v.series?.points ?? [];
      expect(points).toHaveLength(4);
      const starts = points.map((p) => Date.parse(p.start));
      expect(starts.map((s) => s - (starts[0] as number))).toEqual([0, 3, 6, 9].map((m) => m * 60_000));
      expect(points.reduce((a, p) => a + p.requests, 0)).toBe(v.requests);
      expect(points.reduce((a, p) => a + p.items, 0)).toBe(v.items);
      expect(points.reduce((a, p) => a + p.failed_requests, 0)).toBe(v.errors.failed_requests);
    }
    const mine = body.versions.find((x) => x.version === version);
    // The edge answered all three items (two requests), in the last bucket or, past a minute's turn, the one before.
    expect(mine).toMatchObject({ requests: 2, items: 3, model_edge_share: 1 });
    expect(mine?.series?.points.filter((p) => p.items > 0).every((p) => p.model_edge_share === 1)).toBe(true);

    // Without points: no series; with format=prometheus points changes nothing.
    const plain = (await (await get('?minutes=10')).json()) as Stats;
    expect(plain.versions.some((v) => 'series' in v)).toBe(false);
    expect(await (await get('?minutes=10&points=4&format=prometheus')).text()).toBe(
      await (await get('?minutes=10&format=prometheus')).text(),
    );

    for (const bad of ['0', '361', 'x', '1.5', '']) {
      const r = await get(`?minutes=10&points=${bad}`);
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('invalid_input');
    }
  });

  it('without Upstash the answers still flow (counters off) and the stats route is 503', async () => {
    const admin = await apiKey({ scopes: ['admin'], models: ['*'] });
    const { k, env, t } = await setup({
      env: { UPSTASH_REDIS_REST_URL: '', UPSTASH_REDIS_REST_TOKEN: '' },
      app: { stats: { flushMs: 0 } },
    });
    const both = { ...env, API_KEYS: keysJson(k, admin) } as Env;
    expect((await t.call(classifyRequest(k.key, { text: `spam ${unique()}` }), both)).status).toBe(200);
    const res = await t.call(
      new Request('https://edge.test/v1/admin/models/spam/stats', {
        headers: { authorization: `Bearer ${admin.key}` },
      }),
      both,
    );
    expect(res.status).toBe(503);
  });

  it('with Upstash configured but down the stats route is 503 unavailable with Retry-After, not a 500', async () => {
    const admin = await apiKey({ scopes: ['admin'], models: ['*'] });
    const { env, t } = await setup({
      env: { UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9', UPSTASH_REDIS_REST_TOKEN: 'x' },
    });
    const res = await t.call(
      new Request('https://edge.test/v1/admin/models/spam/stats', {
        headers: { authorization: `Bearer ${admin.key}` },
      }),
      { ...env, API_KEYS: keysJson(admin) } as Env,
    );
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unavailable');
  });
});
