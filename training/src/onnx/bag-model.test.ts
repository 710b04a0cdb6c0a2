import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { type BagMlp, forward, initBagMlp, Rng, softmax } from '../model/bag-mlp.ts';
import { dequantized, quantizeRows } from '../model/quantize.ts';
import { BAG_MODEL_OPS, exportBagMlp } from './bag-model.ts';
import { type Backend, openModel } from './run.ts';

const L = 12;
const N = 9;

function model(hidden: number[], seed: number, maxLength = L): BagMlp {
  const m = initBagMlp({ rows: 50, dim: 6, hidden, classes: 2, maxLength }, seed, Float32Array, 0.5);
  // Non-zero biases so the export of every parameter is exercised.
  for (const layer of m.layers) for (let i = 0; i < layer.b.length; i++) layer.b[i] = 0.1 * (i + 1);
  return m;
}

/** Ids from a 200-bucket featurizer space (so Mod folds them into 50 rows), padded; one row all padding. */
function ids(): Int32Array {
  const rng = new Rng(9);
  const out = new Int32Array(N * L);
  for (let i = 0; i < N - 1; i++) {
    const len = 1 + Math.floor(rng.next() * L);
    for (let j = 0; j < len; j++) out[i * L + j] = 1 + Math.floor(rng.next() * 199);
  }
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}

const BACKENDS: Backend[] = ['onnxruntime-node', 'onnxruntime-web'];

describe('exportBagMlp parity with the trainer', () => {
  for (const hidden of [[], [8, 5]]) {
    for (const backend of BACKENDS) {
      it(`fp32, hidden [${hidden}], ${backend}: probabilities within 1e-6, dynamic batch`, async () => {
        const m = model(hidden, 3);
        const x = ids();
        const expected = softmax(forward(m, x, N).logits, 2);
        const runner = await openModel(exportBagMlp(m, { name: 't' }), backend, L, 4);
        const got = await runner.run(x, N);
        await runner.release();
        expect(got.length).toBe(N * 2);
        expect(maxDiff(got, expected)).toBeLessThan(1e-6);
        // the all-padding row: pooled zeros, the biases decide
        expect((got[(N - 1) * 2] as number) + (got[(N - 1) * 2 + 1] as number)).toBeCloseTo(1, 6);
      });

      it(`int8, hidden [${hidden}], ${backend}: equals the dequantized trainer model`, async () => {
        const m = model(hidden, 4);
        const table = quantizeRows(m);
        const x = ids();
        const expected = softmax(forward(dequantized(m, table), x, N).logits, 2);
        const runner = await openModel(exportBagMlp(m, { name: 's', quantized: table }), backend, L);
        const got = await runner.run(x, N);
        await runner.release();
        expect(maxDiff(got, expected)).toBeLessThan(1e-6);
      });
    }
  }
  it('uses only the standard opset-13 ops listed, declares a dynamic batch, and int8 is ~4x smaller', () => {
    const m = initBagMlp({ rows: 4096, dim: 16, hidden: [], classes: 2, maxLength: L }, 1);
    const fp = exportBagMlp(m, { name: 'x' });
    const q = exportBagMlp(m, { name: 'x', quantized: quantizeRows(m) });
    expect(q.length).toBeLessThan(fp.length / 3);
    const decoded = onnxProto.onnx.ModelProto.decode(q);
    expect(decoded.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 13]]);
    for (const n of decoded.graph?.node ?? []) expect(BAG_MODEL_OPS).toContain(n.opType);
    const dims = decoded.graph?.input?.[0]?.type?.tensorType?.shape?.dim ?? [];
    expect(dims.map((d) => d.dimParam || Number(d.dimValue))).toEqual(['batch', L]);
  });

  it('refuses a quantized table of another shape', () => {
    const a = initBagMlp({ rows: 10, dim: 4, hidden: [], classes: 2, maxLength: L }, 1);
    const b = initBagMlp({ rows: 10, dim: 3, hidden: [], classes: 2, maxLength: L }, 1);
    expect(() => exportBagMlp(a, { name: 'x', quantized: quantizeRows(b) })).toThrow(/quantized table/);
  });
});

