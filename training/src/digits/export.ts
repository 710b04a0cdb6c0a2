/**
 * ONNX export of the digits models (opset 13, standard ops only, so onnxruntime-web's wasm backend runs them as
 * well as onnxruntime-node). Both take `input` float32 [batch, 784] (28x28 row-major, values in [0, 1]) and give
 * `probabilities` float32 [batch, 10].
 *
 * Teacher (float32):
 *   Reshape [batch, 1, 28, 28] -> (Conv, Relu, MaxPool 2x2)* -> Reshape [batch, C*H*W] -> (MatMul, Add, Relu)*
 *   -> MatMul, Add -> Softmax
 *   Layouts: tfjs runs NHWC with conv kernels [kh, kw, in, out]; ONNX Conv is NCHW with [out, in, kh, kw], so the
 *   kernels are transposed, and the first dense layer's rows are permuted from tfjs's flatten order (h, w, c) to
 *   ONNX's (c, h, w). No Transpose node is needed at run time.
 *
 * Student (int8 weights, per-column scales):
 *   W = Mul(Cast<float>(q), scale[fanOut])  per layer;  (MatMul, Add, Relu)* -> MatMul, Add -> Softmax
 *   Not DequantizeLinear: at graph optimization level 'extended' and above (the default is 'all'),
 *   onnxruntime-node 1.30 fuses DequantizeLinear(axis 1) -> MatMul into its com.microsoft MatMulNBits kernel,
 *   whose arithmetic differs: probabilities moved by up to 1e-2 on the trained student (measured). Cast and Mul
 *   over initializers are constant-folded when the session loads: the file stays int8, the run is float32 and
 *   computes with exactly float(q) * scale, as tfjs does with `dequantizeMlp`'s weights.
 */
import { buildModel, DataType, node, tensor, valueInfo } from '../onnx/builder.ts';
import { CLASSES, PIXELS, SIDE } from './data.ts';
import { type CnnWeights, featureSides } from './models.ts';
import type { QuantizedMlp } from './quantize.ts';

export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'probabilities';

/** The op types each exported model uses (for "standard opset 13 ops only" checks). */
export const TEACHER_OPS = ['Reshape', 'Conv', 'Relu', 'MaxPool', 'MatMul', 'Add', 'Softmax'] as const;
export const STUDENT_OPS = ['Cast', 'Mul', 'MatMul', 'Add', 'Relu', 'Softmax'] as const;

export interface DigitsExportOptions {
  /** Graph name. */
  name: string;
  /** Free text stored in the model (e.g. the recipe hash). @default '' */
  docString?: string;
}

/** tfjs conv kernel [kh, kw, in, out] -> ONNX [out, in, kh, kw]. */
export function convKernelToOnnx(w: Float32Array, k: number, inC: number, outC: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let y = 0; y < k; y++)
    for (let x = 0; x < k; x++)
      for (let i = 0; i < inC; i++)
        for (let o = 0; o < outC; o++)
          out[((o * inC + i) * k + y) * k + x] = w[((y * k + x) * inC + i) * outC + o] as number;
  return out;
}

/** Rows of a dense kernel [H*W*C, out] in NHWC flatten order -> NCHW flatten order (c, h, w). */
export function nhwcRowsToNchw(
  w: Float32Array,
  side: number,
  channels: number,
  fanOut: number,
): Float32Array {
  const out = new Float32Array(w.length);
  for (let h = 0; h < side; h++)
    for (let x = 0; x < side; x++)
      for (let c = 0; c < channels; c++) {
        const from = ((h * side + x) * channels + c) * fanOut;
        const to = ((c * side + h) * side + x) * fanOut;
        out.set(w.subarray(from, from + fanOut), to);
      }
  return out;
}

/** Padding [top, left, bottom, right] of a stride-1 conv as tfjs computes it ('same' puts the odd pixel last). */
function convPads(kernel: number, padding: 'valid' | 'same'): number[] {
  if (padding === 'valid') return [0, 0, 0, 0];
  const before = Math.floor((kernel - 1) / 2);
  const after = kernel - 1 - before;
  return [before, before, after, after];
}

/** MatMul, Add (, Relu) per layer from `x`, then Softmax into the output. Weights `W<l>`, biases `b<l>`. */
function denseNodes(x: string, layers: readonly unknown[], nodes: ReturnType<typeof node>[]): void {
  const last = layers.length - 1;
  layers.forEach((_, l) => {
    nodes.push(node('MatMul', [x, `W${l}`], [`mm${l}`]), node('Add', [`mm${l}`, `b${l}`], [`z${l}`]));
    x = `z${l}`;
    if (l < last) {
      nodes.push(node('Relu', [x], [`h${l}`]));
      x = `h${l}`;
    }
  });
  nodes.push(node('Softmax', [x], [OUTPUT_NAME], { axis: -1 }));
}

