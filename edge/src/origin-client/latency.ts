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

  /** The q-quantile (0..1, nearest rank) of the samples held; undefined when empty. */
  quantile(q: number): number | undefined {
    if (this.#count === 0) return undefined;
    this.#sorted ??= this.#samples.slice(0, this.#count).sort();
    const rank = Math.min(this.#count - 1, Math.max(0, Math.ceil(q * this.#count) - 1));
    return this.#sorted[rank];
  }
}
