/**
 * The origin pool client. `send()` resolves with the origin's response when it is a 2xx-4xx other than 429, and
 * throws `OriginUnavailableError` (with a stable `reason`) otherwise.
 *
 * - Choice: power of two choices over the origins whose circuit allows a request, on load = requests this
 *   isolate has in flight to the origin + the queue depth the origin last reported (`x-queue-depth` response
 *   header, trusted for `queueDepthTtlMs`).
 * - Deadline: each request carries an absolute deadline; each attempt sends the origin its own budget as
 *   `x-deadline-ms` (the attempt timeout, capped by what is left), so an abandoned attempt expires at the origin
 *   too, and the origin drops queued work whose connection the edge closed.
 * - Retry: once, on another origin, for failures safe to retry (network error, attempt timeout with budget left,
 *   429/502/503). Inference has no side effects, so a repeated request is harmless.
 * - Circuit breaker per origin (breaker.ts): network errors, attempt timeouts and 500/502/503 count as failures,
 *   and so do 401/403: the origin refusing the edge's signature (wrong secret, clock skew) is the edge's fault,
 *   never the client's, so it is not passed through (`origin_refused`; its message stays in the log). Other 4xx are
 *   the origin's verdict on the client's input and are returned as they are.
 * - Signing: every attempt is signed afresh (new timestamp and nonce) by the `sign` option.
 */
import { type BreakerState, CircuitBreaker } from './breaker.ts';
import { type OriginFailureReason, OriginUnavailableError } from './errors.ts';

export interface OriginRequest {
  method: string;
  /** Request target: pathname plus query, e.g. `/v1/models/spam/classify`. */
  path: string;
  body?: string | Uint8Array;
  headers?: Record<string, string>;
  /** Absolute deadline, ms since the epoch (same clock as `now`). */
  deadline: number;
  /** Priority at the origin (1 = highest), from the caller's tier; signed with the request. @default none */
  priority?: number;
  /** Items (texts or rows) in the request: the router learns the origin's compute per row. @default 1 */
  items?: number;
  /** Aborts the request (a hedge that lost the race): no retry, no breaker verdict, reason `aborted`. */
  signal?: AbortSignal;
}

export interface OriginResult {
  response: Response;
  /** Base URL of the origin that answered. */
  origin: string;
  /** Attempts made (1 or 2). */
  attempts: number;
  /** The model run time the origin reports for this request (`Server-Timing: compute;dur=`), ms; 0 when none. */
  computeMs: number;
}

/** The `compute` entry's duration of a `Server-Timing` header, ms (0 when absent or malformed). */
export function computeMsOf(serverTiming: string | null): number {
  if (serverTiming === null) return 0;
  for (const entry of serverTiming.split(',')) {
    const [name, ...params] = entry.split(';');
    if (name?.trim() !== 'compute') continue;
    for (const param of params) {
      const [k, v] = param.split('=');
      if (k?.trim() !== 'dur' || v === undefined) continue;
      const ms = Number(v.trim());
      return Number.isFinite(ms) && ms >= 0 ? ms : 0;
    }
  }
  return 0;
}

export type SignFn = (req: {
  method: string;
  path: string;
  body: string | Uint8Array | undefined;
  priority: number | undefined;
}) => Promise<Record<string, string>>;

export interface OriginPoolOptions {
  /** Origin base URLs (no trailing slash). */
  urls: readonly string[];
  /** Longest single attempt, ms (the deadline may cut it shorter). @default 2000 */
  attemptTimeoutMs?: number;
  /** Consecutive failures that open an origin's circuit. @default 5 */
  failureThreshold?: number;
  /** Open-circuit cooldown before a half-open probe, ms. @default 10000 */
  cooldownMs?: number;
  /** Response header carrying the origin's queue depth. @default 'x-queue-depth' */
  queueDepthHeader?: string;
  /** How long a reported queue depth counts, ms. @default 5000 */
  queueDepthTtlMs?: number;
  /** Signs a request; its headers are added to the attempt. @default no signature */
  sign?: SignFn;
  /** @default globalThis.fetch */
  fetch?: (request: Request) => Promise<Response>;
  /** Clock, ms since the epoch. @default Date.now */
  now?: () => number;
  /** Uniform [0, 1). @default Math.random */
  random?: () => number;
  /** Asked before a retry on another origin; false: no retry (the router's retry budget). @default always */
  retryAllowed?: () => boolean;
  /** Response header carrying the origin's capacity (rows it queues before it sheds). @default 'x-origin-capacity' */
  capacityHeader?: string;
}

