/** OIP v2 datatypes <-> ONNX Runtime element type names, for tensors crossing into and out of the runner. */
import { type NumericDatatype, type NumericTensor, OIP_TO_ORT } from '../../../shared/protocol/index.ts';
import type { WireTensor } from './messages.ts';

export { OIP_TO_ORT };

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
