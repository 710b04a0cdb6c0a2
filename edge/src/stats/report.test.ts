import { describe, expect, it } from 'vitest';
import { minuteKey, versionsKey } from './recorder.ts';
import { readStats, type StatsReader, seriesOf, summarise } from './report.ts';

/** An in-memory Upstash: per-minute hashes by key; counts the pipelines and HGETALLs it is asked for. */
function fakeReader(hashes: Record<string, Record<string, number>>, versions: Record<string, string[]>) {
  const calls = { pipelines: 0, hgetall: 0 };
  const reader: StatsReader = {
    smembers: async (key) => versions[key] ?? [],
    pipeline() {
      calls.pipelines++;
      const keys: string[] = [];
      return {
        hgetall(key: string) {
          calls.hgetall++;
          keys.push(key);
        },
        exec: async () => keys.map((k) => hashes[k] ?? null),
      };
    },
  };
  return { reader, calls };
}

const model = 'spam';
// 10:07:30 UTC: the current minute is 10:07, so a 10-minute window starts at 09:58.
const now = Date.UTC(2026, 0, 5, 10, 7, 30);
const current = Math.floor(now / 60_000);
const baseline = {
  n: 10,
  score: [0, 0, 0, 0, 0, 0, 0.5, 0, 0, 0.5],
  coverage: new Array(10).fill(0.1),
  labels: {},
};

/** Counts for v1 at some minutes of the window (offsets from the window's first minute, 0..9). */
const v1Minutes: Record<number, Record<string, number>> = {
  0: { req: 2, items: 3, 'sb:edge': 2, 'sb:cache': 1, 'sc:9': 3, 'lat:2': 2 },
  1: { req: 1, items: 1, 'sb:origin': 1, 'er:low_confidence': 1, 'sc:6': 1, 'lat:5': 1, fail: 1 },
  4: {
    req: 1,
    items: 2,
    'sb:edge': 1,
    'sb:edge-degraded': 1,
    'sh:n': 2,
    'sh:agree': 1,
    'au:n': 1,
    'au:agree': 1,
  },
  9: { req: 3, items: 3, 'sb:edge': 3, 'sc:9': 3, 'lat:0': 3 },
};

function fixture(minutes = 10) {
  const first = current - minutes + 1;
  const hashes: Record<string, Record<string, number>> = {};
  for (const [k, h] of Object.entries(v1Minutes)) hashes[minuteKey(model, 'v1', first + Number(k))] = h;
  hashes[minuteKey(model, 'v2', current)] = { req: 1, items: 1, 'sb:edge': 1 };
  return fakeReader(hashes, { [versionsKey(model)]: ['v2', 'v1'] });
}

