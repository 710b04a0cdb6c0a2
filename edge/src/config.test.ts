import { describe, expect, it } from 'vitest';
import { limitFor, loadConfig, parseConfig } from './config.ts';

const HASH = 'a'.repeat(64);

describe('edge config', () => {
  it('applies documented defaults to an empty env', () => {
    const c = parseConfig({});
    expect(c).toMatchObject({
      originUrls: [],
      originTimeoutMs: 2000,
      requestDeadlineMs: 3000,
      cacheTtlSeconds: 300,
      rateAlgorithm: 'sliding',
      rateFailMode: 'open',
      rateTimeoutMs: 200,
      edgeMaxItems: { default: 8, models: new Map() },
      edgeMaxBytes: { default: 65536, models: new Map() },
      maxBodyBytes: 1048576,
      breakerFailureThreshold: 5,
      breakerCooldownMs: 10000,
      upstash: undefined,
    });
    expect(c.apiKeys.size).toBe(0);
  });

  it('parses origins, tiers and keys', () => {
    const c = parseConfig({
      ORIGIN_URLS: 'https://a.example.com/, http://10.0.0.2:8080',
      ORIGIN_SIGNING_SECRET: 'x'.repeat(32),
      RATE_LIMIT_TIERS: '{"gold":{"limit":5,"window":"10 s"}}',
      API_KEYS: JSON.stringify({ [HASH]: { name: 'acme', models: ['spam'], tier: 'gold' } }),
      UPSTASH_REDIS_REST_URL: 'https://u.example.com',
      UPSTASH_REDIS_REST_TOKEN: 't',
    });
    expect(c.originUrls).toEqual(['https://a.example.com', 'http://10.0.0.2:8080']);
    expect(c.rateTiers).toEqual({ gold: { limit: 5, window: '10 s' } });
    expect(c.apiKeys.get(HASH)).toEqual({
      id: `key_${HASH.slice(0, 16)}`,
      name: 'acme',
      models: ['spam'],
      tier: 'gold',
      scopes: ['infer'],
    });
    expect(c.upstash).toEqual({ url: 'https://u.example.com', token: 't' });
  });

  it.each([
    [{ ORIGIN_TIMEOUT_MS: '0' }, /ORIGIN_TIMEOUT_MS must be an integer in \[1, 600000\], got "0"/],
    [{ CACHE_TTL_SECONDS: 'soon' }, /CACHE_TTL_SECONDS must be an integer/],
    [{ RATE_LIMIT_FAIL_MODE: 'maybe' }, /RATE_LIMIT_FAIL_MODE must be one of open \| closed, got "maybe"/],
    [{ RATE_LIMIT_ALGORITHM: 'leaky' }, /RATE_LIMIT_ALGORITHM must be one of sliding \| token-bucket/],
    [{ ORIGIN_URLS: 'ftp://x' }, /ORIGIN_URLS must be comma-separated http\(s\) URLs/],
    [
      { RATE_LIMIT_TIERS: '{"a":{"limit":0,"window":"1 s"}}' },
      /RATE_LIMIT_TIERS.a.limit must be an integer >= 1/,
    ],
    [
      { RATE_LIMIT_TIERS: '{"a":{"limit":1,"window":"soon"}}' },
      /RATE_LIMIT_TIERS.a.window must be a duration/,
    ],
    [{ API_KEYS: 'not json' }, /API_KEYS must be JSON/],
    [{ RATE_LIMIT_TIERS: '{"constructor":{"limit":1,"window":"1 s"}}' }, /tier names are .*"constructor"/],
    [
      { API_KEYS: JSON.stringify({ [HASH]: { name: 'x', models: ['*'], tier: 'pro', scopes: ['root'] } }) },
      /API_KEYS \(x\)\.scopes must be a non-empty array of infer \| admin \| reviewer/,
    ],
    [
      { API_KEYS: JSON.stringify({ [HASH]: { name: 'x', models: ['*'], tier: 'pro', model: ['spam'] } }) },
      /API_KEYS \(x\) has unknown field\(s\) model/,
    ],
    [
      {
        API_KEYS: JSON.stringify({
          [HASH]: { id: 'same', name: 'x', models: ['*'], tier: 'pro' },
          ['b'.repeat(64)]: { id: 'same', name: 'y', models: ['*'], tier: 'pro' },
        }),
      },
      /API_KEYS \(y\)\.id "same" is used by another key/,
    ],
    [
      { API_KEYS: JSON.stringify({ [HASH]: { id: 'a b', name: 'x', models: ['*'], tier: 'pro' } }) },
      /API_KEYS \(x\)\.id must be 1-64 letters, digits, _ or -/,
    ],
    [{ RATE_LIMIT_TIERS: '{"__proto__":{"limit":1,"window":"1 s"}}' }, /tier names are .*"__proto__"/],
    [{ RATE_LIMIT_TIERS: '{"a b":{"limit":1,"window":"1 s"}}' }, /tier names are .*"a b"/],
    [
      { API_KEYS: JSON.stringify({ [HASH]: { name: 'x', models: ['*'], tier: 'constructor' } }) },
      /API_KEYS \(x\)\.tier must be one of free \| pro \| internal, got "constructor"/,
    ],
    [
      { API_KEYS: JSON.stringify({ [HASH]: { name: 'x', models: ['*'], tier: '__proto__' } }) },
      /API_KEYS \(x\)\.tier must be one of .*, got "__proto__"/,
    ],
    [
      { API_KEYS: '{"abc":{"name":"x","models":[],"tier":"pro"}}' },
      /API_KEYS keys must be lowercase sha256 hex/,
    ],
    [
      { API_KEYS: JSON.stringify({ [HASH]: { name: 'x', models: ['spam'], tier: 'platinum' } }) },
      /tier must be one of free \| pro/,
    ],
    [{ UPSTASH_REDIS_REST_URL: 'https://u' }, /must be set together/],
    [
      { ORIGIN_URLS: 'https://a', ORIGIN_SIGNING_SECRET: 'short' },
      /ORIGIN_SIGNING_SECRET must be at least 16 characters/,
    ],
  ])('rejects %o naming the variable', (env, message) => {
    expect(() => parseConfig(env)).toThrow(message);
  });

  it('edge limits take per-model overrides (EDGE_MAX_ITEMS=8;digits=64) and refuse malformed ones naming the variable', () => {
    const c = parseConfig({ EDGE_MAX_ITEMS: '8; digits=64', EDGE_MAX_BYTES: 'digits=262144' });
    expect([limitFor(c.edgeMaxItems, 'digits'), limitFor(c.edgeMaxItems, 'spam')]).toEqual([64, 8]);
    expect([limitFor(c.edgeMaxBytes, 'digits'), limitFor(c.edgeMaxBytes, 'spam')]).toEqual([262144, 65536]);
    expect(limitFor(c.edgeMaxItems, '__proto__')).toBe(8);
    for (const bad of [
      '8;9',
      'x',
      '8;digits=',
      '8;digits=0',
      '8;di gits=2',
      '8;digits=2;digits=3',
      '1e3',
      '8;=4',
    ]) {
      expect(() => parseConfig({ EDGE_MAX_ITEMS: bad }), bad).toThrow(
        /^EDGE_MAX_ITEMS must be an integer in \[1, 10000\]/,
      );
    }
  });

  it('loadConfig parses once per env object', () => {
    const env = { EDGE_MAX_ITEMS: '3' };
    expect(loadConfig(env)).toBe(loadConfig(env));
    expect(loadConfig({ ...env })).not.toBe(loadConfig(env));
  });
});
