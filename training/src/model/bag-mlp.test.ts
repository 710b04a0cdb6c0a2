import { describe, expect, it } from 'vitest';
import {
  type BagMlp,
  backward,
  createGrads,
  type FloatArray,
  forward,
  initBagMlp,
  type LossTargets,
  lossAndGrad,
  Rng,
  softmax,
  zeroGrads,
} from './bag-mlp.ts';
import { dequantized, quantizeRows } from './quantize.ts';
import { predictProbs, trainBagMlp } from './train.ts';

const L = 6;

function batch(): { ids: Int32Array; n: number } {
  // ids beyond `rows` fold with id % rows; duplicates in a bag; one all-padding row
  const ids = Int32Array.from([1, 2, 2, 9, 0, 0, 3, 14, 5, 7, 1, 0, 0, 0, 0, 0, 0, 0, 8, 8, 8, 8, 8, 8]);
  return { ids, n: 4 };
}

function lossOf(m: BagMlp, ids: Int32Array, n: number, t: LossTargets): number {
  return lossAndGrad(forward(m, ids, n), m.shape.classes, t).loss;
}

/** Central finite differences on a sample of parameters vs. the analytic gradient (float64 model). */
function gradCheck(hidden: number[], targets: LossTargets): number {
  const m = initBagMlp({ rows: 11, dim: 3, hidden, classes: 2, maxLength: L }, 5, Float64Array, 0.7);
  for (const layer of m.layers) for (let i = 0; i < layer.b.length; i++) layer.b[i] = 0.05 * (i + 1); // away from the ReLU kink at 0
  const { ids, n } = batch();
  const acts = forward(m, ids, n);
  const { dlogits } = lossAndGrad(acts, 2, targets);
  const g = createGrads(m);
  backward(m, ids, acts, dlogits, g);
  const params: [FloatArray, Float64Array][] = [
    [m.emb, g.emb],
    ...m.layers.flatMap(
      (l, k) =>
        [
          [l.w, (g.layers[k] as { w: Float64Array }).w],
          [l.b, (g.layers[k] as { b: Float64Array }).b],
        ] as [FloatArray, Float64Array][],
    ),
  ];
  let worst = 0;
  const eps = 1e-6;
  for (const [p, gp] of params) {
    for (let i = 0; i < p.length; i++) {
      const old = p[i] as number;
      p[i] = old + eps;
      const up = lossOf(m, ids, n, targets);
      p[i] = old - eps;
      const down = lossOf(m, ids, n, targets);
      p[i] = old;
      const numeric = (up - down) / (2 * eps);
      worst = Math.max(worst, Math.abs(numeric - (gp[i] as number)) / Math.max(1e-3, Math.abs(numeric)));
    }
  }
  return worst;
}

describe('BagMlp gradients (finite differences)', () => {
  const labels = Uint8Array.from([1, 0, 1, 0]);
  const teacherLogits = Float64Array.from([-1, 2, 0.5, -0.5, 3, -3, 0.2, 0.1]);

  it('linear model, hard labels', () => {
    expect(gradCheck([], { labels })).toBeLessThan(1e-5);
  });

  it('two hidden ReLU layers, hard labels', () => {
    expect(gradCheck([5, 4], { labels })).toBeLessThan(1e-5);
  });

  it('hidden layer, distillation loss with temperature', () => {
    expect(gradCheck([4], { labels, teacherLogits, temperature: 3, alpha: 0.7 })).toBeLessThan(1e-5);
  });

  it('label smoothing per example (evidence), alone and with distillation', () => {
    const smoothing = Float32Array.from([0, 0.9, 0.3, 0.5]);
    expect(gradCheck([4], { labels, smoothing })).toBeLessThan(1e-5);
    expect(gradCheck([3], { labels, smoothing, teacherLogits, temperature: 2, alpha: 0.5 })).toBeLessThan(
      1e-5,
    );
  });

  it('full smoothing (1) trains every example toward the uniform prediction, whatever its label', () => {
    const m = initBagMlp({ rows: 11, dim: 3, hidden: [], classes: 2, maxLength: L }, 5, Float64Array, 0.7);
    const { ids, n } = batch();
    const acts = forward(m, ids, n);
    const p = softmax(acts.logits, 2);
    const { dlogits } = lossAndGrad(acts, 2, { labels, smoothing: new Float32Array(n).fill(1) });
    for (let k = 0; k < 2 * n; k++)
      expect((dlogits[k] as number) * n).toBeCloseTo((p[k] as number) - 0.5, 12);
  });

  it('smoothing toward a class prior trains a text that says nothing toward the base rate, not a coin flip', () => {
    const m = initBagMlp({ rows: 11, dim: 3, hidden: [], classes: 2, maxLength: L }, 5, Float64Array, 0.7);
    const { ids, n } = batch();
    const acts = forward(m, ids, n);
    const p = softmax(acts.logits, 2);
    const prior = [0.7, 0.3];
    const smoothing = new Float32Array(n).fill(1);
    const { dlogits } = lossAndGrad(acts, 2, { labels, smoothing, smoothingTarget: prior });
    for (let k = 0; k < 2 * n; k++)
      expect((dlogits[k] as number) * n).toBeCloseTo((p[k] as number) - (prior[k % 2] as number), 12);
    expect(
      gradCheck([4], { labels, smoothing: Float32Array.from([0, 0.9, 0.3, 0.5]), smoothingTarget: prior }),
    ).toBeLessThan(1e-5);
  });

  it('pure distillation (alpha 1) pulls the student towards the teacher', () => {
    expect(gradCheck([], { labels, teacherLogits, temperature: 2, alpha: 1 })).toBeLessThan(1e-5);
  });

  it('zeroGrads clears exactly the touched rows', () => {
    const m = initBagMlp({ rows: 11, dim: 3, hidden: [], classes: 2, maxLength: L }, 1);
    const { ids, n } = batch();
    const g = createGrads(m);
    const acts = forward(m, ids, n);
    backward(m, ids, acts, lossAndGrad(acts, 2, { labels: Uint8Array.from([1, 0, 1, 0]) }).dlogits, g);
    // rows touched: 1,2,9,3,14%11=3,5,7,8 -> {1,2,3,5,7,8,9}
    expect([...g.touched.subarray(0, g.nTouched)].sort((a, b) => a - b)).toEqual([1, 2, 3, 5, 7, 8, 9]);
    zeroGrads(m, g);
    expect(g.nTouched).toBe(0);
    expect(g.emb.every((v) => v === 0)).toBe(true);
  });
});