export interface OriginSnapshot {
  url: string;
  inFlight: number;
  queueDepth: number | undefined;
  breaker: BreakerState;
  consecutiveFailures: number;
}

class Origin {
  readonly url: string;
  readonly breaker: CircuitBreaker;
  inFlight = 0;
  queueDepth = 0;
  queueDepthAt = Number.NEGATIVE_INFINITY;
  capacity: number | undefined;

  constructor(url: string, breaker: CircuitBreaker) {
    this.url = url;
    this.breaker = breaker;
  }
}

type AttemptOutcome =
  | { kind: 'response'; response: Response; retryable: boolean; reason?: OriginFailureReason }
  | { kind: 'error'; reason: OriginFailureReason; retryable: boolean; message: string };

const RETRYABLE_STATUS = new Set([429, 502, 503]);
const FAILURE_STATUS = new Set([500, 502, 503]);

export class OriginPool {
  readonly #origins: Origin[];
  readonly #attemptTimeoutMs: number;
  readonly #queueDepthHeader: string;
  readonly #queueDepthTtlMs: number;
  readonly #sign: SignFn | undefined;
  readonly #fetch: (request: Request) => Promise<Response>;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #retryAllowed: () => boolean;
  readonly #capacityHeader: string;

  constructor(options: OriginPoolOptions) {
    if (
      !Array.isArray(options?.urls) ||
      options.urls.some((u) => typeof u !== 'string' || !/^https?:\/\//.test(u))
    ) {
      throw new TypeError(
        `OriginPool: urls must be an array of http(s) URLs, got ${JSON.stringify(options?.urls)}`,
      );
    }
    const attemptTimeoutMs = options.attemptTimeoutMs ?? 2000;
    if (!Number.isFinite(attemptTimeoutMs) || attemptTimeoutMs <= 0) {
      throw new TypeError(`OriginPool: attemptTimeoutMs must be a positive number, got ${attemptTimeoutMs}`);
    }
    const queueDepthTtlMs = options.queueDepthTtlMs ?? 5000;
    if (!Number.isFinite(queueDepthTtlMs) || queueDepthTtlMs < 0) {
      throw new TypeError(`OriginPool: queueDepthTtlMs must be a number >= 0, got ${queueDepthTtlMs}`);
    }
    // Validates the breaker options even when no origin is configured.
    new CircuitBreaker({ failureThreshold: options.failureThreshold, cooldownMs: options.cooldownMs });
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#origins = [...new Set(options.urls.map((u) => u.replace(/\/+$/, '')))].map(
      (url) =>
        new Origin(
          url,
          new CircuitBreaker({
            failureThreshold: options.failureThreshold,
            cooldownMs: options.cooldownMs,
            now: this.#now,
          }),
        ),
    );
    this.#attemptTimeoutMs = attemptTimeoutMs;
    this.#queueDepthHeader = (options.queueDepthHeader ?? 'x-queue-depth').toLowerCase();
    this.#queueDepthTtlMs = queueDepthTtlMs;
    this.#sign = options.sign;
    this.#fetch = options.fetch ?? ((req) => fetch(req));
    this.#retryAllowed = options.retryAllowed ?? (() => true);
    this.#capacityHeader = (options.capacityHeader ?? 'x-origin-capacity').toLowerCase();
  }

  /** A probe outside this pool found the origin at `url` ready: its breaker closes. */
  healthy(url: string): void {
    this.#origins.find((o) => o.url === url)?.breaker.onSuccess();
  }

  /** Base URLs of the origins. */
  get urls(): string[] {
    return this.#origins.map((o) => o.url);
  }

