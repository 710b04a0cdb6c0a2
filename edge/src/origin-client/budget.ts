/**
 * Token buckets for extra work: retries and hedges. Each first attempt deposits `perEvent` tokens (a share of the
 * traffic), time deposits `perSecond` (a floor, so a quiet isolate may still retry), up to `cap`; an extra attempt
 * takes one whole token or is not made. Under total failure the extra attempts are at most perEvent x first
 * attempts + the floor: no retry storm (Finagle's RetryBudget, gRPC's retry throttling).
 */
export interface BudgetOptions {
  /** Tokens per first attempt (0.1: extra attempts <= 10% of first attempts). */
  perEvent: number;
  /** Tokens per second regardless of traffic (the floor). @default 0 */
  perSecond?: number;
  /** Most tokens held (the largest burst). */
  cap: number;
  /** Tokens at start. @default cap */
  initial?: number;
  /** Clock, ms. @default Date.now */
  now?: () => number;
}

export class Budget {
  readonly #perEvent: number;
  readonly #perSecond: number;
  readonly #cap: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;
  /** Extra attempts granted and refused, since start. */
  granted = 0;
  refused = 0;

  constructor(options: BudgetOptions) {
    for (const [k, v] of Object.entries({ perEvent: options.perEvent, cap: options.cap })) {
      if (!Number.isFinite(v) || v < 0) throw new TypeError(`Budget: ${k} must be a number >= 0, got ${v}`);
    }
    this.#perEvent = options.perEvent;
    this.#perSecond = options.perSecond ?? 0;
    this.#cap = options.cap;
    this.#now = options.now ?? Date.now;
    this.#tokens = Math.min(options.initial ?? options.cap, options.cap);
    this.#at = this.#now();
  }

  get tokens(): number {
    this.#refill();
    return this.#tokens;
  }

  /** A first attempt was made: its share of the budget. */
  deposit(): void {
    this.#refill();
    this.#tokens = Math.min(this.#cap, this.#tokens + this.#perEvent);
  }

  /** Takes one token for an extra attempt; false (and nothing taken) when the budget is spent. */
  take(): boolean {
    this.#refill();
    if (this.#tokens < 1) {
      this.refused++;
      return false;
    }
    this.#tokens -= 1;
    this.granted++;
    return true;
  }

  /** Gives back a token taken for an attempt that was not made after all. */
  refund(): void {
    this.#tokens = Math.min(this.#cap, this.#tokens + 1);
    this.granted--;
  }

  #refill(): void {
    const now = this.#now();
    if (this.#perSecond > 0 && now > this.#at) {
      this.#tokens = Math.min(this.#cap, this.#tokens + ((now - this.#at) / 1000) * this.#perSecond);
    }
    this.#at = now;
  }
}