describe('trainBagMlp', () => {
  /** A separable toy task: ids 1..20 mean class 0, 21..40 class 1, plus shared noise ids. */
  function toy(n: number, seed: number) {
    const rng = new Rng(seed);
    const ids = new Int32Array(n * L);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const y = i % 2;
      labels[i] = y;
      for (let j = 0; j < L; j++) {
        if (j > 3 && rng.next() < 0.5) continue;
        ids[i * L + j] =
          rng.next() < 0.2 ? 41 + Math.floor(rng.next() * 10) : 1 + y * 20 + Math.floor(rng.next() * 20);
      }
    }
    return { ids, labels, n };
  }

  it('learns a separable task, logs one line per epoch, and is reproducible bit for bit', () => {
    const data = toy(400, 1);
    const lines: string[] = [];
    const run = () => {
      const m = initBagMlp({ rows: 64, dim: 8, hidden: [8], classes: 2, maxLength: L }, 3);
      const losses = trainBagMlp(m, data, {
        epochs: 3,
        seed: 7,
        tokenDropout: 0.1,
        log: (l) => lines.push(l),
        name: 'toy',
      });
      return { m, losses };
    };
    const a = run();
    const b = run();
    expect(lines.filter((l) => l.startsWith('[toy] epoch')).length).toBe(6);
    expect(a.losses[2]).toBeLessThan(a.losses[0] as number);
    expect(Buffer.from(a.m.emb.buffer).equals(Buffer.from(b.m.emb.buffer))).toBe(true);
    const test = toy(200, 2);
    const p = predictProbs(a.m, test.ids, test.n);
    let correct = 0;
    for (let i = 0; i < test.n; i++)
      if (((p[2 * i + 1] as number) > 0.5 ? 1 : 0) === test.labels[i]) correct++;
    expect(correct / test.n).toBeGreaterThan(0.95);
  });

  it('distillation moves a student towards the teacher it is given', () => {
    const data = toy(200, 3);
    const teacherLogits = new Float64Array(data.n * 2);
    // a teacher that (wrongly) says 50/50 everywhere: pure distillation should make the student unsure
    const m = initBagMlp({ rows: 64, dim: 4, hidden: [], classes: 2, maxLength: L }, 3);
    trainBagMlp(m, data, { epochs: 3, teacherLogits, alpha: 1, temperature: 2, log: () => {} });
    const p = predictProbs(m, data.ids, data.n);
    for (let i = 0; i < data.n; i++) expect(Math.abs((p[2 * i] as number) - 0.5)).toBeLessThan(0.1);
  });

  it('validates options naming the field', () => {
    const m = initBagMlp({ rows: 4, dim: 2, hidden: [], classes: 2, maxLength: L }, 1);
    const data = toy(4, 1);
    expect(() => trainBagMlp(m, data, { epochs: 0 })).toThrow(
      /options\.epochs must be an integer in \[1, 1000\], got 0/,
    );
    expect(() => trainBagMlp(m, data, { alpha: 2 })).toThrow(/alpha/);
    expect(() => trainBagMlp(m, { ...data, n: 5 })).toThrow(/n\*maxLength/);
    expect(() => initBagMlp({ rows: 0, dim: 2, hidden: [], classes: 2, maxLength: L }, 1)).toThrow(
      /shape\.rows/,
    );
  });
});

describe('quantizeRows', () => {
  it('per-row int8: error at most half a step of each row, zero rows stay zero', () => {
    const m = initBagMlp({ rows: 32, dim: 5, hidden: [], classes: 2, maxLength: L }, 2);
    m.emb.fill(0, 0, 5);
    const t = quantizeRows(m);
    const d = dequantized(m, t);
    expect(t.scale[0]).toBe(0);
    for (let r = 0; r < 32; r++) {
      for (let k = 0; k < 5; k++) {
        const i = r * 5 + k;
        expect(Math.abs((d.emb[i] as number) - (m.emb[i] as number))).toBeLessThanOrEqual(
          (t.scale[r] as number) / 2 + 1e-7,
        );
        expect(Math.abs(t.q[i] as number)).toBeLessThanOrEqual(127);
      }
    }
  });
});
