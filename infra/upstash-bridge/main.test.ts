import { describe, expect, it } from 'vitest';
import { bridgeOptionsFromEnv } from './main.ts';

describe('bridgeOptionsFromEnv', () => {
  it('reads REDIS_URL, UPSTASH_BRIDGE_TOKEN, UPSTASH_BRIDGE_PORT and UPSTASH_BRIDGE_HOST', () => {
    expect(
      bridgeOptionsFromEnv({
        REDIS_URL: 'redis://10.0.0.1:6380/2',
        UPSTASH_BRIDGE_TOKEN: 'secret',
        UPSTASH_BRIDGE_PORT: '0',
        UPSTASH_BRIDGE_HOST: '0.0.0.0',
      }),
    ).toEqual({
      redisUrl: 'redis://10.0.0.1:6380/2',
      token: 'secret',
      tokenGenerated: false,
      port: 0,
      host: '0.0.0.0',
    });
  });

  it('defaults to the local Redis, port 8079 and a generated token', () => {
    const a = bridgeOptionsFromEnv({});
    const b = bridgeOptionsFromEnv({});
    expect(a).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      port: 8079,
      host: '127.0.0.1',
      tokenGenerated: true,
    });
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(a.token).not.toBe(b.token);
  });

  it.each(['-1', '65536', 'abc', '80.5'])('refuses UPSTASH_BRIDGE_PORT=%s', (port) => {
    expect(() => bridgeOptionsFromEnv({ UPSTASH_BRIDGE_PORT: port })).toThrow(TypeError);
  });
});
