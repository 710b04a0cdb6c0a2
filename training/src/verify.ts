/**
 * Export verification on the validation split: the ONNX files run on onnxruntime-node and onnxruntime-web
 * (wasm, as at the edge) must give the trainer's probabilities within `tolerance`; the int8 student is compared
 * with the trainer's dequantized student (parity) and with the FP32 student (what quantization changed: labels
 * identical on >= `minAgreement`, largest probability difference reported).
 */
import type { BagMlp } from './model/bag-mlp.ts';
import { dequantized, type QuantizedTable } from './model/quantize.ts';
import { predictProbs } from './model/train.ts';
import { type Backend, openModel } from './onnx/run.ts';

export interface VerifyInput {
  ids: Int32Array;
  n: number;
  teacher: { model: BagMlp; onnx: Uint8Array };
  student: { model: BagMlp; table: QuantizedTable; onnx: Uint8Array };
  /** @default 1e-4 */
  tolerance?: number;
  /** @default 0.995 */
  minAgreement?: number;
}

export interface VerifyReport {
  tolerance: number;
  n: number;
  /** Largest |ONNX - trainer| probability per model and backend. */
  parity: Record<string, Record<Backend, number>>;
  quantization: {
    /** Share of validation messages where int8 and FP32 students predict the same label. */
    label_agreement: number;
    /** Largest |int8 - FP32| spam probability. */
    max_prob_diff: number;
    mean_prob_diff: number;
  };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}

export async function verifyExports(input: VerifyInput): Promise<VerifyReport> {
  const tolerance = input.tolerance ?? 1e-4;
  const minAgreement = input.minAgreement ?? 0.995;
  const { ids, n } = input;
  const L = input.teacher.model.shape.maxLength;
  const expected = {
    teacher: predictProbs(input.teacher.model, ids, n),
    student: predictProbs(dequantized(input.student.model, input.student.table), ids, n),
  };
  const parity: VerifyReport['parity'] = {};
  for (const role of ['teacher', 'student'] as const) {
    const bytes = input[role].onnx;
    const row = {} as Record<Backend, number>;
    for (const backend of ['onnxruntime-node', 'onnxruntime-web'] as const) {
      const runner = await openModel(bytes, backend, L);
      const got = await runner.run(ids, n);
      await runner.release();
      const d = maxDiff(got, expected[role]);
      if (!(d <= tolerance)) {
        throw new Error(`verify: ${role} on ${backend} differs from the trainer by ${d} (> ${tolerance})`);
      }
      row[backend] = d;
    }
    parity[role] = row;
  }
  const fp32 = predictProbs(input.student.model, ids, n);
  const q = expected.student;
  let agree = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if ((fp32[2 * i + 1] as number) >= 0.5 === (q[2 * i + 1] as number) >= 0.5) agree++;
    sum += Math.abs((fp32[2 * i + 1] as number) - (q[2 * i + 1] as number));
  }
  const quantization = {
    label_agreement: agree / n,
    max_prob_diff: maxDiff(fp32, q),
    mean_prob_diff: sum / n,
  };
  if (quantization.label_agreement < minAgreement) {
    throw new Error(
      `verify: int8 and FP32 students agree on ${quantization.label_agreement} of labels (< ${minAgreement})`,
    );
  }
  return { tolerance, n, parity, quantization };
}
