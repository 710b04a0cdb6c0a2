/**
 * Rate limiting per API key (its id) and tier, weighted by the request's items (`weight`), with @upstash/ratelimit (sliding window by default, token bucket as an
 * option). Sets `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds until the window resets) on
 * every limited response; over the limit: 429 `rate_limited` + `Retry-After`. The limiter's background work
 * (`pending`) goes to `waitUntil`.
 *
 * When Redis errors or does not answer within the timeout the request goes through (fail open) with the reason
 * logged; `failMode: 'closed'` answers 503 `unavailable` + `Retry-After` instead.
 */
import type { Ratelimit } from '@upstash/ratelimit';
import type { Context, MiddlewareHandler } from 'hono';
import { InferenceError, OverloadedError } from '../../../../shared/errors/index.ts';
import { type TimedOutcome, withTimeout } from '../../../../shared/timeout/index.ts';
import type { AppEnv } from '../../types.ts';

/** The one limiter method the middleware calls, so tests can pass a small fake. */
export type Limiter = Pick<Ratelimit, 'limit'>;

export interface RateLimitSettings {
  /** The limiter for this request; undefined turns limiting off for it (no Upstash configured). */
  limiter: Limiter | undefined;
  /** Who is counted. */
  identifier: string;
  /** On a Redis error or timeout: 'open' lets the request through, 'closed' answers 503. @default 'open' */
  failMode?: 'open' | 'closed';
  /** Longest wait for the limiter, ms. @default 200 */
  timeoutMs?: number;
  /**
   * One Redis round trip for the limiter's script and `reads` (upstash.ts RoundTrip): `during(fn)` keeps it open
   * while `fn` starts the limiter's call, `exec()` sends it. @default none: the limiter calls Redis on its own
   */
  trip?: SameTrip;
  /** Keys read in that round trip (the revocation epochs); ignored without `trip`. @default none */
  reads?: TripReads;
}

/** One round trip shared by the limiter and the reads. */
export interface SameTrip {
  during<T>(fn: () => T): T;
  mget(keys: string[]): Promise<unknown[]>;
  exec(): Promise<void>;
}

/** What to read in the limiter's round trip, and what to do with it before the limit's answer applies. */
export interface TripReads {
  keys: string[];
  /** May throw (a revoked key: 401); not called when the round trip failed (the caller's caches bound it). */
  check: (values: unknown[]) => Promise<void>;
}

/** How much of the limit a request uses (e.g. its items): at least 1. */
export type RequestWeight = (c: Context<AppEnv>) => number | Promise<number>;

export interface RateLimitOptions {
  /** Resolves the settings per request (the principal's tier limiter, the configured fail mode and timeout). */
  settings: (c: Context<AppEnv>) => RateLimitSettings;
  /** How much of the limit each request uses. @default 1 */
  weight?: RequestWeight;
  /** Where a fail-open/closed reason is reported. @default console.warn of a JSON line */
  warn?: (event: Record<string, unknown>) => void;
  /** Clock, ms. @default Date.now */
  now?: () => number;
}

/** Why the limiter gave no usable answer: it failed, it did not answer in time, or it timed out itself. */
function failureReason(outcome: TimedOutcome<unknown>, timeoutMs: number): string {
  if (outcome.kind === 'timeout') return `timeout after ${timeoutMs} ms`;
  if (outcome.kind === 'error') {
    return `error: ${outcome.error instanceof Error ? outcome.error.message : String(outcome.error)}`;
  }
  return 'timeout (limiter)';
}

export function rateLimit(options: RateLimitOptions): MiddlewareHandler<AppEnv> {
  if (typeof options?.settings !== 'function') {
    throw new TypeError(`rateLimit: settings must be a function, got ${typeof options?.settings}`);
  }
  const warn = options.warn ?? ((event) => console.warn(JSON.stringify({ level: 'warn', ...event })));
  const now = options.now ?? Date.now;
  return async function rateLimitMiddleware(c, next) {
    const s = options.settings(c);
    const timeoutMs = s.timeoutMs ?? 200;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new TypeError(`rateLimit: timeoutMs must be a positive number, got ${timeoutMs}`);
    }
    const limiter = s.limiter;
    const weight = limiter === undefined ? 1 : Math.max(1, Math.floor((await options.weight?.(c)) ?? 1));
    const call = () => (limiter as Limiter).limit(s.identifier, { rate: weight });
    const trip = s.trip;
    let limited: ReturnType<Limiter['limit']> | undefined;
    if (limiter !== undefined)
      limited = trip === undefined ? Promise.resolve().then(call) : trip.during(call);
    // The reads travel in the limiter's pipeline (alone when this request has no limit).
    const reads =
      trip !== undefined && s.reads !== undefined && s.reads.keys.length > 0 ? s.reads : undefined;
    const read = reads === undefined ? undefined : trip?.mget(reads.keys);
    read?.catch(() => undefined);
    void trip?.exec();
    const outcome = limited === undefined ? undefined : await withTimeout(limited, timeoutMs);
    // A revoked or changed key is caught here, before its rate limit applies. When the round trip failed, the
    // caller's caches bound how stale its record is.
    if (reads !== undefined && read !== undefined && (outcome === undefined || outcome.kind === 'value')) {
      const got = await withTimeout(read, timeoutMs);
      if (got.kind === 'value') await reads.check(got.value);
    }
    if (outcome === undefined) {
      c.get('log').rate_limit = 'off';
      return next();
    }
    if (outcome.kind !== 'value' || outcome.value.reason === 'timeout') {
      const reason = failureReason(outcome, timeoutMs);
      const mode = s.failMode ?? 'open';
      c.get('log').rate_limit = `fail_${mode}`;
      warn({ msg: `rate limiter unavailable, failing ${mode}`, reason, request_id: c.get('requestId') });
      if (mode === 'closed') {
        throw new OverloadedError('unavailable', 'rate limiter unavailable; try again shortly', 1);
      }
      return next();
    }
    const r = outcome.value;
    c.executionCtx.waitUntil(r.pending.catch(() => undefined));
    const resetSeconds = Math.max(0, Math.ceil((r.reset - now()) / 1000));
    const headers = {
      'RateLimit-Limit': String(r.limit),
      'RateLimit-Remaining': String(Math.max(0, r.remaining)),
      'RateLimit-Reset': String(resetSeconds),
    };
    c.get('log').rate_limit = r.success ? 'pass' : r.reason === 'cacheBlock' ? 'blocked_cached' : 'blocked';
    if (!r.success) {
      throw new InferenceError(
        'rate_limited',
        `rate limit of ${r.limit} items per window exceeded (this request: ${weight}); retry after ${Math.max(1, resetSeconds)} s`,
        {
          headers: { ...headers, 'Retry-After': String(Math.max(1, resetSeconds)) },
        },
      );
    }
    await next();
    for (const [k, v] of Object.entries(headers)) c.header(k, v);
  };
}
