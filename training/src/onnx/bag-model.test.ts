import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { type BagMlp, forward, initBagMlp, Rng, softmax } from '../model/bag-mlp.ts';
import { dequantized, quantizeRows } from '../model/quantize.ts';
import { BAG_MODEL_OPS, exportBagMlp } from './bag-model.ts';
import { type Backend, openModel } from './run.ts';

const L = 12;
const N = 9;

function model(hidden: number[], seed: number): BagMlp {
  const m = initBagMlp({ rows: 50, dim: 6, hidden, classes: 2, maxLength: L }, seed, Float32Array, 0.5);
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
