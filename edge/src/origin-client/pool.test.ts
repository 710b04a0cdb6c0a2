import { describe, expect, it } from 'vitest';
import { signRequest } from '../../../shared/signing/index.ts';
import { TEST_SIGNING_SECRET } from '../../test/node/secrets.ts';
import { behave, newOrigins, originClassify, originLog, unavailable } from '../../test/workerd/harness.ts';
import { computeMsOf, OriginPool, type OriginPoolOptions } from './pool.ts';

const sign: OriginPoolOptions['sign'] = async (req) => ({
  ...(await signRequest({ secret: TEST_SIGNING_SECRET, ...req })),
});

function pool(urls: string[], options: Partial<OriginPoolOptions> = {}) {
  return new OriginPool({ urls, sign, attemptTimeoutMs: 2000, ...options });
}

describe('OriginPool against loopback origins (real HTTP)', () => {
  it('signs each request as the origin expects and propagates the remaining deadline', async () => {
    const [a] = await newOrigins(1);
    const r = await pool([a as string]).send(originClassify(1500));
    expect(r.response.status).toBe(200);
    expect(r.attempts).toBe(1);
    const [logged] = await originLog(a as string);
    expect(logged?.signature).toBe('ok');
    const deadline = Number(logged?.headers['x-deadline-ms']);
    expect(deadline).toBeGreaterThan(1000);
    expect(deadline).toBeLessThanOrEqual(1500);
    expect(logged?.headers['x-request-id']).toBe('req-1');
  });

  it('power of two choices: avoids the origin reporting a deep queue (x-queue-depth)', async () => {
    const [a, b] = (await newOrigins(2)) as [string, string];
    await behave(a, { default: { queueDepth: 50 } });
    await behave(b, { default: { queueDepth: 0 } });
    const p = pool([a, b]);
    // Learn both depths: with equal load P2C takes the first of its two picks; random() = 0 picks a, then b.
    const seq = [0, 0, 0.99, 0];
    const learn = pool([a, b], { random: () => seq.shift() ?? 0 });
    await learn.send(originClassify());
    await learn.send(originClassify());
    expect(learn.snapshot().map((s) => s.queueDepth)).toEqual([50, 0]);
    await p.send(originClassify());
    await p.send(originClassify());
    for (let i = 0; i < 10; i++) await p.send(originClassify());
    const [logA, logB] = [await originLog(a), await originLog(b)];
    // p learned a's depth on its first visit there at most once; every later request went to b.
    expect(logA.length).toBeLessThanOrEqual(2);
    expect(logB.length).toBeGreaterThanOrEqual(11);
  });

  it('power of two choices: counts requests in flight', async () => {
    const [a, b] = (await newOrigins(2)) as [string, string];
    await behave(a, { default: { delayMs: 300 } });
    const p = pool([a, b], { random: () => 0 });
    const slow = p.send(originClassify());
    await new Promise((r) => setTimeout(r, 50));
    expect(p.snapshot()[0]?.inFlight).toBe(1);
    const fast = await p.send(originClassify());
    expect(fast.origin).toBe(b);
    expect((await slow).origin).toBe(a);
    expect(p.snapshot().map((s) => s.inFlight)).toEqual([0, 0]);
  });

  it.each([
    ['503', { status: 503 }],
    ['429 queue full', { status: 429 }],
    ['502', { status: 502 }],
    ['a dropped connection', { drop: true }],
  ])('retries once on another origin after %s', async (_name, failure) => {
    const [a, b] = (await newOrigins(2)) as [string, string];
    await behave(a, { default: failure });
    const r = await pool([a, b], { random: () => 0 }).send(originClassify());
    expect(r.response.status).toBe(200);
    expect(r.origin).toBe(b);
    expect(r.attempts).toBe(2);
    expect((await originLog(a)).length).toBe(1);
    expect((await originLog(b)).length).toBe(1);
  });

  it('retries after an attempt timeout when the deadline leaves room', async () => {
    const [a, b] = (await newOrigins(2)) as [string, string];
    await behave(a, { default: { delayMs: 2000 } });
    const started = Date.now();
    const r = await pool([a, b], { random: () => 0, attemptTimeoutMs: 100 }).send(originClassify(3000));
    expect(r.origin).toBe(b);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('does not retry a 4xx: the origin answer is returned', async () => {
    const [a, b] = (await newOrigins(2)) as [string, string];
    await behave(a, {
      default: { status: 400, body: { error: { code: 'invalid_input', message: 'no', request_id: 'x' } } },
    });
    const r = await pool([a, b], { random: () => 0 }).send(originClassify());
    expect(r.response.status).toBe(400);
    expect(r.attempts).toBe(1);
    expect((await originLog(b)).length).toBe(0);
  });

  it('does not retry a 500: origin_error', async () => {
    const [a, b] = (await newOrigins(2)) as [string, string];
    await behave(a, { default: { status: 500 } });
    const err = await unavailable(pool([a, b], { random: () => 0 }).send(originClassify()));
    expect(err.reason).toBe('origin_error');
    expect(err.status).toBe(503);
    expect((await originLog(b)).length).toBe(0);
  });

  it('gives up after one retry when both origins fail', async () => {
    const [a, b, c] = (await newOrigins(3)) as [string, string, string];
    for (const o of [a, b, c]) await behave(o, { default: { status: 503 } });
    const err = await unavailable(pool([a, b, c]).send(originClassify()));
    expect(err.reason).toBe('origin_overloaded');
    expect(err.attempts).toBe(2);
    const total = (await originLog(a)).length + (await originLog(b)).length + (await originLog(c)).length;
    expect(total).toBe(2);
  });

  it('deadline: an attempt never outlives it (504 deadline_exceeded, no retry)', async () => {
    const [a, b] = (await newOrigins(2)) as [string, string];
    await behave(a, { default: { delayMs: 2000 } });
    await behave(b, { default: { delayMs: 2000 } });
    const started = Date.now();
    const err = await unavailable(pool([a, b]).send(originClassify(150)));
    const elapsed = Date.now() - started;
    expect(err.reason).toBe('deadline_exceeded');
    expect(err.status).toBe(504);
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(1000);
    expect((await originLog(a)).length + (await originLog(b)).length).toBe(1);
  });

  it('deadline already spent: nothing is sent', async () => {
    const [a] = (await newOrigins(1)) as [string];
    const err = await unavailable(pool([a]).send(originClassify(-1)));
    expect(err.reason).toBe('deadline_exceeded');
    expect((await originLog(a)).length).toBe(0);
  });

  it('circuit breaker: opens after consecutive failures, fails fast, then one half-open probe closes it', async () => {
    const [a] = (await newOrigins(1)) as [string];
    await behave(a, { default: { status: 503 } });
    let offset = 0;
    const now = () => Date.now() + offset;
    const p = pool([a], { failureThreshold: 2, cooldownMs: 5000, now });
    expect((await unavailable(p.send(originClassify(2000, now())))).reason).toBe('origin_overloaded');
    expect((await unavailable(p.send(originClassify(2000, now())))).reason).toBe('origin_overloaded');
    expect(p.snapshot()[0]?.breaker).toBe('open');
    const open = await unavailable(p.send(originClassify(2000, now())));
    expect(open.reason).toBe('breaker_open');
    expect((await originLog(a)).length).toBe(2);

    offset += 5000;
    expect(p.snapshot()[0]?.breaker).toBe('half-open');
    // A failed probe reopens it.
    expect((await unavailable(p.send(originClassify(2000, now())))).reason).toBe('origin_overloaded');
    expect(p.snapshot()[0]?.breaker).toBe('open');
    expect((await unavailable(p.send(originClassify(2000, now())))).reason).toBe('breaker_open');

    offset += 5000;
    await behave(a, { default: {} });
    const probe = await p.send(originClassify(2000, now()));
    expect(probe.response.status).toBe(200);
    expect(p.snapshot()[0]?.breaker).toBe('closed');
    expect((await originLog(a)).length).toBe(4);
  });

  it('an open origin is skipped in favour of a healthy one', async () => {
    const [a, b] = (await newOrigins(2)) as [string, string];
    await behave(a, { default: { status: 500 } });
    const p = pool([a, b], { failureThreshold: 1, cooldownMs: 60_000, random: () => 0 });
    await unavailable(p.send(originClassify()));
    expect(p.snapshot()[0]?.breaker).toBe('open');
    for (let i = 0; i < 3; i++) expect((await p.send(originClassify())).origin).toBe(b);
    expect((await originLog(a)).length).toBe(1);
  });

  it('no origins configured: no_origins', async () => {
    expect((await unavailable(pool([]).send(originClassify()))).reason).toBe('no_origins');
  });

  it('validates its options', () => {
    expect(() => new OriginPool({ urls: ['ftp://x'] })).toThrow(/urls must be an array of http\(s\) URLs/);
    expect(() => new OriginPool({ urls: [], attemptTimeoutMs: 0 })).toThrow(
      /attemptTimeoutMs must be a positive number, got 0/,
    );
    expect(() => new OriginPool({ urls: [], failureThreshold: 0 })).toThrow(/failureThreshold/);
  });
});

describe("computeMsOf (the origin's Server-Timing compute entry)", () => {
  it.each([
    [null, 0],
    ['compute;dur=2.500', 2.5],
    ['db;dur=9, compute;desc="run";dur=0.125', 0.125],
    ['compute', 0],
    ['compute;dur=abc', 0],
    ['compute;dur=-3', 0],
    [`${'compute;'.repeat(10_000)}dur=1`, 1],
    ['total;dur=5', 0],
  ])('%s -> %s ms', (header, ms) => {
    expect(computeMsOf(header as string | null)).toBe(ms);
  });
});
