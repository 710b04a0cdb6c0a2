/**
 * Checks a decoded OIP request against a version's signature (input names, datatypes, shapes with -1 for any
 * size, agreeing row counts) and turns it into a batch item. Every mismatch is a 400 naming it. (Requested outputs
 * are checked by the served model, which knows its public outputs.)
 */
import { InvalidInputError } from '../../../shared/errors/index.ts';
import type { InferRequest, NumericArray, Tensor } from '../../../shared/protocol/index.ts';
import { checkItemCount } from '../../../shared/protocol/limits.ts';
import type { BatchItem, Signature } from './types.ts';

export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Validates a decoded request's inputs against the signature; returns the batch item. */
export function prepare(model: Signature, request: Pick<InferRequest, 'inputs'>): BatchItem {
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
