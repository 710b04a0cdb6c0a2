/**
 * A small labelled set for a tensor model (bring-your-own release validation): rows of every input of the model's
 * signature plus a label per row.
 *
 * JSON-lines format (one row per line, UTF-8; blank lines ignored):
 *
 *   {"inputs": {"<input name>": <the row: a flat or nested array of numbers>, ...}, "label": "<label>"}
 *
 * Every input of the signature appears in every line, with exactly the product of its non-batch dims as elements
 * (nested arrays are flattened row-major); `label` is one of the release's labels (or its index). BOOL takes
 * true/false or 0/1. Refusals name the line and the problem.
 */
import type { TensorSpec } from '../../../shared/manifest/index.ts';
import {
  INTEGER_RANGE,
  type NumericArray,
  type NumericDatatype,
  TYPED_ARRAY,
} from '../../../shared/protocol/index.ts';

export interface LabelledRows {
  rows: number;
  /** Non-batch dims of each input, in signature order. */
  dims: number[][];
  /** Each input's data, row-major [rows, ...dims], in signature order. */
  data: NumericArray[];
  /** Class index per row (into the release's labels). */
  labels: Int32Array;
}

/** Most rows a labelled set may hold (a validation set, not a training set). */
export const MAX_LABELLED_ROWS = 200_000;

function flatten(value: unknown, out: unknown[], depth = 0): void {
  if (depth > 32) throw new TypeError('nested deeper than 32 levels');
  if (Array.isArray(value)) for (const v of value) flatten(v, out, depth + 1);
  else out.push(value);
}

function element(datatype: NumericDatatype, v: unknown): number | bigint {
  if (datatype === 'BOOL') {
    if (v === true || v === 1) return 1;
    if (v === false || v === 0) return 0;
    throw new TypeError(`${JSON.stringify(v)} is not a BOOL`);
  }
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new TypeError(`${JSON.stringify(v)} is not a finite number`);
  const range = INTEGER_RANGE[datatype];
  if (range !== undefined) {
    if (!Number.isInteger(v) || v < range[0] || v > range[1]) {
      throw new TypeError(`${v} is not a ${datatype} value`);
    }
    return datatype === 'INT64' || datatype === 'UINT64' ? BigInt(v) : v;
  }
  return v;
}

/**
 * Reads the JSON-lines text against the signature's inputs (static non-batch dims only) and the labels; throws a
 * TypeError naming the line for the first problem.
 */
export function parseLabelledJsonl(
  text: string,
  inputs: readonly TensorSpec[],
  labels: readonly string[],
): LabelledRows {
  const dims = inputs.map((s) => s.shape.slice(1));
  for (const [i, s] of inputs.entries()) {
    if (s.datatype === 'BYTES')
      throw new TypeError(`input '${s.name}' is BYTES: import takes numeric tensor models`);
    if ((dims[i] as number[]).some((d) => d < 1)) {
      throw new TypeError(
        `input '${s.name}' has a dynamic inner dimension [${s.shape.join(',')}]: import needs fixed row shapes`,
      );
    }
  }
  const sizes = dims.map((d) => d.reduce((a, b) => a * b, 1));
  const lines = text
    .split('\n')
    .map((l, i) => [i + 1, l.trim()] as const)
    .filter(([, l]) => l.length > 0);
  if (lines.length === 0) throw new TypeError('the labelled set is empty');
  if (lines.length > MAX_LABELLED_ROWS)
    throw new TypeError(`the labelled set has ${lines.length} rows, at most ${MAX_LABELLED_ROWS}`);
  const n = lines.length;
  const data = inputs.map((s, i) => new TYPED_ARRAY[s.datatype as NumericDatatype](n * (sizes[i] as number)));
  const labelIndex = new Int32Array(n);
  for (const [r, [lineNo, line]] of lines.entries()) {
    const at = `line ${lineNo}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new TypeError(`${at}: not JSON`);
    }
    const row = parsed as { inputs?: unknown; label?: unknown } | null;
    if (row === null || typeof row !== 'object' || typeof row.inputs !== 'object' || row.inputs === null) {
      throw new TypeError(`${at}: expected {"inputs": {...}, "label": ...}`);
    }
    const label = row.label;
    const k = typeof label === 'number' ? label : labels.indexOf(String(label));
    if (!Number.isInteger(k) || k < 0 || k >= labels.length) {
      throw new TypeError(`${at}: label ${JSON.stringify(label)} is not one of ${labels.join(', ')}`);
    }
    labelIndex[r] = k;
    for (const [i, s] of inputs.entries()) {
      const value = (row.inputs as Record<string, unknown>)[s.name];
      if (value === undefined) throw new TypeError(`${at}: input '${s.name}' is missing`);
      const flat: unknown[] = [];
      try {
        flatten(value, flat);
      } catch (err) {
        throw new TypeError(`${at}: input '${s.name}' ${(err as Error).message}`);
      }
      const size = sizes[i] as number;
      if (flat.length !== size) {
        throw new TypeError(
          `${at}: input '${s.name}' has ${flat.length} values, a row of [${(dims[i] as number[]).join(',')}] has ${size}`,
        );
      }
      const target = data[i] as NumericArray;
      for (let j = 0; j < size; j++) {
        try {
          (target as Float64Array)[r * size + j] = element(s.datatype as NumericDatatype, flat[j]) as number;
        } catch (err) {
          throw new TypeError(`${at}: input '${s.name}' value ${j}: ${(err as Error).message}`);
        }
      }
    }
  }
  return { rows: n, dims, data, labels: labelIndex };
}

/** Writes rows as the JSON-lines format above (what the digits pipeline ships as its validation sample). */
export function toLabelledJsonl(
  rows: LabelledRows,
  inputs: readonly TensorSpec[],
  labels: readonly string[],
): string {
  const sizes = rows.dims.map((d) => d.reduce((a, b) => a * b, 1));
  const lines: string[] = [];
  for (let r = 0; r < rows.rows; r++) {
    const row: Record<string, number[]> = {};
    inputs.forEach((s, i) => {
      const size = sizes[i] as number;
      row[s.name] = Array.from(
        (rows.data[i] as NumericArray).subarray(r * size, (r + 1) * size) as ArrayLike<number>,
        Number,
      );
    });
    lines.push(JSON.stringify({ inputs: row, label: labels[rows.labels[r] as number] }));
  }
  return `${lines.join('\n')}\n`;
}
