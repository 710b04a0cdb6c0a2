import { env } from 'cloudflare:workers';
import { Redis } from '@upstash/redis/cloudflare';
import { describe, expect, it } from 'vitest';
import { SEP, USAGE_SCRIPT, type UsageEvent, UsageRecorder, type UsageStore, usageKeys } from './recorder.ts';
import { buildReport, toCsv } from './report.ts';

function realRedis(): Redis {
  const e = env as Env;
  return new Redis({ url: e.UPSTASH_REDIS_REST_URL, token: e.UPSTASH_REDIS_REST_TOKEN, retry: false });
}

function realStore(redis: Redis): UsageStore {
  const script = redis.createScript<unknown>(USAGE_SCRIPT);
  return { exec: (keys, args) => script.exec(keys, args) };
}

const NOW = Date.UTC(2026, 11, 7, 10, 30);
const DAY = '2026-12-07';

const event = (tenant: string, over: Partial<UsageEvent> = {}): UsageEvent => ({
  tenant,
  key: 'key_a',
  model: 'spam',
  requests: 1,
  items: 3,
  rows: 0,
  servedBy: { edge: 2, origin: 1 },
  refused: undefined,
  originComputeMs: 1.5,
  ...over,
});

/** Runs every flush a record schedules right away (flushMs 0) and waits for them. */
async function recordAll(r: UsageRecorder, events: UsageEvent[], store: UsageStore): Promise<void> {
  const waits: Array<Promise<unknown>> = [];
  for (const e of events) r.record(e, store, (p) => waits.push(p));
  await Promise.all(waits);
}

