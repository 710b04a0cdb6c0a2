/**
 * Per-message featurizer cost: one warm-up pass, then each message timed on its own (microseconds).
 * Timings vary from run to run, so they are printed, never written into the release.
 */
import type { Featurizer } from '../../../shared/featurizer/index.ts';

export interface CostSummary {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  n: number;
}

export function featurizerCost(featurizer: Featurizer, texts: readonly string[]): CostSummary {
  const out = new Int32Array(featurizer.config.maxLength);
  for (const t of texts) featurizer.featurizeInto(t, out, 0);
  const us = texts.map((t) => {
    const t0 = performance.now();
    featurizer.featurizeInto(t, out, 0);
    return (performance.now() - t0) * 1000;
  });
  const sorted = [...us].sort((a, b) => a - b);
  const q = (p: number) =>
    Number((sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0).toFixed(1));
  return {
    mean: Number((us.reduce((a, b) => a + b, 0) / Math.max(1, us.length)).toFixed(1)),
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    max: q(1),
    n: us.length,
  };
}
