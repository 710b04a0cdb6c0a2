import { describe, expect, it } from 'vitest';
import { Guardrails } from '../../../shared/rollout/index.ts';
import { guardrailBreach } from './rollout.ts';

const g = Guardrails.parse({
  min_samples: 100,
  max_error_rate: 0.05,
  max_p95_ms: 500,
  max_disagreement: 0.2,
});
const h = (over: Partial<Parameters<typeof guardrailBreach>[1]>) => ({
  n: 0,
  err: 0,
  slow: 0,
  cmp: 0,
  dis: 0,
  ...over,
});

describe('guardrailBreach', () => {
  it('judges nothing below min_samples, then each bound on its own counters', () => {
    expect(guardrailBreach(g, h({ n: 99, err: 99, slow: 99, cmp: 99, dis: 99 }))).toBeUndefined();
    expect(guardrailBreach(g, h({ n: 100, err: 5 }))).toBeUndefined();
    expect(guardrailBreach(g, h({ n: 100, err: 6 }))).toBe(
      'error rate 0.060 > 0.05 over 100 candidate requests',
    );
    expect(guardrailBreach(g, h({ n: 100, slow: 5 }))).toBeUndefined();
    expect(guardrailBreach(g, h({ n: 100, slow: 6 }))).toMatch(/^latency p95 above 500 ms \(6\.0% of 100/);
    expect(guardrailBreach(g, h({ cmp: 100, dis: 20 }))).toBeUndefined();
    expect(guardrailBreach(g, h({ cmp: 100, dis: 21 }))).toMatch(
      /^disagreement with stable 0\.210 > 0\.2 over 100/,
    );
  });
});
