import { describe, expect, it } from 'vitest';
import { signRequest } from '../../../shared/signing/index.ts';
import { TEST_SIGNING_SECRET } from '../../test/node/secrets.ts';
import { behave, newOrigins, originClassify, originLog, unavailable } from '../../test/workerd/harness.ts';
import { parseRegions, type RegionsConfig, seedRtts } from './regions.ts';
import { OriginRouter, type OriginRouterOptions, type RouteHints } from './router.ts';

const sign: OriginRouterOptions['sign'] = async (req) => ({
  ...(await signRequest({ secret: TEST_SIGNING_SECRET, ...req })),
});

/** eu, us and ap pools; Frankfurt, Ashburn and Singapore near one each. */
const NEARBY = {
  colos: {
    FRA: [
      ['eu', 5],
      ['us', 90],
      ['ap', 160],
    ],
    IAD: [
      ['us', 5],
      ['eu', 80],
      ['ap', 150],
    ],
    SIN: [
      ['ap', 5],
      ['us', 140],
      ['eu', 150],
    ],
  },
};

type PoolSpec = { id: string; region: string; urls: string[]; capacity?: number; batch?: boolean };

function regions(pools: PoolSpec[]): RegionsConfig {
  return parseRegions({
    ORIGIN_POOLS: JSON.stringify(pools),
    ORIGIN_NEARBY: JSON.stringify(NEARBY),
    originUrls: [],
  });
}

/** One pool per region (eu, us, ap), `per` loopback origins each. */
async function world(per = 1, extra: Partial<Record<string, Partial<PoolSpec>>> = {}) {
  const urls = await newOrigins(3 * per);
  const pools = ['eu', 'us', 'ap'].map((region, i) => ({
    id: region,
    region,
    urls: urls.slice(i * per, (i + 1) * per),
    ...extra[region],
  }));
  return { pools, config: regions(pools), origins: Object.fromEntries(pools.map((p) => [p.id, p.urls])) };
}

function router(config: RegionsConfig, options: Partial<OriginRouterOptions> = {}) {
  return new OriginRouter({ regions: config, sign, attemptTimeoutMs: 1000, ...options });
}

/** Requests an origin got on its API (probes of /v2/health/ready not counted). */
async function apiRequests(urls: string[]): Promise<number> {
  let n = 0;
  for (const url of urls) n += (await originLog(url)).filter((r) => r.method === 'POST').length;
  return n;
}

/**
 * Loopback is equally near from everywhere, so a pool the router learns the RTT of looks as near as the nearest:
 * us and ap answer 20 ms late, as farther regions would from Frankfurt.
 */
async function farFromFrankfurt(origins: Record<string, string[]>): Promise<void> {
  for (const id of ['us', 'ap'])
    for (const url of origins[id] ?? []) await behave(url, { default: { delayMs: 20 } });
}

async function shares(r: OriginRouter, n: number, hints: RouteHints, now?: () => number) {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const res = await r.send(originClassify(2000, now?.()), hints);
    await res.response.body?.cancel();
    counts[res.pool] = (counts[res.pool] ?? 0) + 1;
  }
  return counts;
}

