/**
 * Int8 embedding quantization, one scale per row (symmetric): row r is stored as q[r, :] in [-127, 127] and
 * scale[r] = max|E[r, :]| / 127. The ONNX graph gathers the int8 rows and their scales and multiplies after the
 * Gather (FACTS.md: a DequantizeLinear over the whole table costs ~0.5 ms per run). Dense layers stay FP32: they
 * are tiny next to the table.
 */
import type { BagMlp } from './bag-mlp.ts';

export interface QuantizedTable {
  rows: number;
  dim: number;
  /** [rows, dim] row-major. */
  q: Int8Array;
  /** [rows]. */
  scale: Float32Array;
}

export function quantizeRows(model: BagMlp): QuantizedTable {
  const { rows, dim } = model.shape;
  const q = new Int8Array(rows * dim);
  const scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let d = 0; d < dim; d++) max = Math.max(max, Math.abs(model.emb[r * dim + d] as number));
    const s = Math.fround(max / 127);
    scale[r] = s;
    if (s === 0) continue;
    for (let d = 0; d < dim; d++) {
      q[r * dim + d] = Math.max(-127, Math.min(127, Math.round((model.emb[r * dim + d] as number) / s)));
    }
  }
  return { rows, dim, q, scale };
}

/** The model the int8 graph computes: the same layers over the dequantized table (float32 q*scale, exact). */
export function dequantized(model: BagMlp, table: QuantizedTable): BagMlp {
  const emb = new Float32Array(table.rows * table.dim);
  for (let r = 0; r < table.rows; r++) {
    const s = table.scale[r] as number;
    for (let d = 0; d < table.dim; d++)
      emb[r * table.dim + d] = Math.fround((table.q[r * table.dim + d] as number) * s);
  }
  return { shape: model.shape, emb, layers: model.layers };
}

/** Bytes of the quantized table as stored (int8 values + float32 scales). */
export function quantizedBytes(table: QuantizedTable): number {
  return table.q.byteLength + table.scale.byteLength;
}
