/**
 * OIP v2 datatypes and the typed arrays that hold them (little-endian, as the binary tensor extension requires).
 * Runs in workerd and Node.
 */
import type { OipDatatype } from '../manifest/index.ts';

export type { OipDatatype } from '../manifest/index.ts';

export type NumericArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

/** Datatypes this project carries as typed arrays (BYTES is not among them). */
export type NumericDatatype = Exclude<OipDatatype, 'BYTES'>;

type TypedArrayCtor = {
  new (length: number): NumericArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): NumericArray;
  readonly BYTES_PER_ELEMENT: number;
};

/** The typed array for each datatype; FP16 travels as raw IEEE half bits in a Uint16Array, BOOL as bytes 0/1. */
export const TYPED_ARRAY: Record<NumericDatatype, TypedArrayCtor> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  FP16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

export function isNumericDatatype(d: string): d is NumericDatatype {
  return d !== 'BYTES' && Object.hasOwn(TYPED_ARRAY, d);
}

/** ONNX Runtime's element type names (onnxruntime-node and -web alike). */
export type OrtType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool';

/** The ORT element type of each numeric OIP datatype (the typed arrays above are what ORT takes for them). */
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

/** Bytes per element of a datatype. */
export function bytesPerElement(datatype: NumericDatatype): number {
  return TYPED_ARRAY[datatype].BYTES_PER_ELEMENT;
}

/** Inclusive integer range of the integer datatypes (64-bit ones limited to safe JSON integers). */
export const INTEGER_RANGE: Partial<Record<NumericDatatype, readonly [number, number]>> = {
  UINT8: [0, 255],
  UINT16: [0, 65_535],
  UINT32: [0, 4_294_967_295],
  UINT64: [0, Number.MAX_SAFE_INTEGER],
  INT8: [-128, 127],
  INT16: [-32_768, 32_767],
  INT32: [-2_147_483_648, 2_147_483_647],
  INT64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

/** Product of the dimensions (the element count); 1 for a scalar shape []. */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * A typed array of `count` elements of `datatype` read from `bytes` at `offset`. Views the bytes when aligned,
 * copies otherwise.
 */
export function typedFromBytes(
  datatype: NumericDatatype,
  bytes: Uint8Array,
  offset: number,
  count: number,
): NumericArray {
  const Ctor = TYPED_ARRAY[datatype];
  const start = bytes.byteOffset + offset;
  if (start % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(bytes.buffer, start, count);
  const copy = bytes.slice(offset, offset + count * Ctor.BYTES_PER_ELEMENT);
  return new Ctor(copy.buffer, 0, count);
}

/** The bytes of a typed array (a view, no copy). */
export function typedBytes(data: NumericArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
