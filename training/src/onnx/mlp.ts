/**
 * A dense MLP (e.g. 1024-512-512-2) with deterministic pseudo-random weights, for tests and the origin benchmark
 * before (and beside) the real models. Input `input` float32 [batch, dims[0]], output `probabilities` float32
 * [batch, dims.at(-1)] (Softmax).
 */
import { mulberry32 } from '../../../shared/random/index.ts';
import { buildModel, node, tensor, valueInfo } from './builder.ts';

export { mulberry32 };

export interface MlpOptions {
  /** Layer widths, input first. @default [1024, 512, 512, 2] */
  dims?: number[];
  /** Seed of the weight generator. @default 1 */
  seed?: number;
  /** @default 'input' */
  inputName?: string;
  /** @default 'probabilities' */
  outputName?: string;
}

export function makeMlp(options: MlpOptions = {}): Uint8Array {
  const dims = options.dims ?? [1024, 512, 512, 2];
  if (dims.length < 2 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new TypeError(`dims must be at least two positive integers, got [${dims.join(',')}]`);
  }
  const rand = mulberry32(options.seed ?? 1);
  const inputName = options.inputName ?? 'input';
  const outputName = options.outputName ?? 'probabilities';
  const nodes = [];
  const inits = [];
  let x = inputName;
  for (let l = 0; l < dims.length - 1; l++) {
    const fanIn = dims[l] as number;
    const fanOut = dims[l + 1] as number;
    const w = new Float32Array(fanIn * fanOut);
    const scale = Math.sqrt(2 / fanIn);
    for (let i = 0; i < w.length; i++) w[i] = (rand() * 2 - 1) * scale;
    const b = new Float32Array(fanOut);
    for (let i = 0; i < b.length; i++) b[i] = (rand() * 2 - 1) * 0.01;
    inits.push(tensor(`W${l}`, 'float32', [fanIn, fanOut], w), tensor(`b${l}`, 'float32', [fanOut], b));
    nodes.push(node('MatMul', [x, `W${l}`], [`mm${l}`]), node('Add', [`mm${l}`, `b${l}`], [`h${l}`]));
    x = `h${l}`;
    if (l < dims.length - 2) {
      nodes.push(node('Relu', [x], [`r${l}`]));
      x = `r${l}`;
    }
  }
  nodes.push(node('Softmax', [x], [outputName], { axis: -1 }));
  return buildModel({
    name: 'mlp',
    nodes,
    initializers: inits,
    inputs: [valueInfo(inputName, 'float32', ['batch', dims[0] as number])],
    outputs: [valueInfo(outputName, 'float32', ['batch', dims.at(-1) as number])],
  });
}
