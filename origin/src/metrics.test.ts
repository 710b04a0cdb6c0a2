/**
 * The origin's drift metrics in prom-client's real exposition: score histogram by label, coverage histogram, ood
 * counter, the expected escalation share, and the PSI gauge against a release baseline over a one-hour window.
 */
import { describe, expect, it } from 'vitest';
import type { BaselineSide } from '../../shared/manifest/index.ts';
import type { Prediction } from '../../shared/protocol/index.ts';
import { sample } from '../test/harness.ts';
import { createMetrics } from './metrics.ts';

const p = (label: string, score: number, extra: Partial<Prediction> = {}): Prediction => ({
  label,
  score,
  scores: {},
  ...extra,
});

// Shares per drift bin (0-0.1, ..., 0.9-1).
const BASELINE: BaselineSide = {
  n: 1000,
  score: [0, 0, 0, 0, 0, 0.5, 0.1, 0.1, 0.1, 0.2],
  coverage: [0, 0, 0, 0, 0.1, 0, 0, 0, 0.1, 0.8],
  labels: { ham: 0.6, spam: 0.4 },
};

/** One PSI term, (a - e) ln(a / e), with empty shares floored at 1e-4 as shared/drift does. */
const term = (a: number, e: number) => {
  const [x, y] = [Math.max(a, 1e-4), Math.max(e, 1e-4)];
  return (x - y) * Math.log(x / y);
};

function setup(release: { baseline?: BaselineSide; expectedEdgeShare?: number } = {}) {
  const clock = { t: 1_800_000_000_000 };
  const metrics = createMetrics({ defaultMetrics: false, now: () => clock.t });
  const model = metrics.forModel('spam', '1');
  model.release({ labels: ['ham', 'spam'], coverage: true, ...release });
  return { clock, metrics, model, scrape: () => metrics.registry.metrics() };
}

const ALL = { model: 'spam', version: '1' };

