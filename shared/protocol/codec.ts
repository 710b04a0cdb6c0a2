/**
 * Encoding and decoding of OIP v2 bodies: plain JSON, and the binary tensor extension (a JSON header of
 * `Inference-Header-Content-Length` bytes followed by the raw little-endian tensor data, in input/output order,
 * for every tensor whose `parameters.binary_data_size` is set). BYTES tensors are UTF-8 strings: JSON strings, or
 * in binary each element's 4-byte little-endian length followed by its bytes.
 *
 * Server side: decodeInferRequest, encodeInferResponse. Client side: encodeInferRequest, decodeInferResponse.
 * Errors are the shared error classes (400 invalid_json / invalid_input / invalid_header), messages name the
 * tensor and the field. Runs in workerd and Node.
 */
import { InferenceError, InvalidInputError } from '../errors/index.ts';
import {
  bytesPerElement,
  elementCount,
  INTEGER_RANGE,
  isNumericDatatype,
  type NumericArray,
  type NumericDatatype,
  TYPED_ARRAY,
  typedBytes,
  typedFromBytes,
} from './datatypes.ts';
import {
  BINARY_CONTENT_TYPE,
  type InferRequest,
  InferRequestHeader,
  type InferResponse,
  InferResponseHeader,
  JSON_CONTENT_TYPE,
  quickInferRequestHeader,
  type RequestedOutput,
  type Tensor,
} from './oip.ts';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
const encoder = new TextEncoder();

/** Most elements one tensor may hold (guards allocations driven by a claimed shape). */
export const MAX_TENSOR_ELEMENTS = 64 * 1024 * 1024;

/** The first issues of a failed zod parse, as `path: message; ...`. */
export function zodMessage(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}

/** Parses the value of `Inference-Header-Content-Length`; undefined/null when absent. */
export function parseHeaderLength(value: string | null | undefined, bodyLength: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (!/^[0-9]{1,10}$/.test(value.trim())) {
    throw new InferenceError(
      'invalid_header',
      `Inference-Header-Content-Length must be an integer, got '${value.slice(0, 40)}'`,
    );
  }
  const n = Number(value.trim());
  if (n < 2 || n > bodyLength) {
    throw new InferenceError(
      'invalid_header',
      `Inference-Header-Content-Length ${n} is outside the body (${bodyLength} bytes)`,
    );
  }
  return n;
}

/**
 * Parses UTF-8 JSON; 400 `invalid_json` naming `what` when it is not (the input is not echoed: the same policy and
 * wording as shared/http parseJsonBody, so both tiers refuse a bad body with the same message).
 */
function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    throw new InferenceError('invalid_json', `${what} is not valid UTF-8 JSON`);
  }
}

function checkCount(name: string, shape: readonly number[]): number {
  const count = elementCount(shape);
  if (!Number.isSafeInteger(count) || count > MAX_TENSOR_ELEMENTS) {
    throw new InvalidInputError(
      `tensor '${name}': shape [${shape.join(',')}] holds more than ${MAX_TENSOR_ELEMENTS} elements`,
    );
  }
  return count;
}

function knownDatatype(name: string, datatype: string): NumericDatatype | 'BYTES' {
  if (datatype !== 'BYTES' && !isNumericDatatype(datatype)) {
    throw new InvalidInputError(`tensor '${name}': datatype ${datatype} is not supported here`);
  }
  return datatype;
}

/**
 * The elements of a BYTES tensor in the binary extension: `count` times a 4-byte little-endian length and that many
 * bytes, filling exactly `size` bytes from `offset`; each element must be UTF-8.
 */
export function stringsFromBinary(
  name: string,
  body: Uint8Array,
  offset: number,
  size: number,
  count: number,
): string[] {
  if (count * 4 > size) {
    throw new InvalidInputError(
      `tensor '${name}': binary_data_size ${size} cannot hold ${count} BYTES elements (4-byte length each)`,
    );
  }
  const view = new DataView(body.buffer, body.byteOffset + offset, size);
  const out: string[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > size) {
      throw new InvalidInputError(`tensor '${name}': BYTES element ${i} runs past its binary data`);
    }
    const length = view.getUint32(at, true);
    at += 4;
    if (length > size - at) {
      throw new InvalidInputError(
        `tensor '${name}': BYTES element ${i} claims ${length} bytes, past the end of its binary data`,
      );
    }
    try {
      out.push(decoder.decode(body.subarray(offset + at, offset + at + length)));
    } catch {
      throw new InvalidInputError(`tensor '${name}': BYTES element ${i} is not valid UTF-8`);
    }
    at += length;
  }
  if (at !== size) {
    throw new InvalidInputError(
      `tensor '${name}': binary_data_size ${size} but its ${count} BYTES elements take ${at} bytes`,
    );
  }
  return out;
}

