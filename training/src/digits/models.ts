/**
 * The two digits models as tfjs-layers networks, and their weights as plain arrays for the ONNX export.
 *
 *   teacher (CNN): input [batch, 784] -> reshape [batch, 28, 28, 1] -> (Conv2D k x k, ReLU, MaxPool 2x2)* ->
 *                  flatten (NHWC order) -> (Dense, ReLU)* -> Dense 10 = logits
 *   student (MLP): input [batch, 784] -> (Dense, ReLU)* -> Dense 10 = logits
 *
 * Both return logits (training losses take logits; the exported graphs end in Softmax). Every initializer is
 * seeded (`seed + layer number`), so a spec and a seed always give the same starting weights.
 */
import { CLASSES, PIXELS, SIDE } from './data.ts';
import { tf } from './tf-wasm.ts';

/** One convolution: `filters` square `kernel` x `kernel` filters, stride 1; ReLU and 2x2 max pooling follow. */
export interface ConvSpec {
  filters: number;
  kernel: number;
  padding: 'valid' | 'same';
}

export interface CnnSpec {
  /** Convolution blocks, input first. */
  convs: ConvSpec[];
  /** Hidden dense widths (ReLU) after flattening. */
  dense: number[];
}

export interface MlpSpec {
  /** Hidden dense widths (ReLU). */
  hidden: number[];
}

/** A dense layer: w is [fanIn, fanOut] row-major (tfjs and ONNX MatMul layout). */
export interface DenseWeights {
  fanIn: number;
  fanOut: number;
  w: Float32Array;
  b: Float32Array;
}

/** A convolution: w is tfjs's [kh, kw, inC, outC] layout (the export transposes it). */
export interface ConvWeights {
  kernel: number;
  inC: number;
  outC: number;
  padding: 'valid' | 'same';
  w: Float32Array;
  b: Float32Array;
}

export interface CnnWeights {
  convs: ConvWeights[];
  /** Dense layers; the first one's rows are in tfjs's flatten order (h, w, c). The last one gives logits. */
  dense: DenseWeights[];
}

export interface MlpWeights {
  /** The last one gives logits. */
  dense: DenseWeights[];
}

function positive(field: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new TypeError(`${field} must be a positive integer, got ${v}`);
}

/** Side of the feature map after each conv block (conv, then 2x2 pooling with floor). */
export function featureSides(convs: readonly Pick<ConvSpec, 'kernel' | 'padding'>[]): number[] {
  const sides: number[] = [];
  let side = SIDE;
  for (const [i, c] of convs.entries()) {
    const conv = c.padding === 'same' ? side : side - c.kernel + 1;
    side = Math.floor(conv / 2);
    if (side < 1) throw new TypeError(`convs[${i}] shrinks the 28x28 input to nothing`);
    sides.push(side);
  }
  return sides;
}

export function createTeacher(spec: CnnSpec, seed: number): tf.Sequential {
  spec.convs.forEach((c, i) => {
    positive(`convs[${i}].filters`, c.filters);
    positive(`convs[${i}].kernel`, c.kernel);
  });
  for (const [i, d] of spec.dense.entries()) positive(`dense[${i}]`, d);
  featureSides(spec.convs);
  let s = seed;
  const model = tf.sequential({ name: 'digits_teacher' });
  model.add(tf.layers.reshape({ inputShape: [PIXELS], targetShape: [SIDE, SIDE, 1] }));
  for (const c of spec.convs) {
    model.add(
      tf.layers.conv2d({
        filters: c.filters,
        kernelSize: c.kernel,
        padding: c.padding,
        activation: 'relu',
        kernelInitializer: tf.initializers.heNormal({ seed: s++ }),
        biasInitializer: 'zeros',
      }),
    );
    model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  }
  model.add(tf.layers.flatten());
  for (const units of spec.dense) {
    model.add(
      tf.layers.dense({
        units,
        activation: 'relu',
        kernelInitializer: tf.initializers.heNormal({ seed: s++ }),
      }),
    );
  }
  model.add(
    tf.layers.dense({ units: CLASSES, kernelInitializer: tf.initializers.glorotUniform({ seed: s++ }) }),
  );
  return model;
}

