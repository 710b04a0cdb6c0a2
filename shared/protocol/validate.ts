/**
 * Checks a decoded OIP request against a model's tensor signature (input names, datatypes, shapes with -1 for any
 * size, agreeing row counts) and turns it into rows. Every mismatch is a 400 naming it. One path for both tiers:
 * the origin validates before batching, the edge before its student runs, with the same messages. (Requested
 * outputs are checked by whoever knows the public outputs, with selectOutputs.)
 *
 * Runs in workerd and Node.
 */
import { InvalidInputError } from '../errors/index.ts';
import type { TensorSpec } from '../manifest/index.ts';
import type { NumericArray } from './datatypes.ts';
import { checkItemCount } from './limits.ts';
import type { InferRequest, Tensor } from './oip.ts';

/** What validation needs to know of a model version's tensors. */
export interface InputSignature {
  readonly name: string;
  readonly inputs: readonly TensorSpec[];
  /** Every input and output has a dynamic first dimension: the rows of several requests stack into one batch. */
  readonly batchable: boolean;
  /** Some input has a dynamic inner dimension: only rows of equal inner shapes batch together (`key`). */
  readonly dynamicInnerDims: boolean;
}

/** A request's rows, its inputs in the signature's order. */
export interface PreparedRows {
  rows: number;
  /** Non-batch dims of each input (same order as the signature's inputs). */
  dims: number[][];
  data: NumericArray[];
  /** Inner shapes of the inputs ('' unless the signature has dynamic inner dims). */
  key: string;
}

export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Validates a decoded request's inputs against the signature; returns its rows. */
export function prepare(model: InputSignature, request: Pick<InferRequest, 'inputs'>): PreparedRows {
  const byName = new Map<string, Tensor>();
  for (const t of request.inputs) {
    if (!model.inputs.some((s) => s.name === t.name)) {
      throw new InvalidInputError(
        `model '${model.name}' has no input '${t.name}' (inputs: ${model.inputs.map((s) => s.name).join(', ')})`,
      );
    }
    byName.set(t.name, t);
  }
  let rows = -1;
  const dims: number[][] = [];
  const data: NumericArray[] = [];
  for (const spec of model.inputs) {
    const t = byName.get(spec.name);
    if (t === undefined) throw new InvalidInputError(`input '${spec.name}' is missing`);
    if (t.datatype !== spec.datatype || t.datatype === 'BYTES') {
      throw new InvalidInputError(`input '${spec.name}' must be ${spec.datatype}, got ${t.datatype}`);
    }
    const ok =
      t.shape.length === spec.shape.length &&
      t.shape.every((d, i) =>
        i === 0 && model.batchable ? d >= 1 : spec.shape[i] === -1 || spec.shape[i] === d,
      );
    if (!ok) {
      throw new InvalidInputError(
        `input '${spec.name}' has shape ${shapeText(t.shape)}, the model expects ${shapeText(spec.shape)} (-1: any size)`,
      );
    }
    const r = model.batchable ? (t.shape[0] as number) : 1;
    if (rows !== -1 && r !== rows) {
      throw new InvalidInputError(
        `inputs disagree on the batch size: '${spec.name}' has ${r} rows, others ${rows}`,
      );
    }
    if (rows === -1) checkItemCount(r);
    rows = r;
    dims.push(model.batchable ? t.shape.slice(1) : t.shape);
    data.push(t.data);
  }
  const key = model.dynamicInnerDims ? dims.map((d) => d.join('x')).join('|') : '';
  return { rows, dims, data, key };
}