describe('origin pools and the nearby map (regions.ts)', () => {
  it('parses pools and nearby lists; a region name stands for its pools; unlisted pools come last', () => {
    const config = parseRegions({
      ORIGIN_POOLS: JSON.stringify([
        { id: 'eu-1', region: 'eu', urls: ['https://eu-1.example.com/'] },
        { id: 'eu-2', region: 'eu', urls: ['https://eu-2.example.com'], weight: 2 },
        { id: 'us-1', region: 'us', urls: ['https://us-1.example.com'], batch: true },
      ]),
      ORIGIN_NEARBY: JSON.stringify({ colos: { FRA: [['eu', 5]] }, continents: { NA: [['us-1', 10]] } }),
      originUrls: [],
    });
    expect(config.pools.map((p) => [p.id, p.urls[0], p.weight, p.batch])).toEqual([
      ['eu-1', 'https://eu-1.example.com', 1, false],
      ['eu-2', 'https://eu-2.example.com', 2, false],
      ['us-1', 'https://us-1.example.com', 1, true],
    ]);
    expect(Object.fromEntries(seedRtts(config, { colo: 'FRA' }))).toEqual({
      'eu-1': 5,
      'eu-2': 5,
      'us-1': 155,
    });
    // An unknown colo falls back to its continent.
    expect(Object.fromEntries(seedRtts(config, { colo: 'YYZ', continent: 'NA' }))).toEqual({
      'us-1': 10,
      'eu-1': 160,
      'eu-2': 160,
    });
  });

  it('without ORIGIN_POOLS, ORIGIN_URLS is one pool "default" (today\'s setup unchanged)', () => {
    const config = parseRegions({ originUrls: ['http://127.0.0.1:8080'] });
    expect(config.pools).toEqual([
      {
        id: 'default',
        region: 'default',
        urls: ['http://127.0.0.1:8080'],
        weight: 1,
        capacity: 1024,
        batch: false,
      },
    ]);
    expect(parseRegions({ originUrls: ['http://a'], ORIGIN_REGION: 'eu' }).pools[0]?.region).toBe('eu');
    expect(parseRegions({ originUrls: [] }).pools).toEqual([]);
  });

  it.each([
    [{ ORIGIN_POOLS: '[{' }, /ORIGIN_POOLS must be JSON/],
    [
      { ORIGIN_POOLS: JSON.stringify([{ id: 'eu', region: 'eu', urls: [] }]) },
      /ORIGIN_POOLS\[0\]\[urls\] is empty/,
    ],
    [
      { ORIGIN_POOLS: JSON.stringify([{ id: 'EU!', region: 'eu', urls: ['http://a'] }]) },
      /ORIGIN_POOLS\[0\]\[id\]/,
    ],
    [
      { ORIGIN_POOLS: JSON.stringify([{ id: 'eu', region: 'eu', urls: ['ftp://a'] }]) },
      /must be an http\(s\) URL/,
    ],
    [
      { ORIGIN_POOLS: JSON.stringify([{ id: 'eu', region: 'eu', urls: ['http://a'], colour: 'red' }]) },
      /ORIGIN_POOLS\[0\]/,
    ],
    [
      {
        ORIGIN_POOLS: JSON.stringify([
          { id: 'eu', region: 'eu', urls: ['http://a'] },
          { id: 'us', region: 'us', urls: ['http://a/'] },
        ]),
      },
      /http:\/\/a is in pool eu and pool us/,
    ],
    [
      {
        ORIGIN_POOLS: JSON.stringify([
          { id: 'eu', region: 'eu', urls: ['http://a'] },
          { id: 'eu', region: 'us', urls: ['http://b'] },
        ]),
      },
      /pool id eu is given twice/,
    ],
    [
      {
        ORIGIN_POOLS: JSON.stringify([{ id: 'eu', region: 'eu', urls: ['http://a'] }]),
        ORIGIN_NEARBY: JSON.stringify({ colos: { FRA: [['mars', 5]] } }),
      },
      /ORIGIN_NEARBY\.colos\.FRA names "mars", which is neither a pool nor a region/,
    ],
    [
      {
        ORIGIN_POOLS: JSON.stringify([{ id: 'eu', region: 'eu', urls: ['http://a'] }]),
        ORIGIN_NEARBY: JSON.stringify({ colos: { frankfurt: [['eu', 5]] } }),
      },
      /ORIGIN_NEARBY\[colos\]\[frankfurt\]/,
    ],
    [
      { ORIGIN_POOLS: JSON.stringify([{ id: 'eu', region: 'eu', urls: ['http://a'] }]), both: true },
      /both set/,
    ],
    [{ ORIGIN_REGION: 'Europe!' }, /ORIGIN_REGION "Europe!" is not a region id/],
  ])('refuses a bad configuration with a message naming it: %j', (env, message) => {
    const { both, ...vars } = env as Record<string, string> & { both?: boolean };
    expect(() => parseRegions({ ...vars, originUrls: both ? ['http://z'] : [] })).toThrow(message);
  });
});

