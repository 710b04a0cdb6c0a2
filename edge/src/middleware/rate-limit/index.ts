/**
 * Rate limiting per API key (its id) and per tenant (all its keys together), weighted by the request's items
 * (`weight`), with @upstash/ratelimit (sliding window by default, token bucket as an option), and the tenant's item
 * quotas (atomic INCRBY counters per UTC day and month). The limiters' scripts, the quota counters and the key's
 * revocation epochs (`reads`) travel in ONE Redis round trip (`trip`).
 *
 * Sets `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds until the window resets; the tighter of
 * the key's and the tenant's limits) on every limited response; over a limit: 429 `rate_limited` + `Retry-After`;
 * over a quota: 429 `quota_exceeded` + `Retry-After` (seconds to the quota's reset). Items charged to a quota are
 * given back when the request is refused (by this middleware or by anything after it: its status is >= 400), so a
 * quota counts served items only. The limiter's background work (`pending`) and refunds go to `waitUntil`.
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
  /** A second limit shared by everyone with the same `identifier` (the tenant). @default none */
  shared?: { limiter: Limiter; identifier: string };
  /** Quota counters this request's items are charged to, in the same round trip; need `trip`. @default none */
  quotas?: QuotaCounter[];
}

/** One quota counter: its Redis key, its limit and when it resets. */
export interface QuotaCounter {
  /** What it counts, as the client reads it: `items_per_day`, `items_per_month`. */
  name: string;
  key: string;
  limit: number;
  /** When the counter's period ends, ms since the epoch. */
  resetAt: number;
  /** Seconds from now until then (the `Retry-After` of a refusal). */
  retryAfter: number;
  /** The counter key's lifetime, seconds (longer than its period). */
  ttlSeconds: number;
}

/** One round trip shared by the limiter and the reads. */
export interface SameTrip {
  during<T>(fn: () => T): T;
  mget(keys: string[]): Promise<unknown[]>;
  /** INCRBY `n` (and EXPIRE) in the round trip: the new value. */
  incrby(key: string, n: number, ttlSeconds: number): Promise<number>;
  exec(): Promise<void>;
  /** Gives `n` back to each counter, in a round trip of its own (a refused request's refund). */
  refund(keys: string[], n: number): Promise<void>;
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
  /** How many items a request charges to the quotas (0: none, e.g. a read). @default `weight` */
  quotaWeight?: (c: Context<AppEnv>) => number | Promise<number>;
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
    const trip = s.trip;
    const limiters = [
      ...(s.limiter === undefined ? [] : [{ limiter: s.limiter, identifier: s.identifier, whose: 'the' }]),
      ...(s.shared === undefined ? [] : [{ ...s.shared, whose: "the tenant's" }]),
    ];
    const quotas = trip === undefined ? [] : (s.quotas ?? []);
    const weight =
      limiters.length === 0 && quotas.length === 0
        ? 1
        : Math.max(1, Math.floor((await options.weight?.(c)) ?? 1));
    const charge =
      quotas.length === 0
        ? 0
        : Math.max(0, Math.floor(await (options.quotaWeight ?? options.weight ?? (() => 1))(c)));
    const charged = charge === 0 ? [] : quotas;

    // Everything below joins one pipeline (the limiters' scripts, the counters, the reads), sent by exec().
    const limited = limiters.map(({ limiter, identifier }) => {
      const call = () => limiter.limit(identifier, { rate: weight });
      return trip === undefined ? Promise.resolve().then(call) : trip.during(call);
    });
    const counted =
      charged.length === 0 || trip === undefined
        ? undefined
        : Promise.all(charged.map((q) => trip.incrby(q.key, charge, q.ttlSeconds)));
    counted?.catch(() => undefined);
    const reads =
      trip !== undefined && s.reads !== undefined && s.reads.keys.length > 0 ? s.reads : undefined;
    const read = reads === undefined ? undefined : trip?.mget(reads.keys);
    read?.catch(() => undefined);
    void trip?.exec();

