/**
 * Upstash clients, created lazily once per isolate per (url, token) and kept at module scope, so
 * @upstash/ratelimit's ephemeral cache of blocked keys and auto-pipelining survive across requests.
 * No retries: a slow or failing Redis must not hold the request; callers bound their own waits.
 */
import { Ratelimit } from '@upstash/ratelimit';
import { Redis } from '@upstash/redis/cloudflare';
import { type EdgeConfig, type RateTier, rateTierOf } from './config.ts';
import { memoize } from './lib/memo.ts';
import type { SameTrip } from './middleware/rate-limit/index.ts';
import { USAGE_SCRIPT, type UsageStore } from './usage/recorder.ts';

const clients = new Map<string, Redis>();

export function redisFor(upstash: NonNullable<EdgeConfig['upstash']>): Redis {
  return memoize(
    clients,
    `${upstash.url}\n${upstash.token}`,
    () =>
      new Redis({
        url: upstash.url,
        token: upstash.token,
        retry: false,
        enableTelemetry: false,
        latencyLogging: false,
        enableAutoPipelining: false,
      }),
  );
}

type Pipeline = ReturnType<Redis['pipeline']>;

/**
 * One Redis round trip: commands added while it is open are sent together as one pipeline by `exec`, each caller
 * getting its own command's result or error. The rate limiters' scripts, the revocation epochs and the quota
 * counters of a request share one (middleware/rate-limit).
 */
export class RoundTrip {
  readonly #calls: Array<{
    add: (p: Pipeline) => void;
    resolve: (v: unknown) => void;
    reject: (e: unknown) => void;
  }> = [];

  add<T>(add: (p: Pipeline) => void): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.#calls.push({ add, resolve: resolve as (v: unknown) => void, reject }),
    );
  }

  /** Sends every added command in one pipeline (nothing when none was added). */
  async exec(redis: Pick<Redis, 'pipeline'>): Promise<void> {
    const calls = this.#calls.splice(0);
    if (calls.length === 0) return;
    try {
      const p = redis.pipeline();
      for (const c of calls) c.add(p);
      const results = (await p.exec({ keepErrors: true })) as Array<{ result: unknown; error?: string }>;
      calls.forEach((c, i) => {
        const r = results[i];
        if (r === undefined) c.reject(new Error('the pipeline returned fewer results than commands'));
        else if (r.error !== undefined) c.reject(new Error(r.error));
        else c.resolve(r.result);
      });
    } catch (err) {
      for (const c of calls) c.reject(err);
    }
  }
}

/**
 * The Redis @upstash/ratelimit is given: while a trip is open (`during`), its `evalsha` joins the trip instead of
 * being sent alone. Its single-region algorithms call evalsha synchronously inside `limit()`, so the trip is open
 * exactly while the middleware calls `limit()`. A NOSCRIPT answer makes ratelimit send `eval`, which goes straight
 * to Redis (the first request after a Redis restart pays one more round trip).
 */
class TripRedis {
  readonly redis: Redis;
  trip: RoundTrip | undefined;
  constructor(redis: Redis) {
    this.redis = redis;
  }
  evalsha(sha: string, keys: string[], args: unknown[]): Promise<unknown> {
    const trip = this.trip;
    return trip === undefined
      ? this.redis.evalsha(sha, keys, args)
      : trip.add((p) => p.evalsha(sha, keys, args));
  }
  eval(script: string, keys: string[], args: unknown[]): Promise<unknown> {
    return this.redis.eval(script, keys, args);
  }
}

const tripRedises = new Map<string, TripRedis>();

function tripRedisFor(upstash: NonNullable<EdgeConfig['upstash']>): TripRedis {
  return memoize(tripRedises, `${upstash.url}\n${upstash.token}`, () => new TripRedis(redisFor(upstash)));
}

/** Runs `fn` (synchronous: it starts the limiters' calls) with the round trip `trip` open for them. */
export function during<T>(upstash: NonNullable<EdgeConfig['upstash']>, trip: RoundTrip, fn: () => T): T {
  const r = tripRedisFor(upstash);
  r.trip = trip;
  try {
    return fn();
  } finally {
    r.trip = undefined;
  }
}

/** One Redis round trip for a request's rate limit and reads (middleware/rate-limit SameTrip). */
export function sameTrip(upstash: NonNullable<EdgeConfig['upstash']>): SameTrip {
  const trip = new RoundTrip();
  return {
    during: (fn) => during(upstash, trip, fn),
    mget: (keys) => trip.add<unknown[]>((p) => p.mget(...keys)),
    incrby: (key, n, ttlSeconds) => {
      const value = trip.add<number>((p) => p.incrby(key, n));
      trip.add((p) => p.expire(key, ttlSeconds)).catch(() => undefined);
      return value;
    },
    exec: () => trip.exec(redisFor(upstash)),
    refund: async (keys, n) => {
      if (keys.length === 0) return;
      const p = redisFor(upstash).pipeline();
      for (const key of keys) p.decrby(key, n);
      await p.exec();
    },
  };
}

const limiters = new Map<string, Ratelimit>();

/**
 * The limiter of one tier (sliding window by default, token bucket as an option), one instance per isolate: per key
 * (`limit`), or per tenant (`tenant_limit`, undefined when the tier has none).
 */
export function tierLimiter(
  config: EdgeConfig,
  tierName: string,
  scope: 'key' | 'tenant' = 'key',
): Ratelimit | undefined {
  const upstash = config.upstash;
  if (upstash === undefined) return undefined;
  const tier: RateTier | undefined = rateTierOf(config.rateTiers, tierName);
  if (tier === undefined) return undefined;
  const limit = scope === 'key' ? tier.limit : tier.tenant_limit;
  if (limit === undefined) return undefined;
  const id = `${upstash.url}\n${upstash.token}\n${tierName}\n${scope}\n${config.rateAlgorithm}\n${limit}\n${tier.window}`;
  return memoize(
    limiters,
    id,
    () =>
      new Ratelimit({
        // Its scripts join the request's round trip (`during`).
        redis: tripRedisFor(upstash) as unknown as Redis,
        limiter:
          config.rateAlgorithm === 'token-bucket'
            ? Ratelimit.tokenBucket(limit, tier.window, limit)
            : Ratelimit.slidingWindow(limit, tier.window),
        prefix: scope === 'key' ? `edge:rl:${tierName}` : `edge:rlt:${tierName}`,
        // Blocked keys are answered from this isolate's memory until their window resets.
        ephemeralCache: new Map(),
        // The middleware applies its own timeout and fail mode.
        timeout: 0,
        analytics: false,
      }),
  );
}

const usageScripts = new Map<string, UsageStore>();

/** The usage batch script (usage/recorder.ts) on this Upstash: EVALSHA, EVAL when Redis lost it. */
export function usageStore(upstash: NonNullable<EdgeConfig['upstash']>): UsageStore {
  return memoize(usageScripts, `${upstash.url}\n${upstash.token}`, () => {
    const script = redisFor(upstash).createScript<unknown>(USAGE_SCRIPT);
    return { exec: (keys, args) => script.exec(keys, args) };
  });
}
