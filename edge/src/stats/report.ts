/**
 * Reads the edge's per-minute counters (recorder.ts) back from Upstash and summarises them per model version:
 * requests, items, who answered (counts and shares), escalation reasons, score, coverage and feature-count
 * histograms (input drift), label mix,
 * out-of-distribution answers, and the PSI of the score and coverage histograms against the release's validation
 * baseline (`manifest.baseline.edge`, shared/drift) when the edge holds that release. On request, also a series
 * over the same window in buckets of whole minutes (charts over time), each bucket summarised the same way.
 */
import { DRIFT_BINS, psi } from '../../../shared/drift/index.ts';
import type { BaselineSide } from '../../../shared/manifest/index.ts';
import { modelEdgeShare } from './prometheus.ts';
import { FEATURE_BINS, LATENCY_BINS, minuteKey, versionsKey } from './recorder.ts';

/** The Upstash calls used: SMEMBERS, then one pipeline of HGETALL. */
export interface StatsReader {
  smembers(key: string): Promise<string[]>;
  pipeline(): { hgetall(key: string): unknown; exec(): Promise<unknown[]> };
}

export interface VersionStats {
  version: string;
  requests: number;
  items: number;
  served_by: Record<string, number>;
  served_by_share: Record<string, number>;
  /** Items answered by each origin pool (ORIGIN_POOLS ids; `default` for ORIGIN_URLS). */
  origin_pools: Record<string, number>;
  escalation_reasons: Record<string, number>;
  /** Items per score bin (10 bins over [0, 1]). */
  score_histogram: number[];
  /** Items per coverage bin (items whose answer had a coverage). */
  coverage_histogram: number[];
  /** Items per feature-count bin (0, then log2 buckets 1, 2-3, 4-7, ... 1024+). */
  features_histogram: number[];
  labels: Record<string, number>;
  ood: number;
  /** Items answered `unsure: true` (the release's decision rule answered its default label). */
  unsure: number;
  /** PSI against the release's validation baseline; null without a baseline or data. */
  psi: { score: number | null; coverage: number | null };
  /**
   * Rollout comparisons (cascade/rollout.ts). shadow: this version as the candidate against stable's answers
   * (`origin`: the teachers on escalated items); audit: this version's confident edge answers against its teacher.
   */
  shadow: Comparison & { requests: number; errors: number; mean_ms: number | null; origin: Comparison };
  audit: Comparison & { errors: number };
  /** Requests per rollout arm (canary / A-B: which arm the policy put them in). */
  arms: Record<string, number>;
  /** Requests per latency bin (recorder.ts latencyBin: under 1 ms, then log2 ms buckets). */
  latency_histogram: number[];
  /** Latency quantiles from the histogram (each a bin's upper bound, ms); null without data. */
  latency_ms: { p50: number | null; p95: number | null; p99: number | null };
  /** Requests that failed (no answer) and items answered degraded (the origin failed). */
  errors: { failed_requests: number; degraded_items: number; rate: number | null };
}

/** The upper bound (ms) of the bin holding quantile q of a latency histogram; null when empty. */
export function latencyQuantile(histogram: readonly number[], q: number): number | null {
  let total = 0;
  for (const n of histogram) total += n;
  if (total === 0) return null;
  let seen = 0;
  for (const [bin, n] of histogram.entries()) {
    seen += n;
    if (seen >= q * total) return 2 ** bin;
  }
  return 2 ** (histogram.length - 1);
}

/** Items compared, how many agreed, the agreement share (null without items) and the flips by direction. */
export interface Comparison {
  samples: number;
  agree: number;
  agreement: number | null;
  flips: Record<string, number>;
}

const emptyComparison = (): Comparison => ({ samples: 0, agree: 0, agreement: null, flips: {} });

