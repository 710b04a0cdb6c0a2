/**
 * ONNX export of a BagMlp (opset 13, standard ops only, so onnxruntime-web's wasm backend runs it):
 *
 *   ids int32 [batch, maxLength], 0 = padding (the one signature of teacher and student)
 *     compaction, so the cost follows the real features rather than maxLength:
 *       last = ReduceMax(P * Cast<int32>(Greater(ids, 0)))  P = [1 .. maxLength]: one past the last id > 0
 *       L    = Unsqueeze(Cast<int64>(Max(last, 1)), 0)       [1]; at least 1 (a batch of padding only)
 *       x    = Slice(ids, starts [0], ends L, axes [1])      [batch, L]
 *     mask  = Cast<float>(Greater(x, 0))                        padding (0) and negative ids do not count
 *     rows  = Mod(x, rows)                                      folds teacher-space ids into the table
 *     fp32: e = Gather(E, rows) * Unsqueeze(mask)
 *     int8: e = Cast<float>(Gather(Q, rows)) * Unsqueeze(Gather(scale, rows) * mask)
 *     pooled = ReduceSum(e, axis 1) / Max(ReduceSum(mask, axis 1), 1)
 *     MLP: (MatMul, Add, Relu)* MatMul, Add -> Softmax -> probabilities float32 [batch, classes]
 *
 * The slice drops only positions after the batch's last id > 0 (padding and negative ids, masked out anyway),
 * so sums and counts equal those over all maxLength positions: the same answers, at a cost set by the longest
 * message in the batch (at batch 1 a 40-feature message runs in about a third of the time, a full one ~10%
 * slower).
 */
import type { BagMlp } from '../model/bag-mlp.ts';
import type { QuantizedTable } from '../model/quantize.ts';
import { buildModel, DataType, node, tensor, valueInfo } from './builder.ts';

export const INPUT_NAME = 'ids';
export const OUTPUT_NAME = 'probabilities';

export interface BagExportOptions {
  /** Graph name. */
  name: string;
  /** Free text stored in the model (e.g. the release version). */
  docString?: string;
  /** Export the embedding table as int8 rows with per-row scales instead of float32. */
  quantized?: QuantizedTable;
}

export function exportBagMlp(model: BagMlp, options: BagExportOptions): Uint8Array {
  const { rows, dim, maxLength, classes } = model.shape;
  const qt = options.quantized;
  if (qt !== undefined && (qt.rows !== rows || qt.dim !== dim)) {
    throw new TypeError(`quantized table is [${qt.rows}, ${qt.dim}], the model's is [${rows}, ${dim}]`);
  }
  const nodes = [
    // Compaction: L = one past the last position holding an id > 0 in any row (at least 1), then ids[:, :L].
    node('Greater', [INPUT_NAME, 'zero_i32'], ['present_bool']),
    node('Cast', ['present_bool'], ['present'], { to: DataType.INT32 }),
    node('Mul', ['present', 'positions_i32'], ['present_at']),
    node('ReduceMax', ['present_at'], ['last'], { keepdims: 0 }),
    node('Max', ['last', 'one_i32'], ['used_i32']),
    node('Cast', ['used_i32'], ['used'], { to: DataType.INT64 }),
    node('Unsqueeze', ['used', 'axis0'], ['used1']),
    node('Slice', [INPUT_NAME, 'zero_i64', 'used1', 'axis1'], ['ids_used']),
    node('Greater', ['ids_used', 'zero_i32'], ['mask_bool']),
    node('Cast', ['mask_bool'], ['mask'], { to: DataType.FLOAT }),
    node('Mod', ['ids_used', 'rows_i32'], ['row_ids']),
  ];
  const inits = [
    tensor('zero_i32', 'int32', [], Int32Array.of(0)),
    tensor('one_i32', 'int32', [], Int32Array.of(1)),
    tensor(
      'positions_i32',
      'int32',
      [maxLength],
      Int32Array.from({ length: maxLength }, (_, j) => j + 1),
    ),
    tensor('zero_i64', 'int64', [1], BigInt64Array.of(0n)),
    tensor('axis0', 'int64', [1], BigInt64Array.of(0n)),
    tensor('rows_i32', 'int32', [], Int32Array.of(rows)),
    tensor('axis1', 'int64', [1], BigInt64Array.of(1n)),
    tensor('axis2', 'int64', [1], BigInt64Array.of(2n)),
    tensor('one_f32', 'float32', [], Float32Array.of(1)),
  ];
  if (qt === undefined) {
    inits.push(tensor('embedding', 'float32', [rows, dim], Float32Array.from(model.emb)));
    nodes.push(
      node('Gather', ['embedding', 'row_ids'], ['gathered'], { axis: 0 }),
      node('Unsqueeze', ['mask', 'axis2'], ['weight3']),
      node('Mul', ['gathered', 'weight3'], ['weighted']),
    );
  } else {
    inits.push(
      tensor('embedding_q', 'int8', [rows, dim], qt.q),
      tensor('embedding_scale', 'float32', [rows], qt.scale),
    );
    nodes.push(
      node('Gather', ['embedding_q', 'row_ids'], ['gathered_q'], { axis: 0 }),
      node('Cast', ['gathered_q'], ['gathered'], { to: DataType.FLOAT }),
      node('Gather', ['embedding_scale', 'row_ids'], ['row_scale'], { axis: 0 }),
      node('Mul', ['row_scale', 'mask'], ['weight']),
      node('Unsqueeze', ['weight', 'axis2'], ['weight3']),
      node('Mul', ['gathered', 'weight3'], ['weighted']),
    );
  }
  nodes.push(
    node('ReduceSum', ['weighted', 'axis1'], ['summed'], { keepdims: 0 }),
    node('ReduceSum', ['mask', 'axis1'], ['count'], { keepdims: 1 }),
    node('Max', ['count', 'one_f32'], ['count1']),
    node('Div', ['summed', 'count1'], ['h0']),
  );
  let x = 'h0';
  const last = model.layers.length - 1;
  model.layers.forEach((layer, l) => {
    inits.push(
      tensor(`W${l}`, 'float32', [layer.fanIn, layer.fanOut], Float32Array.from(layer.w)),
      tensor(`b${l}`, 'float32', [layer.fanOut], Float32Array.from(layer.b)),
    );
    nodes.push(node('MatMul', [x, `W${l}`], [`mm${l}`]), node('Add', [`mm${l}`, `b${l}`], [`z${l}`]));
    x = `z${l}`;
    if (l < last) {
      nodes.push(node('Relu', [x], [`h${l + 1}`]));
      x = `h${l + 1}`;
    }
  });
  nodes.push(node('Softmax', [x], [OUTPUT_NAME], { axis: -1 }));
  return buildModel({
    name: options.name,
    nodes,
    initializers: inits,
    inputs: [valueInfo(INPUT_NAME, 'int32', ['batch', maxLength])],
    outputs: [valueInfo(OUTPUT_NAME, 'float32', ['batch', classes])],
    ...(options.docString !== undefined ? { docString: options.docString } : {}),
  });
}

/** The op types a model uses (for the "standard opset 13 ops only" check). */
export const BAG_MODEL_OPS = [
  'Greater',
  'Cast',
  'ReduceMax',
  'Slice',
  'Mod',
  'Gather',
  'Unsqueeze',
  'Mul',
  'ReduceSum',
  'Max',
  'Div',
  'MatMul',
  'Add',
  'Relu',
  'Softmax',
] as const;
