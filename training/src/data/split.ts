/**
 * Deterministic stratified split: within each class, messages are ordered by sha256 of their `group/id` key and
 * cut into train / validation / test by the given fractions. Adding or removing one message moves few others.
 * The test split is touched only by the final evaluation.
 */
import { createHash } from 'node:crypto';

export interface SplitOptions {
  /** Share of each class in train. @default 0.7 */
  train?: number;
  /** Share of each class in validation; the rest is test. @default 0.15 */
  validation?: number;
  /** Salt of the ordering hash. @default 'split-v1' */
  salt?: string;
}

export interface Splits<T> {
  train: T[];
  validation: T[];
  test: T[];
}

function fraction(field: string, v: number): number {
  if (typeof v !== 'number' || !(v > 0 && v < 1)) {
    throw new TypeError(`split options.${field} must be a number in (0, 1), got ${v}`);
  }
  return v;
}

export function splitStratified<T extends { key: string; label: number }>(
  items: readonly T[],
  options: SplitOptions = {},
): Splits<T> {
  const trainShare = fraction('train', options.train ?? 0.7);
  const valShare = fraction('validation', options.validation ?? 0.15);
  if (trainShare + valShare >= 1) {
    throw new TypeError(`split options.train + validation must be < 1, got ${trainShare + valShare}`);
  }
  const salt = options.salt ?? 'split-v1';
  const byClass = new Map<number, { item: T; h: string }[]>();
  for (const item of items) {
    const h = createHash('sha256').update(`${salt}:${item.key}`).digest('hex');
    const list = byClass.get(item.label) ?? [];
    list.push({ item, h });
    byClass.set(item.label, list);
  }
  const out: Splits<T> = { train: [], validation: [], test: [] };
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    const list = (byClass.get(label) ?? []).sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : 0));
    const nTrain = Math.round(list.length * trainShare);
    const nVal = Math.round(list.length * valShare);
    list.forEach(({ item }, i) => {
      (i < nTrain ? out.train : i < nTrain + nVal ? out.validation : out.test).push(item);
    });
  }
  // A stable order that does not group by class: by key.
  for (const part of [out.train, out.validation, out.test])
    part.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return out;
}
