/**
 * Shared state lost: the edge's Redis (a redis-server of this test's own, behind the Upstash REST bridge) is
 * killed. Rate limiting fails open (or closed on an edge so configured), the cache is bypassed, no 5xx otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EdgeHandle, type Stack, startStack } from '../../scripts/stack.ts';
import { holdStackToContract } from '../contract.ts';
import { classify, errorCode } from '../helpers.ts';

let stack: Stack;
let closedEdge: EdgeHandle;
let key: string;

beforeAll(async () => {
  stack = await startStack({
    sharedState: 'spawn',
    edgeVars: { RATE_LIMIT_FAIL_MODE: 'open', RATE_LIMIT_TIMEOUT_MS: '300' },
  });
  holdStackToContract(stack);
  closedEdge = await stack.startEdge({ RATE_LIMIT_FAIL_MODE: 'closed' });
  holdStackToContract({ edgeUrl: closedEdge.url, originUrls: [] });
  key = stack.apiKeys[0]?.key as string;
});

afterAll(async () => {
  await stack?.stop();
});

async function killRedis(): Promise<void> {
  const redis = stack.redis?.process;
  expect(redis, 'the stack spawned no redis-server').toBeDefined();
  if (redis === undefined || redis.exitCode !== null || redis.signalCode !== null) return;
  const gone = new Promise((r) => redis.once('exit', r));
  redis.kill('SIGKILL');
  await gone;
}

describe('Redis stopped', () => {
  it('works before, then fails open, bypasses the cache and never answers 5xx', async () => {
    const text = `Subject: FREE money, click now!!! ${Date.now()}`;
    const before = await classify(stack.edgeUrl, key, [text]);
    expect(before.status).toBe(200);
    expect(before.headers.get('ratelimit-limit')).not.toBeNull();

    await killRedis();

    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        classify(stack.edgeUrl, key, [`Subject: outage ${i} ${Date.now()} WIN cash`]),
      ),
    );
    for (const r of results) {
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.headers.get('x-cache')).not.toBe('HIT');
      // Let through without a limiter verdict: no RateLimit-* headers.
      expect(r.headers.get('ratelimit-limit')).toBeNull();
    }
    // A message answered twice: the second cannot come from L2; L1 (per PoP, not Redis) may still serve it.
    const repeat = `Subject: repeated during outage ${Date.now()} claim your prize`;
    const a = await classify(stack.edgeUrl, key, [repeat], { 'x-escalate': 'always' });
    const b = await classify(stack.edgeUrl, key, [repeat]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(b.headers.get('x-cache-tier')).not.toBe('L2');
  });

  it('fails closed with 503 and Retry-After on an edge configured so', async () => {
    await killRedis();
    const r = await classify(closedEdge.url, key, [`Subject: closed ${Date.now()}`]);
    expect(r.status).toBe(503);
    expect(errorCode(r.body)).toBe('unavailable');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });
});
