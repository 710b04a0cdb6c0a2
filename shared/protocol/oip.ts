/**
 * Open Inference Protocol v2 (KServe / Triton) request and response shapes, with zod schemas for the JSON parts.
 * Tensor `data` is validated by the codec (codec.ts), element by element into typed arrays, not by zod.
 * Runs in workerd and Node.
 */
import { z } from 'zod';
import { OipDatatype, TensorSpec } from '../manifest/index.ts';
import type { NumericArray, NumericDatatype } from './datatypes.ts';

/** Header that carries the JSON header's byte length in the binary tensor extension. */
export const HEADER_LENGTH_HEADER = 'inference-header-content-length';
/** Content type of a body with binary tensor data. */
export const BINARY_CONTENT_TYPE = 'application/octet-stream';
export const JSON_CONTENT_TYPE = 'application/json';

const Parameters = z.record(z.string(), z.unknown());

/** A shape: non-negative integer dimensions. */
const Shape = z.array(
  z
    .number()
    .int()
    .nonnegative()
    .max(2 ** 31 - 1),
);

export const InferInputHeader = z.object({
  name: z.string().min(1).max(256),
  shape: Shape,
  datatype: OipDatatype,
  parameters: Parameters.optional(),
  data: z.unknown().optional(),
});

export const InferOutputRequest = z.object({
  name: z.string().min(1).max(256),
  parameters: Parameters.optional(),
});

/** The JSON part of an inference request (the whole body, or its header under the binary extension). */
export const InferRequestHeader = z.object({
  id: z.string().max(256).optional(),
  parameters: Parameters.optional(),
  inputs: z.array(InferInputHeader).min(1).max(64),
  outputs: z.array(InferOutputRequest).max(64).optional(),
});
export type InferRequestHeader = z.infer<typeof InferRequestHeader>;

export const InferOutputHeader = z.object({
  name: z.string(),
  shape: Shape,
  datatype: OipDatatype,
  parameters: Parameters.optional(),
  data: z.array(z.union([z.number(), z.boolean(), z.string()])).optional(),
});

/** The JSON part of an inference response. */
export const InferResponseHeader = z.object({
  model_name: z.string(),
  model_version: z.string().optional(),
  id: z.string().optional(),
  parameters: Parameters.optional(),
  outputs: z.array(InferOutputHeader),
});
export type InferResponseHeader = z.infer<typeof InferResponseHeader>;

/** A numeric tensor with its data decoded into a typed array (row-major). */
export interface NumericTensor {
  name: string;
  datatype: NumericDatatype;
  shape: number[];
  data: NumericArray;
}

/**
 * A BYTES tensor (row-major). Its elements are UTF-8 strings in this project (texts and labels): JSON carries them
 * as strings, the binary extension as a 4-byte little-endian length then the bytes; bytes that are not UTF-8 are
 * refused.
 */
export interface BytesTensor {
  name: string;
  datatype: 'BYTES';
  shape: number[];
  data: string[];
}

export type Tensor = NumericTensor | BytesTensor;

/** What the client asked to get back for one output. */
export interface RequestedOutput {
  name: string;
  /** Return this output as binary data rather than a JSON array. */
  binary: boolean;
}

/** A decoded inference request. */
export interface InferRequest {
  id?: string;
  parameters: Record<string, unknown>;
  inputs: Tensor[];
  /** Outputs to return; undefined means all of the model's outputs. */
  outputs?: RequestedOutput[];
  /** Default for outputs not listed: `parameters.binary_data_output`. */
  binaryOutput: boolean;
}

/** An inference response before encoding; `binary` picks the encoding of each output. */
export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, unknown>;
  outputs: Array<Tensor & { binary?: boolean }>;
}

/** Server metadata (GET /v2). */
export interface ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

/** Model metadata (GET /v2/models/{m}[/versions/{v}]). */
export const ModelMetadata = z.object({
  name: z.string(),
  versions: z.array(z.string()),
  platform: z.string(),
  inputs: z.array(TensorSpec),
  outputs: z.array(TensorSpec),
  parameters: Parameters.optional(),
});
export type ModelMetadata = z.infer<typeof ModelMetadata>;

const DATATYPES: ReadonlySet<string> = new Set(OipDatatype.options);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isName(v: unknown): v is string {
  return typeof v === 'string' && v.length >= 1 && v.length <= 256;
}

function isShape(v: unknown): v is number[] {
  if (!Array.isArray(v)) return false;
  for (const d of v) if (!Number.isInteger(d) || d < 0 || d > 2 ** 31 - 1) return false;
  return true;
}

/**
 * The hot path of InferRequestHeader.parse: a hand-written check of the same rules that returns the same value
 * for a valid header, or undefined (the caller then runs the zod schema, whose messages name the bad field).
 * It never accepts what the schema refuses (codec.test.ts pins this).
 */
export function quickInferRequestHeader(v: unknown): InferRequestHeader | undefined {
  if (!isRecord(v)) return undefined;
  const { id, parameters, inputs, outputs } = v;
  if (id !== undefined && (typeof id !== 'string' || id.length > 256)) return undefined;
  if (parameters !== undefined && !isRecord(parameters)) return undefined;
  if (!Array.isArray(inputs) || inputs.length < 1 || inputs.length > 64) return undefined;
  const header: InferRequestHeader = { inputs: [] };
  for (const input of inputs) {
    if (!isRecord(input)) return undefined;
    const { name, shape, datatype, parameters: p, data } = input;
    if (!isName(name) || !isShape(shape) || typeof datatype !== 'string' || !DATATYPES.has(datatype))
      return undefined;
    if (p !== undefined && !isRecord(p)) return undefined;
    const item: InferRequestHeader['inputs'][number] = { name, shape, datatype: datatype as OipDatatype };
    if (p !== undefined) item.parameters = p;
    if (data !== undefined) item.data = data;
    header.inputs.push(item);
  }
  if (outputs !== undefined) {
    if (!Array.isArray(outputs) || outputs.length > 64) return undefined;
    header.outputs = [];
    for (const o of outputs) {
      if (!isRecord(o) || !isName(o.name) || (o.parameters !== undefined && !isRecord(o.parameters)))
        return undefined;
      header.outputs.push(
        o.parameters === undefined ? { name: o.name } : { name: o.name, parameters: o.parameters },
      );
    }
  }
  if (id !== undefined) header.id = id;
  if (parameters !== undefined) header.parameters = parameters;
  return header;
}
