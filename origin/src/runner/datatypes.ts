/** OIP v2 datatypes <-> ONNX Runtime element type names, for tensors crossing into and out of the runner. */
import type { NumericDatatype, NumericTensor } from '../../../shared/protocol/index.ts';
import type { OrtType, WireTensor } from './messages.ts';

export const OIP_TO_ORT: Record<NumericDatatype, OrtType> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
};

const ORT_TO_OIP = Object.fromEntries(Object.entries(OIP_TO_ORT).map(([k, v]) => [v, k])) as Record<
  string,
  NumericDatatype
>;

/** OIP datatype of an ORT type name, or undefined (strings, maps, sequences). */
export function oipDatatype(ortType: string): NumericDatatype | undefined {
  return ORT_TO_OIP[ortType];
}

/** An OIP tensor as the runner takes it (same data, not copied). */
export function toWire(t: NumericTensor): WireTensor {
  return { name: t.name, type: OIP_TO_ORT[t.datatype], dims: t.shape, data: t.data };
}
