/**
 * Capacity model of the origin pool: how many replicas a load needs, from the per-replica batched throughput
 * `npm run bench:origin` measured (its last line, a JSON object).
 *
 *   origin_rps   = edge_rps x (1 - cache_hit_rate) x escalation_share
 *   replica_rps  = batched_rps_c64 x replica_scale / rows_per_request        (measured capacity of one replica)
 *   usable_rps   = replica_rps x target_utilization                          (headroom keeps queue time low)
 *   replicas     = max(min_replicas, ceil(origin_rps / usable_rps) + spare_replicas)
 *   queue target = usable_rps x rows_per_request x target_queue_ms / 1000    (Little's law: rows queued per
 *                  replica at the target wait; the KEDA queue-depth threshold)
 *
 * CLI:  npm run bench:origin | tail -n 1 > /tmp/bench.json
 *       node infra/capacity.ts --bench /tmp/bench.json [--plan infra/capacity-plan.json] [--edge-rps 5000]
 *            [--cache-hit-rate 0.3] [--escalation-share 0.05 | --manifest models/<m>/<v>/manifest.json] ...
 * The last line printed is the plan as one JSON object.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseManifest } from '../shared/manifest/index.ts';

/** The fields of bench:origin's JSON line the model uses (others are carried along untouched). */
export interface BenchOriginResult {
  /** Requests/s of the batching server at concurrency 64 (one row per request). */
  batched_rps_c64: number;
  raw_best_rows_per_s?: number;
  http_ceiling_rps?: number;
  p99_ms_c64?: number;
}

export interface LoadParameters {
  /** Peak requests/s arriving at the edge, all regions of this pool. */
  edgeRps: number;
  /** Share of requests answered from cache (L1 + L2), in [0, 1). @default 0 */
  cacheHitRate?: number;
  /** Share of cache misses the edge escalates to the origin: 1 - the release's expected_edge_share. */
  escalationShare: number;
  /** Rows (texts) per escalated request; bench:origin sends one. @default 1 */
  rowsPerRequest?: number;
  /** Fraction of measured capacity a replica is planned to run at. @default 0.7 */
  targetUtilization?: number;
  /** Replicas beyond the computed need (a zone or a rollout may take some away). @default 1 */
  spareReplicas?: number;
  /** Floor of the pool (the PDB and availability assume 2). @default 2 */
  minReplicas?: number;
  /** Throughput of a production replica relative to the machine bench:origin ran on. @default 1 */
  replicaScale?: number;
  /** Queue wait the autoscaler aims at, ms (sets the KEDA queue-depth threshold). @default 10 */
  targetQueueMs?: number;
}

export interface CapacityPlan {
  origin_rps: number;
  replica_capacity_rps: number;
  replica_usable_rps: number;
  replicas: number;
  utilization_at_plan: number;
  keda_queue_threshold_rows: number;
  expected_origin_rps: number;
  alert_escalated_rps: number;
}

function check(
  name: string,
  value: unknown,
  min: number,
  max: number,
  { minOpen = false, maxOpen = false } = {},
) {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    (minOpen ? value <= min : value < min) ||
    (maxOpen ? value >= max : value > max)
  ) {
    const range = `${minOpen ? '(' : '['}${min}, ${max}${maxOpen ? ')' : ']'}`;
    throw new TypeError(`${name} must be a number in ${range}, got ${String(value)}`);
  }
  return value;
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function asBench(value: unknown): BenchOriginResult | undefined {
  if (value === null || typeof value !== 'object' || !('batched_rps_c64' in value)) return undefined;
  check('bench batched_rps_c64', (value as BenchOriginResult).batched_rps_c64, 0, Number.MAX_VALUE, {
    minOpen: true,
  });
  return value as BenchOriginResult;
}

/**
 * bench:origin's result: the whole text when it is one JSON object (a saved result), otherwise its last line that
 * is a JSON object with a positive batched_rps_c64 (the benchmark's own output, progress lines before it).
 */
export function parseBenchOutput(text: string): BenchOriginResult {
  const whole = asBench(tryJson(text));
  if (whole !== undefined) return whole;
  const lines = text.split('\n').map((l) => l.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] as string;
    if (!line.startsWith('{')) continue;
    const bench = asBench(tryJson(line));
    if (bench !== undefined) return bench;
  }
  throw new TypeError('no bench:origin JSON line (an object with batched_rps_c64) found');
}

