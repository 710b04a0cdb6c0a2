import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { errorBody, InferenceError } from '../../../../shared/errors/index.ts';
import { parseConfig } from '../../config.ts';
import type { AppEnv } from '../../types.ts';
import { redisFor, sameTrip, tierLimiter } from '../../upstash.ts';
import { requestId } from '../request-id/index.ts';
import { type Limiter, type RateLimitSettings, rateLimit } from './index.ts';

type LimitResult = Awaited<ReturnType<Limiter['limit']>>;

const NOW = 1_800_000_000_000;

function app(
  settings: () => RateLimitSettings,
  warnings: Array<Record<string, unknown>> = [],
  lines: string[] = [],
) {
  const a = new Hono<AppEnv>();
  a.use(requestId({ write: (l) => lines.push(l) }));
  a.use(rateLimit({ settings, warn: (e) => warnings.push(e), now: () => NOW }));
  a.get('/', (c) => c.json({ ok: true }));
  a.onError((err, c) => {
    const { status, body, headers } = errorBody(err, c.get('requestId'));
    return c.json(body, status, headers);
  });
  return {
    async request(): Promise<Response> {
      const ctx = createExecutionContext();
      const res = await a.fetch(new Request('https://edge.test/'), env, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    },
  };
}

/** A fake limiter answering from a script of results (or throwing / hanging). */
function fakeLimiter(
  results: Array<Partial<LimitResult> | 'throw' | 'hang'>,
): Limiter & { calls: string[]; pendingSettled: number } {
  const fake = {
    calls: [] as string[],
    pendingSettled: 0,
    async limit(identifier: string): Promise<LimitResult> {
      fake.calls.push(identifier);
      const next = results.shift() ?? {};
      if (next === 'throw') throw new Error('ECONNREFUSED redis');
      if (next === 'hang') return new Promise<LimitResult>(() => {});
      const pending = new Promise<void>((r) => setTimeout(r, 1)).then(() => {
        fake.pendingSettled++;
      });
      return { success: true, limit: 10, remaining: 9, reset: NOW + 30_000, pending, ...next } as LimitResult;
    },
  };
  return fake;
}

describe('rateLimit middleware with a fake limiter', () => {
  it('passes under the limit with RateLimit-* headers, counting the principal, pending work to waitUntil', async () => {
    const limiter = fakeLimiter([{ remaining: 4, limit: 5, reset: NOW + 12_300 }]);
    const res = await app(() => ({ limiter, identifier: 'acme' })).request();
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-limit')).toBe('5');
    expect(res.headers.get('ratelimit-remaining')).toBe('4');
    expect(res.headers.get('ratelimit-reset')).toBe('13');
    expect(limiter.calls).toEqual(['acme']);
    expect(limiter.pendingSettled).toBe(1);
  });

  it('429 rate_limited + Retry-After when over the limit', async () => {
    const limiter = fakeLimiter([{ success: false, remaining: 0, limit: 5, reset: NOW + 7_000 }]);
    const res = await app(() => ({ limiter, identifier: 'acme' })).request();
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(res.headers.get('ratelimit-remaining')).toBe('0');
    const body = (await res.json()) as { error: { code: string; request_id: string } };
    expect(body.error.code).toBe('rate_limited');
    expect(body.error.request_id).toBe(res.headers.get('x-request-id'));
  });

  it('fails open on a Redis error, logging the reason', async () => {
    const warnings: Array<Record<string, unknown>> = [];
    const lines: string[] = [];
    const res = await app(
      () => ({ limiter: fakeLimiter(['throw']), identifier: 'acme' }),
      warnings,
      lines,
    ).request();
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-limit')).toBeNull();
    expect(warnings[0]).toMatchObject({ msg: 'rate limiter unavailable, failing open' });
    expect(String(warnings[0]?.reason)).toContain('ECONNREFUSED');
    expect(JSON.parse(lines[0] as string).rate_limit).toBe('fail_open');
  });

  it('fails open on a timeout', async () => {
    const warnings: Array<Record<string, unknown>> = [];
    const started = Date.now();
    const res = await app(
      () => ({ limiter: fakeLimiter(['hang']), identifier: 'acme', timeoutMs: 30 }),
      warnings,
    ).request();
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(String(warnings[0]?.reason)).toContain('timeout after 30 ms');
  });

  it('fails open on the limiter reporting its own timeout', async () => {
    const warnings: Array<Record<string, unknown>> = [];
    const res = await app(
      () => ({ limiter: fakeLimiter([{ reason: 'timeout' }]), identifier: 'acme' }),
      warnings,
    ).request();
    expect(res.status).toBe(200);
    expect(warnings).toHaveLength(1);
  });

  it('fails closed (503 unavailable + Retry-After) when configured', async () => {
    const res = await app(() => ({
      limiter: fakeLimiter(['throw']),
      identifier: 'acme',
      failMode: 'closed',
    })).request();
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unavailable');
  });

  it('is off when no limiter is configured', async () => {
    const lines: string[] = [];
    const res = await app(() => ({ limiter: undefined, identifier: 'acme' }), [], lines).request();
    expect(res.status).toBe(200);
    expect(JSON.parse(lines[0] as string).rate_limit).toBe('off');
  });

  it('validates its options', () => {
    expect(() => rateLimit({} as never)).toThrow(/settings must be a function/);
  });
});

describe('rateLimit middleware with @upstash/ratelimit on the real Upstash bridge (real Redis)', () => {
  function config(algorithm: 'sliding' | 'token-bucket') {
    return parseConfig({
      ...(env as Env),
      RATE_LIMIT_TIERS: JSON.stringify({ tiny: { limit: 3, window: '60 s' } }),
      RATE_LIMIT_ALGORITHM: algorithm,
    });
  }

  it.each(['sliding', 'token-bucket'] as const)(
    '%s: exhausts the limit, then 429s; blocked keys come from the ephemeral cache',
    async (algorithm) => {
      const cfg = config(algorithm);
      let lines: string[] = [];
      let statuses: number[] = [];
      let remaining: Array<string | null> = [];
      // A sliding window that rolls over mid-run weighs the earlier requests down (a fourth request may pass):
      // run again, with a new tenant, when the 60 s window changed during the run.
      for (let attempt = 0; attempt < 2; attempt++) {
        const window = Math.floor(Date.now() / 60_000);
        const id = `tenant-${crypto.randomUUID()}`;
        lines = [];
        statuses = [];
        remaining = [];
        const a = app(
          () => ({ limiter: tierLimiter(cfg, 'tiny'), identifier: id, timeoutMs: 2000 }),
          [],
          lines,
        );
        for (let i = 0; i < 5; i++) {
          const res = await a.request();
          statuses.push(res.status);
          remaining.push(res.headers.get('ratelimit-remaining'));
        }
        if (Math.floor(Date.now() / 60_000) === window) break;
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      expect(remaining.slice(0, 3)).toEqual(['2', '1', '0']);
      const outcomes = lines.map((l) => JSON.parse(l).rate_limit);
      expect(outcomes.slice(0, 4)).toEqual(['pass', 'pass', 'pass', 'blocked']);
      expect(outcomes[4]).toBe('blocked_cached');
    },
  );

  it('keeps tenants apart', async () => {
    const cfg = config('sliding');
    const [idA, idB] = [`a-${crypto.randomUUID()}`, `b-${crypto.randomUUID()}`];
    const a = app(() => ({ limiter: tierLimiter(cfg, 'tiny'), identifier: idA, timeoutMs: 2000 }));
    const b = app(() => ({ limiter: tierLimiter(cfg, 'tiny'), identifier: idB, timeoutMs: 2000 }));
    for (let i = 0; i < 3; i++) await a.request();
    expect((await a.request()).status).toBe(429);
    expect((await b.request()).status).toBe(200);
  });

  it.each(['sliding', 'token-bucket'] as const)(
    "%s: the limiter's script and the reads travel in ONE request to Upstash (a pipeline), results to each",
    async (algorithm) => {
      const cfg = config(algorithm);
      const upstash = cfg.upstash as NonNullable<typeof cfg.upstash>;
      const id = `trip-${crypto.randomUUID()}`;
      const epochKey = `test:epoch:${id}`;
      await redisFor(upstash).set(epochKey, 7);
      const seen: unknown[][] = [];
      const a = app(() => ({
        limiter: tierLimiter(cfg, 'tiny'),
        identifier: id,
        timeoutMs: 2000,
        trip: sameTrip(upstash),
        reads: { keys: [epochKey, `${epochKey}:none`], check: async (v) => void seen.push(v) },
      }));
      await a.request(); // loads the script into Redis (NOSCRIPT -> EVAL) if this Redis has not seen it yet
      const realFetch = globalThis.fetch;
      const urls: string[] = [];
      globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
        urls.push(String(input instanceof Request ? input.url : input));
        return realFetch(input, init);
      }) as typeof fetch;
      let res: Response;
      try {
        res = await a.request();
      } finally {
        globalThis.fetch = realFetch;
      }
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-remaining')).toBe('1');
      expect(urls).toEqual([`${upstash.url}/pipeline`]);
      expect(seen).toEqual([
        [7, null],
        [7, null],
      ]);
    },
  );

  it('a read check that throws refuses the request before its limit applies', async () => {
    const cfg = config('sliding');
    const upstash = cfg.upstash as NonNullable<typeof cfg.upstash>;
    const res = await app(() => ({
      limiter: tierLimiter(cfg, 'tiny'),
      identifier: `trip-${crypto.randomUUID()}`,
      timeoutMs: 2000,
      trip: sameTrip(upstash),
      reads: {
        keys: ['test:epoch:any'],
        check: async () => {
          throw new InferenceError('key_revoked', 'this API key was revoked');
        },
      },
    })).request();
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('key_revoked');
  });

  it('fails open against an unreachable Upstash URL', async () => {
    const cfg = parseConfig({
      ...(env as Env),
      UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9',
      UPSTASH_REDIS_REST_TOKEN: 'x',
    });
    const warnings: Array<Record<string, unknown>> = [];
    const res = await app(
      () => ({ limiter: tierLimiter(cfg, 'pro'), identifier: 'acme', timeoutMs: 2000 }),
      warnings,
    ).request();
    expect(res.status).toBe(200);
    expect(String(warnings[0]?.reason)).toMatch(/^error: /);
  });
});
