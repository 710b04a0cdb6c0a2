import { describe, expect, it } from 'vitest';
import { apiKey, classifyRequest, keysJson, setup, unique } from './harness.ts';

type ErrorJson = { error: { code: string; message: string; request_id: string } };

describe('edge auth (whole app, loopback origin)', () => {
  it('401 + WWW-Authenticate for a missing key, in the shared error shape', async () => {
    const { env, t } = await setup();
    const res = await t.call(classifyRequest(undefined, { text: 'spam' }), env);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="edge"');
    const body = (await res.json()) as ErrorJson;
    expect(body.error.code).toBe('unauthorized');
    expect(body.error.request_id).toBe(res.headers.get('x-request-id'));
    expect(t.lines[0]).toMatchObject({ status: 401, error_code: 'unauthorized' });
  });

  it('401 invalid_token for a wrong key', async () => {
    const { env, t } = await setup();
    const res = await t.call(classifyRequest('sk_test_wrong', { text: 'spam' }), env);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('invalid_token');
  });

  it('400 invalid_header for a malformed Authorization header', async () => {
    const { env, t } = await setup();
    const req = classifyRequest(undefined, { text: 'spam' }, { authorization: 'Token abc' });
    const res = await t.call(req, env);
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorJson).error.code).toBe('invalid_header');
  });

  it('403 forbidden for a model outside the key scope', async () => {
    const { k, env, t } = await setup({ key: { models: ['other'] } });
    const res = await t.call(classifyRequest(k.key, { text: 'spam' }), env);
    expect(res.status).toBe(403);
    expect(((await res.json()) as ErrorJson).error.code).toBe('forbidden');
  });
});

describe('edge rate limit (whole app, real Upstash bridge over Redis)', () => {
  it('exhausts the tier limit: RateLimit-* headers, then 429 + Retry-After', async () => {
    const { k, env, t } = await setup({ env: { RATE_LIMIT_TIERS: '{"pro":{"limit":2,"window":"60 s"}}' } });
    const results: Response[] = [];
    for (let i = 0; i < 3; i++)
      results.push(await t.call(classifyRequest(k.key, { text: `spam ${unique()}` }), env));
    expect(results.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(results[0]?.headers.get('ratelimit-limit')).toBe('2');
    expect(results[0]?.headers.get('ratelimit-remaining')).toBe('1');
    expect(Number(results[0]?.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
    const limited = results[2] as Response;
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await limited.json()) as ErrorJson).error.code).toBe('rate_limited');
  });

  it('limits per key: another key of the same tier is unaffected', async () => {
    const k2 = await apiKey();
    const { k, env, t } = await setup({ env: { RATE_LIMIT_TIERS: '{"pro":{"limit":1,"window":"60 s"}}' } });
    const e = { ...env, API_KEYS: keysJson(k, k2) } as Env;
    expect((await t.call(classifyRequest(k.key, { text: 'spam' }), e)).status).toBe(200);
    expect((await t.call(classifyRequest(k.key, { text: 'spam' }), e)).status).toBe(429);
    expect((await t.call(classifyRequest(k2.key, { text: 'spam' }), e)).status).toBe(200);
  });

  it('weighs a request by its items, on OIP and the text API alike', async () => {
    let seen: Array<number | string | null> = [];
    // A sliding window that rolls over mid-run weighs the earlier requests down (CI met it once): run again, with a
    // new key, then.
    for (let attempt = 0; attempt < 2; attempt++) {
      const window = Math.floor(Date.now() / 60_000);
      const { k, env, t } = await setup({ env: { RATE_LIMIT_TIERS: '{"pro":{"limit":6,"window":"60 s"}}' } });
      const oip = await t.call(
        new Request('https://edge.test/v2/models/spam/infer', {
          method: 'POST',
          headers: { authorization: `Bearer ${k.key}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            inputs: [{ name: 'text', datatype: 'BYTES', shape: [2], data: ['a', 'b'] }],
          }),
        }),
        env,
      );
      const four = Array.from({ length: 4 }, () => `spam ${unique()}`);
      const texts = await t.call(classifyRequest(k.key, { texts: four }), env);
      const over = await t.call(classifyRequest(k.key, { text: `spam ${unique()}` }), env);
      seen = [
        oip.status,
        oip.headers.get('ratelimit-remaining'),
        texts.status,
        texts.headers.get('ratelimit-remaining'),
        over.status,
      ];
      if (Math.floor(Date.now() / 60_000) === window) break;
    }
    expect(seen).toEqual([200, '4', 200, '0', 429]);
  });

  it('limits per key id, not per name: two keys named alike have their own counters', async () => {
    let statuses: number[] = [];
    // A sliding window that rolls over mid-run weighs the first request down: run again, with new keys, then.
    for (let attempt = 0; attempt < 2; attempt++) {
      const window = Math.floor(Date.now() / 60_000);
      const k2 = await apiKey({ name: 'same-name' });
      const { k, env, t } = await setup({
        key: { name: 'same-name' },
        env: { RATE_LIMIT_TIERS: '{"pro":{"limit":1,"window":"60 s"}}' },
      });
      const e = { ...env, API_KEYS: keysJson(k, k2) } as Env;
      statuses = [];
      for (const key of [k.key, k2.key, k.key]) {
        statuses.push((await t.call(classifyRequest(key, { text: 'spam' }), e)).status);
      }
      if (Math.floor(Date.now() / 60_000) === window) break;
    }
    expect(statuses).toEqual([200, 200, 429]);
  });

  it('fails open when Upstash is unreachable, logging the reason', async () => {
    const { k, env, t } = await setup({
      env: { UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9', UPSTASH_REDIS_REST_TOKEN: 'x' },
    });
    const res = await t.call(classifyRequest(k.key, { text: 'spam' }), env);
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-limit')).toBeNull();
    expect(t.lines[0]).toMatchObject({ rate_limit: 'fail_open' });
  });

  it('fails closed (503) when RATE_LIMIT_FAIL_MODE=closed', async () => {
    const { k, env, t } = await setup({
      env: {
        UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9',
        UPSTASH_REDIS_REST_TOKEN: 'x',
        RATE_LIMIT_FAIL_MODE: 'closed',
      },
    });
    const res = await t.call(classifyRequest(k.key, { text: 'spam' }), env);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
  });
});
