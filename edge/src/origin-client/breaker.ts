/**
 * A circuit breaker for one origin. Closed: requests flow, consecutive failures are counted. After
 * `failureThreshold` of them it opens: no requests for `cooldownMs`. Then it lets exactly one probe through
 * (half-open): the probe's success closes it, its failure opens it for another cooldown.
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. @default 5 */
  failureThreshold?: number;
  /** How long the circuit stays open before a probe, ms. @default 10000 */
  cooldownMs?: number;
  /** Clock, ms. @default Date.now */
  now?: () => number;
}

export class CircuitBreaker {
  readonly failureThreshold: number;
  readonly cooldownMs: number;
  readonly #now: () => number;
  #failures = 0;
  #openedAt: number | undefined;
  #probing = false;

  constructor(options: BreakerOptions = {}) {
    const failureThreshold = options.failureThreshold ?? 5;
    if (!Number.isInteger(failureThreshold) || failureThreshold < 1) {
      throw new TypeError(`failureThreshold must be an integer >= 1, got ${failureThreshold}`);
    }
    const cooldownMs = options.cooldownMs ?? 10_000;
    if (!Number.isFinite(cooldownMs) || cooldownMs <= 0) {
      throw new TypeError(`cooldownMs must be a positive number, got ${cooldownMs}`);
    }
    this.failureThreshold = failureThreshold;
    this.cooldownMs = cooldownMs;
    this.#now = options.now ?? Date.now;
  }

  get state(): BreakerState {
    if (this.#openedAt === undefined) return 'closed';
    return this.#probing || this.#now() - this.#openedAt >= this.cooldownMs ? 'half-open' : 'open';
  }

  get consecutiveFailures(): number {
    return this.#failures;
  }

  /** Whether a request may be sent now (closed, or half-open with no probe in flight). Does not change state. */
  available(): boolean {
    const s = this.state;
    return s === 'closed' || (s === 'half-open' && !this.#probing);
  }

  /** Claims permission to send: true when closed, or when this call becomes the half-open probe. */
  acquire(): boolean {
    if (!this.available()) return false;
    if (this.#openedAt !== undefined) this.#probing = true;
    return true;
  }

  onSuccess(): void {
    this.#failures = 0;
    this.#openedAt = undefined;
    this.#probing = false;
  }

  onFailure(): void {
    this.#failures++;
    if (this.#probing || this.#failures >= this.failureThreshold) {
      this.#openedAt = this.#now();
      this.#probing = false;
    }
  }

  /** The request ended without a verdict on the origin's health (e.g. a 4xx): frees a probe slot. */
  onNeutral(): void {
    if (this.#probing) this.#probing = false;
  }
}