  /**
   * What the origins last reported, over those with a fresh report: the mean queue depth (rows) and the mean
   * capacity (rows an origin queues before it sheds); undefined when none reported lately.
   */
  load(): { queueDepth: number | undefined; capacity: number | undefined } {
    const now = this.#now();
    let n = 0;
    let depth = 0;
    let caps = 0;
    let capacity = 0;
    for (const o of this.#origins) {
      if (now - o.queueDepthAt > this.#queueDepthTtlMs) continue;
      n++;
      depth += o.queueDepth;
      if (o.capacity !== undefined) {
        caps++;
        capacity += o.capacity;
      }
    }
    return {
      queueDepth: n === 0 ? undefined : depth / n,
      capacity: caps === 0 ? undefined : capacity / caps,
    };
  }

  get size(): number {
    return this.#origins.length;
  }

  snapshot(): OriginSnapshot[] {
    const now = this.#now();
    return this.#origins.map((o) => ({
      url: o.url,
      inFlight: o.inFlight,
      queueDepth: now - o.queueDepthAt <= this.#queueDepthTtlMs ? o.queueDepth : undefined,
      breaker: o.breaker.state,
      consecutiveFailures: o.breaker.consecutiveFailures,
    }));
  }

  #load(o: Origin, now: number): number {
    return o.inFlight + (now - o.queueDepthAt <= this.#queueDepthTtlMs ? o.queueDepth : 0);
  }

  /** Power of two choices among the origins not yet tried whose circuit allows a request. */
  #choose(exclude: ReadonlySet<Origin>): Origin | undefined {
    const candidates = this.#origins.filter((o) => !exclude.has(o) && o.breaker.available());
    if (candidates.length === 0) return undefined;
    let chosen = candidates[0] as Origin;
    if (candidates.length > 1) {
      const i = Math.floor(this.#random() * candidates.length);
      let j = Math.floor(this.#random() * (candidates.length - 1));
      if (j >= i) j++;
      const a = candidates[i] as Origin;
      const b = candidates[j] as Origin;
      const now = this.#now();
      chosen = this.#load(b, now) < this.#load(a, now) ? b : a;
    }
    return chosen.breaker.acquire() ? chosen : undefined;
  }

  /** Sends the request to one origin, retrying once on another for safe-to-retry failures. */
  async send(req: OriginRequest): Promise<OriginResult> {
    if (this.#origins.length === 0)
      throw new OriginUnavailableError('no_origins', 'no origin is configured', 0);
    const tried = new Set<Origin>();
    let last: AttemptOutcome | undefined;
    for (let attempt = 1; attempt <= 2; attempt++) {
      if (req.signal?.aborted)
        throw new OriginUnavailableError('aborted', 'the request was aborted', tried.size);
      const remaining = req.deadline - this.#now();
      if (remaining <= 0) {
        throw new OriginUnavailableError(
          'deadline_exceeded',
          'the request deadline passed before the origin answered',
          tried.size,
        );
      }
      const origin = this.#choose(tried);
      if (origin === undefined) {
        if (last === undefined) {
          throw new OriginUnavailableError('breaker_open', 'every origin circuit is open', 0);
        }
        break;
      }
      if (attempt > 1 && !this.#retryAllowed()) {
        origin.breaker.onNeutral(); // frees a half-open probe slot this choice may have claimed
        break;
      }
      tried.add(origin);
      last = await this.#attempt(origin, req, remaining);
      if (last.kind === 'response') {
        if (last.reason === undefined)
          return {
            response: last.response,
            origin: origin.url,
            attempts: attempt,
            computeMs: computeMsOf(last.response.headers.get('server-timing')),
          };
        await last.response.body?.cancel();
      }
      if (!last.retryable) break;
    }
    const attempts = tried.size;
    if (last === undefined)
      throw new OriginUnavailableError('breaker_open', 'every origin circuit is open', attempts);
    if (last.kind === 'error') throw new OriginUnavailableError(last.reason, last.message, attempts);
    throw new OriginUnavailableError(
      last.reason ?? 'origin_error',
      `origin answered ${last.response.status} after ${attempts} attempt(s)`,
      attempts,
    );
  }

  async #attempt(origin: Origin, req: OriginRequest, remaining: number): Promise<AttemptOutcome> {
    const budget = Math.max(1, Math.floor(remaining));
    const timeoutMs = Math.min(this.#attemptTimeoutMs, budget);
    const deadlineBound = timeoutMs >= budget;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const cancel = () => controller.abort();
    req.signal?.addEventListener('abort', cancel);
    origin.inFlight++;
    try {
      const headers = new Headers(req.headers);
      // This attempt's own budget: an attempt the edge abandons (to retry elsewhere) must not keep the origin busy.
      headers.set('x-deadline-ms', String(timeoutMs));
      // The priority is the pool's to send (from the caller's tier, signed), never a header passed along.
      headers.delete('x-priority');
      if (this.#sign === undefined && req.priority !== undefined)
        headers.set('x-priority', String(req.priority));
      if (this.#sign !== undefined) {
        for (const [k, v] of Object.entries(
          await this.#sign({ method: req.method, path: req.path, body: req.body, priority: req.priority }),
        )) {
          headers.set(k, v);
        }
      }
      const response = await this.#fetch(
        new Request(origin.url + req.path, {
          method: req.method,
          headers,
          body: req.body === undefined ? null : req.body,
          signal: controller.signal,
        }),
      );
      this.#recordQueueDepth(origin, response);
      if (response.status === 401 || response.status === 403) {
        origin.breaker.onFailure();
        const detail = (await response.text().catch(() => '')).slice(0, 300);
        console.error(
          JSON.stringify({
            level: 'error',
            msg: 'origin refused the edge: check ORIGIN_SIGNING_SECRET (both tiers) and clocks',
            origin: origin.url,
            status: response.status,
            detail,
          }),
        );
        return {
          kind: 'error',
          reason: 'origin_refused',
          // Another origin may hold the secret (a rotation half done).
          retryable: true,
          // Clients see this; operators see the origin's own message in the log line above.
          message: 'the origin refused the edge (a configuration fault at the edge, logged)',
        };
      }
      if (FAILURE_STATUS.has(response.status)) origin.breaker.onFailure();
      else if (response.status === 429) origin.breaker.onNeutral();
      else origin.breaker.onSuccess();
      if (RETRYABLE_STATUS.has(response.status)) {
        return {
          kind: 'response',
          response,
          retryable: true,
          reason: response.status === 429 || response.status === 503 ? 'origin_overloaded' : 'origin_error',
        };
      }
      if (response.status >= 500) {
        return {
          kind: 'response',
          response,
          retryable: false,
          reason: response.status === 504 ? 'deadline_exceeded' : 'origin_error',
        };
      }
      return { kind: 'response', response, retryable: false };
    } catch (err) {
      if (req.signal?.aborted) {
        // Cancelled by the caller (a hedge that lost): says nothing about the origin.
        origin.breaker.onNeutral();
        return { kind: 'error', reason: 'aborted', retryable: false, message: 'the request was aborted' };
      }
      if (controller.signal.aborted && deadlineBound) {
        // The caller's budget ran out, not necessarily the origin's fault: no breaker verdict.
        origin.breaker.onNeutral();
        return {
          kind: 'error',
          reason: 'deadline_exceeded',
          retryable: false,
          message: `no answer within the ${budget} ms deadline`,
        };
      }
      origin.breaker.onFailure();
      if (controller.signal.aborted) {
        return {
          kind: 'error',
          reason: 'origin_timeout',
          retryable: true,
          message: `origin timed out after ${timeoutMs} ms`,
        };
      }
      return {
        kind: 'error',
        reason: 'network_error',
        retryable: true,
        message: `origin unreachable: ${err instanceof Error ? err.message : String(err)}`,
      };
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', cancel);
      origin.inFlight--;
    }
  }

  #recordQueueDepth(origin: Origin, response: Response): void {
    const raw = response.headers.get(this.#queueDepthHeader);
    if (raw === null) return;
    const depth = Number(raw);
    if (Number.isFinite(depth) && depth >= 0) {
      origin.queueDepth = depth;
      origin.queueDepthAt = this.#now();
    }
    const capacity = Number(response.headers.get(this.#capacityHeader) ?? Number.NaN);
    if (Number.isFinite(capacity) && capacity > 0) origin.capacity = capacity;
  }
}