/** BYTES elements in the binary extension's layout (4-byte little-endian length, then the UTF-8 bytes). */
export function stringsToBinary(strings: readonly string[]): Uint8Array {
  const encoded = strings.map((s) => encoder.encode(s));
  let total = 0;
  for (const e of encoded) total += 4 + e.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const e of encoded) {
    view.setUint32(at, e.length, true);
    out.set(e, at + 4);
    at += 4 + e.length;
  }
  return out;
}

/** Flattens JSON tensor data (flat or nested arrays) into a typed array, checking each element's type and range. */
export function typedFromJson(
  name: string,
  datatype: NumericDatatype,
  shape: readonly number[],
  data: unknown,
): NumericArray {
  const count = checkCount(name, shape);
  if (datatype === 'FP16') {
    throw new InvalidInputError(`tensor '${name}': FP16 data must be sent as binary tensor data`);
  }
  if (!Array.isArray(data)) {
    throw new InvalidInputError(`tensor '${name}': data must be an array of ${count} values`);
  }
  const out = new TYPED_ARRAY[datatype](count);
  const range = INTEGER_RANGE[datatype];
  const big = datatype === 'INT64' || datatype === 'UINT64';
  let i = 0;
  const put = (v: unknown): void => {
    if (datatype === 'BOOL') {
      if (typeof v !== 'boolean')
        throw new InvalidInputError(`tensor '${name}': data[${i}] must be true or false`);
      (out as Uint8Array)[i++] = v ? 1 : 0;
      return;
    }
    if (typeof v !== 'number') {
      throw new InvalidInputError(
        `tensor '${name}': data[${i}] must be a number, got ${v === null ? 'null' : typeof v}`,
      );
    }
    if (range !== undefined && (!Number.isInteger(v) || v < range[0] || v > range[1])) {
      throw new InvalidInputError(`tensor '${name}': data[${i}] = ${v} is not a ${datatype} integer`);
    }
    if (big) (out as BigInt64Array)[i++] = BigInt(v);
    else (out as Float32Array)[i++] = v;
  };
  walkJson(name, shape, count, data, put);
  return out;
}

/** Calls `put` on every element of flat or nested JSON data in row-major order; checks the count against the shape. */
function walkJson(
  name: string,
  shape: readonly number[],
  count: number,
  data: unknown[],
  put: (v: unknown) => void,
): void {
  let n = 0;
  const walk = (arr: unknown[], depth: number): void => {
    if (depth > 32) throw new InvalidInputError(`tensor '${name}': data is nested too deeply`);
    for (const v of arr) {
      if (Array.isArray(v)) walk(v, depth + 1);
      else {
        if (n >= count) {
          throw new InvalidInputError(
            `tensor '${name}': data holds more than the ${count} values of shape [${shape.join(',')}]`,
          );
        }
        put(v);
        n++;
      }
    }
  };
  walk(data, 0);
  if (n !== count) {
    throw new InvalidInputError(
      `tensor '${name}': data holds ${n} values but shape [${shape.join(',')}] needs ${count}`,
    );
  }
}

/** The strings of a BYTES tensor's JSON data (flat or nested, row-major), checked against its shape. */
export function stringsFromJson(name: string, shape: readonly number[], data: unknown): string[] {
  const count = checkCount(name, shape);
  if (!Array.isArray(data)) {
    throw new InvalidInputError(`tensor '${name}': BYTES data must be an array of ${count} strings`);
  }
  const out: string[] = [];
  walkJson(name, shape, count, data, (v) => {
    if (typeof v !== 'string') {
      throw new InvalidInputError(`tensor '${name}': BYTES data[${out.length}] must be a string`);
    }
    out.push(v);
  });
  return out;
}

/** Index of the first NaN or infinite element of a floating-point tensor, or -1. */
export function firstNonFinite(datatype: NumericDatatype, data: NumericArray): number {
  if (datatype === 'FP32') return nonFinite32(data as Float32Array);
  if (datatype === 'FP64') return nonFinite64(data as Float64Array);
  if (datatype === 'FP16') {
    const h = data as Uint16Array;
    for (let i = 0; i < h.length; i++) if (((h[i] as number) & 0x7c00) === 0x7c00) return i;
  }
  return -1;
}

