/**
 * Budgets for extra work (retries, hedges) over a sliding window, as Finagle's RetryBudget: within any `windowMs`,
 * the extra attempts granted are at most `perEvent` x the first attempts made in that window, plus `perSecond` x the
 * window's seconds (a floor, so a quiet isolate may still retry). Under total failure the extra attempts stay at
 * that share of the traffic (no retry storm), and a burst of failures at the start of an outage can use what the
 * last seconds of healthy traffic earned (a token bucket with a small cap could not: its cap is the burst).
 */
export interface BudgetOptions {
  /** Extra attempts per first attempt (0.1: at most 10% of the window's first attempts). */
  perEvent: number;
  /** Extra attempts per second regardless of traffic (the floor). @default 0 */
  perSecond?: number;
  /** The window, ms (kept in 10 slots). @default 10000 */
  windowMs?: number;
  /** Clock, ms. @default Date.now */
  now?: () => number;
}

const SLOTS = 10;

export class Budget {
  readonly #perEvent: number;
  readonly #floor: number;
  readonly #slotMs: number;
  readonly #now: () => number;
  /** Per slot: first attempts and extra attempts granted; `#slot` is the index of the current one. */
  readonly #events = new Float64Array(SLOTS);
  readonly #taken = new Float64Array(SLOTS);
  #slotAt: number;
  #slot = 0;
  /** Extra attempts granted and refused, since start. */
  granted = 0;
  refused = 0;

  constructor(options: BudgetOptions) {
    const windowMs = options.windowMs ?? 10_000;
    for (const [k, v] of Object.entries({
      perEvent: options.perEvent,
      perSecond: options.perSecond ?? 0,
      windowMs,
    })) {
      if (!Number.isFinite(v) || v < 0) throw new TypeError(`Budget: ${k} must be a number >= 0, got ${v}`);
    }
    this.#perEvent = options.perEvent;
    this.#floor = ((options.perSecond ?? 0) * windowMs) / 1000;
    this.#slotMs = windowMs / SLOTS;
    this.#now = options.now ?? Date.now;
    this.#slotAt = this.#now();
  }

  /** Extra attempts the window still allows. */
  get available(): number {
    this.#advance();
    let events = 0;
    let taken = 0;
    for (let i = 0; i < SLOTS; i++) {
      events += this.#events[i] as number;
      taken += this.#taken[i] as number;
    }
    return this.#perEvent * events + this.#floor - taken;
  }

  /** A first attempt was made: its share of the budget. */
  deposit(): void {
    this.#advance();
    this.#events[this.#slot] = (this.#events[this.#slot] as number) + 1;
  }

  /** Takes one extra attempt; false (and nothing taken) when the window's budget is spent. */
  take(): boolean {
    if (this.available < 1) {
      this.refused++;
      return false;
    }
    this.#taken[this.#slot] = (this.#taken[this.#slot] as number) + 1;
    this.granted++;
    return true;
  }

  /** Gives back an extra attempt taken but not made after all. */
  refund(): void {
    this.#advance();
    this.#taken[this.#slot] = Math.max(0, (this.#taken[this.#slot] as number) - 1);
    this.granted--;
  }

  /** Moves to the slot of now, clearing the slots the window has left behind. */
  #advance(): void {
    const now = this.#now();
    const steps = Math.floor((now - this.#slotAt) / this.#slotMs);
    if (steps <= 0) return;
    for (let i = 0; i < Math.min(steps, SLOTS); i++) {
      this.#slot = (this.#slot + 1) % SLOTS;
      this.#events[this.#slot] = 0;
      this.#taken[this.#slot] = 0;
    }
    this.#slotAt += steps * this.#slotMs;
  }
}
