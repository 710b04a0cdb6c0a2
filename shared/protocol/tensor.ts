/**
 * Tensor models in the cascade (releases without a featurizer: images, tabular rows, embeddings): the public
 * signature both tiers serve, how the cascade output turns into per-row predictions and back, and the per-row
 * pieces the edge needs (a row's canonical bytes for the cache key, a sub-request of some rows for escalation).
 *
 * Runs in workerd and Node.
 */
import { InferenceError } from '../errors/index.ts';
import type { Manifest, TensorSpec } from '../manifest/index.ts';
import { bytesPerElement, type NumericArray, type NumericDatatype, TYPED_ARRAY } from './datatypes.ts';
import type { NumericTensor } from './oip.ts';
import { type Prediction, predictionsFromProbabilities } from './text.ts';
import type { InputSignature, PreparedRows } from './validate.ts';

export interface CascadeOutput {
  /** The output of teacher and student the cascade reads. */
  spec: TensorSpec;
  kind: 'probabilities' | 'score';
}

/** A tensor model's public signature: the served artifact's inputs, and the one output the cascade reads. */
export interface TensorModelSignature extends InputSignature {
  outputs: TensorSpec[];
  cascade: CascadeOutput;
}

/**
 * The tensor signature of a release (the origin's artifact's inputs; the cascade output, `manifest.cascade` or the
 * first output), or undefined for text releases (with a featurizer) and releases whose artifacts declare no
 * tensors. Throws a TypeError when the manifest names an output its artifacts do not have, or its shape does not
 * fit its labels: a release the edge cannot serve should not load.
 */
export function tensorSignature(manifest: Manifest): TensorModelSignature | undefined {
  if (manifest.featurizer !== undefined) return undefined;
  const origin = manifest.artifacts[manifest.serving.origin];
  if (origin === undefined || origin.inputs.length === 0 || origin.outputs.length === 0) return undefined;
  const name = manifest.cascade?.output ?? origin.outputs[0]?.name;
  const kind = manifest.cascade?.kind ?? 'probabilities';
  const where = `${manifest.name}@${manifest.version}`;
  const spec = origin.outputs.find((o) => o.name === name);
  if (spec === undefined) throw new TypeError(`${where}: the cascade output '${name}' is not an output`);
  const edge = manifest.serving.edge === undefined ? undefined : manifest.artifacts[manifest.serving.edge];
  if (edge !== undefined && edge.outputs.length > 0 && !edge.outputs.some((o) => o.name === name)) {
    throw new TypeError(`${where}: the edge artifact has no output '${name}'`);
  }
  const k = manifest.labels.length;
  const inner = spec.shape.slice(1);
  const fits =
    spec.datatype === 'FP32' &&
    spec.shape[0] === -1 &&
    (kind === 'probabilities'
      ? inner.length === 1 && (inner[0] === k || inner[0] === -1)
      : k === 2 && (inner.length === 0 || (inner.length === 1 && inner[0] === 1)));
  if (!fits) {
    throw new TypeError(
      `${where}: the cascade output '${name}' must be FP32 [-1, ${kind === 'probabilities' ? k : '1'}] for ${kind} over ${k} labels, got ${spec.datatype} [${spec.shape.join(',')}]`,
    );
  }
  return {
    name: manifest.name,
    inputs: origin.inputs,
    outputs: [spec],
    batchable: origin.inputs.every((s) => s.shape[0] === -1),
    dynamicInnerDims: origin.inputs.some((s) => s.shape.slice(1).includes(-1)),
    cascade: { spec, kind },
  };
}

/** Per-row predictions from the cascade output's data ([rows, labels] probabilities, or [rows] scores). */
export function predictionsFromOutput(
  data: ArrayLike<number>,
  kind: CascadeOutput['kind'],
  labels: readonly string[],
): Prediction[] {
  if (kind === 'probabilities') return predictionsFromProbabilities(data, labels);
  const probabilities = new Float32Array(data.length * 2);
  for (let r = 0; r < data.length; r++) {
    const s = Math.min(1, Math.max(0, data[r] as number));
    probabilities[2 * r] = 1 - s;
    probabilities[2 * r + 1] = s;
  }
  return predictionsFromProbabilities(probabilities, labels);
}

/** The cascade output tensor for predictions (merged from edge, origin and cache), in the output's own layout. */
export function outputFromPredictions(
  predictions: readonly Pick<Prediction, 'scores'>[],
  cascade: CascadeOutput,
  labels: readonly string[],
): NumericTensor {
  const rows = predictions.length;
  const { spec, kind } = cascade;
  if (kind === 'score') {
    const positive = labels[1] as string;
    const data = Float32Array.from(predictions, (p) => p.scores[positive] ?? 0);
    return { name: spec.name, datatype: 'FP32', shape: spec.shape.length === 1 ? [rows] : [rows, 1], data };
  }
  const k = labels.length;
  const data = new Float32Array(rows * k);
  predictions.forEach((p, r) => {
    labels.forEach((l, j) => {
      data[r * k + j] = p.scores[l] ?? 0;
    });
  });
  return { name: spec.name, datatype: 'FP32', shape: [rows, k], data };
}

/** Elements of one row of input `i` (the product of its non-batch dims). */
function rowSize(rows: PreparedRows, i: number): number {
  return (rows.dims[i] as number[]).reduce((a, b) => a * b, 1);
}

/**
 * The canonical bytes of row `r` (every input's row, in signature order, each prefixed by its datatype and inner
 * shape): what the cache key hashes, so equal rows hit whatever request or encoding (JSON or binary) they came in.
 */
export function rowBytes(signature: InputSignature, rows: PreparedRows, r: number): Uint8Array {
  const parts: Uint8Array[] = [];
  const encoder = new TextEncoder();
  let total = 0;
  signature.inputs.forEach((spec, i) => {
    const data = rows.data[i] as NumericArray;
    const size = rowSize(rows, i);
    const width = data.BYTES_PER_ELEMENT;
    const head = encoder.encode(`${spec.name}:${spec.datatype}:${(rows.dims[i] as number[]).join('x')};`);
    const body = new Uint8Array(data.buffer, data.byteOffset + r * size * width, size * width);
    parts.push(head, body);
    total += head.length + body.length;
  });
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The input tensors of some rows (in the order given), for a request to the origin. */
export function selectRows(
  signature: InputSignature,
  rows: PreparedRows,
  indices: readonly number[],
): NumericTensor[] {
  return signature.inputs.map((spec, i) => {
    const data = rows.data[i] as NumericArray;
    const size = rowSize(rows, i);
    const Ctor = TYPED_ARRAY[spec.datatype as NumericDatatype];
    const out = new Ctor(indices.length * size);
    indices.forEach((r, k) => {
      (out as Uint8Array).set((data as Uint8Array).subarray(r * size, (r + 1) * size), k * size);
    });
    return {
      name: spec.name,
      datatype: spec.datatype as NumericDatatype,
      shape: [indices.length, ...(rows.dims[i] as number[])],
      data: out,
    };
  });
}

/** Bytes a request's rows carry (what the edge's "heavy" routing rule weighs). */
export function rowsByteLength(rows: PreparedRows, datatypes: readonly NumericDatatype[]): number {
  return rows.data.reduce((n, d, i) => n + d.length * bytesPerElement(datatypes[i] as NumericDatatype), 0);
}

/** The 404 of a tensor model's text route, the same at both tiers. */
export function noTextRouteError(model: string): InferenceError {
  return new InferenceError(
    'not_found',
    `model '${model}' has no featurizer, so it has no text route; use POST /v2/models/${model}/infer with tensors`,
  );
}
