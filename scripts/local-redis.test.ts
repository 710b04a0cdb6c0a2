import { describe, expect, it } from 'vitest';
import { findRedis } from './local-redis.ts';

describe('findRedis', () => {
  it('starts a redis-server on a free port when the given URL does not answer, and stops it', async () => {
    const redis = await findRedis('redis://127.0.0.1:1');
    expect(redis).toBeDefined();
    expect(redis?.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(redis?.describe).toMatch(/redis-server started/);
    await redis?.stop();
  });

  it('answers undefined when nothing answers and no redis-server binary exists', async () => {
    expect(await findRedis('redis://127.0.0.1:1', '/nonexistent/redis-server')).toBeUndefined();
  });
});
