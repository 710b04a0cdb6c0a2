import { describe, expect, it } from 'vitest';
import { binomialTwoSidedHalf, pairedComparison } from './paired.ts';

/** Labels and two prediction vectors with the given counts (both right, a only, b only, both wrong). */
function table(bothRight: number, aOnly: number, bOnly: number, bothWrong: number) {
  const labels: number[] = [];
  const a: number[] = [];
  const b: number[] = [];
  const add = (n: number, y: number, pa: number, pb: number) => {
    for (let i = 0; i < n; i++) {
      labels.push(y);
      a.push(pa);
      b.push(pb);
    }
  };
  add(bothRight, 1, 1, 1);
  add(aOnly, 0, 0, 1);
  add(bOnly, 1, 0, 1);
  add(bothWrong, 0, 1, 1);
  return { labels, a, b };
}

describe('pairedComparison', () => {
  it('counts the 2x2 table item by item', () => {
    const labels = [1, 1, 0, 0, 1, 0, 1, 0];
    const a = [1, 1, 0, 1, 0, 0, 0, 1];
    const b = [1, 0, 0, 0, 1, 1, 0, 1];
    expect(pairedComparison(labels, a, b)).toEqual({
      n: 8,
      both_right: 2,
      a_only_right: 2,
      b_only_right: 2,
      both_wrong: 2,
      mcnemar_p: 1,
    });
  });

  it("pins McNemar's exact p-value on known tables", () => {
    const p = (aOnly: number, bOnly: number) =>
      pairedComparison(...args(table(50, aOnly, bOnly, 3))).mcnemar_p;
    const args = (t: ReturnType<typeof table>) => [t.labels, t.a, t.b] as const;
    expect(p(0, 10)).toBeCloseTo(0.001953125, 15); // 2 * 0.5^10
    expect(p(10, 0)).toBeCloseTo(0.001953125, 15);
    expect(p(5, 5)).toBe(1);
    expect(p(1, 9)).toBeCloseTo(0.021484375, 15); // 2 * 11 / 1024
    expect(p(2, 8)).toBeCloseTo(0.109375, 15); // 2 * 56 / 1024
    expect(p(3, 12)).toBeCloseTo(0.03515625, 15); // 2 * 576 / 32768
    expect(p(0, 5)).toBeCloseTo(0.0625, 15);
    expect(p(0, 1)).toBe(1);
    expect(p(0, 0)).toBe(1);
    const t = table(7, 0, 10, 1);
    expect(pairedComparison(t.labels, t.a, t.b)).toEqual({
      n: 18,
      both_right: 7,
      a_only_right: 0,
      b_only_right: 10,
      both_wrong: 1,
      mcnemar_p: expect.closeTo(0.001953125, 15),
    });
  });

  it('accepts typed arrays and is symmetric in a and b', () => {
    const t = table(20, 3, 12, 4);
    const ab = pairedComparison(Uint8Array.from(t.labels), Float32Array.from(t.a), Int32Array.from(t.b));
    const ba = pairedComparison(t.labels, t.b, t.a);
    expect(ab.a_only_right).toBe(3);
    expect(ba.b_only_right).toBe(3);
    expect(ba.mcnemar_p).toBe(ab.mcnemar_p);
  });

  it('rejects mismatched lengths and non-binary values', () => {
    expect(() => pairedComparison([0, 1], [0, 1], [0])).toThrow(TypeError);
    expect(() => pairedComparison([0, 1], [0, 0.7], [0, 1])).toThrow(/a\[1\] must be 0 or 1/);
    expect(() => pairedComparison([0, 2], [0, 1], [0, 1])).toThrow(/labels\[1\]/);
    expect(pairedComparison([], [], [])).toEqual({
      n: 0,
      both_right: 0,
      a_only_right: 0,
      b_only_right: 0,
      both_wrong: 0,
      mcnemar_p: 1,
    });
  });
});

describe('binomialTwoSidedHalf', () => {
  it('matches exact sums (Python fractions / mpmath; scipy.stats.binomtest agrees) for large n without overflow', () => {
    const rel = (x: number, want: number) => expect(Math.abs(x - want) / want).toBeLessThan(1e-12);
    rel(binomialTwoSidedHalf(40, 100), 0.05688793364098079);
    rel(binomialTwoSidedHalf(480, 1000), 0.21744829320414094);
    rel(binomialTwoSidedHalf(1000, 2100), 0.030720707864242296);
    rel(binomialTwoSidedHalf(1100, 2100), 0.030720707864242296);
    rel(binomialTwoSidedHalf(300, 1000), 1.7665678007950136e-37);
    rel(binomialTwoSidedHalf(49_500, 100_000), 0.0015823598788515956); // mpmath, 50 digits
    expect(binomialTwoSidedHalf(0, 2000)).toBe(0); // 2^-1999 underflows a double
    expect(binomialTwoSidedHalf(3, 6)).toBe(1);
    expect(binomialTwoSidedHalf(0, 0)).toBe(1);
  });

  it('rejects impossible counts', () => {
    expect(() => binomialTwoSidedHalf(3, 2)).toThrow(RangeError);
    expect(() => binomialTwoSidedHalf(-1, 2)).toThrow(RangeError);
    expect(() => binomialTwoSidedHalf(0.5, 2)).toThrow(RangeError);
  });
});
