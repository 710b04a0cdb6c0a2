/**
 * Drift seen at the origin, over real HTTP: a text model with an OOD rule, a drift baseline and a planned edge
 * share, one with none of them, and a tensor model (no featurizer) whose cascade output is recorded the same way. Every answer of the classify route, OIP text infer and OIP raw ids infer is
 * recorded once in /metrics (score by label, coverage, ood), and the PSI gauge matches shared/drift's PSI of the
 * answered scores and coverage against the baseline.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { histogram, psi } from '../../shared/drift/index.ts';
import { featurizerFromManifest } from '../../shared/featurizer/index.ts';
import type { BaselineSide } from '../../shared/manifest/index.ts';
import { seenIdsBitmap } from '../../shared/ood/index.ts';
import type { Prediction } from '../../shared/protocol/index.ts';
import { infer } from '../test/client.ts';
import { createModelRepository, mlpVersion, rows, type TempRepository, textModel } from '../test/fixtures.ts';
import { sample } from '../test/harness.ts';
import { createLogger } from './logger.ts';
import { startOriginServer } from './server.ts';

const FEATURIZER = { name: 'email-hash', version: '1.0.0', config: { buckets: 256, maxLength: 32 } };
const SEEN_TEXT = 'WIN MONEY NOW!!! click here';
const seenIds = seenIdsBitmap(featurizerFromManifest(FEATURIZER).featurize(SEEN_TEXT), 1, 256, 1);
const BASELINE: BaselineSide = {
  n: 900,
  score: [0, 0, 0, 0, 0, 0.4, 0.3, 0.1, 0.1, 0.1],
  coverage: [0.05, 0, 0, 0.05, 0, 0.1, 0, 0, 0, 0.8],
  labels: { ham: 0.5, spam: 0.5 },
};
const TEXTS = [
  SEEN_TEXT,
  'a note about gardening tomatoes in the spring',
  '',
  'click here to WIN a free cruise, money back',
  'minutes of the meeting on tuesday',
];

let repo: TempRepository;
let origin: Awaited<ReturnType<typeof startOriginServer>>;

beforeAll(async () => {
  repo = await createModelRepository([
    {
      name: 'drift',
      version: '1',
      onnx: textModel(256, 32),
      featurizer: FEATURIZER,
      ood: { seenIds, minFeatures: 1, minCoverage: 0.8 },
      baseline: { source: 'test', origin: BASELINE },
    },
    { name: 'plain', version: '1', onnx: textModel(256, 32, 8, 11), featurizer: FEATURIZER },
    mlpVersion('tensor', '1', [16, 8, 3], 5),
  ]);
  // A tensor release: three labels over the MLP's probabilities (the cascade output, manifest.cascade).
  const tensorManifest = join(repo.root, 'tensor', '1', 'manifest.json');
  const tm = JSON.parse(await readFile(tensorManifest, 'utf8'));
  await writeFile(
    tensorManifest,
    JSON.stringify({
      ...tm,
      labels: ['a', 'b', 'c'],
      cascade: { output: 'probabilities', kind: 'probabilities' },
    }),
  );
  // The release's plan: the edge answers 95%, so 5% of edge traffic is escalated here.
  const path = join(repo.root, 'drift', '1', 'manifest.json');
  const manifest = JSON.parse(await readFile(path, 'utf8'));
  await writeFile(path, JSON.stringify({ ...manifest, expected_edge_share: 0.95 }));
  origin = await startOriginServer(
    { modelRepository: repo.root, executionProvider: 'cpu', maxBatch: 8 },
    { logger: createLogger({ level: 'error' }), featurizerFactory: featurizerFromManifest },
  );
});

afterAll(async () => {
  await origin?.server.stop();
  await repo?.cleanup();
});

const scrape = async () => (await fetch(`${origin.url}/metrics`)).text();

async function classify(model: string, texts: string[]): Promise<Prediction[]> {
  const r = await fetch(`${origin.url}/v1/models/${model}/classify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ texts }),
  });
  expect(r.status).toBe(200);
  return ((await r.json()) as { predictions: Prediction[] }).predictions;
}

const DRIFT = { model: 'drift', version: '1' };
/** Every answer of the drift model so far, in order. */
const answered: Prediction[] = [];