export function planCapacity(bench: BenchOriginResult, load: LoadParameters): CapacityPlan {
  const perReplicaRps = check('bench batched_rps_c64', bench.batched_rps_c64, 0, Number.MAX_VALUE, {
    minOpen: true,
  });
  const edgeRps = check('edgeRps', load.edgeRps, 0, Number.MAX_VALUE);
  const cacheHitRate = check('cacheHitRate', load.cacheHitRate ?? 0, 0, 1, { maxOpen: true });
  const escalationShare = check('escalationShare', load.escalationShare, 0, 1);
  const rowsPerRequest = check('rowsPerRequest', load.rowsPerRequest ?? 1, 1, 100_000);
  const targetUtilization = check('targetUtilization', load.targetUtilization ?? 0.7, 0, 1, {
    minOpen: true,
  });
  const spare = check('spareReplicas', load.spareReplicas ?? 1, 0, 1000);
  const minReplicas = check('minReplicas', load.minReplicas ?? 2, 1, 10_000);
  const replicaScale = check('replicaScale', load.replicaScale ?? 1, 0, 10_000, { minOpen: true });
  const targetQueueMs = check('targetQueueMs', load.targetQueueMs ?? 10, 0, 60_000, { minOpen: true });
  if (!Number.isInteger(spare) || !Number.isInteger(minReplicas)) {
    throw new TypeError(`spareReplicas and minReplicas must be integers, got ${spare} and ${minReplicas}`);
  }

  const originRps = edgeRps * (1 - cacheHitRate) * escalationShare;
  const capacity = (perReplicaRps * replicaScale) / rowsPerRequest;
  const usable = capacity * targetUtilization;
  const replicas = Math.max(minReplicas, Math.ceil(originRps / usable) + spare);
  const round = (v: number, digits = 3) => Number(v.toFixed(digits));
  return {
    origin_rps: round(originRps),
    replica_capacity_rps: round(capacity, 1),
    replica_usable_rps: round(usable, 1),
    replicas,
    utilization_at_plan: round(originRps / (replicas * capacity), 4),
    keda_queue_threshold_rows: Math.max(1, Math.ceil((usable * rowsPerRequest * targetQueueMs) / 1000)),
    expected_origin_rps: round(originRps),
    alert_escalated_rps: round(originRps * 1.5),
  };
}

/** Load parameters from the plan file's snake_case fields. */
export function loadFromPlan(plan: Record<string, unknown>): LoadParameters {
  const num = (key: string) => (plan[key] === undefined ? undefined : Number(plan[key]));
  return {
    edgeRps: num('edge_rps') as number,
    cacheHitRate: num('cache_hit_rate'),
    escalationShare: num('escalation_share') as number,
    rowsPerRequest: num('rows_per_request'),
    targetUtilization: num('target_utilization'),
    spareReplicas: num('spare_replicas'),
    minReplicas: num('min_replicas'),
    replicaScale: num('replica_scale'),
    targetQueueMs: num('target_queue_ms'),
  };
}

/** 1 - expected_edge_share of a release manifest. */
export function escalationShareFromManifest(json: unknown, source: string): number {
  const manifest = parseManifest(json, source);
  if (manifest.expected_edge_share === undefined) {
    throw new TypeError(`${source} has no expected_edge_share: pass --escalation-share`);
  }
  return 1 - manifest.expected_edge_share;
}

/** Runs the CLI over `argv`; returns the lines it would print. */
export function runCapacityCli(argv: string[], readText: (path: string) => string): string[] {
  const { values } = parseArgs({
    args: argv,
    options: {
      bench: { type: 'string' },
      plan: { type: 'string' },
      manifest: { type: 'string' },
      'edge-rps': { type: 'string' },
      'cache-hit-rate': { type: 'string' },
      'escalation-share': { type: 'string' },
      'rows-per-request': { type: 'string' },
      'target-utilization': { type: 'string' },
      'spare-replicas': { type: 'string' },
      'min-replicas': { type: 'string' },
      'replica-scale': { type: 'string' },
      'target-queue-ms': { type: 'string' },
    },
    strict: true,
  });
  if (values.bench === undefined)
    throw new TypeError('--bench <file with bench:origin output, or - for stdin> is required');
  const bench = parseBenchOutput(readText(values.bench));
  const load = loadFromPlan(
    values.plan === undefined ? {} : (JSON.parse(readText(values.plan)) as Record<string, unknown>),
  );
  if (values.manifest !== undefined) {
    load.escalationShare = escalationShareFromManifest(
      JSON.parse(readText(values.manifest)),
      values.manifest,
    );
  }
  const flags: [keyof typeof values, keyof LoadParameters][] = [
    ['edge-rps', 'edgeRps'],
    ['cache-hit-rate', 'cacheHitRate'],
    ['escalation-share', 'escalationShare'],
    ['rows-per-request', 'rowsPerRequest'],
    ['target-utilization', 'targetUtilization'],
    ['spare-replicas', 'spareReplicas'],
    ['min-replicas', 'minReplicas'],
    ['replica-scale', 'replicaScale'],
    ['target-queue-ms', 'targetQueueMs'],
  ];
  for (const [flag, field] of flags) {
    const text = values[flag];
    if (typeof text === 'string') load[field] = Number(text);
  }
  const plan = planCapacity(bench, load);
  return [
    `origin load: ${plan.origin_rps} req/s escalated (of ${load.edgeRps} at the edge)`,
    `one replica: ${plan.replica_capacity_rps} req/s measured, ${plan.replica_usable_rps} planned`,
    `replicas: ${plan.replicas} (utilization ${(plan.utilization_at_plan * 100).toFixed(1)}% at plan)`,
    `KEDA queue-depth threshold: ${plan.keda_queue_threshold_rows} rows per replica`,
    `alert OriginEscalatedRateAbovePlan: above ${plan.alert_escalated_rps} req/s (1.5 x ${plan.expected_origin_rps})`,
    JSON.stringify(plan),
  ];
}

if (import.meta.main) {
  try {
    const lines = runCapacityCli(process.argv.slice(2), (path) =>
      readFileSync(path === '-' ? 0 : path, 'utf8'),
    );
    for (const line of lines) console.log(line);
  } catch (err) {
    console.error(`capacity: ${(err as Error).message}`);
    process.exit(2);
  }
}