describe('drift metrics', () => {
  it('count answers per score bucket and label, coverage per bucket, and ood answers', async () => {
    const { model, scrape } = setup({ baseline: BASELINE, expectedEdgeShare: 0.95 });
    model.predicted([
      p('ham', 0.55, { coverage: 1, ood: false }),
      p('ham', 0.95, { coverage: 0.85, ood: false }),
      p('spam', 0.72, { coverage: 0.45, ood: true }),
      p('spam', 0.99, { coverage: 1, ood: false }),
      p('spam', 0.99, { coverage: 1, ood: false }),
    ]);
    const text = await scrape();
    const bucket = (label: string, le: string) =>
      sample(text, 'nv_inference_prediction_score_bucket', { ...ALL, label, le });
    expect([0.5, 0.6, 0.9, 1].map((le) => bucket('ham', String(le)))).toEqual([0, 1, 1, 2]);
    expect([0.7, 0.8, 0.9, 1].map((le) => bucket('spam', String(le)))).toEqual([0, 1, 1, 3]);
    // The label mix: answers per predicted label.
    expect(sample(text, 'nv_inference_prediction_score_count', { ...ALL, label: 'ham' })).toBe(2);
    expect(sample(text, 'nv_inference_prediction_score_count', { ...ALL, label: 'spam' })).toBe(3);
    const cov = (le: string) => sample(text, 'nv_inference_prediction_coverage_bucket', { ...ALL, le });
    expect(['0.4', '0.5', '0.8', '0.9', '1', '+Inf'].map(cov)).toEqual([0, 1, 1, 2, 5, 5]);
    expect(sample(text, 'nv_inference_prediction_ood', ALL)).toBe(1);
    expect(sample(text, 'nv_inference_prediction_unsure', ALL)).toBe(0);
    expect(sample(text, 'nv_model_expected_escalation_share', ALL)).toBeCloseTo(0.05, 12);
  });

  it('report the PSI of the last hour against the baseline, per kind', async () => {
    const { model, scrape } = setup({ baseline: BASELINE });
    model.predicted([
      p('ham', 0.55, { coverage: 1 }),
      p('ham', 0.95, { coverage: 0.85 }),
      p('spam', 0.72, { coverage: 0.45 }),
      p('spam', 0.99, { coverage: 1 }),
      p('spam', 0.99, { coverage: 1 }),
    ]);
    // Observed score shares: bin 5 0.2, bin 7 0.2, bin 9 0.6; coverage: bin 4 0.2, bin 8 0.2, bin 9 0.6.
    const scorePsi = term(0.2, 0.5) + term(0, 0.1) + term(0.2, 0.1) + term(0, 0.1) + term(0.6, 0.2);
    const coveragePsi = term(0.2, 0.1) + term(0.2, 0.1) + term(0.6, 0.8);
    expect(scorePsi).toBeCloseTo(2.1638, 4); // the hand computation itself
    const text = await scrape();
    const psi = (kind: string) => sample(text, 'nv_inference_prediction_psi', { ...ALL, kind });
    expect(psi('score')).toBeCloseTo(scorePsi, 9);
    expect(psi('coverage')).toBeCloseTo(coveragePsi, 9);
  });

  it('forget answers older than an hour, minute by minute', async () => {
    const { clock, model, scrape } = setup({ baseline: BASELINE });
    model.predicted([p('spam', 0.99, { coverage: 1 })]);
    clock.t += 30 * 60_000;
    model.predicted([p('ham', 0.55, { coverage: 1 })]);
    const psi = async () => sample(await scrape(), 'nv_inference_prediction_psi', { ...ALL, kind: 'score' });
    // Both in the window: half in bin 5, half in bin 9.
    expect(await psi()).toBeCloseTo(term(0.5, 0.5) + term(0.5, 0.2) + 3 * term(0, 0.1), 9);
    clock.t += 31 * 60_000;
    // Only the second is left (all in bin 5).
    expect(await psi()).toBeCloseTo(term(1, 0.5) + term(0, 0.2) + 3 * term(0, 0.1), 9);
    clock.t += 60 * 60_000;
    // Nothing answered in the last hour: no PSI at all rather than a made-up one.
    expect(await psi()).toBeUndefined();
    // The cumulative histograms keep everything.
    const text = await scrape();
    expect(sample(text, 'nv_inference_prediction_score_count', { ...ALL, label: 'spam' })).toBe(1);
  });

  it('counts unsure answers and observes their confidence (top probability) under the label answered', async () => {
    const { model, scrape } = setup();
    model.predicted([
      p('ham', 0.15, { scores: { ham: 0.15, spam: 0.85 }, unsure: true }),
      p('ham', 0.95, { scores: { ham: 0.95, spam: 0.05 } }),
    ]);
    const text = await scrape();
    expect(sample(text, 'nv_inference_prediction_unsure', ALL)).toBe(1);
    const bucket = (le: string) =>
      sample(text, 'nv_inference_prediction_score_bucket', { ...ALL, label: 'ham', le });
    // 0.85 and 0.95, not 0.15: nothing under 0.8.
    expect(['0.2', '0.8', '0.9', '1'].map(bucket)).toEqual([0, 0, 1, 2]);
  });

  it('without a baseline there is no PSI series, and without coverage no coverage observation', async () => {
    const { model, scrape } = setup();
    model.predicted([p('spam', 0.8), p('ham', 0.7)]);
    const text = await scrape();
    expect(text).not.toMatch(/^nv_inference_prediction_psi\{/m);
    expect(text).not.toMatch(/^nv_model_expected_escalation_share\{/m);
    expect(sample(text, 'nv_inference_prediction_score_count', { ...ALL, label: 'spam' })).toBe(1);
    // Zeroed at release (the version has an OOD rule), never observed: these answers carried no coverage.
    expect(sample(text, 'nv_inference_prediction_coverage_count', ALL)).toBe(0);
    expect(sample(text, 'nv_inference_prediction_ood', ALL)).toBe(0);
  });

  it('start a text version at zero for every label, and a model without labels with no drift series', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.forModel('spam', '2').release({ labels: ['ham', 'spam'], coverage: false });
    metrics.forModel('mlp', '1').release({ labels: [], coverage: false });
    const text = await metrics.registry.metrics();
    for (const label of ['ham', 'spam']) {
      expect(
        sample(text, 'nv_inference_prediction_score_count', { model: 'spam', version: '2', label }),
      ).toBe(0);
    }
    expect(text).not.toMatch(/^nv_inference_prediction_coverage_count\{/m);
    expect(text).not.toMatch(/^nv_inference_prediction_\w+\{[^}]*model="mlp"/m);
  });

  it('keep the counts and window of a version whose metrics are resolved again', async () => {
    const { metrics, model, scrape } = setup({ baseline: BASELINE });
    model.predicted([p('spam', 0.99, { coverage: 1 })]);
    const again = metrics.forModel('spam', '1');
    again.release({ labels: ['ham', 'spam'], coverage: true, baseline: BASELINE });
    again.predicted([p('spam', 0.99, { coverage: 1 })]);
    const text = await scrape();
    expect(sample(text, 'nv_inference_prediction_score_count', { ...ALL, label: 'spam' })).toBe(2);
    expect(sample(text, 'nv_inference_prediction_coverage_count', ALL)).toBe(2);
    expect(sample(text, 'nv_inference_prediction_psi', { ...ALL, kind: 'score' })).toBeCloseTo(
      term(1, 0.2) + term(0, 0.5) + 3 * term(0, 0.1),
      9,
    );
  });
});
