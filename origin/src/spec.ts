/**
 * A version's tensor spec: the manifest's declared inputs/outputs reconciled with what the ONNX session reports.
 * A disagreement (names, datatypes, fixed dims) is a start-up Error naming the model and the tensor.
 */
import type { TensorSpec } from '../../shared/manifest/index.ts';
import { oipDatatype } from './runner/datatypes.ts';
import type { ValueInfo } from './runner/messages.ts';

/** The session's tensors as OIP specs; a tensor OIP cannot carry (strings, maps, sequences) is an Error. */
export function specFromSession(info: ValueInfo[], where: string): TensorSpec[] {
  return info.map((v) => {
    const datatype = oipDatatype(v.type);
    if (datatype === undefined)
      throw new Error(`${where}: tensor '${v.name}' has type ${v.type}, which OIP cannot carry here`);
    return { name: v.name, datatype, shape: v.shape };
  });
}

/** The manifest's spec when it declares one (checked against the session), else the session's own. */
export function resolveSpec(declared: TensorSpec[], session: ValueInfo[], where: string): TensorSpec[] {
  const actual = specFromSession(session, where);
  if (declared.length === 0) return actual;
  const names = (s: TensorSpec[]) =>
    s
      .map((t) => t.name)
      .sort()
      .join(', ');
  if (names(declared) !== names(actual)) {
    throw new Error(
      `${where}: the manifest declares tensors [${names(declared)}] but the model has [${names(actual)}]`,
    );
  }
  for (const d of declared) {
    const a = actual.find((t) => t.name === d.name) as TensorSpec;
    const dimsAgree =
      d.shape.length === a.shape.length &&
      d.shape.every((x, i) => x === a.shape[i] || a.shape[i] === -1 || x === -1);
    if (d.datatype !== a.datatype || !dimsAgree) {
      throw new Error(
        `${where}: tensor '${d.name}' is ${d.datatype} [${d.shape}] in the manifest but ${a.datatype} [${a.shape}] in the model`,
      );
    }
  }
  // Keep the session's order (the order outputs come back in), with the manifest's (possibly more fixed) dims.
  return actual.map((a) => {
    const d = declared.find((t) => t.name === a.name) as TensorSpec;
    return {
      name: a.name,
      datatype: a.datatype,
      shape: a.shape.map((x, i) => (x === -1 ? (d.shape[i] as number) : x)),
    };
  });
}