export function emptyStats(version: string): VersionStats {
  return {
    version,
    requests: 0,
    items: 0,
    served_by: {},
    served_by_share: {},
    origin_pools: {},
    escalation_reasons: {},
    score_histogram: new Array<number>(DRIFT_BINS).fill(0),
    coverage_histogram: new Array<number>(DRIFT_BINS).fill(0),
    features_histogram: new Array<number>(FEATURE_BINS).fill(0),
    labels: {},
    ood: 0,
    unsure: 0,
    psi: { score: null, coverage: null },
    shadow: { ...emptyComparison(), requests: 0, errors: 0, mean_ms: null, origin: emptyComparison() },
    audit: { ...emptyComparison(), errors: 0 },
    arms: {},
    latency_histogram: new Array<number>(LATENCY_BINS).fill(0),
    latency_ms: { p50: null, p95: null, p99: null },
    errors: { failed_requests: 0, degraded_items: 0, rate: null },
  };
}

/** Adds one `sh:*`, `sho:*` or `au:*` field to its comparison. */
function addComparison(s: VersionStats, kind: string, name: string, n: number): void {
  const target = kind === 'sh' ? s.shadow : kind === 'sho' ? s.shadow.origin : s.audit;
  if (name === 'n') target.samples += n;
  else if (name === 'agree') target.agree += n;
  else if (name.startsWith('flip:')) {
    const f = name.slice(5);
    target.flips[f] = (Object.hasOwn(target.flips, f) ? (target.flips[f] as number) : 0) + n;
  } else if (name === 'err' && kind === 'sh') s.shadow.errors += n;
  else if (name === 'err' && kind === 'au') s.audit.errors += n;
  else if (kind === 'sh' && name === 'req') s.shadow.requests += n;
  else if (kind === 'sh' && name === 'ms') s.shadow.mean_ms = (s.shadow.mean_ms ?? 0) + n; // a sum until the end
}

function addField(s: VersionStats, field: string, n: number): void {
  const colon = field.indexOf(':');
  const kind = colon < 0 ? field : field.slice(0, colon);
  const name = colon < 0 ? '' : field.slice(colon + 1);
  const bump = (r: Record<string, number>) => {
    r[name] = (Object.hasOwn(r, name) ? (r[name] as number) : 0) + n;
  };
  if (kind === 'req') s.requests += n;
  else if (kind === 'fail') s.errors.failed_requests += n;
  else if (kind === 'arm') bump(s.arms);
  else if (kind === 'items') s.items += n;
  else if (kind === 'ood') s.ood += n;
  else if (kind === 'unsure') s.unsure += n;
  else if (kind === 'sb') bump(s.served_by);
  else if (kind === 'op') bump(s.origin_pools);
  else if (kind === 'er') bump(s.escalation_reasons);
  else if (kind === 'lb') bump(s.labels);
  else if (kind === 'sh' || kind === 'sho' || kind === 'au') addComparison(s, kind, name, n);
  else if (kind === 'sc' || kind === 'cv' || kind === 'fn' || kind === 'lat') {
    const bin = Number(name);
    const h =
      kind === 'sc'
        ? s.score_histogram
        : kind === 'cv'
          ? s.coverage_histogram
          : kind === 'fn'
            ? s.features_histogram
            : s.latency_histogram;
    if (Number.isInteger(bin) && bin >= 0 && bin < h.length) h[bin] = (h[bin] as number) + n;
  }
}

/** Six decimals; null for no value. */
const round6 = (x: number | null | undefined): number | null =>
  x === undefined || x === null ? null : Number(x.toFixed(6));

/**
 * Sums a run of consecutive per-minute hashes (HGETALL answers; null for a minute without counts) into one
 * VersionStats, derived values included (agreements, means, quantiles, shares, PSI against `baseline`).
 */
