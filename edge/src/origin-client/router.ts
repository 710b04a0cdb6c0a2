/**
 * The origin router: several origin pools in several regions (regions.ts), chosen per request by the edge itself.
 * Cloudflare Load Balancing fails over on health monitors, cannot see an origin's queue and never hedges, so the
 * choice lives here, learned passively from the answers this isolate gets (no remote read on the request path):
 *
 *  1. Residency: the tenant's allowed regions are a hard filter, never relaxed; no allowed pool that can serve
 *     -> `no_pool_in_region` (the caller degrades to the edge answer). Interactive requests never use batch pools;
 *     a job's rows prefer them and fall back to interactive pools only within their own budget.
 *  2. Pools whose pool-level breaker is open are skipped (a pool fails as a whole: its origins all unreachable,
 *     timing out or shedding). An open pool gets one background probe per cooldown (`waitUntil`); its success
 *     closes the breaker and the pool's share ramps up from 5% over `rampMs` (no herd onto a pool that comes back).
 *  3. Score = observed RTT for this location (EWMA, seeded from the nearby map) + reported queue depth x service
 *     time per row + error rate x penalty.
 *  4. Pick at random with softmax weights exp(-(score - best) / temperature) x weight, never the argmin (every
 *     isolate would herd onto the same pool). Spill-over: a pool past `spillKnee` of its capacity (queue depth
 *     the origin reports over the capacity it reports) keeps only its headroom's share; the rest moves to the
 *     other pools in proportion to their weights, gradually, not all at once.
 *  5. Inside the pool, OriginPool's power of two choices, per-attempt deadlines, one retry and per-origin breakers.
 *
 * Hedging: when the first pool has not answered by its observed p95, the same items go to a second pool; the first
 * answer wins, the other attempt is aborted (the origin drops queued work of a closed connection). Hedges take a
 * token from a bucket filled at 5% of escalations, and stop while most first attempts are slow (a browned-out
 * region must not get double load). Retries across pools, retries inside a pool and hedges all draw on one retry
 * budget (10% of first attempts, with a floor of one per second); one deadline covers every attempt.
 */

import { type BreakerState, CircuitBreaker } from './breaker.ts';
import { Budget } from './budget.ts';
import { OriginUnavailableError } from './errors.ts';
import { Ewma, RttEstimate, Window } from './latency.ts';
import { OriginPool, type OriginPoolOptions, type OriginRequest, type OriginResult } from './pool.ts';
import { type Location, type PoolConfig, type RegionsConfig, seedRtts } from './regions.ts';

export interface RouteHints extends Location {
  /** Regions the tenant allows; undefined, empty or containing '*' = any. */
  regions?: readonly string[];
  /** A job's rows (no latency pressure): batch pools first. */
  batch?: boolean;
  /** Keeps background work (a probe) alive past the response: the Worker's `waitUntil`. @default detached */
  waitUntil?: (p: Promise<unknown>) => void;
}

export interface RoutedResult extends OriginResult {
  /** Id of the pool that answered. */
  pool: string;
  /** Whether a hedge was sent for this request (whichever attempt won). */
  hedged: boolean;
}

