/**
 * Through the real edge (workerd) and the Upstash REST bridge over a real Redis: every kind of auth failure, and
 * rate limiting exact under concurrency (1,000 concurrent requests against a limit of 100 allow exactly 100).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, type StackKey, startStack } from '../../scripts/stack.ts';
import { classify, errorCode, isErrorShape } from '../helpers.ts';

let stack: Stack;
let pro: StackKey;
let tiny: StackKey;
let otherModel: StackKey;

beforeAll(async () => {
  stack = await startStack({
    sharedState: 'test',
    keys: [
      { name: 'e2e-pro', tier: 'pro' },
      { name: 'e2e-tiny', tier: 'tiny' },
      { name: 'e2e-other-model', tier: 'pro', models: ['not-spam'] },
    ],
    edgeVars: {
      RATE_LIMIT_TIERS: JSON.stringify({
        pro: { limit: 100_000, window: '60 s' },
        tiny: { limit: 100, window: '600 s' },
      }),
      // Generous timeout: the point is the limiter's exactness, not its latency under a 1,000-request burst.
      RATE_LIMIT_TIMEOUT_MS: '20000',
      RATE_LIMIT_FAIL_MODE: 'closed',
    },
  });
  [pro, tiny, otherModel] = stack.apiKeys as [StackKey, StackKey, StackKey];
});

afterAll(async () => {
  await stack?.stop();
});

describe('auth failures of every kind', () => {
  const text = ['Subject: hello there'];
  const cases: Array<[string, () => Record<string, string>, number, string]> = [
    ['no Authorization header', () => ({}), 401, 'unauthorized'],
    [
      'an unknown key',
      () => ({ authorization: 'Bearer sk_local_not_a_real_key_000000000000' }),
      401,
      'unauthorized',
    ],
    [
      'a key with one character changed',
      () => ({ authorization: `Bearer ${pro.key.slice(0, -1)}${pro.key.endsWith('a') ? 'b' : 'a'}` }),
      401,
      'unauthorized',
    ],
    [
      'the Basic scheme',
      () => ({ authorization: `Basic ${Buffer.from(`u:${pro.key}`).toString('base64')}` }),
      400,
      'invalid_header',
    ],
    ['Bearer with no key', () => ({ authorization: 'Bearer ' }), 400, 'invalid_header'],
    ['a bare key without a scheme', () => ({ authorization: pro.key }), 400, 'invalid_header'],
    ['an empty header', () => ({ authorization: '' }), 401, 'unauthorized'],
  ];
  for (const [what, headers, status, code] of cases) {
    it(`refuses ${what}`, async () => {
      const r = await classify(stack.edgeUrl, undefined, text, headers());
      expect(isErrorShape(r.body), JSON.stringify(r.body)).toBe(true);
      expect([r.status, errorCode(r.body)]).toEqual([status, code]);
      if (r.status === 401) expect(r.headers.get('www-authenticate') ?? '').toMatch(/^Bearer/);
    });
  }

  it('refuses a valid key for a model it may not call (403)', async () => {
    const r = await classify(stack.edgeUrl, otherModel.key, text);
    expect(r.status).toBe(403);
    expect(errorCode(r.body)).toBe('forbidden');
  });

  it('accepts the valid key', async () => {
    const r = await classify(stack.edgeUrl, pro.key, text);
    expect(r.status).toBe(200);
  });
});

describe('rate limiting', () => {
  it('allows exactly 100 of 1,000 concurrent requests against a limit of 100', async () => {
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        classify(
          stack.edgeUrl,
          tiny.key,
          [`Subject: burst ${i} WIN money now!!!`],
          { 'x-escalate': 'never' },
          120_000,
        ),
      ),
    );
    const byStatus = new Map<number, number>();
    for (const r of results) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
    expect(Object.fromEntries(byStatus)).toEqual({ 200: 100, 429: 900 });
    for (const r of results.filter((x) => x.status === 429)) {
      expect(errorCode(r.body)).toBe('rate_limited');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
  }, 180_000);
});