// x * 0 is 0 for every finite x and NaN for NaN and +-Infinity, so one sum screens the whole array cheaply;
// the index is looked for only when the screen fails. One function per array type keeps each loop monomorphic.
function nonFinite32(f: Float32Array): number {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  const n = f.length - (f.length % 4);
  for (let i = 0; i < n; i += 4) {
    a += (f[i] as number) * 0;
    b += (f[i + 1] as number) * 0;
    c += (f[i + 2] as number) * 0;
    d += (f[i + 3] as number) * 0;
  }
  for (let i = n; i < f.length; i++) a += (f[i] as number) * 0;
  if (a + b + c + d === 0) return -1;
  for (let i = 0; i < f.length; i++) if (!Number.isFinite(f[i])) return i;
  return -1;
}

function nonFinite64(f: Float64Array): number {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  const n = f.length - (f.length % 4);
  for (let i = 0; i < n; i += 4) {
    a += (f[i] as number) * 0;
    b += (f[i + 1] as number) * 0;
    c += (f[i + 2] as number) * 0;
    d += (f[i + 3] as number) * 0;
  }
  for (let i = n; i < f.length; i++) a += (f[i] as number) * 0;
  if (a + b + c + d === 0) return -1;
  for (let i = 0; i < f.length; i++) if (!Number.isFinite(f[i])) return i;
  return -1;
}

export interface DecodeRequestOptions {
  /** Value of the Inference-Header-Content-Length header; absent means the body is plain JSON. */
  headerLength?: string | null;
  /** The JSON header (the whole body when not binary) already parsed by the caller; skips parsing it again. */
  json?: { value: unknown };
  /** Accept NaN and infinities in floating-point inputs. @default false */
  allowNonFinite?: boolean;
}

function boolParam(
  params: Record<string, unknown> | undefined,
  key: string,
  where: string,
): boolean | undefined {
  const v = params?.[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new InvalidInputError(`${where}parameters.${key} must be a boolean`);
  return v;
}

/** The JSON header of an inference request, checked (400 invalid_input naming the bad fields otherwise). */
export function inferRequestHeader(json: unknown): InferRequestHeader {
  const quick = quickInferRequestHeader(json);
  if (quick !== undefined) return quick;
  const parsed = InferRequestHeader.safeParse(json);
  if (!parsed.success)
    throw new InvalidInputError(`invalid inference request: ${zodMessage(parsed.error.issues)}`);
  return parsed.data;
}

/** Decodes an inference request body (JSON or binary tensor extension). */
export function decodeInferRequest(body: Uint8Array, options: DecodeRequestOptions = {}): InferRequest {
  const headerLength = parseHeaderLength(options.headerLength, body.length);
  const headerBytes = headerLength === undefined ? body : body.subarray(0, headerLength);
  const header = inferRequestHeader(
    options.json !== undefined ? options.json.value : parseJson(headerBytes, 'request body'),
  );

  let offset = headerLength ?? body.length;
  const names = new Set<string>();
  const inputs: Tensor[] = [];
  for (const input of header.inputs) {
    const { name, shape } = input;
    if (names.has(name)) throw new InvalidInputError(`input '${name}' appears more than once`);
    names.add(name);
    const datatype = knownDatatype(name, input.datatype);
    const size = input.parameters?.binary_data_size;
    let binary: { at: number; size: number; count: number } | undefined;
    if (size !== undefined) {
      if (headerLength === undefined) {
        throw new InvalidInputError(
          `input '${name}': binary_data_size given but the request has no Inference-Header-Content-Length header`,
        );
      }
      if (input.data !== undefined)
        throw new InvalidInputError(`input '${name}': both data and binary_data_size given`);
      if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) {
        throw new InvalidInputError(
          `input '${name}': parameters.binary_data_size must be a non-negative integer`,
        );
      }
      const count = checkCount(name, shape);
      if (datatype !== 'BYTES') {
        const expected = count * bytesPerElement(datatype);
        if (size !== expected) {
          throw new InvalidInputError(
            `input '${name}': binary_data_size ${size} does not match shape [${shape.join(',')}] of ${datatype} (${expected} bytes)`,
          );
        }
      }
      if (offset + size > body.length) {
        throw new InvalidInputError(`input '${name}': binary data runs past the end of the body`);
      }
      binary = { at: offset, size, count };
      offset += size;
    } else if (input.data === undefined) {
      throw new InvalidInputError(`input '${name}': data is missing`);
    }
    if (datatype === 'BYTES') {
      const data =
        binary === undefined
          ? stringsFromJson(name, shape, input.data)
          : stringsFromBinary(name, body, binary.at, binary.size, binary.count);
      inputs.push({ name, datatype, shape: [...shape], data });
      continue;
    }
    const data =
      binary === undefined
        ? typedFromJson(name, datatype, shape, input.data)
        : typedFromBytes(datatype, body, binary.at, binary.count);
    if (options.allowNonFinite !== true) {
      const bad = firstNonFinite(datatype, data);
      if (bad >= 0) throw new InvalidInputError(`input '${name}': element ${bad} is NaN or infinite`);
    }
    inputs.push({ name, datatype, shape: [...shape], data });
  }
  if (offset !== body.length) {
    throw new InvalidInputError(
      `the body holds ${body.length - offset} bytes of binary data that no input claims`,
    );
  }

  const binaryOutput = boolParam(header.parameters, 'binary_data_output', '') ?? false;
  let outputs: RequestedOutput[] | undefined;
  if (header.outputs !== undefined) {
    const seen = new Set<string>();
    outputs = header.outputs.map((o) => {
      if (seen.has(o.name)) throw new InvalidInputError(`output '${o.name}' is requested more than once`);
      seen.add(o.name);
      return {
        name: o.name,
        binary: boolParam(o.parameters, 'binary_data', `output '${o.name}': `) ?? binaryOutput,
      };
    });
  }
  const request: InferRequest = { parameters: header.parameters ?? {}, inputs, binaryOutput };
  if (header.id !== undefined) request.id = header.id;
  if (outputs !== undefined) request.outputs = outputs;
  return request;
}