describe('edge stats report: totals and series over one read of the window', () => {
  it('summarises any run of minute hashes; nulls and non-numbers are skipped', () => {
    const s = summarise('v1', [v1Minutes[0], null, 'x', { req: 'nope', items: 1, 'sb:edge': 1 }], baseline);
    expect(s).toMatchObject({
      version: 'v1',
      requests: 2,
      items: 4,
      served_by: { edge: 3, cache: 1 },
      served_by_share: { edge: 0.75, cache: 0.25 },
      latency_ms: { p50: 4, p95: 4, p99: 4 },
      errors: { failed_requests: 0, degraded_items: 0, rate: 0 },
    });
    expect(s.psi.score).toBeCloseTo(0.5 * Math.log(1 / 0.5) + (1e-4 - 0.5) * Math.log(1e-4 / 0.5), 5);
    expect(summarise('v1', [], undefined)).toMatchObject({
      requests: 0,
      psi: { score: null },
      latency_ms: { p50: null },
    });
  });

  it('without points: one pipeline of versions x minutes HGETALLs, totals per version, no series key', async () => {
    const { reader, calls } = fixture();
    const stats = await readStats(reader, model, 10, now, (v) => (v === 'v1' ? baseline : undefined));
    expect(calls).toEqual({ pipelines: 1, hgetall: 20 });
    expect(stats.map((s) => s.version)).toEqual(['v1', 'v2']);
    expect(stats.every((s) => !('series' in s))).toBe(true);
    expect(stats[0]).toEqual(
      summarise(
        'v1',
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => v1Minutes[k] ?? null),
        baseline,
      ),
    );
    expect(stats[0]).toMatchObject({
      requests: 7,
      items: 9,
      errors: { failed_requests: 1, degraded_items: 1 },
    });
  });

  it('with points: buckets of ceil(minutes / points) minutes, oldest first, the last one shorter, summing to the totals', async () => {
    const { reader, calls } = fixture();
    const stats = await readStats(reader, model, 10, now, (v) => (v === 'v1' ? baseline : undefined), 4);
    expect(calls).toEqual({ pipelines: 1, hgetall: 20 });
    const [v1, v2] = stats;
    // 10 minutes in 4 points: buckets of 3 minutes (09:58, 10:01, 10:04) and a last one of 1 (10:07).
    expect(v1?.series?.bucket_minutes).toBe(3);
    const points = v1?.series?.points ?? [];
    expect(points.map((p) => p.start)).toEqual([
      '2026-01-05T09:58:00.000Z',
      '2026-01-05T10:01:00.000Z',
      '2026-01-05T10:04:00.000Z',
      '2026-01-05T10:07:00.000Z',
    ]);
    expect(points[0]).toEqual({
      start: '2026-01-05T09:58:00.000Z',
      requests: 3,
      items: 4,
      served_by: { edge: 2, cache: 1, origin: 1 },
      model_edge_share: 0.666667,
      escalation_reasons: { low_confidence: 1 },
      failed_requests: 1,
      degraded_items: 0,
      latency_p50: 4,
      latency_p95: 32,
      shadow_agreement: null,
      audit_agreement: null,
      psi_score: summarise('v1', [v1Minutes[0], v1Minutes[1]], baseline).psi.score,
    });
    expect(points[1]).toMatchObject({
      requests: 1,
      served_by: { edge: 1, 'edge-degraded': 1 },
      model_edge_share: 0.5,
      degraded_items: 1,
      shadow_agreement: 0.5,
      audit_agreement: 1,
      latency_p50: null,
      psi_score: null,
    });
    expect(points[2]).toMatchObject({ requests: 0, items: 0, served_by: {}, model_edge_share: null });
    expect(points[3]).toMatchObject({ requests: 3, items: 3, latency_p50: 1, psi_score: expect.any(Number) });
    const sum = (key: 'requests' | 'items' | 'failed_requests' | 'degraded_items') =>
      points.reduce((a, p) => a + p[key], 0);
    expect([sum('requests'), sum('items'), sum('failed_requests'), sum('degraded_items')]).toEqual([
      v1?.requests,
      v1?.items,
      v1?.errors.failed_requests,
      v1?.errors.degraded_items,
    ]);
    // The totals are the same with or without a series.
    expect({ ...v1, series: undefined }).toEqual(
      (await readStats(fixture().reader, model, 10, now, () => baseline))[0],
    );
    // No baseline: no PSI per bucket either.
    expect(v2?.series?.points.map((p) => [p.requests, p.psi_score])).toEqual([
      [0, null],
      [0, null],
      [0, null],
      [1, null],
    ]);
  });

  it('more points than minutes gives one bucket a minute; one point is the whole window', () => {
    const hashes = [{ req: 1 }, null, { req: 2 }];
    const perMinute = seriesOf('v1', hashes, current - 2, 360, undefined);
    expect(perMinute.bucket_minutes).toBe(1);
    expect(perMinute.points.map((p) => p.requests)).toEqual([1, 0, 2]);
    expect(perMinute.points[2]?.start).toBe('2026-01-05T10:07:00.000Z');
    const whole = seriesOf('v1', hashes, current - 2, 1, undefined);
    expect(whole).toMatchObject({
      bucket_minutes: 3,
      points: [{ requests: 3, start: '2026-01-05T10:05:00.000Z' }],
    });
    // 10 minutes in 6 points: buckets of 2 minutes, so only 5 of them.
    expect(seriesOf('v1', new Array(10).fill(null), current - 9, 6, undefined).points).toHaveLength(5);
  });
});
