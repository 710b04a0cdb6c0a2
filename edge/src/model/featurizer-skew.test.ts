import { describe, expect, it } from 'vitest';
import expected from '../../../shared/featurizer/expected-ids.json' with { type: 'json' };
import { compactIds, FEATURIZER_FIXTURES } from '../../../shared/featurizer/fixtures.ts';
import {
  createFeaturizer,
  FEATURIZER_NAME,
  FEATURIZER_VERSION,
  type FeaturizerConfig,
} from '../../../shared/featurizer/index.ts';

// Skew guard, workerd side: the featurizer must give exactly the ids Node (and training) gave for the same
// fixtures (shared/featurizer/expected-ids.json, written and checked in Node by expected-ids.test.ts).
describe('featurizer skew: workerd ids equal the Node-generated expected-ids.json', () => {
  const stored = expected as {
    featurizer: { name: string; version: string; config: FeaturizerConfig };
    cases: Record<string, number[]>;
  };
  const featurizer = createFeaturizer(stored.featurizer.config);

  it('was written by the featurizer this bundle carries', () => {
    expect(stored.featurizer.name).toBe(FEATURIZER_NAME);
    expect(stored.featurizer.version).toBe(FEATURIZER_VERSION);
    expect(Object.keys(stored.cases).sort()).toEqual(FEATURIZER_FIXTURES.map((f) => f.name).sort());
  });

  it.each(FEATURIZER_FIXTURES.map((f) => [f.name, f] as const))('%s', (name, fixture) => {
    expect(compactIds(featurizer.featurize(fixture.raw))).toEqual(stored.cases[name]);
  });

  it('featurizeBatch in workerd equals per-message featurize', () => {
    const raws = FEATURIZER_FIXTURES.map((f) => f.raw);
    const batch = featurizer.featurizeBatch(raws);
    const L = featurizer.config.maxLength;
    raws.forEach((raw, i) => {
      expect(Array.from(batch.subarray(i * L, (i + 1) * L))).toEqual(Array.from(featurizer.featurize(raw)));
    });
  });
});