function checkDenseChain(
  layers: { fanIn: number; fanOut: number }[],
  firstFanIn: number,
  what: string,
): void {
  let fanIn = firstFanIn;
  for (const [l, d] of layers.entries()) {
    if (d.fanIn !== fanIn)
      throw new TypeError(`${what} dense[${l}] takes ${d.fanIn} inputs, expected ${fanIn}`);
    fanIn = d.fanOut;
  }
  if (fanIn !== CLASSES) throw new TypeError(`${what} ends with ${fanIn} outputs, expected ${CLASSES}`);
}

export function exportTeacher(weights: CnnWeights, options: DigitsExportOptions): Uint8Array {
  const sides = featureSides(weights.convs);
  const nodes = [node('Reshape', [INPUT_NAME, 'image_shape'], ['image'])];
  const inits = [tensor('image_shape', 'int64', [4], BigInt64Array.of(-1n, 1n, BigInt(SIDE), BigInt(SIDE)))];
  let x = 'image';
  let inC = 1;
  weights.convs.forEach((c, l) => {
    if (c.inC !== inC) throw new TypeError(`teacher convs[${l}] takes ${c.inC} channels, expected ${inC}`);
    inits.push(
      tensor(
        `conv${l}_w`,
        'float32',
        [c.outC, c.inC, c.kernel, c.kernel],
        convKernelToOnnx(c.w, c.kernel, c.inC, c.outC),
      ),
      tensor(`conv${l}_b`, 'float32', [c.outC], Float32Array.from(c.b)),
    );
    nodes.push(
      node('Conv', [x, `conv${l}_w`, `conv${l}_b`], [`conv${l}`], {
        kernel_shape: [c.kernel, c.kernel],
        pads: convPads(c.kernel, c.padding),
        strides: [1, 1],
      }),
      node('Relu', [`conv${l}`], [`conv${l}_relu`]),
      node('MaxPool', [`conv${l}_relu`], [`pool${l}`], { kernel_shape: [2, 2], strides: [2, 2] }),
    );
    x = `pool${l}`;
    inC = c.outC;
  });
  const side = sides.at(-1) ?? SIDE;
  const flat = side * side * inC;
  checkDenseChain(weights.dense, flat, 'teacher');
  nodes.push(node('Reshape', [x, 'flat_shape'], ['flat']));
  inits.push(tensor('flat_shape', 'int64', [2], BigInt64Array.of(0n, BigInt(flat))));
  weights.dense.forEach((d, l) => {
    // The first dense layer reads the conv features: permute its rows to ONNX's NCHW flatten order.
    const w =
      l === 0 && weights.convs.length > 0 ? nhwcRowsToNchw(d.w, side, inC, d.fanOut) : Float32Array.from(d.w);
    inits.push(
      tensor(`W${l}`, 'float32', [d.fanIn, d.fanOut], w),
      tensor(`b${l}`, 'float32', [d.fanOut], Float32Array.from(d.b)),
    );
  });
  denseNodes('flat', weights.dense, nodes);
  return digitsModel(options, nodes, inits);
}

/** A digits graph with the family's signature: `input` [batch, 784] -> `probabilities` [batch, 10]. */
function digitsModel(
  options: DigitsExportOptions,
  nodes: ReturnType<typeof node>[],
  inits: ReturnType<typeof tensor>[],
): Uint8Array {
  return buildModel({
    name: options.name,
    nodes,
    initializers: inits,
    inputs: [valueInfo(INPUT_NAME, 'float32', ['batch', PIXELS])],
    outputs: [valueInfo(OUTPUT_NAME, 'float32', ['batch', CLASSES])],
    ...(options.docString !== undefined ? { docString: options.docString } : {}),
  });
}

export function exportStudent(model: QuantizedMlp, options: DigitsExportOptions): Uint8Array {
  checkDenseChain(model.dense, PIXELS, 'student');
  const nodes: ReturnType<typeof node>[] = [];
  const inits: ReturnType<typeof tensor>[] = [];
  model.dense.forEach((d, l) => {
    inits.push(
      tensor(`W${l}_q`, 'int8', [d.fanIn, d.fanOut], d.q),
      tensor(`W${l}_scale`, 'float32', [d.fanOut], d.scale),
      tensor(`b${l}`, 'float32', [d.fanOut], d.b),
    );
    nodes.push(
      node('Cast', [`W${l}_q`], [`W${l}_f`], { to: DataType.FLOAT }),
      node('Mul', [`W${l}_f`, `W${l}_scale`], [`W${l}`]),
    );
  });
  denseNodes(INPUT_NAME, model.dense, nodes);
  return digitsModel(options, nodes, inits);
}
