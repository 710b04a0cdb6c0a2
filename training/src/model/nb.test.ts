import { describe, expect, it } from 'vitest';
import { fitLogistic, nbFeatures, trainNaiveBayes } from './nb.ts';

// Toy corpus, 4 ids per row (0 = padding), buckets 8: id 1 only in spam, id 2 only in ham, id 3 in both.
const L = 4;
const ids = Int32Array.from(
  [
    [1, 3, 0, 0], // spam
    [1, 0, 0, 0], // spam
    [2, 3, 0, 0], // ham
    [2, 0, 0, 0], // ham
  ].flat(),
);
const labels = [1, 1, 0, 0];

describe('trainNaiveBayes', () => {
  it('gives spam ids positive, ham ids negative and shared or unseen ids zero ratios', () => {
    const nb = trainNaiveBayes(ids, labels, 4, L, 8, { alpha: 1 });
    expect(nb.nSpam).toBe(2);
    expect(nb.nHam).toBe(2);
    // (2 + 1) / (2 + 2) vs (0 + 1) / (2 + 2)
    expect(nb.ratios[1]).toBeCloseTo(Math.log(3), 12);
    expect(nb.ratios[2]).toBeCloseTo(-Math.log(3), 12);
    expect(nb.ratios[3]).toBe(0);
    expect(nb.ratios[5]).toBe(0);
    expect(nb.ratios[0]).toBe(0);
  });

  it('counts an id once per row (binarized)', () => {
    const dup = Int32Array.from(
      [
        [1, 1, 1, 1],
        [2, 0, 0, 0],
      ].flat(),
    );
    const nb = trainNaiveBayes(dup, [1, 0], 2, L, 8, { alpha: 1 });
    // df_spam[1] = 1, not 4: log((1 + 1) / 3) - log((0 + 1) / 3)
    expect(nb.ratios[1]).toBeCloseTo(Math.log(2), 12);
    const [f] = nbFeatures(nb, dup.subarray(0, L), 1);
    expect(f?.count).toBe(1);
    expect(f?.sum).toBeCloseTo(Math.log(2), 12);
    expect(f?.mean).toBeCloseTo(Math.log(2), 12);
  });

  it('rejects bad input', () => {
    expect(() => trainNaiveBayes(ids, [1, 1, 0], 4, L, 8)).toThrow(TypeError);
    expect(() => trainNaiveBayes(ids, [1, 1, 0, 2], 4, L, 8)).toThrow(TypeError);
    expect(() => trainNaiveBayes(ids, labels, 4, L, 3)).toThrow(RangeError);
    expect(() => trainNaiveBayes(ids, labels, 4, L, 8, { alpha: 0 })).toThrow(TypeError);
  });
});

describe('nbFeatures', () => {
  it('sums, averages and counts the distinct ids of each row', () => {
    const nb = trainNaiveBayes(ids, labels, 4, L, 8);
    const f = nbFeatures(nb, Int32Array.from([1, 3, 1, 0, 0, 0, 0, 0, 2, 2, 2, 2]), 3);
    expect(f[0]?.count).toBe(2);
    expect(f[0]?.sum).toBeCloseTo(Math.log(3), 12);
    expect(f[0]?.mean).toBeCloseTo(Math.log(3) / 2, 12);
    expect(f[1]).toEqual({ sum: 0, mean: 0, count: 0 });
    expect(f[2]?.sum).toBeCloseTo(-Math.log(3), 12);
  });
});

describe('fitLogistic', () => {
  // Separable: y = 1 exactly when 2 x0 - x1 > 1; x2 is noise.
  const X: number[][] = [];
  const y: number[] = [];
  let s = 12345;
  const rand = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  for (let i = 0; i < 200; i++) {
    const x = [4 * rand() - 2, 4 * rand() - 2, 100 * rand()];
    const margin = 2 * (x[0] as number) - (x[1] as number) - 1;
    if (Math.abs(margin) < 0.1) continue;
    X.push(x);
    y.push(margin > 0 ? 1 : 0);
  }

  it('recovers a separable problem', () => {
    const fit = fitLogistic(X, y, 1e-4);
    const right = X.filter((x, i) => (fit.predict(x) >= 0.5 ? 1 : 0) === y[i]).length;
    expect(right).toBe(X.length);
    expect(fit.weights[0]).toBeGreaterThan(0);
    expect(fit.weights[1]).toBeLessThan(0);
    // Direction close to (2, -1): the noise feature's weight (per unit of its spread) stays small.
    expect((fit.weights[0] as number) / -(fit.weights[1] as number)).toBeCloseTo(2, 0);
    expect(Math.abs((fit.weights[2] as number) * 30)).toBeLessThan(Math.abs(fit.weights[1] as number));
  });

  it('is deterministic', () => {
    const a = fitLogistic(X, y, 1e-3);
    const b = fitLogistic(X, y, 1e-3);
    expect(b.weights).toEqual(a.weights);
    expect(b.bias).toBe(a.bias);
  });

  it('fits the base rate when features say nothing', () => {
    const fit = fitLogistic([[1], [1], [1], [1]], [1, 0, 0, 0], 1e-2);
    expect(fit.predict([1])).toBeCloseTo(0.25, 6);
  });

  it('rejects bad input', () => {
    expect(() => fitLogistic([], [])).toThrow(TypeError);
    expect(() => fitLogistic([[1], [2, 3]], [0, 1])).toThrow(TypeError);
    expect(() => fitLogistic([[1], [2]], [0, 2])).toThrow(TypeError);
    expect(() => fitLogistic([[1], [Number.NaN]], [0, 1])).toThrow(TypeError);
  });
});
