import { describe, expect, it } from 'vitest';
import { binOf, histogram, psi, shares } from './index.ts';

describe('drift histograms and PSI', () => {
  it('bins values over [0, 1] into 10 equal bins, clamping the ends and NaN', () => {
    expect([0, 0.05, 0.1, 0.55, 0.999, 1, 1.5, -1, Number.NaN].map((v) => binOf(v))).toEqual([
      0, 0, 1, 5, 9, 9, 9, 0, 0,
    ]);
    expect(histogram([0.01, 0.02, 0.95])).toEqual([2, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(shares([1, 3])).toEqual([0.25, 0.75]);
    expect(shares([0, 0])).toEqual([0, 0]);
  });

  it('PSI is 0 for the same distribution and grows with the shift', () => {
    const base = [10, 20, 30, 40];
    expect(psi(base, [1, 2, 3, 4])).toBeCloseTo(0, 12);
    const small = psi(base, [12, 20, 30, 38]) as number;
    const large = psi(base, [40, 30, 20, 10]) as number;
    expect(small).toBeGreaterThan(0);
    expect(small).toBeLessThan(0.1);
    expect(large).toBeGreaterThan(0.25);
    // (a - e) ln(a / e) per bin, by hand: shares [.1 .2 .3 .4] vs [.4 .3 .2 .1].
    const byHand = 2 * (0.3 * Math.log(4) + 0.1 * Math.log(1.5));
    expect(large).toBeCloseTo(byHand, 12);
  });

  it('an empty observed bin is floored, not infinite; nothing observed or mismatched bins is undefined', () => {
    expect(Number.isFinite(psi([0.5, 0.5], [1, 0]))).toBe(true);
    expect(psi([0.5, 0.5], [0, 0])).toBeUndefined();
    expect(psi([0.5, 0.5], [1, 1, 1])).toBeUndefined();
  });
});