describe('OriginRouter against loopback origins in three "regions" (real HTTP)', () => {
  it('sends (almost) everything to the nearest pool of the colo, not a global argmin', async () => {
    const { config } = await world();
    const r = router(config);
    const fra = await shares(r, 60, { colo: 'FRA' });
    expect(fra.eu ?? 0).toBeGreaterThanOrEqual(57);
    const sin = await shares(r, 60, { colo: 'SIN' });
    expect(sin.ap ?? 0).toBeGreaterThanOrEqual(57);
  });

  it('residency: a pinned tenant is never sent outside its regions, even with every pool there down', async () => {
    const { config, origins } = await world();
    for (const url of origins.eu as string[]) await behave(url, { default: { status: 503 } });
    const r = router(config);
    for (let i = 0; i < 6; i++) {
      const err = await unavailable(r.send(originClassify(), { colo: 'FRA', regions: ['eu'] }));
      expect(err.reason).toBe('no_pool_in_region');
    }
    expect(await apiRequests([...(origins.us as string[]), ...(origins.ap as string[])])).toBe(0);
    // The same request without the pin fails over to the next pool.
    const res = await r.send(originClassify(), { colo: 'FRA' });
    expect(res.pool).toBe('us');
  });

  it('a pool whose origins answer 503 opens its breaker and traffic fails over to the next pool', async () => {
    const { config, origins } = await world(2);
    for (const url of origins.eu as string[]) await behave(url, { default: { status: 503 } });
    // No error penalty here: the breaker alone (with it, one 503 already steers the next requests away).
    const r = router(config, { errorPenaltyMs: 0 });
    const got = await shares(r, 10, { colo: 'FRA' });
    expect(got).toEqual({ us: 10 });
    expect(r.snapshot().pools.find((p) => p.id === 'eu')?.breaker).toBe('open');
    // Three failed requests opened it (each tried both eu origins: the pool's own retry): no more after that.
    expect(await apiRequests(origins.eu as string[])).toBeLessThanOrEqual(6);
  });

  it('a pool that times out opens its breaker too, and the deadline covers every attempt', async () => {
    const { config, origins } = await world();
    for (const url of origins.eu as string[]) await behave(url, { default: { delayMs: 5000 } });
    const r = router(config, { attemptTimeoutMs: 150, errorPenaltyMs: 0 });
    for (let i = 0; i < 4; i++) {
      const start = Date.now();
      const res = await r.send(originClassify(1500), { colo: 'FRA' });
      await res.response.body?.cancel();
      expect(res.pool).toBe('us');
      expect(Date.now() - start).toBeLessThan(1500);
    }
    expect(r.snapshot().pools.find((p) => p.id === 'eu')?.breaker).toBe('open');
    expect(await apiRequests(origins.eu as string[])).toBe(3);
  });

  it('spill-over: a pool past the knee of its capacity keeps only its headroom share, the rest moves in proportion', async () => {
    const { config, origins } = await world(1, { eu: { capacity: 40 } });
    const r = router(config, { queueDepthTtlMs: 600_000 });
    await farFromFrankfurt(origins);
    // 10 of 40 queued: under the knee (0.5), eu keeps everything.
    await behave(origins.eu?.[0] as string, { default: { queueDepth: 10 } });
    const calm = await shares(r, 40, { colo: 'FRA' });
    expect(calm.eu ?? 0).toBeGreaterThanOrEqual(38);
    // 30 of 40 (0.75): eu keeps (1 - (0.75 - 0.5) / 0.5) = half; the other half goes to us (next nearest), not ap.
    await behave(origins.eu?.[0] as string, { default: { queueDepth: 30 } });
    const busy = await shares(r, 120, { colo: 'FRA' });
    expect(busy.eu ?? 0).toBeGreaterThan(36);
    expect(busy.eu ?? 0).toBeLessThan(84);
    expect((busy.us ?? 0) + (busy.eu ?? 0)).toBeGreaterThanOrEqual(118);
    expect(r.snapshot().pools.find((p) => p.id === 'eu')?.spills).toBeGreaterThan(0);
    // Full (40 of 40): everything spills.
    await behave(origins.eu?.[0] as string, { default: { queueDepth: 40 } });
    await shares(r, 5, { colo: 'FRA' }); // the depth is learned from eu's last answers... and us's
    const full = await shares(r, 40, { colo: 'FRA' });
    expect(full.eu ?? 0).toBeLessThanOrEqual(2);
  });

  it("hedging: a first attempt slower than its pool's p95 is raced on another pool; the loser is aborted", async () => {
    const { config, origins } = await world();
    // A share that cannot run out here (the budget is the next test's subject).
    const r = router(config, { hedgeMinSamples: 10, hedgeShare: 0.5 });
    await shares(r, 20, { colo: 'FRA' }); // eu's p95: a few ms on loopback
    const hedgesBefore = r.snapshot().pools.find((p) => p.id === 'us')?.hedges ?? 0;
    await behave(origins.eu?.[0] as string, { queue: [{ delayMs: 1500 }] });
    const start = Date.now();
    const res = await r.send(originClassify(3000), { colo: 'FRA' });
    expect(res.pool).toBe('us');
    expect(res.hedged).toBe(true);
    expect(Date.now() - start).toBeLessThan(1000);
    await res.response.body?.cancel();
    // The loser's connection was closed: the origin saw its request end before it answered.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const euLog = (await originLog(origins.eu?.[0] as string)).filter((x) => x.method === 'POST');
    expect(euLog.at(-1)?.aborted).toBe(true);
    expect(r.snapshot().pools.find((p) => p.id === 'us')?.hedges).toBe(hedgesBefore + 1);
  });

  it('hedges stay within 5% of escalations when a whole pool slows down', async () => {
    const { config, origins } = await world();
    const r = router(config, { hedgeMinSamples: 10 });
    await shares(r, 20, { colo: 'FRA' });
    await behave(origins.eu?.[0] as string, { default: { delayMs: 40 } });
    await behave(origins.us?.[0] as string, { default: { delayMs: 40 } });
    await shares(r, 60, { colo: 'FRA' });
    const hedges = r.snapshot().pools.reduce((n, p) => n + p.hedges, 0);
    // One token at start + 5% of 80 escalations.
    expect(hedges).toBeGreaterThan(0);
    expect(hedges).toBeLessThanOrEqual(1 + 0.05 * 80);
  });

  it('hedging stops while most first attempts are slow, even with budget to spare (brownout)', async () => {
    // Budgets that never limit: only the brownout rule can stop the hedges. The same run without the rule (share 1)
    // hedges every slow request.
    const run = async (brownoutShare: number) => {
      const { config, origins } = await world();
      const r = router(config, {
        hedgeMinSamples: 10,
        hedgeShare: 1,
        retryRatio: 1,
        attemptTimeoutMs: 100,
        brownoutShare,
      });
      await farFromFrankfurt(origins);
      await shares(r, 20, { colo: 'FRA' });
      const before = r.snapshot().pools.reduce((n, p) => n + p.hedges, 0);
      // eu stops answering in time; every hedge to us wins, so eu's p95 never learns the new latency.
      await behave(origins.eu?.[0] as string, { default: { delayMs: 5000 } });
      let brownout = false;
      for (let i = 0; i < 30; i++) {
        const res = await r.send(originClassify(2000), { colo: 'FRA' });
        await res.response.body?.cancel();
        brownout ||= r.snapshot().brownout;
      }
      return { hedges: r.snapshot().pools.reduce((n, p) => n + p.hedges, 0) - before, brownout };
    };
    const never = await run(1);
    const rule = await run(0.5);
    expect(never.hedges).toBeGreaterThanOrEqual(22);
    expect(never.brownout).toBe(false);
    expect(rule.brownout).toBe(true);
    expect(rule.hedges).toBeLessThanOrEqual(never.hedges - 6);
  });

  it('retry budget: under total failure, retries + hedges stay near 10% of first attempts (no retry storm)', async () => {
    const { config, origins } = await world(2);
    for (const urls of Object.values(origins))
      for (const url of urls) await behave(url, { default: { status: 503 } });
    // Breakers that never open, so only the budget limits the attempts.
    const r = router(config, { failureThreshold: 1000, poolFailureThreshold: 1000 });
    const n = 60;
    for (let i = 0; i < n; i++) await unavailable(r.send(originClassify(), { colo: 'FRA' }));
    const all = Object.values(origins).flat();
    const attempts = await apiRequests(all);
    // Unbudgeted this would be up to 6 attempts per request (3 pools x 2 origins).
    expect(attempts).toBeLessThanOrEqual(n + 0.1 * n + 10 + 3);
    expect(r.snapshot().retry_budget_refused).toBeGreaterThan(0);
  });

  it('recovery: a pool that comes back is probed in the background, then ramped from 5% over rampMs', async () => {
    let offset = 0;
    const now = () => Date.now() + offset;
    const { config, origins } = await world();
    const eu = origins.eu?.[0] as string;
    await farFromFrankfurt(origins);
    await behave(eu, { default: { status: 503 } });
    const r = router(config, { now, rampMs: 20_000, poolCooldownMs: 5000, errorPenaltyMs: 0 });
    await shares(r, 5, { colo: 'FRA' }, now);
    expect(r.snapshot().pools.find((p) => p.id === 'eu')?.breaker).toBe('open');
    await behave(eu, { default: {} });
    offset += 5000;
    const background: Array<Promise<unknown>> = [];
    const hints: RouteHints = { colo: 'FRA', waitUntil: (p) => background.push(p) };
    const res = await r.send(originClassify(2000, now()), hints);
    expect(res.pool).toBe('us'); // the probe runs beside it, not in its way
    await Promise.all(background);
    expect((await originLog(eu)).at(-1)?.path).toBe('/v2/health/ready');
    const snap = r.snapshot().pools.find((p) => p.id === 'eu');
    expect(snap?.breaker).toBe('closed');
    expect(snap?.ramp).toBeLessThan(0.1);
    const early = await shares(r, 100, hints, now);
    expect(early.eu ?? 0).toBeLessThan(25);
    offset += 10_000;
    const half = await shares(r, 100, hints, now);
    expect(half.eu ?? 0).toBeGreaterThan(30);
    expect(half.eu ?? 0).toBeLessThan(75);
    offset += 10_000;
    const full = await shares(r, 100, hints, now);
    expect(full.eu ?? 0).toBeGreaterThanOrEqual(95);
  });

  it('a nearest pool that was slow for a while gets its traffic back once it is fast again (no sticky detour)', async () => {
    let offset = 0;
    const now = () => Date.now() + offset;
    const { config, origins } = await world();
    // From Ashburn, eu and ap are the far ones.
    for (const id of ['eu', 'ap']) await behave(origins[id]?.[0] as string, { default: { delayMs: 20 } });
    const r = router(config, { now });
    const iad: RouteHints = { colo: 'IAD' };
    expect((await shares(r, 10, iad, now)).us).toBe(10);
    // us slows down for good: once most of its recent answers are slow, its traffic moves to the next pool.
    // (150 ms: farther than eu's 80 ms seed; a window of 32 answers, its lower quartile slow after 25 of them.)
    await behave(origins.us?.[0] as string, { default: { delayMs: 150 } });
    await shares(r, 28, iad, now);
    expect((await shares(r, 10, iad, now)).us ?? 0).toBeLessThanOrEqual(2);
    // us is fast again, but no traffic goes there to show it: its estimate fades back to the map's seed, the
    // traffic returns and the fresh answers confirm it.
    await behave(origins.us?.[0] as string, { default: {} });
    offset += 30_000;
    expect((await shares(r, 20, iad, now)).us ?? 0).toBeGreaterThanOrEqual(18);
  });

  it("a 1% slow tail does not move the nearest pool's RTT estimate (lower quartile, not a mean)", async () => {
    const { config, origins } = await world();
    const r = router(config);
    await farFromFrankfurt(origins);
    await shares(r, 30, { colo: 'FRA' });
    await behave(origins.eu?.[0] as string, { queue: [{ delayMs: 400 }, { delayMs: 400 }] });
    const got = await shares(r, 30, { colo: 'FRA' });
    expect(got.eu ?? 0).toBeGreaterThanOrEqual(28);
    expect(r.snapshot().pools.find((p) => p.id === 'eu')?.rtt_ms.FRA).toBeLessThan(10);
  });

  it('batch requests prefer batch pools; interactive requests never use them', async () => {
    const { config, origins } = await world(1, { ap: { batch: true } });
    const r = router(config);
    expect(await shares(r, 10, { colo: 'FRA', batch: true })).toEqual({ ap: 10 });
    expect(await shares(r, 10, { colo: 'SIN' })).not.toHaveProperty('ap');
    // The batch pool down: a job's rows fall back to interactive pools (within their budget).
    await behave(origins.ap?.[0] as string, { default: { status: 503 } });
    const fallback = await shares(r, 6, { colo: 'FRA', batch: true });
    expect(fallback.eu ?? 0).toBeGreaterThan(0);
  });

  it('with no batch pool configured, job rows use the interactive pools like any request (no fallback budget)', async () => {
    const { config } = await world(1);
    const r = router(config);
    // More at once than the batch fallback budget allows (10% of first attempts + 1/s over 10 s).
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, async () => {
        const res = await r.send(originClassify(2000), { colo: 'FRA', batch: true });
        await res.response.body?.cancel();
        return res.pool;
      }),
    );
    expect(results.filter((x) => x.status === 'rejected').map((x) => String(x.reason))).toEqual([]);
  });
});
