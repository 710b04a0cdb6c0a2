/**
 * A small, typed layer over onnx-proto for building the project's ONNX graphs (the test MLP, the teacher and the
 * student). Keeps onnx-proto's own types so misspelled fields fail type checking (protobufjs `create()` drops
 * unknown fields silently). Node-only: a training/tooling dependency, never imported by shared/ or edge/.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type OnnxNS = typeof onnxProto.onnx;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;

export const DataType = onnx.TensorProto.DataType as OnnxNS['TensorProto']['DataType'];

/** Element types this project uses in graph inputs, outputs and initializers. */
export type ElemType = 'float32' | 'float16' | 'int32' | 'int64' | 'int8' | 'uint8' | 'bool';

const ELEM: Record<ElemType, number> = {
  float32: DataType.FLOAT,
  float16: DataType.FLOAT16,
  int32: DataType.INT32,
  int64: DataType.INT64,
  int8: DataType.INT8,
  uint8: DataType.UINT8,
  bool: DataType.BOOL,
};

/** A dimension: a fixed size or a symbolic name (e.g. 'batch') for a dynamic one. */
export type Dim = number | string;

type AttrValue = number | number[] | string | { float: number };

/** A graph node. Integers are INT attributes, arrays INTS, `{float}` a FLOAT, strings STRING. */
export function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  attrs: Record<string, AttrValue> = {},
): INodeProto {
  const attribute: IAttributeProto[] = Object.entries(attrs).map(([name, v]) => {
    if (typeof v === 'number') return { name, type: onnx.AttributeProto.AttributeType.INT, i: v };
    if (typeof v === 'string')
      return { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(v) };
    if (Array.isArray(v)) return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v };
    return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: v.float };
  });
  return { opType, input: inputs, output: outputs, name: `${opType}_${outputs[0] ?? ''}`, attribute };
}

/** An initializer (constant tensor) stored as raw little-endian bytes. */
export function tensor(
  name: string,
  type: ElemType,
  dims: number[],
  data: Float32Array | Int32Array | BigInt64Array | Int8Array,
): ITensorProto {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new TypeError(
      `tensor '${name}': dims [${dims.join(',')}] need ${expected} values, got ${data.length}`,
    );
  }
  return {
    name,
    dataType: ELEM[type],
    dims,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

/** A graph input/output declaration. */
export function valueInfo(name: string, type: ElemType, dims: Dim[]): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export interface GraphSpec {
  name: string;
  nodes: INodeProto[];
  initializers: ITensorProto[];
  inputs: IValueInfoProto[];
  outputs: IValueInfoProto[];
  /** @default 13 */
  opset?: number;
  /** Free text stored in the model (producer version, release id). */
  docString?: string;
}

/** Serializes a graph to ONNX model bytes. */
export function buildModel(spec: GraphSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'edge-origin-inference',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: spec.opset ?? 13 }],
    docString: spec.docString ?? '',
    graph: {
      name: spec.name,
      node: spec.nodes,
      initializer: spec.initializers,
      input: spec.inputs,
      output: spec.outputs,
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
