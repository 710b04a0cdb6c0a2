/**
 * Upstash clients, created lazily once per isolate per (url, token) and kept at module scope, so
 * @upstash/ratelimit's ephemeral cache of blocked keys and auto-pipelining survive across requests.
 * No retries: a slow or failing Redis must not hold the request; callers bound their own waits.
 */
import { Ratelimit } from '@upstash/ratelimit';
import { Redis } from '@upstash/redis/cloudflare';
import { type EdgeConfig, type RateTier, rateTierOf } from './config.ts';
import { memoize } from './lib/memo.ts';

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

const limiters = new Map<string, Ratelimit>();

/** The limiter of one tier (sliding window by default, token bucket as an option), one instance per isolate. */
export function tierLimiter(config: EdgeConfig, tierName: string): Ratelimit | undefined {
  const upstash = config.upstash;
  if (upstash === undefined) return undefined;
  const tier: RateTier | undefined = rateTierOf(config.rateTiers, tierName);
  if (tier === undefined) return undefined;
  const id = `${upstash.url}\n${upstash.token}\n${tierName}\n${config.rateAlgorithm}\n${tier.limit}\n${tier.window}`;
  return memoize(
    limiters,
    id,
    () =>
      new Ratelimit({
        redis: redisFor(upstash),
        limiter:
          config.rateAlgorithm === 'token-bucket'
            ? Ratelimit.tokenBucket(tier.limit, tier.window, tier.limit)
            : Ratelimit.slidingWindow(tier.limit, tier.window),
        prefix: `edge:rl:${tierName}`,
        // Blocked keys are answered from this isolate's memory until their window resets.
        ephemeralCache: new Map(),
        // The middleware applies its own timeout and fail mode.
        timeout: 0,
        analytics: false,
      }),
  );
}
