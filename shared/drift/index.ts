/**
 * Drift arithmetic both tiers share: fixed histograms over [0, 1] (scores, coverage) and the population stability
 * index of an observed histogram against a release's validation baseline (`manifest.baseline`).
 *
 * PSI = sum over bins of (a - e) * ln(a / e), with a and e the observed and expected shares (each floored at 1e-4 so
 * an empty bin is not infinite). Rule of thumb (and this project's documented bounds): < 0.1 stable, 0.1-0.25 a
 * moderate shift worth a look, > 0.25 a significant shift (the alert). Runs in workerd and Node.
 */

/** Bins of every drift histogram: 10 equal-width bins over [0, 1]. */
export const DRIFT_BINS = 10;

/** PSI above which the drift alerts fire (and `npm run drift` flags a version). */
export const PSI_ALERT = 0.25;

/** The bin of a value in [0, 1] (values outside are clamped; NaN goes to bin 0). */
export function binOf(value: number, bins = DRIFT_BINS): number {
  if (!(value > 0)) return 0;
  if (value >= 1) return bins - 1;
  return Math.min(bins - 1, Math.floor(value * bins));
}

/** Counts of `values` per bin. */
export function histogram(values: Iterable<number>, bins = DRIFT_BINS): number[] {
  const out = new Array<number>(bins).fill(0);
  for (const v of values) out[binOf(v, bins)] = (out[binOf(v, bins)] as number) + 1;
  return out;
}

/** Counts as shares (all zeros stay zeros). */
export function shares(counts: readonly number[]): number[] {
  let total = 0;
  for (const c of counts) total += c;
  return counts.map((c) => (total === 0 ? 0 : c / total));
}

const FLOOR = 1e-4;

/**
 * Population stability index of observed counts (or shares) against expected shares, both over the same bins.
 * Undefined when there is nothing observed or the bins differ.
 */
export function psi(expected: readonly number[], observed: readonly number[]): number | undefined {
  if (expected.length !== observed.length || expected.length === 0) return undefined;
  const a = shares(observed);
  if (a.every((x) => x === 0)) return undefined;
  const e = shares(expected);
  let sum = 0;
  for (let i = 0; i < e.length; i++) {
    const ai = Math.max(a[i] as number, FLOOR);
    const ei = Math.max(e[i] as number, FLOOR);
    sum += (ai - ei) * Math.log(ai / ei);
  }
  return sum;
}
