/**
 * Out-of-distribution signals of a featurized input, computed the same way at the edge (before the student answers)
 * and at the origin (beside the teacher's answer): how many feature ids the input has, and which share of them the
 * training data contained often enough (the release's seen-ids bitmap, 1 bit per hashed id, checksummed in the
 * manifest). The release's rule (`manifest.ood`, calibrated on validation) calls an input out of distribution when
 * it has too few features or too little coverage; such inputs escalate instead of being answered at the edge, and
 * an answer whose input the teacher also finds out of distribution says `ood: true`.
 *
 * Runs in workerd and Node.
 */

/** The release's rule: out of distribution when features < min_features or coverage < min_coverage. */
export interface OodRule {
  min_features: number;
  min_coverage: number;
}

export interface Coverage {
  /** Non-zero feature ids of the input (0 is padding). */
  features: number;
  /** Share of them set in the seen-ids bitmap, in [0, 1]; 0 when the input has no features. */
  coverage: number;
}

/** The seen-ids bitmap of a release: bit `id` (little-endian within each byte) is set when training saw `id`. */
export class SeenIds {
  readonly bits: Uint8Array;

  constructor(bits: Uint8Array) {
    if (bits.length === 0) throw new TypeError('SeenIds: the bitmap is empty');
    this.bits = bits;
  }

  /** Ids the bitmap covers (8 per byte). */
  get size(): number {
    return this.bits.length * 8;
  }

  has(id: number): boolean {
    return id >= 0 && id < this.size && ((this.bits[id >> 3] as number) & (1 << (id & 7))) !== 0;
  }

  /** Coverage of row `row` of row-major ids [rows, width]. */
  coverage(ids: Int32Array, row: number, width: number): Coverage {
    let features = 0;
    let seen = 0;
    for (let i = row * width; i < (row + 1) * width; i++) {
      const id = ids[i] as number;
      if (id === 0) continue;
      features++;
      if (this.has(id)) seen++;
    }
    return { features, coverage: features === 0 ? 0 : seen / features };
  }

  /** Coverage of every row. */
  coverageRows(ids: Int32Array, rows: number): Coverage[] {
    const width = rows === 0 ? 0 : ids.length / rows;
    return Array.from({ length: rows }, (_, r) => this.coverage(ids, r, width));
  }
}

/** True when the rule calls the input out of distribution (an input without features always is). */
export function isOutOfDistribution(c: Coverage, rule: OodRule): boolean {
  return c.features === 0 || c.features < rule.min_features || c.coverage < rule.min_coverage;
}

/**
 * Builds a seen-ids bitmap from training ids (row-major, 0 = padding): an id is set when at least `minCount` rows
 * contain it. `ids` range over [0, buckets).
 */
export function seenIdsBitmap(ids: Int32Array, rows: number, buckets: number, minCount: number): Uint8Array {
  const width = rows === 0 ? 0 : ids.length / rows;
  const counts = new Uint32Array(buckets);
  const last = new Int32Array(buckets).fill(-1);
  for (let r = 0; r < rows; r++) {
    for (let i = r * width; i < (r + 1) * width; i++) {
      const id = ids[i] as number;
      if (id <= 0 || id >= buckets || last[id] === r) continue;
      last[id] = r;
      counts[id] = (counts[id] as number) + 1;
    }
  }
  const bits = new Uint8Array(Math.ceil(buckets / 8));
  for (let id = 1; id < buckets; id++) {
    if ((counts[id] as number) >= minCount) bits[id >> 3] = (bits[id >> 3] as number) | (1 << (id & 7));
  }
  return bits;
}