    const outcomes = await Promise.all(limited.map((l) => withTimeout(l, timeoutMs)));
    const counts = counted === undefined ? undefined : await withTimeout(counted, timeoutMs);
    // Items are charged once the counters answered; refused from here on, they are given back.
    let refunded = counts?.kind !== 'value';
    const refund = () => {
      if (refunded || trip === undefined) return;
      refunded = true;
      c.executionCtx.waitUntil(
        trip
          .refund(
            charged.map((q) => q.key),
            charge,
          )
          .catch((err: unknown) => {
            warn({ msg: 'quota refund failed', reason: String(err), request_id: c.get('requestId') });
          }),
      );
    };
    try {
      // A revoked or changed key is caught here, before its limits apply. When the round trip failed, the
      // caller's caches bound how stale its record is.
      if (reads !== undefined && read !== undefined && !outcomes.some((o) => o.kind !== 'value')) {
        const got = await withTimeout(read, timeoutMs);
        if (got.kind === 'value') await reads.check(got.value);
      }
      const failed = outcomes.find((o) => o.kind !== 'value' || o.value.reason === 'timeout');
      const quotaFailed = counts !== undefined && counts.kind !== 'value' ? counts : undefined;
      if (failed !== undefined || quotaFailed !== undefined) {
        const reason = failureReason((failed ?? quotaFailed) as TimedOutcome<unknown>, timeoutMs);
        const mode = s.failMode ?? 'open';
        c.get('log').rate_limit = `fail_${mode}`;
        warn({ msg: `rate limiter unavailable, failing ${mode}`, reason, request_id: c.get('requestId') });
        if (mode === 'closed') {
          throw new OverloadedError('unavailable', 'rate limiter unavailable; try again shortly', 1);
        }
      }
      const results = outcomes.flatMap((o, i) =>
        o.kind === 'value' && o.value.reason !== 'timeout'
          ? [{ ...o.value, whose: (limiters[i] as { whose: string }).whose }]
          : [],
      );
      for (const r of results) c.executionCtx.waitUntil(r.pending.catch(() => undefined));
      // The tighter limit is the one the client sees: the refused one, else the one with less left.
      const shown =
        results.find((r) => !r.success) ??
        results.reduce<(typeof results)[number] | undefined>(
          (a, r) => (a === undefined || r.remaining < a.remaining ? r : a),
          undefined,
        );
      let headers: Record<string, string> = {};
      if (shown !== undefined) {
        const resetSeconds = Math.max(0, Math.ceil((shown.reset - now()) / 1000));
        headers = {
          'RateLimit-Limit': String(shown.limit),
          'RateLimit-Remaining': String(Math.max(0, shown.remaining)),
          'RateLimit-Reset': String(resetSeconds),
        };
        if (failed === undefined && quotaFailed === undefined) {
          c.get('log').rate_limit = shown.success
            ? 'pass'
            : shown.reason === 'cacheBlock'
              ? 'blocked_cached'
              : 'blocked';
        }
        if (!shown.success) {
          const retry = Math.max(1, resetSeconds);
          throw new InferenceError(
            'rate_limited',
            `${shown.whose} rate limit of ${shown.limit} items per window exceeded (this request: ${weight}); retry after ${retry} s`,
            { headers: { ...headers, 'Retry-After': String(retry) } },
          );
        }
      } else if (failed === undefined && quotaFailed === undefined) {
        c.get('log').rate_limit = 'off';
      }
      if (counts?.kind === 'value') {
        const over = charged.filter((q, i) => (counts.value[i] as number) > q.limit);
        if (over.length > 0) {
          const q = over.reduce((a, b) => (b.retryAfter > a.retryAfter ? b : a));
          const retry = Math.max(1, q.retryAfter);
          c.get('log').rate_limit = 'quota';
          throw new InferenceError(
            'quota_exceeded',
            `the tenant's quota of ${q.limit} ${q.name.replace(/_/g, ' ')} is used up (this request: ${charge}); it resets at ${new Date(q.resetAt).toISOString()}`,
            { headers: { ...headers, 'Retry-After': String(retry) } },
          );
        }
      }
      await next();
      if (c.error !== undefined || c.res.status >= 400) refund();
      for (const [k, v] of Object.entries(headers)) c.header(k, v);
    } catch (err) {
      refund();
      throw err;
    }
  };
}