export interface OriginRouterOptions extends Omit<OriginPoolOptions, 'urls' | 'retryAllowed'> {
  regions: RegionsConfig;
  /** Consecutive failed requests that open a pool's breaker. @default 3 */
  poolFailureThreshold?: number;
  /** Open pool breaker cooldown before its probe, ms. @default 5000 */
  poolCooldownMs?: number;
  /** Extra attempts (retries + hedges) per first attempt. @default 0.1 */
  retryRatio?: number;
  /** Extra attempts per second allowed regardless of traffic. @default 1 */
  retryFloorPerSecond?: number;
  /** Hedges per escalation at most. 0 turns hedging off. @default 0.05 */
  hedgeShare?: number;
  /** Answers a pool must have given before its p95 is trusted as a hedge delay. @default 20 */
  hedgeMinSamples?: number;
  /** Share of recent first attempts slower than the hedge delay above which hedging stops. @default 0.5 */
  brownoutShare?: number;
  /** A recovered pool's ramp from 5% to its full share, ms. @default 25000 */
  rampMs?: number;
  /** A pool with no answer for this long gets a background probe, ms. @default 30000 */
  staleMs?: number;
  /** Softmax temperature of the pool scores, ms (a pool 15 ms farther gets ~5% of what the nearest gets). @default 5 */
  temperatureMs?: number;
  /**
   * Score added at a 100% error rate, ms; it fades with time since the pool's last error (`errorDecayMs`), so a
   * pool no traffic reaches is not avoided forever for one bad answer. @default 1000
   */
  errorPenaltyMs?: number;
  /** Time constant of that fading, ms. @default 10000 */
  errorDecayMs?: number;
  /** Utilisation (queue / capacity) above which a pool sheds share. @default 0.5 */
  spillKnee?: number;
  /** Path a probe GETs. @default '/v2/health/ready' */
  probePath?: string;
}

export interface PoolSnapshot {
  id: string;
  region: string;
  batch: boolean;
  urls: string[];
  breaker: BreakerState;
  /** Observed RTT (answer time minus the origin's compute) per location key, ms. */
  rtt_ms: Record<string, number>;
  /** The p95 answer time per location key (the hedge delay from there), ms. */
  p95_ms: Record<string, number>;
  queue_depth: number | null;
  capacity: number;
  error_rate: number;
  /** Share cap while ramping after a recovery (1 = full). */
  ramp: number;
  /** Attempts sent, failed requests, hedges sent to this pool, requests it shed by spill-over, failovers to it, probes. */
  requests: number;
  errors: number;
  hedges: number;
  spills: number;
  failovers: number;
  probes: number;
}

export interface RouterSnapshot {
  pools: PoolSnapshot[];
  first_attempts: number;
  extra_attempts: number;
  retry_budget_refused: number;
  hedge_budget_refused: number;
  brownout: boolean;
}

type Outcome =
  | { kind: 'ok'; result: OriginResult; pool: PoolState }
  | { kind: 'error'; error: OriginUnavailableError; pool: PoolState };

/** Failures worth another pool: anything but a spent deadline or our own abort. */
const FAILOVER = new Set([
  'no_origins',
  'breaker_open',
  'origin_error',
  'origin_refused',
  'origin_overloaded',
  'origin_timeout',
  'network_error',
]);

class PoolState {
  readonly config: PoolConfig;
  readonly pool: OriginPool;
  readonly breaker: CircuitBreaker;
  /** Per location key: the RTT estimate, and the last 200 answer times (the hedge delay is their p95). */
  readonly rtt = new Map<string, RttEstimate>();
  readonly latency = new Map<string, Window>();
  readonly errors = new Ewma(0.1, 0);
  /** Origin compute per row, ms (Server-Timing compute / rows). */
  readonly serviceMs = new Ewma(0.2, 0.1);
  lastSeen: number | undefined;
  /** When its last error was seen (the error penalty fades from there). */
  errorAt = 0;
  probing = false;
  recoveredAt: number | undefined;
  counters = { requests: 0, errors: 0, hedges: 0, spills: 0, failovers: 0, probes: 0 };

  constructor(config: PoolConfig, pool: OriginPool, breaker: CircuitBreaker) {
    this.config = config;
    this.pool = pool;
    this.breaker = breaker;
  }
}

