import { describe, expect, it } from 'vitest';
import { CLASSES, type DigitsPart, loadDigits, PIXELS, splitDigits } from './data.ts';

describe('loadDigits', () => {
  const data = loadDigits();

  it('reads the 10,000 images of mnist 1.1.0 in digit order, pixels in [0, 1]', () => {
    expect(data.n).toBe(10_000);
    expect(data.x.length).toBe(10_000 * PIXELS);
    expect(data.y.length).toBe(10_000);
    const counts = Array.from({ length: CLASSES }, (_, d) => data.y.filter((y) => y === d).length);
    expect(counts).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    // file order: all 0s, then all 1s, ...
    for (let i = 1; i < data.n; i++)
      expect(data.y[i] as number).toBeGreaterThanOrEqual(data.y[i - 1] as number);
    let min = Infinity;
    let max = -Infinity;
    for (const v of data.x) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBe(0);
    expect(max).toBeLessThanOrEqual(1);
    expect(max).toBeGreaterThan(0.99);
  });

  describe('splitDigits', () => {
    const options = { train: 0.7, validation: 0.15, seed: 1 };
    const splits = splitDigits(data, options);
    const parts: [string, DigitsPart, number][] = [
      ['train', splits.train, 0.7],
      ['validation', splits.validation, 0.15],
      ['test', splits.test, 0.15],
    ];

    it('gives each digit 70 / 15 / 15 per cent (stratified), sizes consistent', () => {
      expect(splits.train.n + splits.validation.n + splits.test.n).toBe(10_000);
      for (const [, part, share] of parts) {
        expect(part.x.length).toBe(part.n * PIXELS);
        expect(part.y.length).toBe(part.n);
        expect(part.index.length).toBe(part.n);
        for (let d = 0; d < CLASSES; d++) {
          const total = data.y.filter((y) => y === d).length;
          const inPart = part.y.filter((y) => y === d).length;
          expect(Math.abs(inPart - total * share)).toBeLessThanOrEqual(1);
        }
      }
    });

    it('parts are disjoint, cover every image, and carry the right pixels and labels', () => {
      const all = [...splits.train.index, ...splits.validation.index, ...splits.test.index];
      expect(new Set(all).size).toBe(10_000);
      for (const [, part] of parts) {
        for (const i of [0, Math.floor(part.n / 2), part.n - 1]) {
          const row = part.index[i] as number;
          expect(part.y[i]).toBe(data.y[row]);
          expect(part.x.subarray(i * PIXELS, (i + 1) * PIXELS)).toEqual(
            data.x.subarray(row * PIXELS, (row + 1) * PIXELS),
          );
        }
      }
    });

    it('is deterministic for a seed, differs across seeds, and does not group rows by digit', () => {
      const again = splitDigits(data, options);
      expect(again.train.index).toEqual(splits.train.index);
      expect(again.validation.index).toEqual(splits.validation.index);
      expect(again.test.index).toEqual(splits.test.index);
      expect(splitDigits(data, { ...options, seed: 2 }).test.index).not.toEqual(splits.test.index);
      const firstHundred = new Set(splits.validation.y.subarray(0, 100));
      expect(firstHundred.size).toBe(CLASSES);
    });

    it('rejects bad shares and seeds, naming the field', () => {
      expect(() => splitDigits(data, { ...options, train: 0 })).toThrow(/options\.train/);
      expect(() => splitDigits(data, { ...options, validation: 1.5 })).toThrow(/options\.validation/);
      expect(() => splitDigits(data, { ...options, train: 0.9, validation: 0.1 })).toThrow(/< 1/);
      expect(() => splitDigits(data, { ...options, seed: 0.5 })).toThrow(/options\.seed/);
    });
  });
});
