import onnxProto from 'onnx-proto';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web/wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../shared/random/index.ts';
import { CLASSES, PIXELS } from './data.ts';
import {
  convKernelToOnnx,
  exportStudent,
  exportTeacher,
  INPUT_NAME,
  nhwcRowsToNchw,
  OUTPUT_NAME,
  STUDENT_OPS,
  TEACHER_OPS,
} from './export.ts';
import {
  type CnnSpec,
  cnnWeights,
  createStudent,
  createTeacher,
  mlpWeights,
  predictProbs,
  setMlpWeights,
} from './models.ts';
import { dequantizeMlp, quantizeMlp } from './quantize.ts';
import { DIGITS_RECIPE } from './recipe.ts';
import { tf, useWasmBackend } from './tf-wasm.ts';

type Backend = 'onnxruntime-node' | 'onnxruntime-web';
const BACKENDS: Backend[] = ['onnxruntime-node', 'onnxruntime-web'];

/** Probabilities [n * 10] from either runtime (one thread). */
async function runOnnx(
  bytes: Uint8Array,
  backend: Backend,
  x: Float32Array,
  n: number,
): Promise<Float32Array> {
  if (backend === 'onnxruntime-node') {
    const session = await ortNode.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    const out = await session.run({ [INPUT_NAME]: new ortNode.Tensor('float32', x, [n, PIXELS]) });
    await session.release();
    return Float32Array.from((out[OUTPUT_NAME] as ortNode.Tensor).data as Float32Array);
  }
  ortWeb.env.wasm.numThreads = 1;
  const session = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  const out = await session.run({ [INPUT_NAME]: new ortWeb.Tensor('float32', x.slice(), [n, PIXELS]) });
  await session.release();
  return Float32Array.from((out[OUTPUT_NAME] as ortWeb.Tensor).data as Float32Array);
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}

/** n images of random strokes-ish pixels in [0, 1] (about a fifth of them lit). */
function images(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n * PIXELS }, () => (rand() < 0.2 ? rand() : 0));
}

/** Random non-zero biases and a sharper last layer, so every parameter and the layouts matter to the output. */
function perturb(model: tf.LayersModel, seed: number): void {
  const rand = mulberry32(seed);
  const weights = model.getWeights();
  model.setWeights(
    weights.map((w, i) => {
      const data = Float32Array.from(w.dataSync() as Float32Array);
      if (w.shape.length === 1) for (let j = 0; j < data.length; j++) data[j] = rand() - 0.5;
      if (i === weights.length - 2) for (let j = 0; j < data.length; j++) data[j] = (data[j] as number) * 12;
      return tf.tensor(data, w.shape);
    }),
  );
}

/** Shapes of a graph input/output: dims as numbers or their symbolic names. */
function dims(v: onnxProto.onnx.IValueInfoProto | undefined): (number | string)[] {
  return (v?.type?.tensorType?.shape?.dim ?? []).map((d) => d.dimParam || Number(d.dimValue));
}

const N = 7;

// Two conv blocks covering both paddings and an even kernel ('same' with 4 pads 1 before, 2 after in tfjs),
// channels > 1 into the second conv, a non-square channel count into the dense layer.
const TINY_CNN: CnnSpec = {
  convs: [
    { filters: 3, kernel: 4, padding: 'same' },
    { filters: 5, kernel: 3, padding: 'valid' },
  ],
  dense: [8],
};

beforeAll(async () => {
  await useWasmBackend();
});

describe('layout helpers', () => {
  it('convKernelToOnnx maps tfjs [kh, kw, in, out] to ONNX [out, in, kh, kw]', () => {
    const [k, inC, outC] = [2, 3, 4];
    const w = Float32Array.from({ length: k * k * inC * outC }, (_, i) => i);
    const out = convKernelToOnnx(w, k, inC, outC);
    for (const [y, x, i, o] of [
      [0, 0, 0, 0],
      [1, 0, 2, 3],
      [0, 1, 1, 2],
      [1, 1, 2, 1],
    ] as const) {
      expect(out[((o * inC + i) * k + y) * k + x]).toBe(w[((y * k + x) * inC + i) * outC + o]);
    }
  });

  it('nhwcRowsToNchw moves row (h, w, c) to row (c, h, w), keeping each row whole', () => {
    const [side, ch, fanOut] = [2, 3, 2];
    const w = Float32Array.from({ length: side * side * ch * fanOut }, (_, i) => i);
    const out = nhwcRowsToNchw(w, side, ch, fanOut);
    // NHWC row of (h=1, w=0, c=2) is (1*2+0)*3+2 = 8; NCHW row is (2*2+1)*2+0 = 10.
    expect([...out.subarray(10 * fanOut, 11 * fanOut)]).toEqual([...w.subarray(8 * fanOut, 9 * fanOut)]);
  });
});

