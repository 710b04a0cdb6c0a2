import { describe, expect, it } from 'vitest';
import { isOutOfDistribution, SeenIds, seenIdsBitmap } from './index.ts';

describe('seen-ids bitmap and coverage', () => {
  // Two rows of width 4 (0 = padding): ids 3 and 9 appear in both rows, 5 in one.
  const ids = Int32Array.from([3, 9, 5, 0, 9, 3, 3, 0]);

  it('sets an id when at least minCount rows contain it (repeats within a row count once)', () => {
    const once = new SeenIds(seenIdsBitmap(ids, 2, 16, 1));
    const twice = new SeenIds(seenIdsBitmap(ids, 2, 16, 2));
    expect([3, 5, 9, 0, 1].map((id) => once.has(id))).toEqual([true, true, true, false, false]);
    expect([3, 5, 9].map((id) => twice.has(id))).toEqual([true, false, true]);
    expect(once.size).toBe(16);
    expect(once.has(16)).toBe(false);
    expect(once.has(-1)).toBe(false);
  });

  it('coverage is the share of non-zero ids seen; 0 features gives coverage 0, never NaN', () => {
    const seen = new SeenIds(seenIdsBitmap(ids, 2, 16, 2));
    expect(seen.coverage(Int32Array.from([3, 9, 5, 0]), 0, 4)).toEqual({ features: 3, coverage: 2 / 3 });
    expect(seen.coverageRows(Int32Array.from([0, 0, 3, 3]), 2)).toEqual([
      { features: 0, coverage: 0 },
      { features: 2, coverage: 1 },
    ]);
  });

  it('the rule: too few features or too little coverage is out of distribution; no features always is', () => {
    const rule = { min_features: 2, min_coverage: 0.5 };
    expect(isOutOfDistribution({ features: 3, coverage: 0.6 }, rule)).toBe(false);
    expect(isOutOfDistribution({ features: 1, coverage: 1 }, rule)).toBe(true);
    expect(isOutOfDistribution({ features: 3, coverage: 0.4 }, rule)).toBe(true);
    expect(isOutOfDistribution({ features: 0, coverage: 0 }, { min_features: 0, min_coverage: 0 })).toBe(
      true,
    );
  });

  it('refuses an empty bitmap', () => {
    expect(() => new SeenIds(new Uint8Array(0))).toThrow(/empty/);
  });
});
