/**
 * npm run bench:smoke: every benchmark end to end with BENCH_SMOKE=1 (the same code path, tiny counts, short
 * phases), one after the other, so a benchmark that no longer starts, no longer prints its JSON line, or drops a
 * field its issue named fails CI (.ci/run runs this after the tests) instead of rotting until someone runs it.
 *
 * A benchmark fails its smoke run when it exits non-zero (or runs past its time limit), when the last line it
 * prints is not a JSON object, or when that object lacks (or has null in) a field named below. Its figures are
 * not judged: a smoke run is too short to mean anything.
 *
 *   npm run bench:smoke                 # all of them (~4 minutes on 2 cores)
 *   npm run bench:smoke -- edge rollout # some
 *
 * The last line printed is one JSON object: per benchmark ok, seconds and problems; exit 1 when any failed.
 * Env: BENCH_SMOKE_TIMEOUT_S (per benchmark, default 300), BENCH_LOG=1 (each benchmark's output as it runs).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envInt, log, round } from './lib.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface SmokeSpec {
  /** The script under bench/ (`npm run bench:<name>` runs it). */
  script: string;
  /** Where its fields were named. */
  issues: string;
  /** Fields the JSON line must hold (not null); `a.b` is field b of object a. */
  fields: string[];
}

/** Every benchmark, in the order the smoke run takes them (the quick ones first). */
export const BENCHMARKS: Record<string, SmokeSpec> = {
  featurizer: {
    script: 'featurizer.ts',
    issues: '#10, #11',
    fields: ['bench', 'normal_ms', 'worst_ms', 'worst_ratio', 'worst_input', 'inputs', 'ood_check_us'],
  },
  edge: {
    script: 'edge.ts',
    issues: '#4, #12, #15, #25, #29',
    fields: [
      'bench',
      'noop_p50_ms',
      'noop_p99_ms',
      'predict_p50_ms',
      'predict_p99_ms',
      'cache_hit_p50_ms',
      'cache_hit_p99_ms',
      'predict_minus_noop_p50_ms',
      'cache_hit_minus_noop_p50_ms',
      'cold_first_predict_ms',
      'cold_first_predict_lazy_ms',
      'startup_cpu_ms',
      'cpu_us_per_req.noop',
      'cpu_us_per_req.auth',
      'cpu_us_per_req.cache_hit',
      'cpu_us_per_req.predict',
      'cpu_us_per_req.escalate',
      'cold_phases_ms.verify',
      'cold_phases_ms.wasm_instantiate',
      'cold_phases_ms.session',
      'cold_phases_ms.first_run',
      'isolate_rss_mb',
      'cold_first_tensor_predict_ms',
      'r2_cold_load_ms',
      'sessions_rss_mb',
      'bundle_raw_bytes',
      'bundle_gzip_bytes',
    ],
  },
  e2e: {
    script: 'e2e.ts',
    issues: '#5',
    fields: [
      'bench',
      'requests',
      'edge_share',
      'cache_share',
      'origin_share',
      'degraded_share',
      'accuracy',
      'p50_ms',
      'p95_ms',
      'p99_ms',
      'paths',
    ],
  },
  jobs: {
    script: 'jobs.ts',
    issues: '#14, #29',
    fields: [
      'bench',
      'rows',
      'wall_s',
      'rows_per_s',
      'sync_rows_per_s',
      'ceiling_rows_per_s',
      'processing_vs_ceiling',
      'processing_vs_sync',
      'speedup',
      'lost',
      'duplicated',
      'dead_lettered',
      'edge_share',
      'accuracy',
      'sync_accuracy',
    ],
  },
  rollout: {
    script: 'rollout.ts',
    issues: '#13, #22',
    fields: [
      'bench',
      'requests',
      'errors',
      'canary_weight',
      'canary_share_observed',
      'sticky_violations',
      'shadow_samples',
      'shadow_agreement',
      'audit_samples',
      'audit_agreement',
      'promote_propagation_ms',
      'rollback_propagation_ms',
      'auto_rollback',
      'auto_rollback_after_requests',
      'shadow_p50_overhead_ms',
    ],
  },
  keys: {
    script: 'keys.ts',
    issues: '#23',
    fields: [
      'bench',
      'keys',
      'auth_cpu_us_over_noop.isolate_hit',
      'auth_cpu_us_over_noop.kv_hit',
      'auth_cpu_us_over_noop.d1_miss',
      'auth_cpu_us_over_noop_1_key',
      'auth_p50_ms_over_noop.isolate_hit',
      'auth_p50_ms_over_noop.kv_hit',
      'auth_p50_ms_over_noop.d1_miss',
      'revocation_propagation_ms',
      'served_after_revocation_bound',
      'usage_mismatch',
      'quota_overshoot',
      'quota_refused',
      'seed_ms',
    ],
  },
  loop: {
    script: 'loop.ts',
    issues: '#25',
    fields: [
      'bench',
      'domain_acc_before',
      'domain_acc_after',
      'domain_ham_fpr_before',
      'domain_ham_fpr_after',
      'corpus_acc_before',
      'corpus_acc_after',
      'domain_escalated_before',
      'domain_escalated_after',
      'manual_steps',
      'step_seconds.label',
      'step_seconds.retrain_build',
      'step_seconds.retrain_gate',
    ],
  },
  regions: {
    script: 'regions.ts',
    issues: '#26',
    fields: [
      'bench',
      'nearest_share',
      'extra_attempts_share',
      'p99_ms_hedged',
      'p99_ms_unhedged',
      'hedge_extra_load',
      'failover_s',
      'outage_user_errors',
      'outage_p99_ms',
      'retry_amplification',
      'recovery_s',
      'recovery_queue_peak_ratio',
      'residency_violations',
    ],
  },
  priority: {
    script: 'priority.ts',
    issues: '#26',
    fields: [
      'bench',
      'interactive_p50_ms_alone',
      'interactive_p99_ms_alone',
      'interactive_p99_ms_with_jobs_prioritized',
      'interactive_p99_ms_with_jobs_fifo',
      'p99_ratio_prioritized',
      'job_rows_per_s_prioritized',
      'job_rows_per_s_fifo',
      'queue_depth_peak',
    ],
  },
  soak: {
    script: 'soak.ts',
    issues: '#15',
    fields: ['bench', 'rss_drift_origin', 'rss_drift_edge', 'p99_first_min_ms', 'p99_last_min_ms', 'errors'],
  },
  origin: {
    script: 'origin.ts',
    issues: '#2, #12, #15',
    fields: [
      'bench',
      'raw_best_rows_per_s',
      'raw_best_batch',
      'http_ceiling_rps',
      'batched_rps_c64',
      'unbatched_rps_c64',
      'efficiency',
      'speedup_c64',
      'c1_p50_overhead_ms',
      'p99_ms_c64',
      'c1_p50_floor_ms',
      'c1_overhead_vs_floor_ms',
      'c1_rps_ratio',
      'batched_cpu_over_floor',
      'cpu_us_per_req.echo',
      'cpu_us_per_req.batched',
      'cpu_us_per_req.bare_hono',
      'cpu_us_per_req.bare_node_http',
      'load_generator',
      'pinned',
      'digits.raw_best_rows_per_s',
      'digits.batched_rps_c64',
      'spam_text.batched_rps_c64',
    ],
  },
};