export class OriginRouter {
  readonly #pools: PoolState[];
  readonly #regions: RegionsConfig;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #fetch: (request: Request) => Promise<Response>;
  readonly #retry: Budget;
  readonly #hedge: Budget;
  readonly #batchFallback: Budget;
  /** Some pool is a batch pool (job rows prefer them; without one they use the interactive pools freely). */
  readonly #hasBatchPools: boolean;
  readonly #hedgeMinSamples: number;
  readonly #brownoutShare: number;
  readonly #rampMs: number;
  readonly #staleMs: number;
  readonly #temperatureMs: number;
  readonly #errorPenaltyMs: number;
  readonly #errorDecayMs: number;
  readonly #spillKnee: number;
  readonly #probePath: string;
  readonly #attemptTimeoutMs: number;
  readonly #hedging: boolean;
  /** Whether each of the last first attempts outlived its hedge delay (1) or not (0). */
  readonly #slow = new Uint8Array(100);
  #slowNext = 0;
  #slowCount = 0;
  #slowSum = 0;
  #firstAttempts = 0;
  #seeds = new Map<string, Map<string, number>>();

  constructor(options: OriginRouterOptions) {
    const { regions, ...rest } = options;
    this.#regions = regions;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#fetch = options.fetch ?? ((req) => fetch(req));
    this.#attemptTimeoutMs = options.attemptTimeoutMs ?? 2000;
    const retryRatio = options.retryRatio ?? 0.1;
    const hedgeShare = options.hedgeShare ?? 0.05;
    this.#retry = new Budget({
      perEvent: retryRatio,
      perSecond: options.retryFloorPerSecond ?? 1,
      now: this.#now,
    });
    this.#hedge = new Budget({ perEvent: hedgeShare, now: this.#now });
    this.#batchFallback = new Budget({ perEvent: 0.1, perSecond: 1, now: this.#now });
    this.#hasBatchPools = regions.pools.some((p) => p.batch);
    this.#hedging = hedgeShare > 0;
    this.#hedgeMinSamples = options.hedgeMinSamples ?? 20;
    this.#brownoutShare = options.brownoutShare ?? 0.5;
    this.#rampMs = options.rampMs ?? 25_000;
    this.#staleMs = options.staleMs ?? 30_000;
    this.#temperatureMs = options.temperatureMs ?? 5;
    this.#errorPenaltyMs = options.errorPenaltyMs ?? 1000;
    this.#errorDecayMs = options.errorDecayMs ?? 10_000;
    this.#spillKnee = options.spillKnee ?? 0.5;
    this.#probePath = options.probePath ?? '/v2/health/ready';
    const retryAllowed = () => this.#retry.take();
    this.#pools = regions.pools.map(
      (config) =>
        new PoolState(
          config,
          new OriginPool({ ...rest, urls: config.urls, retryAllowed, now: this.#now, random: this.#random }),
          new CircuitBreaker({
            failureThreshold: options.poolFailureThreshold ?? 3,
            cooldownMs: options.poolCooldownMs ?? 5000,
            now: this.#now,
          }),
        ),
    );
  }

  /** Origins over all pools. */
  get size(): number {
    return this.#pools.reduce((n, p) => n + p.pool.size, 0);
  }

  /**
   * Sends the request to the best pool the hints allow, hedging and failing over within the budgets and the one
   * deadline. Resolves like OriginPool.send (2xx-4xx answers), with the pool that answered; throws
   * OriginUnavailableError otherwise (`no_pool_in_region` when the tenant's regions have no pool that can serve).
   */
  async send(request: OriginRequest, hints: RouteHints = {}): Promise<RoutedResult> {
    const restricted =
      hints.regions !== undefined && hints.regions.length > 0 && !hints.regions.includes('*');
    const allowed = this.#pools.filter(
      (p) =>
        (!restricted || (hints.regions as readonly string[]).includes(p.config.region)) &&
        (hints.batch === true || !p.config.batch),
    );
    const none = (attempts: number) =>
      restricted
        ? new OriginUnavailableError(
            'no_pool_in_region',
            `no origin pool in the allowed regions (${(hints.regions as readonly string[]).join(', ')}) can serve`,
            attempts,
          )
        : new OriginUnavailableError(
            this.#pools.length === 0 ? 'no_origins' : 'breaker_open',
            this.#pools.length === 0 ? 'no origin is configured' : 'no origin pool can serve',
            attempts,
          );
    if (allowed.length === 0) throw none(0);
    // The origin sees where the request entered (logs; the regions stack's fault proxies emulate RTT by it).
    const req =
      hints.colo === undefined
        ? request
        : { ...request, headers: { ...request.headers, 'x-edge-colo': hints.colo } };
    this.#firstAttempts++;
    this.#retry.deposit();
    this.#hedge.deposit();
    this.#batchFallback.deposit();
    const tried = new Set<PoolState>();
    let last: OriginUnavailableError | undefined;
    let attempts = 0;
    for (;;) {
      if (req.deadline - this.#now() <= 0) {
        throw (
          last ??
          new OriginUnavailableError(
            'deadline_exceeded',
            'the request deadline passed before the origin answered',
            attempts,
          )
        );
      }
      const pool = this.#pick(allowed, tried, hints);
      if (pool === undefined) break;
      if (tried.size > 0) {
        if (!this.#retry.take()) {
          pool.breaker.onNeutral();
          break;
        }
        pool.counters.failovers++;
      }
      tried.add(pool);
      const { outcome, hedged, made } = await this.#race(pool, req, allowed, tried, hints);
      attempts += made;
      if (outcome.kind === 'ok') return { ...outcome.result, attempts, pool: outcome.pool.config.id, hedged };
      last = outcome.error;
      if (!FAILOVER.has(last.reason)) break;
    }
    if (last === undefined || (restricted && FAILOVER.has(last.reason))) {
      const err = none(attempts);
      if (last !== undefined) err.message = `${err.message} (last: ${last.message})`;
      throw err;
    }
    throw new OriginUnavailableError(last.reason, last.message, attempts);
  }

  /** One first attempt on `pool`, hedged to a second pool when it outlives the pool's p95. */
  async #race(
    pool: PoolState,
    req: OriginRequest,
    allowed: readonly PoolState[],
    tried: Set<PoolState>,
    hints: RouteHints,
  ): Promise<{ outcome: Outcome; hedged: boolean; made: number }> {
    const first = new AbortController();
    const key = locationKey(hints);
    const a = this.#attempt(pool, req, first.signal, key);
    // Job rows have no latency pressure: never hedged (a hedge is extra load bought for latency).
    const delay = this.#hedging && hints.batch !== true ? this.#hedgeDelay(pool, key) : undefined;
    if (delay === undefined) {
      const outcome = await a;
      return { outcome, hedged: false, made: attemptsOf(outcome) };
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const fired = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), delay);
    });
    const early = await Promise.race([a, fired]);
    if (timer !== undefined) clearTimeout(timer);
    // Requests, not attempts: a failover's attempt says nothing about how slow requests are.
    if (tried.size === 1) this.#noteSlow(early === undefined);
    if (early !== undefined) return { outcome: early, hedged: false, made: attemptsOf(early) };
    const second =
      this.#brownout() || req.deadline - this.#now() <= 0 ? undefined : this.#pick(allowed, tried, hints);
    if (second === undefined) {
      const outcome = await a;
      return { outcome, hedged: false, made: attemptsOf(outcome) };
    }
    if (!this.#hedge.take() || !this.#retry.take()) {
      second.breaker.onNeutral();
      const outcome = await a;
      return { outcome, hedged: false, made: attemptsOf(outcome) };
    }
    tried.add(second);
    second.counters.hedges++;
    const other = new AbortController();
    const b = this.#attempt(second, req, other.signal, key);
    const outcome = await firstOk(a, b);
    // The loser is cancelled: its connection closes and the origin drops its queued rows.
    (outcome.pool === pool ? other : first).abort();
    const [oa, ob] = await Promise.all([a, b]);
    return { outcome, hedged: true, made: attemptsOf(oa) + attemptsOf(ob) };
  }

  /** One request to one pool (OriginPool: P2C, per-origin breakers, one budgeted retry), with the bookkeeping. */
  async #attempt(p: PoolState, req: OriginRequest, signal: AbortSignal, key: string): Promise<Outcome> {
    p.counters.requests++;
    const start = this.#now();
    const wasClosed = p.breaker.state === 'closed';
    try {
      const result = await p.pool.send({ ...req, signal: anySignal(req.signal, signal) });
      const end = this.#now();
      p.lastSeen = end;
      this.#healthy(p, wasClosed);
      p.errors.add(0);
      const elapsed = end - start;
      this.#latencyOf(p, key).add(elapsed);
      this.#rttOf(p, key).add(Math.max(0, elapsed - result.computeMs), end);
      if (result.computeMs > 0) p.serviceMs.add(result.computeMs / Math.max(1, req.items ?? 1));
      return { kind: 'ok', result, pool: p };
    } catch (err) {
      if (!(err instanceof OriginUnavailableError)) throw err;
      if (err.reason === 'aborted' || err.reason === 'deadline_exceeded') p.breaker.onNeutral();
      else {
        p.lastSeen = this.#now();
        p.breaker.onFailure();
        p.errors.add(1);
        p.errorAt = this.#now();
        p.counters.errors++;
      }
      return { kind: 'error', error: err, pool: p };
    }
  }

  #healthy(p: PoolState, wasClosed: boolean): void {
    p.breaker.onSuccess();
    if (!wasClosed) p.recoveredAt = this.#now();
  }

  #rttOf(p: PoolState, key: string): RttEstimate {
    let e = p.rtt.get(key);
    if (e === undefined) {
      e = new RttEstimate();
      p.rtt.set(key, e);
    }
    return e;
  }

  #latencyOf(p: PoolState, key: string): Window {
    let w = p.latency.get(key);
    if (w === undefined) {
      w = new Window(200);
      p.latency.set(key, w);
    }
    return w;
  }

  #seedFor(key: string, p: PoolState): number {
    return this.#seeds.get(key)?.get(p.config.id) ?? 50;
  }

  /**
   * Chooses a pool among `allowed` minus `tried` (residency applied by the caller): closed breakers only (open ones
   * get a background probe instead), batch rules, softmax on scores with ramp and spill caps. Claims the breaker.
   */
  #pick(
    allowed: readonly PoolState[],
    tried: ReadonlySet<PoolState>,
    hints: RouteHints,
  ): PoolState | undefined {
    const now = this.#now();
    const key = locationKey(hints);
    if (!this.#seeds.has(key)) this.#seeds.set(key, seedRtts(this.#regions, hints));
    let cands: PoolState[] = [];
    const halfOpen: PoolState[] = [];
    for (const p of allowed) {
      if (tried.has(p)) continue;
      const state = p.breaker.state;
      if (state === 'half-open' && !p.probing && p.breaker.available()) halfOpen.push(p);
      if (state !== 'closed') continue;
      if (p.lastSeen !== undefined && now - p.lastSeen > this.#staleMs) this.#probe(p, hints);
      cands.push(p);
    }
    // A pool past its cooldown is probed in the background while others serve; when none can, the request itself
    // is the probe (one at a time: the breaker lets one through).
    if (cands.length > 0) for (const p of halfOpen) this.#probe(p, hints);
    else cands = halfOpen;
    // Job rows go to batch pools; interactive pools take them only within the fallback budget, so a batch pool's
    // outage cannot flood them. Without any batch pool configured there is nothing to protect them from: the
    // interactive pools are where job rows go (their requests carry the low priority the edge signs).
    if (hints.batch === true && this.#hasBatchPools) {
      const batch = cands.filter((p) => p.config.batch);
      if (batch.length > 0) cands = batch;
      else if (cands.length > 0 && !this.#batchFallback.take()) return undefined;
    }
    if (cands.length === 0) return undefined;
    const chosen = cands.length === 1 ? (cands[0] as PoolState) : this.#sample(cands, key, now);
    return chosen.breaker.acquire() ? chosen : undefined;
  }

  #score(p: PoolState, key: string): number {
    const rtt = this.#rttOf(p, key).estimate(this.#seedFor(key, p), this.#now());
    const { queueDepth } = p.pool.load();
    const errors = (p.errors.value ?? 0) * Math.exp(-(this.#now() - p.errorAt) / this.#errorDecayMs);
    return rtt + (queueDepth ?? 0) * (p.serviceMs.value ?? 0.1) + errors * this.#errorPenaltyMs;
  }

  /** Share cap of a pool: its recovery ramp times its headroom past the spill knee. */
  #cap(p: PoolState, now: number): { ramp: number; keep: number } {
    let ramp = 1;
    if (p.recoveredAt !== undefined) {
      const t = (now - p.recoveredAt) / this.#rampMs;
      if (t >= 1) p.recoveredAt = undefined;
      else ramp = Math.max(0.05, t);
    }
    const { queueDepth, capacity } = p.pool.load();
    const u = (queueDepth ?? 0) / (capacity ?? p.config.capacity);
    const keep = u <= this.#spillKnee ? 1 : Math.max(0, 1 - (u - this.#spillKnee) / (1 - this.#spillKnee));
    return { ramp, keep };
  }

  #sample(cands: readonly PoolState[], key: string, now: number): PoolState {
    const scores = cands.map((p) => this.#score(p, key));
    const best = Math.min(...scores);
    const weights = cands.map(
      (p, i) => p.config.weight * Math.exp(-((scores[i] as number) - best) / this.#temperatureMs),
    );
    const total = weights.reduce((a, b) => a + b, 0);
    const shares = weights.map((w) => w / total);
    const caps = cands.map((p) => this.#cap(p, now));
    const capped = shares.map(
      (s, i) => s * (caps[i] as { ramp: number; keep: number }).ramp * (caps[i] as { keep: number }).keep,
    );
    const left = 1 - capped.reduce((a, b) => a + b, 0);
    const free = shares.reduce((n, s, i) => (capped[i] === s ? n + s : n), 0);
    const final =
      left <= 1e-12
        ? capped
        : free > 0
          ? capped.map((c, i) => (c === shares[i] ? c + (left * c) / free : c))
          : shares;
    let r = this.#random() * final.reduce((a, b) => a + b, 0);
    let chosen = cands.length - 1;
    for (let i = 0; i < final.length; i++) {
      r -= final[i] as number;
      if (r < 0) {
        chosen = i;
        break;
      }
    }
    // A request the top pool would have taken but shed by spill-over counts for that pool.
    let top = 0;
    for (let i = 1; i < shares.length; i++) if ((shares[i] as number) > (shares[top] as number)) top = i;
    if (chosen !== top && (caps[top] as { keep: number }).keep < 1)
      (cands[top] as PoolState).counters.spills++;
    return cands[chosen] as PoolState;
  }

  /** One background GET of the pool's readiness (per cooldown or staleness): closes or reopens its breaker. */
  #probe(p: PoolState, hints: RouteHints): void {
    if (p.probing) return;
    const wasClosed = p.breaker.state === 'closed';
    if (!wasClosed && !p.breaker.acquire()) return;
    p.probing = true;
    p.counters.probes++;
    const url = p.config.urls[Math.floor(this.#random() * p.config.urls.length)] as string;
    const start = this.#now();
    const key = locationKey(hints);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#attemptTimeoutMs);
    // The probe says where it comes from, as requests do (origin logs; the regions stack's proxies add that RTT).
    const headers: Record<string, string> = hints.colo === undefined ? {} : { 'x-edge-colo': hints.colo };
    const run = this.#fetch(new Request(url + this.#probePath, { headers, signal: controller.signal }))
      .then(async (response) => {
        await response.body?.cancel();
        if (response.status !== 200) throw new Error(`probe answered ${response.status}`);
        p.lastSeen = this.#now();
        p.pool.healthy(url);
        p.errors.add(0);
        this.#rttOf(p, key).add(this.#now() - start, this.#now());
        this.#healthy(p, wasClosed);
      })
      .catch(() => {
        p.lastSeen = this.#now();
        p.breaker.onFailure();
        p.errors.add(1);
        p.errorAt = this.#now();
      })
      .finally(() => {
        clearTimeout(timer);
        p.probing = false;
      });
    if (hints.waitUntil !== undefined) hints.waitUntil(run);
  }

  /** The pool's p95 from this location (its own RTT: a far colo's answers do not delay a near one's hedges). */
  #hedgeDelay(p: PoolState, key: string): number | undefined {
    const latency = p.latency.get(key);
    if (latency === undefined || latency.count < this.#hedgeMinSamples) return undefined;
    const p95 = latency.quantile(0.95);
    return p95 === undefined ? undefined : Math.max(1, p95);
  }

  #noteSlow(slow: boolean): void {
    const v = slow ? 1 : 0;
    if (this.#slowCount === this.#slow.length) this.#slowSum -= this.#slow[this.#slowNext] as number;
    else this.#slowCount++;
    this.#slow[this.#slowNext] = v;
    this.#slowSum += v;
    this.#slowNext = (this.#slowNext + 1) % this.#slow.length;
  }

  #brownout(): boolean {
    return this.#slowCount >= 20 && this.#slowSum / this.#slowCount > this.#brownoutShare;
  }

  snapshot(): RouterSnapshot {
    const now = this.#now();
    return {
      pools: this.#pools.map((p) => {
        const { queueDepth, capacity } = p.pool.load();
        return {
          id: p.config.id,
          region: p.config.region,
          batch: p.config.batch,
          urls: p.pool.urls,
          breaker: p.breaker.state,
          rtt_ms: Object.fromEntries(
            [...p.rtt].map(([k, e]) => [k || 'default', round(e.estimate(this.#seedFor(k, p), now))]),
          ),
          p95_ms: Object.fromEntries(
            [...p.latency].map(([k, w]) => [k || 'default', round(w.quantile(0.95) ?? 0)]),
          ),
          queue_depth: queueDepth ?? null,
          capacity: capacity ?? p.config.capacity,
          error_rate: round(p.errors.value ?? 0),
          ramp: round(this.#cap(p, now).ramp),
          ...p.counters,
        };
      }),
      first_attempts: this.#firstAttempts,
      extra_attempts: this.#retry.granted,
      retry_budget_refused: this.#retry.refused,
      hedge_budget_refused: this.#hedge.refused,
      brownout: this.#brownout(),
    };
  }
}

/** RTTs are learned per location: the colo, else the country, else the continent. */
function locationKey(where: Location): string {
  return where.colo ?? where.country ?? where.continent ?? '';
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function attemptsOf(o: Outcome): number {
  return o.kind === 'ok' ? o.result.attempts : o.error.attempts;
}

/** The first outcome that is an answer; when both fail, the one that failed last. */
function firstOk(a: Promise<Outcome>, b: Promise<Outcome>): Promise<Outcome> {
  return new Promise((resolve) => {
    let failed = 0;
    const on = (o: Outcome) => {
      if (o.kind === 'ok') resolve(o);
      else if (++failed === 2) resolve(o);
    };
    a.then(on);
    b.then(on);
  });
}

/** A signal that aborts when any of the given ones does. */
function anySignal(...signals: Array<AbortSignal | undefined>): AbortSignal {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  return present.length === 1 ? (present[0] as AbortSignal) : AbortSignal.any(present);
}