/** A named row of ids. */
type Case = [name: string, ids: number[]];

describe('exportBagMlp compaction: the graph slices ids after the last real id in the batch', () => {
  const W = 32;
  const id = (j: number) => 1 + ((j * 37 + 11) % 199);
  const PADDING: Case = ['all padding', []];
  const NEGATIVE: Case = ['negative ids only', [-1, -2, -3, 0, -4]];
  /** Named rows of width W (padded with 0): where the real ids sit decides how far the graph may slice. */
  const CASES: Case[] = [
    ['short (3 ids, then padding)', [id(1), id(2), id(3)]],
    ['long (every position)', Array.from({ length: W }, (_, j) => id(j))],
    PADDING,
    ['interleaved zeros', [id(4), 0, 0, id(5), 0, id(6), 0, 0, 0, 0, id(7)]],
    ['one id after a long gap (the last position)', [...new Array<number>(W - 1).fill(0), id(8)]],
    [
      'ids after a gap, the last at the last position',
      [id(9), id(10), ...new Array<number>(W - 4).fill(0), id(11), id(12)],
    ],
    ['negative ids between and after the real ones', [-5, id(13), -1, 0, id(14), -200, 0, -7, -7]],
    NEGATIVE,
  ];
  const rows = (cases: Case[]): Int32Array => {
    const out = new Int32Array(cases.length * W);
    cases.forEach(([, r], i) => {
      out.set(r, i * W);
    });
    return out;
  };

  for (const backend of BACKENDS) {
    for (const quantized of [false, true]) {
      const kind = quantized ? 'int8' : 'fp32';
      it(`${kind}, ${backend}: every row within 1e-6 of the trainer, alone and in batches`, async () => {
        const m = model([8], 7, W);
        const table = quantized ? quantizeRows(m) : undefined;
        const reference = table === undefined ? m : dequantized(m, table);
        const bytes = exportBagMlp(m, { name: kind, ...(table === undefined ? {} : { quantized: table }) });
        const x = rows(CASES);
        const n = CASES.length;
        const expected = softmax(forward(reference, x, n).logits, 2);
        for (const chunk of [1, n, 3]) {
          const runner = await openModel(bytes, backend, W, chunk);
          const got = await runner.run(x, n);
          await runner.release();
          CASES.forEach(([name], i) => {
            const d = maxDiff(got.subarray(2 * i, 2 * i + 2), expected.subarray(2 * i, 2 * i + 2));
            expect(d, `${name}, batches of ${chunk}`).toBeLessThan(1e-6);
          });
        }
        // A batch holding nothing but padding and negative ids: the bias-only answer of the all-padding row.
        const empty = rows([PADDING, NEGATIVE, PADDING]);
        const runner = await openModel(bytes, backend, W, 3);
        const got = await runner.run(empty, 3);
        await runner.release();
        expect(maxDiff(got, softmax(forward(reference, empty, 3).logits, 2))).toBeLessThan(1e-6);
      });
    }
  }

  it('the cases tell a sliced row from a full one (each dropped position changes the answer)', () => {
    // Guards the cases above: a graph that dropped the last real id of a row would move its answer.
    const m = model([8], 7, W);
    for (const [name, r] of CASES) {
      let last = -1;
      r.forEach((v, j) => {
        if (v > 0) last = j;
      });
      if (last < 0) continue;
      const full = rows([[name, r]]);
      const cut = full.slice();
      cut[last] = 0;
      const a = softmax(forward(m, full, 1).logits, 2);
      const b = softmax(forward(m, cut, 1).logits, 2);
      expect(maxDiff(a, b), name).toBeGreaterThan(1e-4);
    }
  });
});