function jsonData(datatype: NumericDatatype, data: NumericArray): Array<number | boolean> {
  if (datatype === 'BOOL') return Array.from(data as Uint8Array, (v) => v !== 0);
  if (datatype === 'INT64' || datatype === 'UINT64')
    return Array.from(data as BigInt64Array, (v) => Number(v));
  if (datatype === 'FP16') return Array.from(data as Uint16Array, halfToNumber);
  return Array.from(data as Float32Array);
}

/** The value of IEEE 754 half-precision bits (FP16 travels as raw bits; JSON carries numbers). */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** An encoded body with its content type and, under the binary extension, the JSON header's length. */
export interface EncodedBody {
  body: Uint8Array | string;
  contentType: string;
  headerLength?: number;
}

function assemble(header: unknown, binaries: Uint8Array[]): EncodedBody {
  const json = JSON.stringify(header);
  if (binaries.length === 0) return { body: json, contentType: JSON_CONTENT_TYPE };
  const headerBytes = encoder.encode(json);
  let total = headerBytes.length;
  for (const b of binaries) total += b.length;
  const body = new Uint8Array(total);
  body.set(headerBytes, 0);
  let offset = headerBytes.length;
  for (const b of binaries) {
    body.set(b, offset);
    offset += b.length;
  }
  return { body, contentType: BINARY_CONTENT_TYPE, headerLength: headerBytes.length };
}

function tensorParts(
  tensors: ReadonlyArray<Tensor & { binary?: boolean; parameters?: Record<string, unknown> }>,
  binaries: Uint8Array[],
): Array<Record<string, unknown>> {
  return tensors.map((t) => {
    const expected = elementCount(t.shape);
    if (t.data.length !== expected) {
      throw new TypeError(
        `tensor '${t.name}': ${t.data.length} values do not fill shape [${t.shape.join(',')}]`,
      );
    }
    if (t.binary === true) {
      const bytes = t.datatype === 'BYTES' ? stringsToBinary(t.data) : typedBytes(t.data);
      binaries.push(bytes);
      return {
        name: t.name,
        datatype: t.datatype,
        shape: t.shape,
        parameters: { ...t.parameters, binary_data_size: bytes.length },
      };
    }
    const part: Record<string, unknown> = { name: t.name, datatype: t.datatype, shape: t.shape };
    if (t.parameters !== undefined) part.parameters = t.parameters;
    part.data = t.datatype === 'BYTES' ? t.data : jsonData(t.datatype, t.data);
    return part;
  });
}

