/**
 * The bridge driven by the real @upstash/redis and @upstash/ratelimit clients against a real redis-server.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Ratelimit } from '@upstash/ratelimit';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startRedisForTests, type TestRedis } from './redis-server.ts';
import { sha1Hex } from './scripts.ts';
import { startUpstashBridge, type UpstashBridge } from './server.ts';

let redis: TestRedis;
let bridge: UpstashBridge;
const token = randomBytes(16).toString('hex');

beforeAll(async () => {
  redis = await startRedisForTests();
  bridge = await startUpstashBridge({ redisUrl: redis.url, token });
});

afterAll(async () => {
  await bridge?.close();
  await redis?.stop();
});

const key = (name: string) => `${redis.prefix}${name}`;

/**
 * Fixed and sliding windows start at multiples of the window since the epoch; a burst that straddles a window
 * start legitimately gets a second allowance. Start bursts at least 15 s before the next window begins.
 */
async function awayFromWindowEdge(windowMs: number): Promise<void> {
  const left = windowMs - (Date.now() % windowMs);
  if (left < 15_000) await new Promise((r) => setTimeout(r, left + 50));
}

function client(options: { responseEncoding?: false; token?: string; autoPipelining?: boolean } = {}): Redis {
  return new Redis({
    url: bridge.url,
    token: options.token ?? token,
    enableTelemetry: false,
    enableAutoPipelining: options.autoPipelining ?? true,
    retry: false,
    ...(options.responseEncoding === false ? { responseEncoding: false } : {}),
  });
}