export function createStudent(spec: MlpSpec, seed: number): tf.Sequential {
  for (const [i, d] of spec.hidden.entries()) positive(`hidden[${i}]`, d);
  let s = seed;
  const model = tf.sequential({ name: 'digits_student' });
  spec.hidden.forEach((units, i) => {
    model.add(
      tf.layers.dense({
        ...(i === 0 ? { inputShape: [PIXELS] } : {}),
        units,
        activation: 'relu',
        kernelInitializer: tf.initializers.heNormal({ seed: s++ }),
      }),
    );
  });
  model.add(
    tf.layers.dense({
      ...(spec.hidden.length === 0 ? { inputShape: [PIXELS] } : {}),
      units: CLASSES,
      kernelInitializer: tf.initializers.glorotUniform({ seed: s++ }),
    }),
  );
  return model;
}

/** The model's weight tensors as Float32Arrays, in layer order (kernel, bias per layer). */
function weightArrays(model: tf.LayersModel): { shape: number[]; data: Float32Array }[] {
  return model
    .getWeights()
    .map((t) => ({ shape: t.shape, data: Float32Array.from(t.dataSync() as Float32Array) }));
}

export function cnnWeights(model: tf.LayersModel, spec: CnnSpec): CnnWeights {
  const arrays = weightArrays(model);
  let k = 0;
  const next = () => {
    const a = arrays[k++];
    if (a === undefined) throw new Error(`model has fewer weights than the spec needs`);
    return a;
  };
  const convs = spec.convs.map((c): ConvWeights => {
    const w = next();
    const b = next();
    return {
      kernel: c.kernel,
      inC: w.shape[2] as number,
      outC: c.filters,
      padding: c.padding,
      w: w.data,
      b: b.data,
    };
  });
  const dense: DenseWeights[] = [];
  while (k < arrays.length) {
    const w = next();
    const b = next();
    dense.push({ fanIn: w.shape[0] as number, fanOut: w.shape[1] as number, w: w.data, b: b.data });
  }
  return { convs, dense };
}

export function mlpWeights(model: tf.LayersModel): MlpWeights {
  const arrays = weightArrays(model);
  const dense: DenseWeights[] = [];
  for (let k = 0; k + 1 < arrays.length; k += 2) {
    const w = arrays[k] as { shape: number[]; data: Float32Array };
    const b = arrays[k + 1] as { shape: number[]; data: Float32Array };
    dense.push({ fanIn: w.shape[0] as number, fanOut: w.shape[1] as number, w: w.data, b: b.data });
  }
  return { dense };
}

/** Loads plain MLP weights into a student model of the same shape (e.g. the dequantized int8 weights). */
export function setMlpWeights(model: tf.LayersModel, weights: MlpWeights): void {
  const tensors = weights.dense.flatMap((d) => [tf.tensor2d(d.w, [d.fanIn, d.fanOut]), tf.tensor1d(d.b)]);
  model.setWeights(tensors);
  for (const t of tensors) t.dispose();
}

/** Softmax probabilities [n * 10] of a logits model, in batches (no gradient tape). */
export function predictProbs(model: tf.LayersModel, x: Float32Array, n: number, batch = 500): Float32Array {
  const out = new Float32Array(n * CLASSES);
  for (let start = 0; start < n; start += batch) {
    const rows = Math.min(batch, n - start);
    const probs = tf.tidy(() => {
      const xb = tf.tensor2d(x.subarray(start * PIXELS, (start + rows) * PIXELS), [rows, PIXELS]);
      return tf.softmax(model.apply(xb) as tf.Tensor2D);
    });
    out.set(probs.dataSync() as Float32Array, start * CLASSES);
    probs.dispose();
  }
  return out;
}

/** The class with the highest probability in row `row` of `probs` [n * 10] (the first one on ties). */
export function argmax(probs: Float32Array, row: number): number {
  let best = 0;
  for (let c = 1; c < CLASSES; c++) {
    if ((probs[row * CLASSES + c] as number) > (probs[row * CLASSES + best] as number)) best = c;
  }
  return best;
}

/** Share of rows whose arg-max matches the label. */
export function accuracy(probs: Float32Array, y: Uint8Array): number {
  let correct = 0;
  for (let i = 0; i < y.length; i++) if (argmax(probs, i) === y[i]) correct++;
  return correct / y.length;
}
