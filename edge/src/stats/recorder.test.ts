import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { Redis } from '@upstash/redis/cloudflare';
import { describe, expect, it } from 'vitest';
import {
  answerFields,
  type DataPointSink,
  featureBin,
  LATENCY_BINS,
  latencyBin,
  minuteKey,
  StatsRecorder,
  type StatsStore,
} from './recorder.ts';
import { latencyQuantile, readStats, type StatsReader } from './report.ts';

function realRedis(): Redis {
  const e = env as Env;
  return new Redis({ url: e.UPSTASH_REDIS_REST_URL, token: e.UPSTASH_REDIS_REST_TOKEN, retry: false });
}

const items = [
  { served_by: 'edge', label: 'spam', score: 0.97, coverage: 0.95, features: 300 },
  {
    served_by: 'origin',
    label: 'ham',
    score: 0.62,
    coverage: 0.4,
    ood: true,
    escalation_reason: 'out_of_distribution',
  },
  { served_by: 'cache', label: 'spam', score: 1 },
];

describe('edge stats recorder', () => {
  it('bins feature counts: 0, then log2 buckets, the last one open', () => {
    expect([0, 1, 2, 3, 4, 1023, 1024, 5000].map(featureBin)).toEqual([0, 1, 2, 2, 3, 10, 11, 11]);
  });

  it('bins latencies: under 1 ms, then log2 ms buckets, the last one open; quantiles are bin upper bounds', () => {
    expect([0, 0.5, 1, 1.9, 2, 3, 1000, 8192, 1e9, Number.NaN].map(latencyBin)).toEqual([
      0, 0, 1, 1, 2, 2, 10, 14, 14, 0,
    ]);
    expect(LATENCY_BINS).toBe(15);
    const h = new Array<number>(LATENCY_BINS).fill(0);
    expect(latencyQuantile(h, 0.5)).toBeNull();
    h[2] = 90; // [2, 4) ms
    h[6] = 10; // [32, 64) ms
    expect([0.5, 0.9, 0.95, 0.99].map((q) => latencyQuantile(h, q))).toEqual([4, 4, 64, 64]);
  });

  it('adds the request latency bin and its rollout arm when given', () => {
    const fields = Object.fromEntries(answerFields(items.slice(0, 1), { arm: 'candidate', ms: 5 }));
    expect(fields).toMatchObject({ req: 1, 'lat:3': 1, 'arm:candidate': 1 });
    expect(Object.keys(answerFields(items.slice(0, 1), { ms: 0.2 }))).not.toContain('arm:stable');
  });

  it('counts unsure answers, and bins their confidence (top probability), not the default label score', () => {
    const unsure = {
      served_by: 'origin',
      label: 'ham',
      score: 0.18,
      scores: { ham: 0.18, spam: 0.82 },
      unsure: true,
    };
    const fields = Object.fromEntries(answerFields([unsure]));
    expect(fields).toMatchObject({ unsure: 1, 'sc:8': 1, 'lb:ham': 1 });
    expect(fields).not.toHaveProperty('sc:1');
    const points: Array<{ blobs: string[]; doubles: number[] }> = [];
    new StatsRecorder().record(
      'spam',
      'v1',
      [unsure],
      { points: { writeDataPoint: (p) => points.push(p as never) } },
      () => {},
    );
    expect(points[0]?.blobs[7]).toBe('unsure');
    expect(points[0]?.doubles[0]).toBe(0.82);
  });

  it('turns an answer into counter fields (bins from shared/drift)', () => {
    expect(Object.fromEntries(answerFields(items))).toEqual({
      req: 1,
      items: 3,
      'sb:edge': 1,
      'sb:origin': 1,
      'sb:cache': 1,
      'er:out_of_distribution': 1,
      'sc:9': 2,
      'sc:6': 1,
      'cv:9': 1,
      'cv:4': 1,
      'fn:9': 1,
      'lb:spam': 2,
      'lb:ham': 1,
      ood: 1,
    });
  });

  it('sums answers in the isolate, flushes them in one pipeline to the real bridge (at most flushMs later), and reads them back with PSI', async () => {
    const redis = realRedis();
    const model = `m${crypto.randomUUID().slice(0, 8)}`;
    const now = Date.UTC(2026, 11, 2, 10, 0, 30);
    const recorder = new StatsRecorder({ flushMs: 150, now: () => now });
    const ctx = createExecutionContext();
    const store = redis as unknown as StatsStore;
    recorder.record(model, 'v1', items, { store }, (p) => ctx.waitUntil(p), { arm: 'stable', ms: 3 });
    recorder.record(model, 'v1', items.slice(0, 1), { store }, (p) => ctx.waitUntil(p), { ms: 40 });
    recorder.record(model, 'v2', items.slice(2), { store }, (p) => ctx.waitUntil(p), {
      arm: 'candidate',
      ms: 9,
    });
    recorder.count(model, 'v2', new Map([['fail', 1]]), store, (p) => ctx.waitUntil(p));
    // Not written yet: the flush waits up to flushMs, off the request path.
    expect(await redis.hgetall(minuteKey(model, 'v1', Math.floor(now / 60_000)))).toBeNull();
    await waitOnExecutionContext(ctx);
    const baseline = {
      n: 10,
      score: [0, 0, 0, 0, 0, 0, 0.5, 0, 0, 0.5],
      coverage: new Array(10).fill(0.1),
      labels: {},
    };
    const stats = await readStats(redis as unknown as StatsReader, model, 5, now, (v) =>
      v === 'v1' ? baseline : undefined,
    );
    expect(stats.map((s) => s.version)).toEqual(['v1', 'v2']);
    const [v1, v2] = stats;
    expect(v1).toMatchObject({
      requests: 2,
      items: 4,
      served_by: { edge: 2, origin: 1, cache: 1 },
      served_by_share: { edge: 0.5, origin: 0.25, cache: 0.25 },
      escalation_reasons: { out_of_distribution: 1 },
      labels: { spam: 3, ham: 1 },
      ood: 1,
      arms: { stable: 1 },
      latency_ms: { p50: 4, p95: 64, p99: 64 },
      errors: { failed_requests: 0, degraded_items: 0, rate: 0 },
    });
    expect(v1?.score_histogram).toEqual([0, 0, 0, 0, 0, 0, 1, 0, 0, 3]);
    // 300 features, twice: log2 bucket 9 (256-511).
    expect(v1?.features_histogram).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0]);
    expect(v1?.psi.score).toBeCloseTo(
      (0.25 - 0.5) * Math.log(0.25 / 0.5) + (0.75 - 0.5) * Math.log(0.75 / 0.5),
      5,
    );
    expect(v2).toMatchObject({
      requests: 1,
      items: 1,
      psi: { score: null, coverage: null },
      arms: { candidate: 1 },
      errors: { failed_requests: 1, rate: 0.5 },
    });
    // The window: the minute after holds nothing.
    const later = await readStats(redis as unknown as StatsReader, model, 1, now + 60_000, () => undefined);
    expect(later.find((s) => s.version === 'v1')?.requests).toBe(0);
  });

  it('flushNow (a job chunk) writes at once, scheduling no timer its queue invocation would wait for', async () => {
    const writes: string[] = [];
    const store: StatsStore = {
      pipeline: () => ({
        hincrby: (key: string, field: string) => writes.push(`${key} ${field}`),
        expire: () => undefined,
        sadd: () => undefined,
        exec: async () => [],
      }),
    };
    const now = 1_800_000_000_000;
    const recorder = new StatsRecorder({ flushMs: 60_000, now: () => now });
    const background: Array<Promise<unknown>> = [];
    recorder.record('spam', 'v1', items.slice(0, 1), { store }, (p) => background.push(p), { ms: 1 });
    expect(writes).toEqual([]); // within flushMs: scheduled, not written
    recorder.record('spam', 'v1', items.slice(0, 1), { store }, (p) => background.push(p), {
      ms: 1,
      flushNow: true,
    });
    expect(background).toHaveLength(2);
    await background[1];
    expect(writes.filter((w) => w.endsWith(' req'))).toHaveLength(1); // both requests' counts, in one write
  });

  it('a failing or slow store drops the batch with one logged reason; never throws, never blocks', async () => {
    const warnings: Array<Record<string, unknown>> = [];
    const failing: StatsStore = {
      pipeline: () => ({
        hincrby: () => {},
        expire: () => {},
        sadd: () => {},
        exec: async () => {
          throw new Error('Redis down');
        },
      }),
    };
    const slow: StatsStore = {
      pipeline: () => ({
        hincrby: () => {},
        expire: () => {},
        sadd: () => {},
        exec: () => new Promise(() => {}),
      }),
    };
    const recorder = new StatsRecorder({ flushMs: 0, timeoutMs: 50, warn: (e) => warnings.push(e) });
    const pending: Array<Promise<unknown>> = [];
    recorder.record('m', 'v', items, { store: failing }, (p) => pending.push(p));
    recorder.record('m', 'v', items, { store: slow }, (p) => pending.push(p));
    await Promise.all(pending);
    expect(warnings.map((w) => [w.msg, String(w.reason).slice(0, 18)])).toEqual([
      ['edge stats dropped', 'Error: Redis down'],
      ['edge stats dropped', 'timeout after 50 m'],
    ]);
  });

  it('writes one Analytics Engine data point per prediction (a fake dataset: local writes are dropped), at most 250', () => {
    const points: unknown[] = [];
    const sink: DataPointSink = { writeDataPoint: (p) => points.push(p) };
    const recorder = new StatsRecorder();
    recorder.record('spam', 'v1', items, { points: sink }, () => {}, { arm: 'candidate', ms: 12 });
    expect(points[1]).toEqual({
      indexes: ['spam'],
      blobs: ['spam', 'v1', 'origin', 'ham', 'out_of_distribution', 'ood', 'candidate', ''],
      doubles: [0.62, 0.4, 1, 12],
    });
    expect(points[2]).toMatchObject({ doubles: [1, -1, 1, 12] });
    const many = Array.from({ length: 300 }, () => items[0] as (typeof items)[number]);
    recorder.record('spam', 'v1', many, { points: sink }, () => {});
    expect(points).toHaveLength(3 + 250);
    expect(points.at(-1)).toMatchObject({
      blobs: ['spam', 'v1', 'edge', 'spam', '', '', '', ''],
      doubles: [0.97, 0.95, 1, -1],
    });
  });
});
