/**
 * A second model family beside the embedding-bag MLP: binarized naive-Bayes log-count ratios (the statistic
 * Bayesian filters such as bogofilter are built on) over the same hashed ids, read out through a tiny logistic head.
 *
 * - trainNaiveBayes: per id r[id] = log((df_spam[id] + a) / (N_spam + 2a)) - log((df_ham[id] + a) / (N_ham + 2a)),
 *   where df_c[id] is the number of class-c rows holding the id (an id counts once per row: binarized) and N_c the
 *   number of class-c rows. r > 0 leans spam, r < 0 leans ham, an unseen id gives 0.
 * - nbFeatures: per row the sum, the mean and the count of r over the row's distinct non-padding ids.
 * - fitLogistic: L2-regularized logistic regression for a handful of features, fitted by Newton's method (IRLS).
 *
 * Everything is plain deterministic arithmetic: the same inputs give the same numbers, bit for bit.
 */

export interface NaiveBayes {
  /** Hash buckets: ids are in [1, buckets), 0 is padding. */
  buckets: number;
  /** Additive (Laplace/Lidstone) smoothing of the document frequencies. */
  alpha: number;
  /** Training rows per class. */
  nHam: number;
  nSpam: number;
  /** Log-count ratio per id (index 0, padding, stays 0). */
  ratios: Float64Array;
}

export interface NbFeatures {
  /** Sum of r over the row's distinct ids: the naive-Bayes log-likelihood ratio, less the prior. */
  sum: number;
  /** sum / count (0 for an empty row). */
  mean: number;
  /** Distinct non-padding ids in the row. */
  count: number;
}

function checkShape(ids: Int32Array, n: number, maxLength: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(maxLength) || maxLength < 1) {
    throw new TypeError(`${what}: n and maxLength must be integers (n >= 0, maxLength >= 1)`);
  }
  if (ids.length !== n * maxLength) {
    throw new TypeError(`${what}: ids must hold n*maxLength = ${n * maxLength} values, got ${ids.length}`);
  }
}

/**
 * Visits the distinct non-padding ids of each row: `visit(row, id)` once per (row, id). `stamp` is scratch space
 * of `buckets` entries (a row's ids are marked with row + 1, so nothing is cleared between rows).
 */
function forEachDistinct(
  ids: Int32Array,
  n: number,
  maxLength: number,
  buckets: number,
  what: string,
  visit: (row: number, id: number) => void,
): void {
  const stamp = new Int32Array(buckets);
  for (let i = 0; i < n; i++) {
    const mark = i + 1;
    for (let j = i * maxLength; j < (i + 1) * maxLength; j++) {
      const id = ids[j] as number;
      if (id === 0) continue;
      if (id < 0 || id >= buckets) throw new RangeError(`${what}: id ${id} outside [0, ${buckets})`);
      if (stamp[id] === mark) continue;
      stamp[id] = mark;
      visit(i, id);
    }
  }
}

/**
 * Binarized naive-Bayes log-count ratios from `n` rows of `maxLength` ids (row-major) and their labels (0 = ham,
 * 1 = spam). `alpha` (default 1) smooths the per-class document frequencies.
 */
export function trainNaiveBayes(
  ids: Int32Array,
  labels: ArrayLike<number>,
  n: number,
  maxLength: number,
  buckets: number,
  options: { alpha?: number } = {},
): NaiveBayes {
  checkShape(ids, n, maxLength, 'trainNaiveBayes');
  if (!Number.isInteger(buckets) || buckets < 2) {
    throw new TypeError(`trainNaiveBayes: buckets must be an integer >= 2, got ${buckets}`);
  }
  if (labels.length !== n) throw new TypeError(`trainNaiveBayes: ${labels.length} labels for ${n} rows`);
  const alpha = options.alpha ?? 1;
  if (!(alpha > 0 && Number.isFinite(alpha))) {
    throw new TypeError(`trainNaiveBayes: alpha must be a positive number, got ${alpha}`);
  }
  let nSpam = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (y !== 0 && y !== 1) throw new TypeError(`trainNaiveBayes: labels[${i}] must be 0 or 1, got ${y}`);
    nSpam += y;
  }
  const nHam = n - nSpam;
  const dfSpam = new Float64Array(buckets);
  const dfHam = new Float64Array(buckets);
  forEachDistinct(ids, n, maxLength, buckets, 'trainNaiveBayes', (row, id) => {
    if (labels[row] === 1) dfSpam[id] = (dfSpam[id] as number) + 1;
    else dfHam[id] = (dfHam[id] as number) + 1;
  });
  const ratios = new Float64Array(buckets);
  const spamNorm = Math.log(nSpam + 2 * alpha);
  const hamNorm = Math.log(nHam + 2 * alpha);
  for (let id = 1; id < buckets; id++) {
    ratios[id] =
      Math.log((dfSpam[id] as number) + alpha) -
      spamNorm -
      (Math.log((dfHam[id] as number) + alpha) - hamNorm);
  }
  return { buckets, alpha, nHam, nSpam, ratios };
}

