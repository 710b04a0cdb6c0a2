/**
 * Skew guard, Node side: the fixtures' ids must equal the committed expected-ids.json. The edge's workerd test
 * compares against the same file, so Node, workerd and training (which imports this same featurizer) agree.
 * Regenerate after an intended featurizer change (and bump FEATURIZER_VERSION):
 *   UPDATE_EXPECTED_IDS=1 npx vitest run shared/featurizer/expected-ids.test.ts
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compactIds, expandIds, FEATURIZER_FIXTURES } from './fixtures.ts';
import {
  createFeaturizer,
  DEFAULT_FEATURIZER_CONFIG,
  FEATURIZER_NAME,
  FEATURIZER_VERSION,
  type FeaturizerConfig,
} from './index.ts';

const FILE = new URL('./expected-ids.json', import.meta.url);

interface ExpectedIds {
  featurizer: { name: string; version: string; config: FeaturizerConfig };
  cases: Record<string, number[]>;
}

function current(config: FeaturizerConfig): ExpectedIds {
  const f = createFeaturizer(config);
  return {
    featurizer: { name: FEATURIZER_NAME, version: FEATURIZER_VERSION, config: { ...f.config } },
    cases: Object.fromEntries(FEATURIZER_FIXTURES.map((fx) => [fx.name, compactIds(f.featurize(fx.raw))])),
  };
}

describe('expected-ids.json (shared with the workerd skew test)', () => {
  if (process.env.UPDATE_EXPECTED_IDS === '1') {
    it('writes the expected ids', () => {
      const data = current({ ...DEFAULT_FEATURIZER_CONFIG });
      const lines = Object.entries(data.cases).map(
        ([name, ids]) => `    ${JSON.stringify(name)}: ${JSON.stringify(ids)}`,
      );
      writeFileSync(
        FILE,
        `{\n  "featurizer": ${JSON.stringify(data.featurizer)},\n  "cases": {\n${lines.join(',\n')}\n  }\n}\n`,
      );
      expect(existsSync(FILE)).toBe(true);
    });
    return;
  }

  it('exists (create it with UPDATE_EXPECTED_IDS=1)', () => {
    expect(existsSync(FILE)).toBe(true);
  });

  it('was written by this featurizer version with the default config', () => {
    const stored = JSON.parse(readFileSync(FILE, 'utf8')) as ExpectedIds;
    expect(stored.featurizer).toEqual({
      name: FEATURIZER_NAME,
      version: FEATURIZER_VERSION,
      config: { ...DEFAULT_FEATURIZER_CONFIG },
    });
    expect(Object.keys(stored.cases).sort()).toEqual(FEATURIZER_FIXTURES.map((f) => f.name).sort());
  });

  it('every fixture gives exactly the stored ids', () => {
    const stored = JSON.parse(readFileSync(FILE, 'utf8')) as ExpectedIds;
    const f = createFeaturizer(stored.featurizer.config);
    for (const fx of FEATURIZER_FIXTURES) {
      const expected = expandIds(stored.cases[fx.name] ?? [], f.config.maxLength);
      expect(f.featurize(fx.raw), fx.name).toEqual(expected);
    }
  });
});
