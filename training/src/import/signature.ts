/**
 * The tensor signature of an ONNX model, read from its graph with onnx-proto (no session needed): the graph's
 * inputs that are not initializers, and its outputs, as OIP tensor specs (symbolic or unknown dims -> -1). And the
 * check that a teacher and a student can stand in for each other in a cascade.
 */
import onnxProto from 'onnx-proto';
import type { OipDatatype, TensorSpec } from '../../../shared/manifest/index.ts';

const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;

/** ONNX element types the project serves, as OIP datatypes (strings are BYTES). */
const ONNX_TO_OIP: Record<number, OipDatatype> = {
  [T.FLOAT]: 'FP32',
  [T.DOUBLE]: 'FP64',
  [T.FLOAT16]: 'FP16',
  [T.INT8]: 'INT8',
  [T.INT16]: 'INT16',
  [T.INT32]: 'INT32',
  [T.INT64]: 'INT64',
  [T.UINT8]: 'UINT8',
  [T.UINT16]: 'UINT16',
  [T.UINT32]: 'UINT32',
  [T.UINT64]: 'UINT64',
  [T.BOOL]: 'BOOL',
  [T.STRING]: 'BYTES',
};

export interface OnnxSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  opset: number;
}

function spec(where: string, v: onnxProto.onnx.IValueInfoProto): TensorSpec {
  const tensor = v.type?.tensorType;
  const name = v.name ?? '';
  if (tensor === undefined || tensor === null) throw new TypeError(`${where} '${name}' is not a tensor`);
  const datatype = ONNX_TO_OIP[tensor.elemType ?? -1];
  if (datatype === undefined) {
    throw new TypeError(
      `${where} '${name}' has ONNX element type ${tensor.elemType}, which OIP cannot carry`,
    );
  }
  const dims = tensor.shape?.dim ?? [];
  const shape = dims.map((d) => {
    const value = d.dimValue === undefined || d.dimValue === null ? undefined : Number(d.dimValue);
    return value !== undefined && value > 0 ? value : -1;
  });
  if (shape.length === 0)
    throw new TypeError(`${where} '${name}' is a scalar; the cascade needs a batch dimension`);
  return { name, datatype, shape };
}

/** Reads the signature of ONNX model bytes; throws a TypeError naming what it cannot read. */
export function onnxSignature(bytes: Uint8Array, what = 'model'): OnnxSignature {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new TypeError(`${what} is not an ONNX model: ${(err as Error).message}`);
  }
  const graph = model.graph;
  if (graph === undefined || graph === null) throw new TypeError(`${what} has no graph`);
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? [])
    .filter((v) => !initializers.has(v.name ?? ''))
    .map((v) => spec(`${what} input`, v));
  const outputs = (graph.output ?? []).map((v) => spec(`${what} output`, v));
  if (inputs.length === 0) throw new TypeError(`${what} has no inputs`);
  if (outputs.length === 0) throw new TypeError(`${what} has no outputs`);
  const opset = (model.opsetImport ?? []).find((o) => (o.domain ?? '') === '')?.version;
  return { inputs, outputs, opset: opset === undefined || opset === null ? 0 : Number(opset) };
}

const text = (s: TensorSpec) => `${s.name} ${s.datatype} [${s.shape.join(',')}]`;

/**
 * The problems that keep a teacher and a student from serving one signature: every input of each must be an input
 * of the other with the same datatype and shape, the batch dimension dynamic, and the cascade output present in
 * both with the same datatype and shape. Empty when they agree.
 */
export function signatureProblems(teacher: OnnxSignature, student: OnnxSignature, output: string): string[] {
  const problems: string[] = [];
  for (const [a, b, an, bn] of [
    [teacher, student, 'teacher', 'student'],
    [student, teacher, 'student', 'teacher'],
  ] as const) {
    for (const i of a.inputs) {
      const j = b.inputs.find((x) => x.name === i.name);
      if (j === undefined) problems.push(`${an} input ${text(i)} is not an input of the ${bn}`);
      else if (an === 'teacher' && text(i) !== text(j))
        problems.push(`input '${i.name}' is ${text(i)} in the teacher, ${text(j)} in the student`);
    }
  }
  for (const s of [...teacher.inputs, ...teacher.outputs.filter((o) => o.name === output)]) {
    if (s.shape[0] !== -1) problems.push(`${text(s)}: the first dimension must be the dynamic batch`);
  }
  const t = teacher.outputs.find((o) => o.name === output);
  const s = student.outputs.find((o) => o.name === output);
  if (t === undefined)
    problems.push(
      `the teacher has no output '${output}' (outputs: ${teacher.outputs.map((o) => o.name).join(', ')})`,
    );
  if (s === undefined)
    problems.push(
      `the student has no output '${output}' (outputs: ${student.outputs.map((o) => o.name).join(', ')})`,
    );
  if (t !== undefined && s !== undefined && text(t) !== text(s)) {
    problems.push(`output '${output}' is ${text(t)} in the teacher, ${text(s)} in the student`);
  }
  return problems;
}