/** The value at a dotted path of a JSON object, or undefined. */
function at(object: unknown, path: string): unknown {
  let v: unknown = object;
  for (const part of path.split('.')) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/**
 * What is wrong with one smoke run: its exit, its last printed line, the named fields. Empty when nothing is.
 * `exit` is the exit code, or a string saying how it ended otherwise (a signal, the time limit).
 */
export function smokeProblems(
  spec: SmokeSpec,
  name: string,
  exit: number | string,
  stdout: string,
): string[] {
  const problems: string[] = [];
  if (exit !== 0) problems.push(typeof exit === 'number' ? `exited with code ${exit}` : exit);
  const last = stdout.trimEnd().split('\n').at(-1)?.trim() ?? '';
  let json: unknown;
  try {
    json = JSON.parse(last);
  } catch {
    json = undefined;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    problems.push(`its last line is not a JSON object: ${JSON.stringify(last.slice(0, 120))}`);
    return problems;
  }
  if (at(json, 'bench') !== name) problems.push(`its JSON says bench ${JSON.stringify(at(json, 'bench'))}`);
  const missing = spec.fields.filter((f) => at(json, f) === undefined || at(json, f) === null);
  if (missing.length > 0) problems.push(`its JSON lacks ${missing.join(', ')} (named in ${spec.issues})`);
  return problems;
}

interface Run {
  exit: number | string;
  stdout: string;
  stderr: string;
  seconds: number;
}

function runOne(spec: SmokeSpec, label: string, timeoutS: number, echo: boolean): Promise<Run> {
  const env: Record<string, string | undefined> = { ...process.env, BENCH_SMOKE: '1' };
  // The benchmark's own defaults, not settings left in this shell (BENCH_LOAD, BENCH_PIN and BENCH_LOG pass).
  for (const k of Object.keys(env))
    if (k.startsWith('BENCH_') && !['BENCH_SMOKE', 'BENCH_LOAD', 'BENCH_PIN', 'BENCH_LOG'].includes(k))
      delete env[k];
  const started = performance.now();
  const child = spawn(process.execPath, [join(ROOT, 'bench', spec.script)], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: a time limit ends the stacks it started too
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => {
    stdout += b.toString('utf8');
    if (echo) process.stderr.write(`${label} ${b.toString('utf8')}`);
  });
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString('utf8');
    if (echo) process.stderr.write(`${label} ${b.toString('utf8')}`);
  });
  let timedOut = false;
  const kill = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {} // gone
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill('SIGTERM');
    setTimeout(() => kill('SIGKILL'), 10_000).unref();
  }, timeoutS * 1000);
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = round((performance.now() - started) / 1000, 1);
      const exit = timedOut
        ? `ran past its ${timeoutS} s limit`
        : code === null
          ? `was killed by ${signal}`
          : code;
      resolve({ exit, stdout, stderr, seconds });
    });
  });
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !(w in BENCHMARKS));
  if (unknown.length > 0) {
    console.error(
      `unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(BENCHMARKS).join(', ')}`,
    );
    process.exit(2);
  }
  const names = wanted.length > 0 ? wanted : Object.keys(BENCHMARKS);
  const timeoutS = envInt('BENCH_SMOKE_TIMEOUT_S', 300, 10, 3600);
  const started = performance.now();
  const results: Record<string, { ok: boolean; seconds: number; problems: string[] }> = {};
  for (const name of names) {
    const spec = BENCHMARKS[name] as SmokeSpec;
    const run = await runOne(spec, `[${name}]`, timeoutS, process.env.BENCH_LOG === '1');
    const problems = smokeProblems(spec, name, run.exit, run.stdout);
    results[name] = { ok: problems.length === 0, seconds: run.seconds, problems };
    log(`bench:${name}: ${problems.length === 0 ? 'ok' : 'FAILED'} in ${run.seconds} s`);
    if (problems.length > 0) {
      for (const p of problems) log(`  ${p}`);
      const tail = `${run.stdout}\n${run.stderr}`.trim().split('\n').slice(-15);
      log(`  its last lines:\n    ${tail.join('\n    ')}`);
    }
  }
  const failed = Object.entries(results)
    .filter(([, r]) => !r.ok)
    .map(([n]) => n);
  log(
    JSON.stringify({
      bench: 'smoke',
      ok: failed.length === 0,
      failed,
      total_s: round((performance.now() - started) / 1000, 1),
      benchmarks: results,
    }),
  );
  if (failed.length > 0) process.exitCode = 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main();
