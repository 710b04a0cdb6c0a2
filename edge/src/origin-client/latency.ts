/**
 * Latency bookkeeping per pool, per isolate: an exponentially weighted mean (RTT, error rate) and a window of the
 * last answers' times for a percentile (the hedge delay is a pool's observed p95).
 */

/** Exponentially weighted moving average; undefined until the first sample unless seeded. */
export class Ewma {
  readonly #alpha: number;
  value: number | undefined;

  constructor(alpha: number, seed?: number) {
    if (!(alpha > 0 && alpha <= 1)) throw new TypeError(`Ewma: alpha must be in (0, 1], got ${alpha}`);
    this.#alpha = alpha;
    this.value = seed;
  }

  add(sample: number): void {
    this.value = this.value === undefined ? sample : this.value + this.#alpha * (sample - this.value);
  }
}

/** The last `size` samples; quantiles sorted lazily and cached until the next sample. */
export class Window {
  readonly #samples: Float64Array;
  #count = 0;
  #next = 0;
  #sorted: Float64Array | undefined;

  constructor(size = 200) {
    if (!Number.isInteger(size) || size < 1)
      throw new TypeError(`Window: size must be an integer >= 1, got ${size}`);
    this.#samples = new Float64Array(size);
  }

  get count(): number {
    return this.#count;
  }

  add(sample: number): void {
    this.#samples[this.#next] = sample;
    this.#next = (this.#next + 1) % this.#samples.length;
    if (this.#count < this.#samples.length) this.#count++;
    this.#sorted = undefined;
  }

  /** Forgets every sample. */
  clear(): void {
    this.#count = 0;
    this.#next = 0;
    this.#sorted = undefined;
  }

  /** The q-quantile (0..1, nearest rank) of the samples held; undefined when empty. */
  quantile(q: number): number | undefined {
    if (this.#count === 0) return undefined;
    this.#sorted ??= this.#samples.slice(0, this.#count).sort();
    const rank = Math.min(this.#count - 1, Math.max(0, Math.ceil(q * this.#count) - 1));
    return this.#sorted[rank];
  }
}

/**
 * The RTT to one pool from one location: the lower quartile of the last 32 samples (a slow tail or a queue does not
 * move it; queueing has its own term in the score), falling back to the seed while nothing was measured. An estimate
 * nobody refreshed for `graceMs` fades back toward the seed (time constant `fadeMs`), so a pool that was slow for a
 * moment is tried again once it would be the nearest, instead of being avoided for good because no traffic goes
 * there to measure it; a sample after such a gap starts a fresh window.
 */
const PRIOR_SAMPLES = 4;

export class RttEstimate {
  readonly #window = new Window(32);
  readonly #graceMs: number;
  readonly #fadeMs: number;
  #lastAt = Number.NEGATIVE_INFINITY;

  constructor(graceMs = 2000, fadeMs = 8000) {
    this.#graceMs = graceMs;
    this.#fadeMs = fadeMs;
  }

  add(sample: number, now: number): void {
    if (now - this.#lastAt > this.#graceMs) this.#window.clear();
    this.#window.add(sample);
    this.#lastAt = now;
  }

  estimate(seed: number, now: number): number {
    const q = this.#window.quantile(0.25);
    if (q === undefined) return seed;
    // The seed counts as PRIOR_SAMPLES samples: one odd first answer does not overrule the map.
    const trust = Math.min(1, this.#window.count / PRIOR_SAMPLES);
    const age = now - this.#lastAt;
    const fade = age <= this.#graceMs ? 1 : Math.exp(-(age - this.#graceMs) / this.#fadeMs);
    return seed + (q - seed) * trust * fade;
  }
}