/** Per row: sum, mean and count of the log-count ratios of its distinct ids. `ids` is [n, maxLength]. */
export function nbFeatures(model: NaiveBayes, ids: Int32Array, n: number): NbFeatures[] {
  if (!Number.isInteger(n) || n < 1 || ids.length % n !== 0) {
    throw new TypeError(`nbFeatures: ids (${ids.length} values) must hold n = ${n} equal rows`);
  }
  const maxLength = ids.length / n;
  const out: NbFeatures[] = Array.from({ length: n }, () => ({ sum: 0, mean: 0, count: 0 }));
  forEachDistinct(ids, n, maxLength, model.buckets, 'nbFeatures', (row, id) => {
    const f = out[row] as NbFeatures;
    f.sum += model.ratios[id] as number;
    f.count++;
  });
  for (const f of out) f.mean = f.count === 0 ? 0 : f.sum / f.count;
  return out;
}

export interface Logistic {
  /** One weight per feature, in the features' own units. */
  weights: number[];
  bias: number;
  /** Newton steps taken. */
  iterations: number;
  /** P(y = 1 | x). */
  predict(x: readonly number[]): number;
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** Solves A x = b (A symmetric positive definite, small) by Gaussian elimination with partial pivoting. */
function solve(A: number[][], b: number[]): number[] {
  const m = b.length;
  const a = A.map((row, i) => [...row, b[i] as number]);
  for (let c = 0; c < m; c++) {
    let p = c;
    for (let r = c + 1; r < m; r++) if (Math.abs(a[r]?.[c] as number) > Math.abs(a[p]?.[c] as number)) p = r;
    [a[c], a[p]] = [a[p] as number[], a[c] as number[]];
    const pivot = (a[c] as number[])[c] as number;
    if (pivot === 0) throw new RangeError('fitLogistic: singular Hessian');
    for (let r = c + 1; r < m; r++) {
      const row = a[r] as number[];
      const f = (row[c] as number) / pivot;
      if (f === 0) continue;
      for (let k = c; k <= m; k++) row[k] = (row[k] as number) - f * ((a[c] as number[])[k] as number);
    }
  }
  const x = new Array<number>(m).fill(0);
  for (let r = m - 1; r >= 0; r--) {
    const row = a[r] as number[];
    let s = row[m] as number;
    for (let k = r + 1; k < m; k++) s -= (row[k] as number) * (x[k] as number);
    x[r] = s / (row[r] as number);
  }
  return x;
}

/**
 * Logistic regression of `y` (0/1) on the rows of `X`, minimizing mean log-loss + (l2 / 2) * |w|^2 by Newton's
 * method. Features are standardized (mean 0, standard deviation 1; a constant feature is only centred) for the fit,
 * so `l2` weighs every feature alike whatever its units, and the bias is not penalized; the returned weights and
 * bias are mapped back to the features' own units. With l2 > 0 the problem is strictly convex, so a separable
 * problem still has a finite answer. Deterministic.
 */
export function fitLogistic(
  X: readonly (readonly number[])[],
  y: ArrayLike<number>,
  l2 = 1e-4,
  options: { maxIterations?: number; tolerance?: number } = {},
): Logistic {
  const n = X.length;
  if (n === 0 || y.length !== n) throw new TypeError(`fitLogistic: ${n} rows and ${y.length} labels`);
  const d = (X[0] as readonly number[]).length;
  if (!(l2 >= 0)) throw new TypeError(`fitLogistic: l2 must be >= 0, got ${l2}`);
  const maxIterations = options.maxIterations ?? 100;
  const tolerance = options.tolerance ?? 1e-10;
  const mu = new Array<number>(d).fill(0);
  const sd = new Array<number>(d).fill(0);
  X.forEach((row, i) => {
    if (row.length !== d) throw new TypeError(`fitLogistic: row ${i} has ${row.length} features, not ${d}`);
    const yi = y[i];
    if (yi !== 0 && yi !== 1) throw new TypeError(`fitLogistic: y[${i}] must be 0 or 1, got ${yi}`);
    row.forEach((v, j) => {
      if (!Number.isFinite(v)) throw new TypeError(`fitLogistic: X[${i}][${j}] is not finite (${v})`);
      mu[j] = (mu[j] as number) + v / n;
    });
  });
  for (const row of X) {
    for (let j = 0; j < d; j++) sd[j] = (sd[j] as number) + ((row[j] as number) - (mu[j] as number)) ** 2 / n;
  }
  for (let j = 0; j < d; j++) sd[j] = Math.sqrt(sd[j] as number) || 1;
  const Z = X.map((row) => row.map((v, j) => (v - (mu[j] as number)) / (sd[j] as number)));

  // theta = [bias, w_1..w_d] over the standardized features.
  const m = d + 1;
  const theta = new Array<number>(m).fill(0);
  const objective = (t: readonly number[]): number => {
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const z = Z[i] as number[];
      let s = t[0] as number;
      for (let j = 0; j < d; j++) s += (t[j + 1] as number) * (z[j] as number);
      // log(1 + e^s) - y s, computed stably.
      loss += (s > 0 ? s + Math.log1p(Math.exp(-s)) : Math.log1p(Math.exp(s))) - (y[i] as number) * s;
    }
    let penalty = 0;
    for (let a = 1; a < m; a++) penalty += (t[a] as number) ** 2;
    return loss / n + (l2 / 2) * penalty;
  };
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    const g = new Array<number>(m).fill(0);
    const H = Array.from({ length: m }, () => new Array<number>(m).fill(0));
    for (let i = 0; i < n; i++) {
      const z = Z[i] as number[];
      let s = theta[0] as number;
      for (let j = 0; j < d; j++) s += (theta[j + 1] as number) * (z[j] as number);
      const p = sigmoid(s);
      const r = (p - (y[i] as number)) / n;
      const w = Math.max(p * (1 - p), 1e-12) / n;
      for (let a = 0; a < m; a++) {
        const xa = a === 0 ? 1 : (z[a - 1] as number);
        g[a] = (g[a] as number) + r * xa;
        const Ha = H[a] as number[];
        for (let b = 0; b <= a; b++)
          Ha[b] = (Ha[b] as number) + w * xa * (b === 0 ? 1 : (z[b - 1] as number));
      }
    }
    for (let a = 0; a < m; a++) {
      const Ha = H[a] as number[];
      for (let b = 0; b < a; b++) (H[b] as number[])[a] = Ha[b] as number;
      if (a > 0) {
        g[a] = (g[a] as number) + l2 * (theta[a] as number);
        Ha[a] = (Ha[a] as number) + l2;
      }
    }
    const step = solve(H, g);
    // Backtracking: halve the Newton step until the objective does not rise (Newton alone can overshoot on a
    // nearly separable problem).
    const before = objective(theta);
    let t = 1;
    let next = theta.map((v, a) => v - (step[a] as number));
    for (let k = 0; k < 40 && objective(next) > before; k++) {
      t /= 2;
      next = theta.map((v, a) => v - t * (step[a] as number));
    }
    let size = 0;
    for (let a = 0; a < m; a++) {
      size = Math.max(size, Math.abs((next[a] as number) - (theta[a] as number)));
      theta[a] = next[a] as number;
    }
    if (size < tolerance) {
      iterations++;
      break;
    }
  }
  const weights = theta.slice(1).map((w, j) => w / (sd[j] as number));
  const bias = (theta[0] as number) - weights.reduce((s, w, j) => s + w * (mu[j] as number), 0);
  return {
    weights,
    bias,
    iterations,
    predict(x) {
      if (x.length !== d) throw new TypeError(`Logistic.predict: ${x.length} features, expected ${d}`);
      let s = bias;
      for (let j = 0; j < d; j++) s += (weights[j] as number) * (x[j] as number);
      return sigmoid(s);
    },
  };
}