async function raw(
  path: string,
  body: string | undefined,
  headers: Record<string, string> = {},
  method = 'POST',
) {
  const res = await fetch(`${bridge.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...headers },
    ...(body === undefined ? {} : { body }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as unknown };
}

describe.each([
  ['base64 responses (the client default)', undefined],
  ['plain JSON responses', false as const],
])('@upstash/redis through the bridge, %s', (_, responseEncoding) => {
  const r = () => client(responseEncoding === false ? { responseEncoding } : {});
  const key = (name: string) => `${redis.prefix}${responseEncoding === false ? 'plain' : 'b64'}:${name}`;

  it('round-trips strings, unicode and JSON values', async () => {
    const c = r();
    expect(await c.set(key('s'), 'héllo ✓ 日本')).toBe('OK');
    expect(await c.get(key('s'))).toBe('héllo ✓ 日本');
    await c.set(key('j'), { a: 1, b: [true, null, 'x'] });
    expect(await c.get(key('j'))).toEqual({ a: 1, b: [true, null, 'x'] });
    expect(await c.get(key('missing'))).toBeNull();
    expect(await c.mget(key('s'), key('missing'))).toEqual(['héllo ✓ 日本', null]);
  });

  it('keeps the shapes of numbers, hashes, lists and sorted sets', async () => {
    const c = r();
    expect(await c.incrby(key('n'), 5)).toBe(5);
    await c.hset(key('h'), { a: 'x', b: 2 });
    expect(await c.hgetall(key('h'))).toEqual({ a: 'x', b: 2 });
    await c.rpush(key('l'), 'one', 'two');
    expect(await c.lrange(key('l'), 0, -1)).toEqual(['one', 'two']);
    await c.zadd(key('z'), { score: 2, member: 'b' }, { score: 1, member: 'a' });
    expect(await c.zrange(key('z'), 0, -1, { withScores: true })).toEqual(['a', 1, 'b', 2]);
    expect(await c.ping()).toBe('PONG');
    expect(await c.del(key('n'), key('h'), key('l'), key('z'))).toBe(4);
  });

  it('runs an explicit pipeline and a transaction', async () => {
    const c = r();
    const p = c.pipeline();
    p.set(key('p'), 'v');
    p.incr(key('pc'));
    p.get(key('p'));
    expect(await p.exec()).toEqual(['OK', 1, 'v']);
    const m = c.multi();
    m.incr(key('pc'));
    m.incr(key('pc'));
    m.get(key('pc'));
    expect(await m.exec()).toEqual([2, 3, 3]);
  });
});

describe('atomicity and concurrency', () => {
  it('200 concurrent INCRs (auto-pipelined) each see a distinct value', async () => {
    const c = client();
    const values = await Promise.all(Array.from({ length: 200 }, () => c.incr(key('concurrent'))));
    expect(new Set(values).size).toBe(200);
    expect(Math.max(...values)).toBe(200);
  });

  it('a /multi-exec transaction is not interleaved with concurrent writers', async () => {
    const c = client();
    await c.set(key('tx'), 0);
    const writers = Array.from({ length: 50 }, () => c.incr(key('tx')));
    const txs = Array.from({ length: 20 }, async () => {
      const m = c.multi();
      m.incr(key('tx'));
      m.incr(key('tx'));
      return m.exec<[number, number]>();
    });
    const results = await Promise.all(txs);
    await Promise.all(writers);
    for (const [first, second] of results) expect(second).toBe(first + 1);
    expect(await c.get(key('tx'))).toBe(90);
  });
});

describe('Lua scripts with the Upstash shebang', () => {
  const script = '#!lua flags=allow-key-locking\nreturn {KEYS[1], ARGV[1]}';

  it("SCRIPT LOAD answers the client's SHA1; EVALSHA and EVAL run the rewritten script", async () => {
    const c = client();
    const sha = await c.scriptLoad(script);
    expect(sha).toBe(sha1Hex(script));
    expect(await c.evalsha(sha, [key('k')], ['arg'])).toEqual([key('k'), 'arg']);
    expect(await c.eval(script, [key('k2')], ['a2'])).toEqual([key('k2'), 'a2']);
    expect(await c.scriptExists(sha)).toEqual([1]);
  });

  it('an unknown SHA1 gets NOSCRIPT as an {error}, the signal ratelimit falls back on', async () => {
    const res = await raw('/', JSON.stringify(['EVALSHA', 'f'.repeat(40), '0']));
    expect(res.status).toBe(400);
    expect((res.body as { error: string }).error).toMatch(/^NOSCRIPT/);
  });

  it('returns raw bytes exactly with base64 and U+FFFD without it', async () => {
    const cmd = JSON.stringify(['EVAL', 'return string.char(255, 0, 65)', '0']);
    const b64 = await raw('/', cmd, { 'upstash-encoding': 'base64' });
    expect(b64.body).toEqual({ result: '/wBB' });
    expect((await raw('/', cmd)).body).toEqual({ result: '\uFFFD\u0000A' });
  });
});

describe.each([
  ['slidingWindow', () => Ratelimit.slidingWindow(50, '600 s')],
  ['fixedWindow', () => Ratelimit.fixedWindow(50, '600 s')],
  ['tokenBucket', () => Ratelimit.tokenBucket(1, '600 s', 50)],
])('@upstash/ratelimit %s through the bridge', (_, limiter) => {
  it.each([
    ['base64 responses, auto-pipelined', {}],
    ['plain responses, auto-pipelined', { responseEncoding: false as const }],
    ['base64 responses, one HTTP request per call', { autoPipelining: false }],
  ])('300 concurrent limit() calls against 50 allow exactly 50 (%s)', async (_, options) => {
    const ratelimit = new Ratelimit({
      redis: client(options),
      limiter: limiter(),
      prefix: key(`rl-${randomBytes(4).toString('hex')}`),
      ephemeralCache: false, // every call reaches Redis
      timeout: 0, // never fail open: a slow bridge must show up as a failure here
      analytics: false,
    });
    await awayFromWindowEdge(600_000);
    const results = await Promise.all(Array.from({ length: 300 }, () => ratelimit.limit('user-1')));
    expect(results.filter((r) => r.success)).toHaveLength(50);
    expect(results.every((r) => r.limit === 50)).toBe(true);
    expect(Math.min(...results.map((r) => r.remaining))).toBe(0);
    expect((await ratelimit.limit('user-2')).success).toBe(true);
    expect((await ratelimit.getRemaining('user-1')).remaining).toBe(0);
    await ratelimit.resetUsedTokens('user-1');
    expect((await ratelimit.limit('user-1')).success).toBe(true);
  });
});

describe('the protocol at the HTTP level', () => {
  it('answers pipeline command errors per entry with 200', async () => {
    await client().set(key('str'), 'x');
    const res = await raw(
      '/pipeline',
      JSON.stringify([
        ['INCR', key('str')],
        ['GET', key('str')],
      ]),
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual([{ error: expect.stringMatching(/not an integer/) }, { result: 'x' }]);
  });

  it('a transaction with a runtime error runs the rest; one with a queueing error is discarded with 400', async () => {
    const runtime = await raw(
      '/multi-exec',
      JSON.stringify([
        ['INCR', key('str')],
        ['SET', key('m'), '1'],
      ]),
    );
    expect(runtime.status).toBe(200);
    expect(runtime.body).toEqual([{ error: expect.stringMatching(/not an integer/) }, { result: 'OK' }]);
    const aborted = await raw('/multi-exec', JSON.stringify([['SET', key('m'), '2'], ['NOPE']]));
    expect(aborted.status).toBe(400);
    expect(aborted.body).toEqual({ error: expect.stringMatching(/unknown command 'NOPE'/) });
    expect(await client().get(key('m'))).toBe(1);
  });

  it('a Redis error is a 400 {error}, and the bridge keeps serving', async () => {
    await client().hset(key('hash'), { f: 'v' });
    const res = await raw('/', JSON.stringify(['GET', key('hash')]));
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: expect.stringMatching(/^WRONGTYPE/) });
    await expect(client().get(key('hash'))).rejects.toThrow(/WRONGTYPE/);
    expect(await client().hget(key('hash'), 'f')).toBe('v');
  });

  it('accepts the URL form and the _token query parameter', async () => {
    const res = await fetch(
      `${bridge.url}/set/${encodeURIComponent(key('url form'))}/v1?EX=100&_token=${token}`,
    );
    expect(await res.json()).toEqual({ result: 'OK' });
    const get = await raw(`/get/${encodeURIComponent(key('url form'))}`, undefined, {}, 'GET');
    expect(get.body).toEqual({ result: 'v1' });
    expect(await client().ttl(key('url form'))).toBeGreaterThan(90);
  });

  it('refuses a missing or wrong token with 401 and WWW-Authenticate, a malformed header with 400', async () => {
    const missing = await fetch(`${bridge.url}/`, { method: 'POST', body: '["PING"]' });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expect(await missing.json()).toEqual({ error: expect.stringMatching(/Unauthorized/) });
    const wrong = await raw('/', '["PING"]', { authorization: `Bearer ${token}x` });
    expect(wrong.status).toBe(401);
    const short = await raw('/', '["PING"]', { authorization: 'Bearer t' });
    expect(short.status).toBe(401);
    const malformed = await raw('/', '["PING"]', { authorization: `Basic ${token}` });
    expect(malformed.status).toBe(400);
    await expect(client({ token: 'wrong' }).get(key('s'))).rejects.toThrow(/Unauthorized/);
  });

  it.each([
    ['invalid JSON', '/', '["SET", "k"', /not valid JSON/],
    ['a body that is not an array', '/', '{"cmd":"GET"}', /non-empty JSON array/],
    ['an empty command', '/', '[]', /non-empty JSON array/],
    ['an empty body', '/', '', /empty request/],
    ['an object argument', '/', '["SET","k",{"a":1}]', /argument 2 must be a string or a number/],
    ['a pipeline that is not a list of commands', '/pipeline', '["GET","k"]', /command 0 must be/],
    ['an empty pipeline', '/pipeline', '[]', /non-empty JSON array of commands/],
    ['a refused command', '/', '["SUBSCRIBE","ch"]', /not supported/],
    ['a refused command inside a transaction', '/multi-exec', '[["MULTI"]]', /not supported/],
    ['malformed percent-encoding', '/get/%E0%A4%A', undefined, /percent-encoding/],
  ])('answers %s with 400 {error}', async (_, path, body, message) => {
    const res = await raw(path, body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: expect.stringMatching(message) });
  });

  it('answers an unsupported method with 405 and Allow', async () => {
    const res = await raw('/', '["PING"]', {}, 'DELETE');
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toContain('POST');
  });

  it('answers a body over maxBodyBytes with 413', async () => {
    const small = await startUpstashBridge({ redisUrl: redis.url, token, maxBodyBytes: 64 });
    try {
      const res = await fetch(small.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify(['SET', key('big'), 'x'.repeat(100)]),
      });
      expect(res.status).toBe(413);
      expect(await res.json()).toEqual({ error: expect.stringMatching(/over 64 bytes/) });
    } finally {
      await small.close();
    }
  });
});

describe('options and lifecycle', () => {
  it.each([
    [{ redisUrl: 'http://x', token: 't' }, /redisUrl must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ redisUrl: 'redis://127.0.0.1:1', token: '' }, /token must be a non-empty string/],
    [
      { redisUrl: 'redis://127.0.0.1:1', token: 't', port: 70000 },
      /port must be an integer in \[0, 65535\], got 70000/,
    ],
    [{ redisUrl: 'redis://127.0.0.1:1', token: 't', maxBodyBytes: 0 }, /maxBodyBytes must be an integer/],
  ])('rejects bad options with a TypeError naming the field (%#)', async (options, message) => {
    await expect(startUpstashBridge(options)).rejects.toThrow(TypeError);
    await expect(startUpstashBridge(options)).rejects.toThrow(message);
  });

  it('rejects when Redis cannot be reached within connectTimeoutMs', async () => {
    const port = await freePort();
    const started = Date.now();
    await expect(
      startUpstashBridge({ redisUrl: `redis://127.0.0.1:${port}`, token, connectTimeoutMs: 300 }),
    ).rejects.toThrow(/unreachable|ECONNREFUSED/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('close() is idempotent and stops listening', async () => {
    const b = await startUpstashBridge({ redisUrl: redis.url, token });
    await Promise.all([b.close(), b.close()]);
    await expect(fetch(b.url, { method: 'POST', body: '["PING"]' })).rejects.toThrow();
  });
});

