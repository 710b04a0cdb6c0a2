/**
 * The rows of several requests as one batch: stacked along the batch dimension into the runner's feeds, and the
 * outputs split back into one result per request. Also the zero tensors of the echo route and the warm-up.
 */
import type { TensorSpec } from '../../../shared/manifest/index.ts';
import {
  elementCount,
  type NumericArray,
  type NumericDatatype,
  type NumericTensor,
  TYPED_ARRAY,
} from '../../../shared/protocol/index.ts';
import { OIP_TO_ORT, oipDatatype } from '../runner/datatypes.ts';
import type { WireTensor } from '../runner/messages.ts';
import type { BatchItem, ItemResult, Signature } from './types.ts';

/** One feed per input holding every item's rows in order, in fresh arrays (the runner pool transfers them). */
export function batchFeeds(
  model: Pick<Signature, 'inputs' | 'batchable'>,
  items: readonly BatchItem[],
  total: number,
): WireTensor[] {
  return model.inputs.map((spec, j) => {
    const first = items[0] as BatchItem;
    const inner = first.dims[j] as number[];
    const Ctor = TYPED_ARRAY[spec.datatype as NumericDatatype];
    const rowElems = elementCount(inner);
    const data = new Ctor(total * rowElems);
    let offset = 0;
    for (const it of items) {
      data.set(it.data[j] as never, offset);
      offset += it.rows * rowElems;
    }
    return {
      name: spec.name,
      type: OIP_TO_ORT[spec.datatype as NumericDatatype],
      dims: model.batchable ? [total, ...inner] : inner,
      data,
    };
  });
}

/** Splits a batch's outputs back into one result per item (views, not copies), in the signature's output order. */
export function splitOutputs(
  model: Pick<Signature, 'outputs' | 'batchable'>,
  outputs: readonly WireTensor[],
  items: readonly BatchItem[],
  total: number,
): ItemResult[] {
  const byName = new Map(outputs.map((o) => [o.name, o]));
  const results: ItemResult[] = items.map(() => []);
  for (const spec of model.outputs) {
    const out = byName.get(spec.name);
    if (out === undefined) throw new Error(`the model produced no output '${spec.name}'`);
    const datatype = oipDatatype(out.type);
    if (datatype === undefined) throw new Error(`output '${spec.name}' has unsupported type ${out.type}`);
    if (!model.batchable) {
      (results[0] as ItemResult).push({ name: spec.name, datatype, shape: out.dims, data: out.data });
      continue;
    }
    if (out.dims[0] !== total) {
      throw new Error(`output '${spec.name}' has ${out.dims[0]} rows for a batch of ${total}`);
    }
    const inner = out.dims.slice(1);
    const rowElems = elementCount(inner);
    let row = 0;
    items.forEach((it, i) => {
      const data = out.data.subarray(row * rowElems, (row + it.rows) * rowElems) as NumericArray;
      (results[i] as ItemResult).push({ name: spec.name, datatype, shape: [it.rows, ...inner], data });
      row += it.rows;
    });
  }
  return results;
}

/** Zero-valued tensors for `specs` with `rows` rows when batchable (other dynamic dims as 1). */
export function zeros(specs: readonly TensorSpec[], rows: number, batchable: boolean): NumericTensor[] {
  return specs.map((s) => {
    const shape = s.shape.map((d, i) => (i === 0 && batchable ? rows : d === -1 ? 1 : d));
    const Ctor = TYPED_ARRAY[s.datatype as NumericDatatype];
    return {
      name: s.name,
      datatype: s.datatype as NumericDatatype,
      shape,
      data: new Ctor(elementCount(shape)),
    };
  });
}
