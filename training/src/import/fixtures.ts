/**
 * Small generated models and data for tests of the import path (assemble.test.ts, and the edge's workerd tests
 * through edge/test/global-setup.ts): a linear rule over 4 features and 3 labels, a teacher that is the rule
 * sharpened and a student that is the rule blurred, both `x` float32 [batch, 4] -> Softmax `probabilities`.
 */
import { Rng } from '../model/bag-mlp.ts';
import { buildModel, node, tensor, valueInfo } from '../onnx/builder.ts';
import type { LabelledRows } from './labelled-set.ts';

export const LINEAR_LABELS = ['a', 'b', 'c'];
export const LINEAR_WIDTH = 4;

/** The rule the generated data follows: class = argmax(x W), W [4, 3] row-major. */
export const TRUE_W = [1, 0, -1, 0, 1, -1, -1, 1, 0.5, 0.5, -0.5, 0];
export const TEACHER_W = TRUE_W.map((v) => v * 8);
export const STUDENT_W = TRUE_W.map((v, i) => v * 2 + (i % 5 === 0 ? 0.6 : -0.2));

/** A linear classifier x [batch, width] -> `probabilities` [batch, 3] (Softmax unless `logits`). */
export function linearModel(
  w: number[],
  options: { width?: number; output?: string; logits?: boolean } = {},
): Uint8Array {
  const width = options.width ?? LINEAR_WIDTH;
  const output = options.output ?? 'probabilities';
  return buildModel({
    name: 'linear',
    nodes: options.logits
      ? [node('MatMul', ['x', 'W'], [output])]
      : [node('MatMul', ['x', 'W'], ['logits']), node('Softmax', ['logits'], [output], { axis: -1 })],
    initializers: [tensor('W', 'float32', [width, 3], Float32Array.from(w.slice(0, width * 3)))],
    inputs: [valueInfo('x', 'float32', ['batch', width])],
    outputs: [valueInfo(output, 'float32', ['batch', 3])],
  });
}

/** softmax(x W) of one row, in float64: what the linear models answer. */
export function linearProbabilities(w: readonly number[], row: ArrayLike<number>): number[] {
  const logits = [0, 1, 2].map((c) => {
    let z = 0;
    for (let d = 0; d < LINEAR_WIDTH; d++) z += (row[d] as number) * (w[d * 3 + c] as number);
    return z;
  });
  const max = Math.max(...logits);
  const e = logits.map((z) => Math.exp(z - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** `n` seeded rows labelled by the true rule. */
export function linearRows(n: number, seed: number): LabelledRows {
  const rng = new Rng(seed);
  const x = new Float32Array(n * LINEAR_WIDTH);
  const labels = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    for (let d = 0; d < LINEAR_WIDTH; d++) x[r * LINEAR_WIDTH + d] = rng.normal();
    const p = linearProbabilities(TRUE_W, x.subarray(r * LINEAR_WIDTH, (r + 1) * LINEAR_WIDTH));
    labels[r] = p.indexOf(Math.max(...p));
  }
  return { rows: n, dims: [[LINEAR_WIDTH]], data: [x], labels };
}