describe('UsageRecorder on the real Upstash bridge (real Redis)', () => {
  it('sums a batch per tenant, day and hour, with last use, and reads back as a report', async () => {
    const redis = realRedis();
    const tenant = `t_${crypto.randomUUID().slice(0, 8)}`;
    const r = new UsageRecorder({ now: () => NOW, flushMs: 60_000 });
    const waits: Array<Promise<unknown>> = [];
    r.record(event(tenant), realStore(redis), (p) => waits.push(p));
    r.record(
      event(tenant, { key: 'key_b', refused: 'rate_limited', items: 0, servedBy: undefined }),
      realStore(redis),
      (p) => waits.push(p),
    );
    await r.flush(realStore(redis));
    const fields = (await redis.hgetall(usageKeys.day(tenant, DAY))) as Record<string, number>;
    expect(fields).toEqual({
      [`key_a${SEP}spam${SEP}10${SEP}req`]: 1,
      [`key_a${SEP}spam${SEP}10${SEP}items`]: 3,
      [`key_a${SEP}spam${SEP}10${SEP}sb:edge`]: 2,
      [`key_a${SEP}spam${SEP}10${SEP}sb:origin`]: 1,
      [`key_a${SEP}spam${SEP}10${SEP}oc`]: 1500,
      [`key_b${SEP}spam${SEP}10${SEP}req`]: 1,
      [`key_b${SEP}spam${SEP}10${SEP}rf:rate_limited`]: 1,
      [`key_b${SEP}spam${SEP}10${SEP}oc`]: 1500,
    });
    expect(await redis.sismember(usageKeys.tenants(DAY), tenant)).toBe(1);
    expect(await redis.zscore(usageKeys.last(tenant), 'key_a')).toBe(Math.floor(NOW / 60_000));
    expect(await redis.ttl(usageKeys.day(tenant, DAY))).toBeGreaterThan(300 * 86_400);
    const report = buildReport([{ tenant, day: DAY, fields }], ['key'], new Map([['key_a', 1]]));
    expect(report.rows.map((row) => [row.key, row.requests, row.items, row.origin_compute_ms])).toEqual([
      ['key_a', 1, 3, 1.5],
      ['key_b', 1, 0, 1.5],
    ]);
    expect(report.origin_ms_per_item).toBe(3);
    expect(report.rows[0]?.edge_saved_ms).toBe(6);
    expect(report.rows[1]?.refused).toEqual({ rate_limited: 1 });
    expect(toCsv(report.rows, ['key']).split('\r\n')[1]).toBe(
      'key_a,1,3,0,2,1,0,0,0,,1.5,6,1970-01-01T00:01:00.000Z',
    );
  });

  it('flushNow (a job chunk) writes at once, within flushMs, scheduling no timer', async () => {
    const calls: unknown[][] = [];
    const store: UsageStore = {
      exec: async (keys, args) => {
        calls.push([keys, args]);
        return [];
      },
    };
    const r = new UsageRecorder({ now: () => NOW, flushMs: 60_000 });
    const waits: Array<Promise<unknown>> = [];
    r.record(event('t1'), store, (p) => waits.push(p)); // within flushMs: a delayed flush
    r.record(event('t1'), store, (p) => waits.push(p), true);
    expect(waits).toHaveLength(2);
    await waits[1];
    expect(calls).toHaveLength(1);
  });

  it('keeps a failed batch and writes it with the next flush: nothing lost, nothing twice', async () => {
    const redis = realRedis();
    const tenant = `t_${crypto.randomUUID().slice(0, 8)}`;
    const real = realStore(redis);
    let down = true;
    const flaky: UsageStore = {
      exec: (keys, args) => (down ? Promise.reject(new Error('ECONNREFUSED')) : real.exec(keys, args)),
    };
    const warnings: Array<Record<string, unknown>> = [];
    const r = new UsageRecorder({ now: () => NOW, flushMs: 0, warn: (e) => warnings.push(e) });
    await recordAll(r, [event(tenant), event(tenant)], flaky);
    expect(warnings.map((w) => w.msg)).toContain('usage batch not written; kept for a retry');
    expect(await redis.exists(usageKeys.day(tenant, DAY))).toBe(0);
    down = false;
    await recordAll(r, [event(tenant)], flaky);
    const fields = (await redis.hgetall(usageKeys.day(tenant, DAY))) as Record<string, number>;
    expect(fields[`key_a${SEP}spam${SEP}10${SEP}items`]).toBe(9);
    expect(r.droppedItems).toBe(0);
  });

  it('a retried batch whose first write did land (a timeout) is counted once', async () => {
    const redis = realRedis();
    const tenant = `t_${crypto.randomUUID().slice(0, 8)}`;
    const real = realStore(redis);
    let slow = true;
    const lagging: UsageStore = {
      // Writes, then answers after the recorder gave up waiting.
      exec: async (keys, args) => {
        const result = await real.exec(keys, args);
        if (slow) await new Promise((resolve) => setTimeout(resolve, 200));
        return result;
      },
    };
    const r = new UsageRecorder({ now: () => NOW, flushMs: 0, timeoutMs: 50, warn: () => {} });
    await recordAll(r, [event(tenant, { items: 5 })], lagging);
    slow = false;
    await recordAll(r, [event(tenant, { items: 1 })], lagging);
    const fields = (await redis.hgetall(usageKeys.day(tenant, DAY))) as Record<string, number>;
    expect(fields[`key_a${SEP}spam${SEP}10${SEP}items`]).toBe(6);
    expect(fields[`key_a${SEP}spam${SEP}10${SEP}req`]).toBe(2);
  });

  it('drops a batch past its tries with a logged reason and counts its items as dropped', async () => {
    const redis = realRedis();
    const tenant = `t_${crypto.randomUUID().slice(0, 8)}`;
    // A day of its own, so the dropped count read back is this test's.
    const day = Date.UTC(2031, 0, 2, 3);
    const real = realStore(redis);
    let down = true;
    const flaky: UsageStore = {
      exec: (keys, args) => (down ? Promise.reject(new Error('READONLY')) : real.exec(keys, args)),
    };
    const warnings: Array<Record<string, unknown>> = [];
    const r = new UsageRecorder({ now: () => day, flushMs: 0, maxRetries: 1, warn: (e) => warnings.push(e) });
    await redis.del(usageKeys.dropped('2031-01-02'));
    await recordAll(r, [event(tenant, { items: 4 }), event(tenant, { items: 2 })], flaky);
    expect(warnings.filter((w) => w.msg === 'usage batch dropped').map((w) => w.items)).toEqual([4, 2]);
    expect(r.droppedItems).toBe(6);
    down = false;
    await recordAll(r, [event(tenant, { items: 1 })], flaky);
    expect(r.droppedItems).toBe(0);
    expect(Number(await redis.hget(usageKeys.dropped('2031-01-02'), 'items'))).toBe(6);
    const fields = (await redis.hgetall(usageKeys.day(tenant, '2031-01-02'))) as Record<string, number>;
    expect(fields[`key_a${SEP}spam${SEP}03${SEP}items`]).toBe(1);
  });
});
