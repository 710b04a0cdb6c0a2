/**
 * Int8 weights for the student MLP, one scale per output column (symmetric, zero point 0): column j of a
 * [fanIn, fanOut] weight matrix is stored as q[:, j] in [-127, 127] with scale[j] = max_i |w[i, j]| / 127.
 * Biases stay float32 (hundreds of values). The ONNX graph dequantizes with Cast and Mul, float(q) * scale[j]:
 * `dequantizeMlp` gives exactly those float32 weights, so tfjs can run the very model the graph computes.
 */
import type { DenseWeights, MlpWeights } from './models.ts';

export interface QuantizedDense {
  fanIn: number;
  fanOut: number;
  /** [fanIn, fanOut] row-major. */
  q: Int8Array;
  /** [fanOut], one per output column. */
  scale: Float32Array;
  /** [fanOut] float32. */
  b: Float32Array;
}

export interface QuantizedMlp {
  dense: QuantizedDense[];
}

export function quantizeColumns(layer: DenseWeights): QuantizedDense {
  const { fanIn, fanOut, w } = layer;
  if (w.length !== fanIn * fanOut)
    throw new TypeError(`weights hold ${w.length} values, [${fanIn}, ${fanOut}] needs ${fanIn * fanOut}`);
  const scale = new Float32Array(fanOut);
  for (let i = 0; i < fanIn; i++) {
    for (let j = 0; j < fanOut; j++)
      scale[j] = Math.max(scale[j] as number, Math.abs(w[i * fanOut + j] as number));
  }
  for (let j = 0; j < fanOut; j++) scale[j] = Math.fround((scale[j] as number) / 127);
  const q = new Int8Array(fanIn * fanOut);
  for (let i = 0; i < fanIn; i++) {
    for (let j = 0; j < fanOut; j++) {
      const s = scale[j] as number;
      if (s === 0) continue;
      q[i * fanOut + j] = Math.max(-127, Math.min(127, Math.round((w[i * fanOut + j] as number) / s)));
    }
  }
  return { fanIn, fanOut, q, scale, b: Float32Array.from(layer.b) };
}

export function quantizeMlp(model: MlpWeights): QuantizedMlp {
  return { dense: model.dense.map(quantizeColumns) };
}

/** The float32 weights the int8 graph computes with: float(q) * scale, rounded once to float32 (exact). */
export function dequantizeMlp(model: QuantizedMlp): MlpWeights {
  return {
    dense: model.dense.map(({ fanIn, fanOut, q, scale, b }) => {
      const w = new Float32Array(fanIn * fanOut);
      for (let i = 0; i < w.length; i++) w[i] = Math.fround((q[i] as number) * (scale[i % fanOut] as number));
      return { fanIn, fanOut, w, b: Float32Array.from(b) };
    }),
  };
}