describe('Redis going away and coming back', () => {
  it('answers 503 {error} at once while Redis is down, and serves again once it returns', async () => {
    const own = await startRedisForTests({ spawn: true });
    const port = Number(new URL(own.url).port);
    const b = await startUpstashBridge({ redisUrl: own.url, token, maxReconnectDelayMs: 100 });
    let restarted: ReturnType<typeof spawn> | undefined;
    try {
      const c = new Redis({ url: b.url, token, enableTelemetry: false, retry: false });
      expect(await c.set('k', 'v')).toBe('OK');
      await own.stop();
      const started = Date.now();
      const down = await fetch(b.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: '["GET","k"]',
      });
      expect(down.status).toBe(503);
      expect(await down.json()).toEqual({ error: expect.stringMatching(/^ERR redis unavailable/) });
      const pipe = await fetch(`${b.url}/pipeline`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: '[["GET","k"]]',
      });
      expect(pipe.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(2000);

      restarted = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        {
          stdio: 'ignore',
        },
      );
      const deadline = Date.now() + 10_000;
      let back = false;
      while (!back && Date.now() < deadline) {
        back = await c.set('k2', 'v2').then(
          () => true,
          () => false,
        );
        if (!back) await new Promise((r) => setTimeout(r, 100));
      }
      expect(back).toBe(true);
      expect(await c.get('k2')).toBe('v2');
    } finally {
      await b.close();
      await own.stop();
      if (restarted !== undefined && restarted.exitCode === null) {
        const exited = new Promise((r) => restarted?.once('exit', r));
        restarted.kill('SIGTERM');
        await exited;
      }
    }
  });
});
