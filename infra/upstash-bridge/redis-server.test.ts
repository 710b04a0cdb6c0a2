import { createClient } from 'redis';
import { describe, expect, it } from 'vitest';
import { startRedisForTests } from './redis-server.ts';

async function connect(url: string) {
  const client = createClient({ url, RESP: 2 });
  client.on('error', () => {});
  await client.connect();
  return client;
}

describe('startRedisForTests', () => {
  it('gives concurrent callers separate databases and flushes only its own on stop()', async () => {
    const [a, b] = await Promise.all([startRedisForTests(), startRedisForTests()]);
    try {
      expect(a.url).not.toBe(b.url);
      expect(a.prefix).not.toBe(b.prefix);
      const ca = await connect(a.url);
      const cb = await connect(b.url);
      await ca.set('k', 'a');
      await cb.set('k', 'b');
      expect(await ca.get('k')).toBe('a');
      await a.stop();
      expect(await ca.get('k')).toBeNull();
      expect(await cb.get('k')).toBe('b');
      ca.destroy();
      cb.destroy();
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('spawns its own redis-server when asked, and stops it', async () => {
    const own = await startRedisForTests({ spawn: true });
    expect(own.spawned).toBe(true);
    expect(own.process?.pid).toBeGreaterThan(0);
    const c = await connect(own.url);
    expect(await c.ping()).toBe('PONG');
    c.destroy();
    await own.stop();
    expect(own.process?.exitCode !== null || own.process?.signalCode !== null).toBe(true);
    await own.stop(); // idempotent
  });

  it('falls back to spawning when the shared server does not answer', async () => {
    const fallback = await startRedisForTests({ sharedUrl: 'redis://127.0.0.1:1' });
    try {
      expect(fallback.spawned).toBe(true);
    } finally {
      await fallback.stop();
    }
  });

  it('reports a missing redis-server executable clearly', async () => {
    await expect(
      startRedisForTests({ spawn: true, redisServerPath: '/nonexistent/redis-server' }),
    ).rejects.toThrow(/could not start \/nonexistent\/redis-server/);
  });
});
