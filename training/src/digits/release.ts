/** What the digits release is made of besides the models: its labels, release date and labelled rows. */
import type { LabelledRows } from '../import/labelled-set.ts';
import { CLASSES, type DigitsSet, PIXELS } from './data.ts';

/** The release date (the version id's date part); fixed so that rebuilds are byte-identical. */
export const DIGITS_RELEASE_DATE = '2026-12-02';
export const DIGITS_LABELS = Array.from({ length: CLASSES }, (_, d) => String(d));

/** A split part as labelled rows of the models' one input (`input`, [n, 784]). */
export function digitsRows(set: DigitsSet): LabelledRows {
  return { rows: set.n, dims: [[PIXELS]], data: [set.x], labels: Int32Array.from(set.y) };
}
