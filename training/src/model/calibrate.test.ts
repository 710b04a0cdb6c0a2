import { describe, expect, it } from 'vitest';
import { forward, initBagMlp, Rng, softmax } from './bag-mlp.ts';
import { fitTemperature, foldTemperature, meanNll, uncalibrate } from './calibrate.ts';

/** Labels drawn from softmax(logits / trueT): the fitted temperature should come back near trueT. */
function synthetic(trueT: number, n = 4000) {
  const rng = new Rng(3);
  const logits = new Float64Array(2 * n);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const z = 4 * rng.normal();
    logits[2 * i + 1] = z;
    labels[i] = rng.next() < 1 / (1 + Math.exp(-z / trueT)) ? 1 : 0;
  }
  return { logits, labels };
}

describe('temperature scaling', () => {
  it('recovers the temperature that generated the labels, and lowers the NLL', () => {
    for (const trueT of [0.5, 2.5]) {
      const { logits, labels } = synthetic(trueT);
      const fit = fitTemperature(logits, labels, 2);
      expect(fit.temperature).toBeGreaterThan(trueT * 0.85);
      expect(fit.temperature).toBeLessThan(trueT * 1.15);
      expect(fit.nll_after).toBeLessThan(fit.nll_before);
      expect(fit.nll_after).toBeCloseTo(meanNll(logits, labels, 2, fit.temperature), 12);
    }
  });

  it('is deterministic and refuses mismatched inputs', () => {
    const { logits, labels } = synthetic(2);
    expect(fitTemperature(logits, labels, 2)).toEqual(fitTemperature(logits, labels, 2));
    expect(() => fitTemperature(logits, labels.subarray(1), 2)).toThrow(/logits for/);
    expect(() => fitTemperature([], [], 2)).toThrow(/no examples/);
  });

  it('folding T into the last layer gives softmax(logits / T) and keeps the argmax', () => {
    const m = initBagMlp({ rows: 11, dim: 3, hidden: [4], classes: 2, maxLength: 4 }, 5, Float64Array, 0.7);
    const ids = Int32Array.from([1, 2, 3, 0, 4, 5, 0, 0, 9, 8, 7, 6]);
    const before = forward(m, ids, 3).logits;
    foldTemperature(m, 2.5);
    const after = softmax(forward(m, ids, 3).logits, 2);
    const expected = softmax(before, 2, 2.5);
    for (let k = 0; k < after.length; k++) expect(after[k]).toBeCloseTo(expected[k] as number, 12);
    expect(() => foldTemperature(m, 0)).toThrow(/positive/);
  });

  it('uncalibrate inverts the fold for a binary model', () => {
    const z = 1.7;
    const T = 2;
    const calibrated = 1 / (1 + Math.exp(-z / T));
    expect(uncalibrate(calibrated, T)).toBeCloseTo(1 / (1 + Math.exp(-z)), 12);
  });
});
