/**
 * Length buckets for a batch of featurized texts (issue #29). The spam graphs cut their ids to one past the last
 * id in ANY row before the embedding Gather (training/src/onnx/bag-model.ts), so one long message makes every row of
 * its batch pay for its length. A large batch (a job's chunk: up to 256 messages) is run as groups of rows of
 * similar length instead: each group pays for its own longest row. Each row's output does not depend on the others
 * (a masked mean per row), so the answers are the same.
 */

/** Rows per group. Each run costs a fixed overhead (~15-50 µs in workerd), so groups stay large. */
export const BUCKET_ROWS = 32;

/** One past the last non-zero id of each row of `ids` ([rows, width], zero = padding). */
export function usedLengths(ids: Int32Array, rows: number, width: number): Uint32Array {
  const used = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) {
    let j = width;
    const base = r * width;
    while (j > 0 && ids[base + j - 1] === 0) j--;
    used[r] = j;
  }
  return used;
}

/**
 * The batch's rows in groups of at most `size`, by used length (shortest first; ties in input order). A batch of at
 * most `size` rows is one group, in input order.
 */
export function lengthBuckets(ids: Int32Array, rows: number, width: number, size = BUCKET_ROWS): number[][] {
  if (!Number.isInteger(size) || size < 1)
    throw new TypeError(`bucket size must be an integer >= 1, got ${size}`);
  const all = Array.from({ length: rows }, (_, i) => i);
  if (rows <= size) return [all];
  const used = usedLengths(ids, rows, width);
  all.sort((a, b) => (used[a] as number) - (used[b] as number) || a - b);
  const groups: number[][] = [];
  for (let i = 0; i < rows; i += size) groups.push(all.slice(i, i + size));
  return groups;
}

/** The rows `group` of `ids` ([rows, width]) as a new [group.length, width] array. */
export function gatherRows(ids: Int32Array, width: number, group: readonly number[]): Int32Array {
  const out = new Int32Array(group.length * width);
  for (const [k, r] of group.entries()) out.set(ids.subarray(r * width, (r + 1) * width), k * width);
  return out;
}