export function summarise(
  version: string,
  hashes: readonly unknown[],
  baseline: BaselineSide | undefined,
): VersionStats {
  const s = emptyStats(version);
  for (const hash of hashes) {
    if (hash === null || typeof hash !== 'object') continue;
    for (const [field, value] of Object.entries(hash as Record<string, unknown>)) {
      const n = Number(value);
      if (Number.isFinite(n)) addField(s, field, n);
    }
  }
  for (const cmp of [s.shadow, s.shadow.origin, s.audit]) {
    cmp.agreement = cmp.samples === 0 ? null : Number((cmp.agree / cmp.samples).toFixed(6));
  }
  if (s.shadow.mean_ms !== null) {
    s.shadow.mean_ms =
      s.shadow.requests === 0 ? null : Number((s.shadow.mean_ms / s.shadow.requests).toFixed(2));
  }
  s.latency_ms = {
    p50: latencyQuantile(s.latency_histogram, 0.5),
    p95: latencyQuantile(s.latency_histogram, 0.95),
    p99: latencyQuantile(s.latency_histogram, 0.99),
  };
  s.errors.degraded_items = s.served_by['edge-degraded'] ?? 0;
  const tried = s.requests + s.errors.failed_requests;
  s.errors.rate = tried === 0 ? null : Number((s.errors.failed_requests / tried).toFixed(6));
  let answered = 0;
  for (const n of Object.values(s.served_by)) answered += n;
  for (const [k, n] of Object.entries(s.served_by)) {
    s.served_by_share[k] = answered === 0 ? 0 : Number((n / answered).toFixed(6));
  }
  if (baseline !== undefined) {
    s.psi = {
      score: round6(psi(baseline.score, s.score_histogram)),
      coverage: round6(psi(baseline.coverage, s.coverage_histogram)),
    };
  }
  return s;
}

/** One bucket of a version's series: the headline numbers of its minutes (summarise), oldest bucket first. */
export interface SeriesPoint {
  /** The bucket's first minute, ISO 8601 UTC. */
  start: string;
  requests: number;
  items: number;
  served_by: Record<string, number>;
  model_edge_share: number | null;
  escalation_reasons: Record<string, number>;
  failed_requests: number;
  degraded_items: number;
  latency_p50: number | null;
  latency_p95: number | null;
  shadow_agreement: number | null;
  audit_agreement: number | null;
  psi_score: number | null;
}

/** The window in buckets of `bucket_minutes` (the last one shorter when the window does not divide evenly). */
export interface Series {
  bucket_minutes: number;
  points: SeriesPoint[];
}

/**
 * The series of a version's window: `hashes` are its minutes oldest first, the first being minute `firstMinute`
 * (minutes since the epoch), cut into at most `points` buckets of ceil(minutes / points) minutes.
 */
export function seriesOf(
  version: string,
  hashes: readonly unknown[],
  firstMinute: number,
  points: number,
  baseline: BaselineSide | undefined,
): Series {
  const bucketMinutes = Math.max(1, Math.ceil(hashes.length / points));
  const out: SeriesPoint[] = [];
  for (let k = 0; k < hashes.length; k += bucketMinutes) {
    const s = summarise(version, hashes.slice(k, k + bucketMinutes), baseline);
    out.push({
      start: new Date((firstMinute + k) * 60_000).toISOString(),
      requests: s.requests,
      items: s.items,
      served_by: s.served_by,
      model_edge_share: round6(modelEdgeShare(s.served_by)),
      escalation_reasons: s.escalation_reasons,
      failed_requests: s.errors.failed_requests,
      degraded_items: s.errors.degraded_items,
      latency_p50: s.latency_ms.p50,
      latency_p95: s.latency_ms.p95,
      shadow_agreement: s.shadow.agreement,
      audit_agreement: s.audit.agreement,
      psi_score: s.psi.score,
    });
  }
  return { bucket_minutes: bucketMinutes, points: out };
}

/**
 * The last `minutes` minutes (the current one included) of every version of `model` the edge has counted,
 * versions in the order Redis returns them, sorted by name. With `points`, each version also carries its
 * `series` over the same window (seriesOf); the minutes are read once, in one pipeline.
 */
export async function readStats(
  redis: StatsReader,
  model: string,
  minutes: number,
  now: number,
  baselines: (version: string) => BaselineSide | undefined,
  points?: number,
): Promise<Array<VersionStats & { series?: Series }>> {
  const versions = (await redis.smembers(versionsKey(model))).map(String).sort();
  if (versions.length === 0) return [];
  const first = Math.floor(now / 60_000) - minutes + 1;
  const p = redis.pipeline();
  for (const v of versions) for (let k = 0; k < minutes; k++) p.hgetall(minuteKey(model, v, first + k));
  const hashes = await p.exec();
  return versions.map((version, i) => {
    const own = hashes.slice(i * minutes, (i + 1) * minutes);
    const baseline = baselines(version);
    const stats = summarise(version, own, baseline);
    return points === undefined
      ? stats
      : { ...stats, series: seriesOf(version, own, first, points, baseline) };
  });
}