/** Encodes an inference response; outputs marked `binary` go into the binary section. */
export function encodeInferResponse(response: InferResponse): EncodedBody {
  const binaries: Uint8Array[] = [];
  const header: Record<string, unknown> = { model_name: response.model_name };
  if (response.model_version !== undefined) header.model_version = response.model_version;
  if (response.id !== undefined) header.id = response.id;
  if (response.parameters !== undefined) header.parameters = response.parameters;
  header.outputs = tensorParts(response.outputs, binaries);
  return assemble(header, binaries);
}

export interface EncodeRequestOptions {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: Tensor[];
  /** Send input data as binary tensor data. @default true */
  binaryInputs?: boolean;
  /** Outputs to ask for; default all. */
  outputs?: RequestedOutput[];
  /** Ask for binary outputs (parameters.binary_data_output). @default false */
  binaryOutput?: boolean;
}

/** Client side: encodes an inference request. */
export function encodeInferRequest(options: EncodeRequestOptions): EncodedBody {
  const binaries: Uint8Array[] = [];
  const parameters: Record<string, unknown> = { ...options.parameters };
  if (options.binaryOutput === true) parameters.binary_data_output = true;
  const header: Record<string, unknown> = {};
  if (options.id !== undefined) header.id = options.id;
  if (Object.keys(parameters).length > 0) header.parameters = parameters;
  const binary = options.binaryInputs ?? true;
  header.inputs = tensorParts(
    options.inputs.map((t) => ({ ...t, binary })),
    binaries,
  );
  if (options.outputs !== undefined) {
    header.outputs = options.outputs.map((o) => ({ name: o.name, parameters: { binary_data: o.binary } }));
  }
  return assemble(header, binaries);
}

/** Client side: decodes an inference response body into typed tensors. */
export function decodeInferResponse(body: Uint8Array, headerLengthValue?: string | null): InferResponse {
  const headerLength = parseHeaderLength(headerLengthValue, body.length);
  const headerBytes = headerLength === undefined ? body : body.subarray(0, headerLength);
  const parsed = InferResponseHeader.safeParse(parseJson(headerBytes, 'response body'));
  if (!parsed.success)
    throw new InvalidInputError(`invalid inference response: ${zodMessage(parsed.error.issues)}`);
  let offset = headerLength ?? body.length;
  const outputs = parsed.data.outputs.map((o): Tensor => {
    const datatype = knownDatatype(o.name, o.datatype);
    const size = o.parameters?.binary_data_size;
    const binary = typeof size === 'number' && Number.isInteger(size) && size >= 0 ? size : undefined;
    if (binary !== undefined && offset + binary > body.length) {
      throw new InvalidInputError(`output '${o.name}': binary data runs past the end of the body`);
    }
    const at = offset;
    if (binary !== undefined) offset += binary;
    if (datatype === 'BYTES') {
      const data =
        binary === undefined
          ? stringsFromJson(o.name, o.shape, o.data)
          : stringsFromBinary(o.name, body, at, binary, checkCount(o.name, o.shape));
      return { name: o.name, datatype, shape: o.shape, data };
    }
    const data =
      binary === undefined
        ? typedFromJson(o.name, datatype, o.shape, o.data)
        : typedFromBytes(datatype, body, at, binary / bytesPerElement(datatype));
    return { name: o.name, datatype, shape: o.shape, data };
  });
  const response: InferResponse = { model_name: parsed.data.model_name, outputs };
  if (parsed.data.model_version !== undefined) response.model_version = parsed.data.model_version;
  if (parsed.data.id !== undefined) response.id = parsed.data.id;
  if (parsed.data.parameters !== undefined) response.parameters = parsed.data.parameters;
  return response;
}

/**
 * The outputs to return: those asked for, in the order asked, each binary or JSON as asked; all of `outputs` when
 * the request names none (binary per `parameters.binary_data_output`). An unknown name is a 400 listing the model's.
 */
export function selectOutputs<T extends { name: string }>(
  model: string,
  outputs: readonly T[],
  request: Pick<InferRequest, 'outputs' | 'binaryOutput'>,
): Array<T & { binary: boolean }> {
  if (request.outputs === undefined) return outputs.map((t) => ({ ...t, binary: request.binaryOutput }));
  return request.outputs.map((o) => {
    const t = outputs.find((x) => x.name === o.name);
    if (t === undefined) {
      throw new InvalidInputError(
        `model '${model}' has no output '${o.name}' (outputs: ${outputs.map((x) => x.name).join(', ')})`,
      );
    }
    return { ...t, binary: o.binary };
  });
}