describe('drift metrics over HTTP', () => {
  it('records each classify answer once: score buckets by label, coverage, ood, and the PSI', async () => {
    const predictions = await classify('drift', TEXTS);
    answered.push(...predictions);
    const text = await scrape();
    for (const label of ['ham', 'spam']) {
      const mine = predictions.filter((p) => p.label === label);
      const labels = { ...DRIFT, label };
      expect(sample(text, 'nv_inference_prediction_score_count', labels), label).toBe(mine.length);
      for (const le of [0.5, 0.6, 0.7, 0.8, 0.9, 1]) {
        expect(sample(text, 'nv_inference_prediction_score_bucket', { ...labels, le: String(le) })).toBe(
          mine.filter((p) => p.score <= le).length,
        );
      }
    }
    expect(sample(text, 'nv_inference_prediction_coverage_count', DRIFT)).toBe(TEXTS.length);
    expect(sample(text, 'nv_inference_prediction_coverage_bucket', { ...DRIFT, le: '0.1' })).toBe(
      predictions.filter((p) => (p.coverage as number) <= 0.1).length,
    );
    const ood = predictions.filter((p) => p.ood === true).length;
    expect(ood).toBeGreaterThanOrEqual(2); // the gardening note and the empty text
    expect(sample(text, 'nv_inference_prediction_ood', DRIFT)).toBe(ood);
    expect(sample(text, 'nv_inference_prediction_psi', { ...DRIFT, kind: 'score' })).toBeCloseTo(
      psi(BASELINE.score, histogram(predictions.map((p) => p.score))) as number,
      9,
    );
    expect(sample(text, 'nv_inference_prediction_psi', { ...DRIFT, kind: 'coverage' })).toBeCloseTo(
      psi(BASELINE.coverage, histogram(predictions.map((p) => p.coverage as number))) as number,
      9,
    );
    expect(sample(text, 'nv_model_expected_escalation_share', DRIFT)).toBeCloseTo(0.05, 12);
  });

  it('records OIP text infer and raw ids infer answers too, with the same scores and coverage', async () => {
    const texts = TEXTS.slice(0, 3);
    const viaText = await infer(
      `${origin.url}/v2/models/drift/infer`,
      [{ name: 'text', datatype: 'BYTES', shape: [texts.length], data: texts }],
      { binary: false },
    );
    expect(viaText.status).toBe(200);
    const featurizer = featurizerFromManifest(FEATURIZER);
    const ids = new Int32Array(texts.length * 32);
    texts.forEach((t, i) => {
      ids.set(featurizer.featurize(t), i * 32);
    });
    const viaIds = await infer(`${origin.url}/v2/models/drift/infer`, [
      { name: 'ids', datatype: 'INT32', shape: [texts.length, 32], data: ids },
    ]);
    expect(viaIds.status).toBe(200);
    // Both paths answer what classify answered for the same texts.
    answered.push(...answered.slice(0, 3), ...answered.slice(0, 3));
    const text = await scrape();
    let total = 0;
    for (const label of ['ham', 'spam']) {
      const n = sample(text, 'nv_inference_prediction_score_count', { ...DRIFT, label }) as number;
      expect(n, label).toBe(answered.filter((p) => p.label === label).length);
      total += n;
    }
    expect(total).toBe(TEXTS.length + 2 * texts.length);
    expect(sample(text, 'nv_inference_prediction_coverage_count', DRIFT)).toBe(total);
    expect(sample(text, 'nv_inference_prediction_ood', DRIFT)).toBe(answered.filter((p) => p.ood).length);
    expect(sample(text, 'nv_inference_prediction_psi', { ...DRIFT, kind: 'score' })).toBeCloseTo(
      psi(BASELINE.score, histogram(answered.map((p) => p.score))) as number,
      6,
    );
    expect(sample(text, 'nv_inference_prediction_psi', { ...DRIFT, kind: 'coverage' })).toBeCloseTo(
      psi(BASELINE.coverage, histogram(answered.map((p) => p.coverage as number))) as number,
      9,
    );
  });

  it('records a tensor release`s answers from its cascade output, by predicted label', async () => {
    const x = rows(6, 16, 3);
    const res = await infer(`${origin.url}/v2/models/tensor/infer`, [
      { name: 'input', datatype: 'FP32', shape: [6, 16], data: x },
    ]);
    expect(res.status).toBe(200);
    const probs = res.response?.outputs[0]?.data as Float32Array;
    const expected = { a: 0, b: 0, c: 0 } as Record<string, number>;
    for (let r = 0; r < 6; r++) {
      const row = Array.from(probs.subarray(r * 3, r * 3 + 3));
      const label = ['a', 'b', 'c'][row.indexOf(Math.max(...row))] as string;
      expected[label] = (expected[label] ?? 0) + 1;
    }
    const text = await scrape();
    for (const label of ['a', 'b', 'c']) {
      expect(
        sample(text, 'nv_inference_prediction_score_count', { model: 'tensor', version: '1', label }),
        label,
      ).toBe(expected[label]);
    }
  });

  it('a version without a baseline, OOD rule or plan gets the score histogram only', async () => {
    const predictions = await classify('plain', TEXTS.slice(0, 2));
    expect(predictions.every((p) => p.coverage === undefined)).toBe(true);
    const text = await scrape();
    const plain = { model: 'plain', version: '1' };
    const counts = ['ham', 'spam'].map((label) =>
      sample(text, 'nv_inference_prediction_score_count', { ...plain, label }),
    );
    expect(counts[0] as number).toBe(predictions.filter((p) => p.label === 'ham').length);
    expect((counts[0] as number) + (counts[1] as number)).toBe(2);
    for (const name of [
      'nv_inference_prediction_psi',
      'nv_inference_prediction_coverage_count',
      'nv_inference_prediction_ood',
      'nv_model_expected_escalation_share',
    ]) {
      expect(sample(text, name, plain), name).toBeUndefined();
    }
  });
});
