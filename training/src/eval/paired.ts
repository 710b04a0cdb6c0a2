/**
 * Paired comparison of two classifiers scored on the same labelled items: the 2x2 table of right/wrong and
 * McNemar's exact test on the discordant pairs.
 */

export interface PairedComparison {
  n: number;
  both_right: number;
  a_only_right: number;
  b_only_right: number;
  both_wrong: number;
  /** McNemar's exact two-sided p-value; 1 when there are no discordant pairs. */
  mcnemar_p: number;
}

function binary(what: string, v: ArrayLike<number>, i: number): number {
  const x = v[i];
  if (x !== 0 && x !== 1) throw new TypeError(`pairedComparison: ${what}[${i}] must be 0 or 1, got ${x}`);
  return x;
}

/**
 * Exact two-sided binomial test of `k` successes in `n` trials at p = 0.5: min(1, 2 * P(X <= min(k, n - k))).
 * The terms C(n, i) / 2^n are built iteratively in linear space with an exact power-of-two scale kept aside, so
 * large `n` neither overflows nor underflows and the relative error stays near machine precision.
 */
export function binomialTwoSidedHalf(k: number, n: number): number {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(k) || k < 0 || k > n) {
    throw new RangeError(`binomialTwoSidedHalf: need integers 0 <= k <= n, got k=${k} n=${n}`);
  }
  if (n === 0) return 1;
  const m = Math.min(k, n - k);
  const BIG = 2 ** 500;
  // term = C(n, i) / 2^n = termMant * 2^exp2; sum = sumMant * 2^exp2 (same scale).
  let exp2 = -n;
  let termMant = 1;
  let sumMant = 1;
  for (let i = 1; i <= m; i++) {
    termMant *= (n - i + 1) / i;
    sumMant += termMant;
    if (sumMant > BIG) {
      termMant /= BIG;
      sumMant /= BIG;
      exp2 += 500;
    }
  }
  // p = 2 * sum, scaled back in exact power-of-two steps (an underflow here means p < 1e-300).
  let p = sumMant;
  for (let e = exp2 + 1; e !== 0 && p > 0; ) {
    const step = Math.max(-500, Math.min(500, e));
    p *= 2 ** step;
    e -= step;
  }
  return Math.min(1, p);
}

/**
 * Paired comparison of two classifiers on the same labelled items: counts of both right / only a right / only b
 * right / both wrong, and McNemar's exact two-sided p-value (binomial on the discordant pairs). Labels and
 * predictions must be 0 or 1.
 */
export function pairedComparison(
  labels: ArrayLike<number>,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
): PairedComparison {
  if (a.length !== labels.length || b.length !== labels.length) {
    throw new TypeError(
      `pairedComparison: ${labels.length} labels, ${a.length} predictions of a, ${b.length} of b`,
    );
  }
  let both_right = 0;
  let a_only_right = 0;
  let b_only_right = 0;
  let both_wrong = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = binary('labels', labels, i);
    const ra = binary('a', a, i) === y;
    const rb = binary('b', b, i) === y;
    if (ra && rb) both_right++;
    else if (ra) a_only_right++;
    else if (rb) b_only_right++;
    else both_wrong++;
  }
  return {
    n: labels.length,
    both_right,
    a_only_right,
    b_only_right,
    both_wrong,
    mcnemar_p: binomialTwoSidedHalf(a_only_right, a_only_right + b_only_right),
  };
}