describe('exportTeacher parity with tfjs', () => {
  for (const backend of BACKENDS) {
    it(`tiny CNN, ${backend}: probabilities within 1e-5 of tfjs`, async () => {
      const model = createTeacher(TINY_CNN, 21);
      perturb(model, 22);
      const x = images(N, 23);
      const expected = predictProbs(model, x, N);
      const got = await runOnnx(exportTeacher(cnnWeights(model, TINY_CNN), { name: 't' }), backend, x, N);
      model.dispose();
      expect(maxDiff(got, expected)).toBeLessThan(1e-5);
      // The test means something only if the rows are far from uniform.
      expect(Math.max(...expected)).toBeGreaterThan(0.5);
    });
  }
});

describe('exportStudent parity with tfjs', () => {
  for (const backend of BACKENDS) {
    it(`int8 MLP, ${backend}: equals tfjs with the dequantized weights (1e-6), near the float model`, async () => {
      const model = createStudent({ hidden: [16] }, 31);
      perturb(model, 32);
      const quantized = quantizeMlp(mlpWeights(model));
      const int8 = createStudent({ hidden: [16] }, 31);
      setMlpWeights(int8, dequantizeMlp(quantized));
      const x = images(N, 33);
      const floatProbs = predictProbs(model, x, N);
      const expected = predictProbs(int8, x, N);
      const got = await runOnnx(exportStudent(quantized, { name: 's' }), backend, x, N);
      model.dispose();
      int8.dispose();
      expect(maxDiff(got, expected)).toBeLessThan(1e-6);
      expect(maxDiff(got, floatProbs)).toBeLessThan(0.05);
      expect(Math.max(...expected)).toBeGreaterThan(0.5);
    });
  }
});

describe('exported graphs', () => {
  it('the recipe student is <= 256 KB (int8) and ~4x smaller than float32', () => {
    const model = createStudent(DIGITS_RECIPE.student.arch, 1);
    const bytes = exportStudent(quantizeMlp(mlpWeights(model)), { name: 's' });
    const params = model.countParams();
    model.dispose();
    expect(bytes.length).toBeLessThanOrEqual(256 * 1024);
    expect(bytes.length).toBeLessThan((params * 4) / 3.5);
  });

  it('both: input float32 [batch, 784], output float32 [batch, 10], opset 13, only the listed ops', async () => {
    const teacher = createTeacher(DIGITS_RECIPE.teacher.arch, 1);
    const student = createStudent({ hidden: [16] }, 1);
    const models = [
      {
        bytes: exportTeacher(cnnWeights(teacher, DIGITS_RECIPE.teacher.arch), { name: 't' }),
        ops: TEACHER_OPS,
      },
      { bytes: exportStudent(quantizeMlp(mlpWeights(student)), { name: 's' }), ops: STUDENT_OPS },
    ];
    teacher.dispose();
    student.dispose();
    for (const { bytes, ops } of models) {
      const decoded = onnxProto.onnx.ModelProto.decode(bytes);
      expect(decoded.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 13]]);
      for (const n of decoded.graph?.node ?? []) expect(ops as readonly string[]).toContain(n.opType);
      const [input] = decoded.graph?.input ?? [];
      const [output] = decoded.graph?.output ?? [];
      expect(decoded.graph?.input).toHaveLength(1);
      expect(decoded.graph?.output).toHaveLength(1);
      expect(input?.name).toBe('input');
      expect(output?.name).toBe('probabilities');
      expect(input?.type?.tensorType?.elemType).toBe(onnxProto.onnx.TensorProto.DataType.FLOAT);
      expect(output?.type?.tensorType?.elemType).toBe(onnxProto.onnx.TensorProto.DataType.FLOAT);
      expect(dims(input)).toEqual(['batch', PIXELS]);
      expect(dims(output)).toEqual(['batch', CLASSES]);
      // A dynamic batch really runs: 1 row and 3 rows.
      for (const n of [1, 3]) {
        const p = await runOnnx(bytes, 'onnxruntime-node', images(n, n), n);
        expect(p).toHaveLength(n * CLASSES);
        expect(p.subarray(0, CLASSES).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      }
    }
  });

  it('rejects weights whose shapes do not chain', () => {
    const student = createStudent({ hidden: [16] }, 1);
    const q = quantizeMlp(mlpWeights(student));
    student.dispose();
    expect(() => exportStudent({ dense: q.dense.slice(1) }, { name: 's' })).toThrow(
      /student dense\[0\] takes 16/,
    );
  });
});
